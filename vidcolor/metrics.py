"""Quality metrics for colourised video, as defined in ``shared/design/evaluation.md``.

Pure numpy (plus scikit-image) functions. Images are RGB ``(h, w, 3)`` uint8, channels last, as
decoded from video; a clip is a sequence of such frames, all of the same size.

- :func:`psnr`, :func:`ssim`, :func:`mean_ciede2000`: fidelity of one frame to its ground truth.
- :func:`colourfulness`: Hasler & Suesstrunk colourfulness of one frame (washed-out check).
- :func:`cdc`: colour distribution consistency of a clip (temporal flicker), lower is better.
  It is dominated by lightness: a colourless output scores about like the truth.
- :func:`chroma_warp_error`: chroma flicker that tells outputs apart: each frame's ab carried
  along the ground truth's motion to the next frame, against that frame's ab.
- :func:`clip_metrics`: all of the above for a colourised clip against its ground truth.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

from . import flow

# Frame offsets compared by CDC, each weighted equally.
CDC_OFFSETS = (1, 2, 4)


def _check_rgb_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be (h, w, 3), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {image.dtype}")
    return image


def _check_pair(rgb_uint8_a: np.ndarray, rgb_uint8_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = _check_rgb_uint8(rgb_uint8_a, "rgb_uint8_a")
    b = _check_rgb_uint8(rgb_uint8_b, "rgb_uint8_b")
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return a, b


def psnr(rgb_uint8_a: np.ndarray, rgb_uint8_b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two RGB ``(h, w, 3)`` uint8 images.

    ``20 * log10(255 / sqrt(MSE))`` with the MSE over all pixels and channels; ``inf`` when the
    images are identical.
    """
    a, b = _check_pair(rgb_uint8_a, rgb_uint8_b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(20.0 * np.log10(255.0 / np.sqrt(mse)))


def ssim(rgb_uint8_a: np.ndarray, rgb_uint8_b: np.ndarray) -> float:
    """Structural similarity of two RGB ``(h, w, 3)`` uint8 images (scikit-image defaults).

    ``structural_similarity(a, b, channel_axis=2, data_range=255)``: 7x7 uniform window, so both
    sides of the image must be at least 7 pixels.
    """
    a, b = _check_pair(rgb_uint8_a, rgb_uint8_b)
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def mean_ciede2000(rgb_uint8_a: np.ndarray, rgb_uint8_b: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference of two RGB ``(h, w, 3)`` uint8 images.

    Both are converted with scikit-image's ``rgb2lab`` (sRGB, D65) and compared per pixel with
    ``deltaE_ciede2000``. Below 2 is barely perceptible; 2-10 is visible at a glance.
    """
    a, b = _check_pair(rgb_uint8_a, rgb_uint8_b)
    return float(np.mean(deltaE_ciede2000(rgb2lab(a), rgb2lab(b))))


def colourfulness(rgb_uint8: np.ndarray) -> float:
    """Hasler & Suesstrunk colourfulness of one RGB ``(h, w, 3)`` uint8 image.

    ``rg = |R - G|``, ``yb = |(R + G) / 2 - B|`` per pixel (0-255 units), then
    ``C = sqrt(std_rg^2 + std_yb^2) + 0.3 * sqrt(mean_rg^2 + mean_yb^2)`` with population
    standard deviations. A gray image scores 0.
    """
    rgb = _check_rgb_uint8(rgb_uint8, "rgb_uint8").astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = np.abs(r - g)
    yb = np.abs(0.5 * (r + g) - b)
    spread = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
    mean = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + 0.3 * mean)


def channel_histograms(rgb_uint8: np.ndarray) -> np.ndarray:
    """Per-channel 256-bin histograms ``(3, 256)`` of an RGB uint8 image, each summing to 1."""
    rgb = _check_rgb_uint8(rgb_uint8, "rgb_uint8")
    pixels = rgb.shape[0] * rgb.shape[1]
    flat = rgb.reshape(-1, 3)
    return np.stack(
        [np.bincount(flat[:, c], minlength=256) for c in range(3)]
    ).astype(np.float64) / pixels


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence in bits (log base 2) along the last axis; in [0, 1].

    ``p`` and ``q`` are probability vectors (broadcastable, each summing to 1 on the last axis).
    ``JS = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2`` and ``0 log 0 = 0``: 0 for
    equal distributions, 1 for disjoint ones. Returns an array over the leading axes.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    m = 0.5 * (p + q)

    def _kl_to_m(x: np.ndarray) -> np.ndarray:
        positive = x > 0
        ratio = np.divide(x, m, out=np.ones_like(x * m), where=positive)
        return np.sum(np.where(positive, x * np.log2(ratio), 0.0), axis=-1)

    return np.clip(0.5 * _kl_to_m(p) + 0.5 * _kl_to_m(q), 0.0, 1.0)


class CdcAccumulator:
    """CDC computed frame by frame, holding only the last ``max(CDC_OFFSETS)`` histograms.

    ``add(frame)`` for each RGB uint8 frame in order, then ``value()``; memory stays flat for
    films of any length. See :func:`cdc` for the definition.
    """

    def __init__(self) -> None:
        self._recent: list[np.ndarray] = []  # newest last, at most max(CDC_OFFSETS)
        self._sums = {d: np.zeros(3) for d in CDC_OFFSETS}
        self._counts = dict.fromkeys(CDC_OFFSETS, 0)
        self.frames = 0

    def add(self, rgb_uint8: np.ndarray) -> None:
        histogram = channel_histograms(rgb_uint8)
        for d in CDC_OFFSETS:
            if d <= len(self._recent):
                self._sums[d] += js_divergence(self._recent[-d], histogram)
                self._counts[d] += 1
        self._recent = (self._recent + [histogram])[-max(CDC_OFFSETS) :]
        self.frames += 1

    def state_dict(self) -> dict:
        """Everything :meth:`add` has accumulated, as arrays and numbers (to save a run)."""
        return {
            "recent": list(self._recent),
            "sums": dict(self._sums),
            "counts": dict(self._counts),
            "frames": self.frames,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from what :meth:`state_dict` saved."""
        self._recent = list(state["recent"])
        self._sums = dict(state["sums"])
        self._counts = dict(state["counts"])
        self.frames = state["frames"]

    def value(self) -> float:
        per_offset = [self._sums[d] / self._counts[d] for d in CDC_OFFSETS if d < self.frames]
        return float(np.mean(per_offset, axis=0).mean()) if per_offset else 0.0


def cdc(frames: Sequence[np.ndarray]) -> float:
    """Colour distribution consistency of a clip of RGB ``(h, w, 3)`` uint8 frames; lower is better.

    For each of R, G, B: a 256-bin histogram per frame normalised by ``h * w``; the
    Jensen-Shannon divergence **in bits (log2), so each term and the result lie in [0, 1]**,
    between frames ``t`` and ``t + d`` for ``d`` in {1, 2, 4}, averaged over ``t`` for each ``d``
    and then weighted equally over the offsets; finally averaged over the three channels.

    Clips shorter than 5 frames use only the offsets that fit (``d < len(frames)``), still
    equally weighted; a single frame (or none) gives 0.0. Histograms are computed once per frame.
    Ground-truth video scores above 0 too, so report ``cdc(ground_truth)`` beside it.
    """
    accumulator = CdcAccumulator()
    for frame in frames:
        accumulator.add(frame)
    return accumulator.value()


def clip_metrics(
    outputs: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray]
) -> dict[str, float]:
    """All quality metrics of a colourised clip against its ground-truth colour frames.

    Both are sequences of RGB ``(h, w, 3)`` uint8 frames of equal length and size. Returns:

    - ``psnr``, ``ssim``, ``ciede2000``: per-frame values averaged over frames (``psnr`` is
      ``inf`` if any frame is identical to its ground truth);
    - ``colourfulness_ratio``: mean output colourfulness / mean ground-truth colourfulness
      (aim for 0.9-1.1; 1.0 when both are gray, ``nan`` when only the ground truth is);
    - ``colourfulness``, ``colourfulness_ground_truth``: the two means;
    - ``cdc``: CDC of the outputs; ``cdc_ground_truth``: CDC of the ground truth, for reference.
    """
    if len(outputs) != len(ground_truth):
        raise ValueError(f"{len(outputs)} outputs but {len(ground_truth)} ground-truth frames")
    if len(outputs) == 0:
        raise ValueError("empty clip")
    pairs = list(zip(outputs, ground_truth))
    colour_out = float(np.mean([colourfulness(o) for o in outputs]))
    colour_gt = float(np.mean([colourfulness(g) for g in ground_truth]))
    if colour_gt > 0:
        ratio = colour_out / colour_gt
    else:
        ratio = 1.0 if colour_out == 0 else float("nan")
    return {
        "psnr": float(np.mean([psnr(o, g) for o, g in pairs])),
        "ssim": float(np.mean([ssim(o, g) for o, g in pairs])),
        "ciede2000": float(np.mean([mean_ciede2000(o, g) for o, g in pairs])),
        "colourfulness_ratio": ratio,
        "colourfulness": colour_out,
        "colourfulness_ground_truth": colour_gt,
        "cdc": cdc(outputs),
        "cdc_ground_truth": cdc(ground_truth),
    }


def _lab_at(rgb_uint8: np.ndarray, short_side: int) -> np.ndarray:
    """CIE Lab ``(h, w, 3)`` float32 of an RGB uint8 frame, scaled so its short side is ``short_side``."""
    h, w = rgb_uint8.shape[:2]
    scale = min(1.0, short_side / min(h, w))
    small = cv2.resize(rgb_uint8, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def chroma_warp_error(
    outputs: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray], short_side: int = 256,
    min_confidence: float = 0.5,
) -> float:
    """Chroma temporal warping error of a clip (Lab units; lower = steadier colour on moving things).

    For each pair of frames ``t, t + 1``: the output's ab at ``t`` is carried along the ground
    truth's optical flow (DIS, from the truth's lightness, so every output is judged on the same
    motion) onto ``t + 1`` and compared with the output's ab at ``t + 1`` (Euclidean distance),
    over the pixels the flow tracks (photometric confidence above ``min_confidence``). Frames are
    scaled to ``short_side`` first. Run it on the ground truth itself for the natural level.
    """
    if len(outputs) != len(ground_truth):
        raise ValueError(f"{len(outputs)} outputs but {len(ground_truth)} ground-truth frames")
    errors = []
    truth_lab = [_lab_at(frame, short_side) for frame in ground_truth]
    output_ab = [_lab_at(frame, short_side)[..., 1:] for frame in outputs]
    for t in range(len(outputs) - 1):
        warped_ab, confidence = flow.propagate(truth_lab[t + 1][..., 0], truth_lab[t][..., 0], output_ab[t])
        tracked = confidence > min_confidence
        if tracked.any():
            errors.append(float(np.linalg.norm(warped_ab - output_ab[t + 1], axis=-1)[tracked].mean()))
    return float(np.mean(errors)) if errors else 0.0
