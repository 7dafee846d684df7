"""Optical-flow helpers (OpenCV DIS): warp one image onto another and say where to trust it.

Pure functions on numpy arrays. Used to propagate the reference's colours onto a frame (the
network's flow candidate and the flow baseline) and to carry chroma from frame to frame (temporal
smoothing). Lightness arrays are ``(h, w)``; anything warped is ``(h, w)`` or ``(h, w, c)``.
"""

from __future__ import annotations

import functools
import threading

import cv2
import numpy as np

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def to_uint8(lightness: np.ndarray) -> np.ndarray:
    """CIE L in [0, 100] -> uint8 [0, 255], the input DIS expects."""
    return np.clip(lightness * 2.55 + 0.5, 0, 255).astype(np.uint8)


def dis_flow(src_u8: np.ndarray, dst_u8: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Flow ``(h, w, 2)`` such that ``src[y, x]`` matches ``dst[y + fy, x + fx]``.

    Both images are uint8 ``(h, w)`` of the same size.
    """
    return _dis(preset).calc(src_u8, dst_u8, None)


_local = threading.local()


def _dis(preset: str) -> cv2.DISOpticalFlow:
    """This thread's DIS instance for ``preset``, reused rather than created per call (creating one
    costs 2 of the 7 ms of a medium-preset flow at 256x456), with the preset's parameters restored.

    OpenCV's DIS changes an instance's finest scale, patch size and stride for good when an image
    is too small for its pyramid (e.g. 32x40), so an instance that has seen one gives other fields
    afterwards (a 256x456 flow after a 24x32 one differed by up to 45 pixels). Restored before each
    call, a reused instance gives a fresh one's fields bit for bit. One per thread, as an instance
    keeps working buffers.
    """
    instances = _local.__dict__.setdefault("dis", {})
    if preset not in instances:
        dis = cv2.DISOpticalFlow_create(_PRESETS[preset])
        instances[preset] = (dis, (dis.getFinestScale(), dis.getPatchSize(), dis.getPatchStride()))
    dis, (finest_scale, patch_size, patch_stride) = instances[preset]
    dis.setFinestScale(finest_scale)
    dis.setPatchSize(patch_size)
    dis.setPatchStride(patch_stride)
    return dis


@functools.cache
def _pixel_grid(h: int, w: int) -> np.ndarray:
    """``(h, w, 2)`` float32 (x, y) of every pixel, read-only (kept per frame size: a video has one)."""
    grid = cv2.merge(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
    grid.flags.writeable = False
    return grid


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``(x + fx, y + fy)``: bilinear, border replicated."""
    coordinates = flow + _pixel_grid(*flow.shape[:2])
    return cv2.remap(image, coordinates, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def photometric_confidence(
    lightness: np.ndarray, warped_lightness: np.ndarray, sigma: float = 6.0
) -> np.ndarray:
    """Per-pixel trust in a warp, in [0, 1], from how well the warped lightness matches.

    ``exp(-(|dL| / sigma)^2)`` on a lightly blurred error, so occluded and newly visible areas
    (large photometric error) get low confidence. sigma is in L units.
    """
    error = cv2.GaussianBlur(np.abs(lightness - warped_lightness).astype(np.float32), (5, 5), 0)
    return np.exp(-((error / sigma) ** 2)).astype(np.float32)


def propagate(
    lightness: np.ndarray,
    source_lightness: np.ndarray,
    source_values: np.ndarray,
    preset: str = "medium",
) -> tuple[np.ndarray, np.ndarray]:
    """Carry ``source_values`` (e.g. ab) from a source image onto a target image along DIS flow.

    ``lightness`` and ``source_lightness`` are CIE L ``(h, w)`` float32 of the same size.
    Returns the warped values and the photometric confidence ``(h, w)``.
    """
    field = dis_flow(to_uint8(lightness), to_uint8(source_lightness), preset)
    return propagate_along(field, lightness, source_lightness, source_values)


def propagate_along(
    field: np.ndarray, lightness: np.ndarray, source_lightness: np.ndarray, source_values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`propagate` along a flow ``field`` ``(h, w, 2)`` already known (e.g. composed frame to frame)."""
    # One remap of lightness and values together: one sampling grid instead of two (cv2.merge
    # stacks them 5x faster than np.dstack).
    source = cv2.merge([np.asarray(source_lightness, np.float32), np.asarray(source_values, np.float32)])
    warped = warp(source, field)
    warped_values = warped[..., 1:].reshape(source_values.shape)
    return warped_values, photometric_confidence(lightness, warped[..., 0])


def confidence_along(field: np.ndarray, lightness: np.ndarray, source_lightness: np.ndarray) -> np.ndarray:
    """:func:`propagate_along`'s confidence alone, without carrying values: ``(h, w)``, the same numbers
    (each channel of a remap is sampled alike), at a third of the cost (1.1 -> 0.4 ms at 256x456)."""
    return photometric_confidence(lightness, warp(np.asarray(source_lightness, np.float32), field))


def compose(field: np.ndarray, step: np.ndarray) -> np.ndarray:
    """The flow through an intermediate frame: ``step`` ``(h, w, 2)`` maps this frame into the
    previous one, ``field`` maps the previous one into a source; returns this frame -> source."""
    return warp(field, step) + step
