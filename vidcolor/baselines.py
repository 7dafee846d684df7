"""Non-learned colourization baselines, as defined in ``shared/design/evaluation.md``.

Every baseline is a pure function: it takes the target frame's lightness ``(h, w)`` (CIE L in
[0, 100], float32) and, except :func:`gray_ab`, the reference image in CIE Lab ``(hr, wr, 3)``,
and returns the predicted chroma ab ``(h, w, 2)`` float32 in Lab units. The output frame is the
target's own L with this ab (:func:`lab_to_rgb_uint8` turns it into RGB for the metrics).

- :func:`gray_ab`: ab = 0.
- :func:`palette_ab`: luminance-keyed palette - the reference's mean ab per lightness bin.
- :func:`flow_ab`: DIS optical flow from the frame to the reference, reference ab warped along it.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from vidcolor import color
from vidcolor.flow import propagate

L_MAX = 100.0


def _check_lightness(lightness: np.ndarray) -> np.ndarray:
    lightness = np.asarray(lightness)
    if lightness.ndim != 2:
        raise ValueError(f"lightness must be (h, w), got shape {lightness.shape}")
    return lightness.astype(np.float32, copy=False)


def _check_lab(reference_lab: np.ndarray) -> np.ndarray:
    reference_lab = np.asarray(reference_lab)
    if reference_lab.ndim != 3 or reference_lab.shape[2] != 3:
        raise ValueError(f"reference_lab must be (h, w, 3), got shape {reference_lab.shape}")
    return reference_lab.astype(np.float32, copy=False)


def gray_ab(lightness: np.ndarray) -> np.ndarray:
    """Gray baseline: ab ``(h, w, 2)`` float32 of zeros for lightness ``(h, w)``."""
    lightness = _check_lightness(lightness)
    return np.zeros(lightness.shape + (2,), dtype=np.float32)


def luminance_palette(
    reference_lab: np.ndarray, bins: int = 32, smooth: float = 1.0
) -> np.ndarray:
    """The reference's mean ab per lightness bin: ``(bins, 2)`` float64.

    ``bins`` equal bins cover L in [0, 100]. Per bin, the sum of ab and the pixel count are
    smoothed with a Gaussian over bins (``smooth`` = sigma in bins; 0 disables it) and divided,
    so the palette is a count-weighted local mean. Bins that stay empty (no reference pixel of
    that lightness nearby) are filled by linear interpolation between the nearest non-empty bins
    (constant beyond the ends).
    """
    reference_lab = _check_lab(reference_lab)
    width = L_MAX / bins
    ref_l = reference_lab[..., 0].ravel()
    ref_ab = reference_lab[..., 1:].reshape(-1, 2).astype(np.float64)
    index = np.clip((ref_l / width).astype(np.int64), 0, bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    sums = np.stack([np.bincount(index, weights=ref_ab[:, k], minlength=bins) for k in range(2)], 1)

    if smooth > 0:
        offsets = np.arange(bins)[:, None] - np.arange(bins)[None, :]
        kernel = np.exp(-0.5 * (offsets / smooth) ** 2)
        counts = kernel @ counts
        sums = kernel @ sums

    valid = counts > 1e-8 * max(counts.max(), 1e-300)
    if not valid.any():  # empty reference
        return np.zeros((bins, 2))
    centres = np.arange(bins, dtype=np.float64)
    means = sums[valid] / counts[valid, None]
    return np.stack([np.interp(centres, centres[valid], means[:, k]) for k in range(2)], 1)


def palette_ab(
    lightness: np.ndarray, reference_lab: np.ndarray, bins: int = 32, smooth: float = 1.0
) -> np.ndarray:
    """Luminance-keyed palette baseline: ab ``(h, w, 2)`` float32.

    Each target pixel gets the reference's mean ab among reference pixels of the same lightness
    (:func:`luminance_palette`), linearly interpolated between bin centres by the pixel's L.
    """
    lightness = _check_lightness(lightness)
    palette = luminance_palette(reference_lab, bins, smooth)
    position = lightness.astype(np.float64) / (L_MAX / bins) - 0.5  # in bin-centre units
    centres = np.arange(bins, dtype=np.float64)
    ab = np.stack([np.interp(position, centres, palette[:, k]) for k in range(2)], -1)
    return ab.astype(np.float32)


def flow_ab(lightness: np.ndarray, reference_lab: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Flow-propagation baseline: ab ``(h, w, 2)`` float32.

    OpenCV DIS optical flow (``preset``, default medium) from the frame's L to the reference's L
    at full resolution, and the reference's ab remapped along it (bilinear, border replicated)
    via :func:`vidcolor.flow.propagate`. A reference of another size is first resized to the
    target's size (area filter when shrinking, bilinear when enlarging). The confidence is
    discarded.
    """
    lightness = _check_lightness(lightness)
    reference_lab = _check_lab(reference_lab)
    h, w = lightness.shape
    if reference_lab.shape[:2] != (h, w):
        shrinking = reference_lab.shape[0] * reference_lab.shape[1] > h * w
        reference_lab = cv2.resize(
            reference_lab, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        )
    ab, _confidence = propagate(
        lightness, np.ascontiguousarray(reference_lab[..., 0]),
        np.ascontiguousarray(reference_lab[..., 1:]), preset,
    )
    return ab.astype(np.float32, copy=False)


def lab_to_rgb_uint8(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Lightness ``(h, w)`` and ab ``(h, w, 2)`` -> sRGB ``(h, w, 3)`` uint8 (rounded, clipped).

    Uses :func:`vidcolor.color.lab_to_rgb_uint8` (matches scikit-image's ``lab2rgb``).
    """
    lightness = _check_lightness(lightness)
    ab = np.asarray(ab, dtype=np.float32)
    if ab.shape != lightness.shape + (2,):
        raise ValueError(f"ab must be {lightness.shape + (2,)}, got {ab.shape}")
    lab = np.concatenate([lightness[..., None], ab], axis=-1)
    lab_t = torch.from_numpy(np.ascontiguousarray(lab.transpose(2, 0, 1)))[None]
    return color.lab_to_rgb_uint8(lab_t)[0].numpy()
