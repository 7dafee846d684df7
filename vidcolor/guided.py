"""Edge-aware upsampling of chroma guided by full-resolution lightness (fast guided filter).

He & Sun, "Fast Guided Filter" (2015): fit the local linear model ``ab = A * L + B`` at the
working resolution, upsample the smooth coefficients A and B bilinearly, and apply them to the
full-resolution L. Chroma edges then follow the source's luminance edges instead of being
blurred by plain interpolation. Pure torch, batched, runs on any device.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def guided_coefficients(
    lightness_low: torch.Tensor, ab_low: torch.Tensor, radius: int = 2, eps: float = 4.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit ``ab = A * L + B`` locally at the working resolution; returns smoothed A and B ``(b, 2, h, w)``.

    ``lightness_low`` ``(b, 1, h, w)`` is the guide at ab's resolution, in L units (0-100);
    ``eps`` is the regularisation in L^2 units: larger means smoother (closer to plain
    bilinear), smaller follows luminance edges more closely.
    """
    mean_l = _box(lightness_low, radius)
    mean_ab = _box(ab_low, radius)
    var_l = _box(lightness_low * lightness_low, radius) - mean_l * mean_l
    cov = _box(lightness_low * ab_low, radius) - mean_l * mean_ab
    a = cov / (var_l + eps)
    b = mean_ab - a * mean_l
    return _box(a, radius), _box(b, radius)


def guided_upsample(
    lightness_low: torch.Tensor,
    ab_low: torch.Tensor,
    lightness_full: torch.Tensor,
    radius: int = 2,
    eps: float = 4.0,
) -> torch.Tensor:
    """Upsample ab ``(b, 2, h, w)`` to the size of ``lightness_full`` ``(b, 1, H, W)`` (see :func:`guided_coefficients`)."""
    a, b = guided_coefficients(lightness_low, ab_low, radius, eps)
    size = lightness_full.shape[-2:]
    a = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
    b = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
    return a * lightness_full + b


def guided_upsample_hwc(
    a_low: np.ndarray, b_low: np.ndarray, lightness_full: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """The CPU fast path of the last step of :func:`guided_upsample`, for one frame in numpy.

    ``a_low``/``b_low`` ``(h, w, 2)`` from :func:`guided_coefficients`, ``lightness_full``
    ``(H, W)``; returns ab ``(H, W, 2)`` float32, written into ``out`` when given (a video
    reuses one buffer instead of allocating full-resolution arrays per frame). OpenCV's bilinear
    resize (same half-pixel convention as ``align_corners=False``) is several times faster than
    torch's on a CPU.
    """
    size = (lightness_full.shape[1], lightness_full.shape[0])
    a = cv2.resize(a_low, size, interpolation=cv2.INTER_LINEAR)
    out = cv2.resize(b_low, size, dst=out, interpolation=cv2.INTER_LINEAR)
    a *= lightness_full[..., None]
    out += a
    return out
