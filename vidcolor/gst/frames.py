"""Raw video frames as GStreamer lays them out <-> the arrays the colourizer takes and gives.

No GStreamer here (the element passes in a :class:`Layout` read from its caps), so the byte
juggling is tested without it. Input: the luma of 8-bit YUV or gray formats (the Y plane, as the
command line reads a file) or RGB (reduced to luma, as :meth:`vidcolor.Colorizer.stream` does).
Output: packed RGB, RGBx or planar I420. Rows are padded to a stride (a 321-pixel GRAY8 row
takes 324 bytes), so every plane is read and written through its stride.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .formats import LUMA_FORMATS, MATRICES, RGB_FORMATS


@dataclass(frozen=True)
class Layout:
    """Where a frame's planes lie in a buffer: GstVideoInfo's (or a buffer's GstVideoMeta's) numbers.

    ``full_range``: luma codes span 0-255 (else video levels 16-235); ``matrix``: a key of
    :data:`MATRICES` (the YCbCr matrix of a YUV output).
    """

    format: str
    width: int
    height: int
    strides: tuple[int, ...]
    offsets: tuple[int, ...]
    size: int
    full_range: bool = True
    matrix: str = "bt601"


def _half(n: int) -> int:
    return (n + 1) // 2


def _row_bytes(n: int) -> int:
    return (n + 3) // 4 * 4


def default_layout(format: str, width: int, height: int, full_range: bool | None = None) -> Layout:
    """GStreamer's default layout of GRAY8, RGB, RGBx or I420 frames (rows padded to 4 bytes).

    What GstVideoInfo gives for such caps (a test compares them); for frames made without
    GStreamer, e.g. in the tests. ``full_range`` defaults to GStreamer's: video levels for I420.
    """
    if full_range is None:
        full_range = format != "I420"
    if format == "I420":
        strides = (_row_bytes(width), _row_bytes(_half(width)), _row_bytes(_half(width)))
        chroma = strides[0] * (height + height % 2)  # the luma plane is allotted an even row count
        offsets = (0, chroma, chroma + strides[1] * _half(height))
        return Layout(format, width, height, strides, offsets, offsets[2] + strides[2] * _half(height), full_range)
    pixel = 1 if format == "GRAY8" else RGB_FORMATS[format][0]
    stride = _row_bytes(width * pixel)
    return Layout(format, width, height, (stride,), (0,), stride * height, full_range)


def _plane(data, layout: Layout, index: int, rows: int, row_bytes: int) -> np.ndarray:
    """Plane ``index`` as a (rows, row_bytes) uint8 view of ``data``, padding cut off."""
    stride = layout.strides[index]
    flat = np.frombuffer(data, np.uint8, count=stride * (rows - 1) + row_bytes, offset=layout.offsets[index])
    return np.lib.stride_tricks.as_strided(flat, (rows, row_bytes), (stride, 1))


def _video_levels() -> np.ndarray:
    """8-bit video-level luma (16-235) -> gray in [0, 1], float32.

    The same numbers as ``vidcolor.media.luma.luma_levels(8, False)`` (a test keeps them equal),
    written out because importing vidcolor.media loads PyAV's FFmpeg into GStreamer's process.
    """
    gray = np.arange(256, dtype=np.float32)
    gray -= np.float32(16)
    gray *= np.float32(1.0 / 219)
    np.clip(gray, 0.0, 1.0, out=gray)
    return gray


VIDEO_LEVELS = _video_levels()


def read_frame(data, layout: Layout) -> np.ndarray:
    """One frame's bytes -> what :meth:`vidcolor.Colorizer.stream` takes, as a new array.

    Full-range luma: ``(h, w)`` uint8 codes; video-level luma: ``(h, w)`` float32 gray in [0, 1];
    RGB formats: ``(h, w, 3)`` uint8 RGB (reduced to luma by the colourizer, like any RGB frame).
    """
    if layout.format in LUMA_FORMATS:
        codes = _plane(data, layout, 0, layout.height, layout.width)
        return codes.copy() if layout.full_range else VIDEO_LEVELS[codes]
    if layout.format not in RGB_FORMATS:
        raise ValueError(f"cannot read {layout.format} frames")
    pixel, channels = RGB_FORMATS[layout.format]
    packed = _plane(data, layout, 0, layout.height, layout.width * pixel).reshape(layout.height, layout.width, pixel)
    return packed[..., list(channels)]  # fancy indexing copies


def write_frame(rgb: np.ndarray, layout: Layout) -> bytes:
    """An RGB uint8 ``(h, w, 3)`` frame -> a buffer's bytes in ``layout`` (padding bytes zero)."""
    out = bytearray(layout.size)
    height, width = layout.height, layout.width
    if layout.format in ("RGB", "RGBx"):
        pixel = 3 if layout.format == "RGB" else 4
        packed = _plane(out, layout, 0, height, width * pixel).reshape(height, width, pixel)
        packed[..., :3] = rgb
        if pixel == 4:
            packed[..., 3] = 255
    elif layout.format == "I420":
        y, u, v = rgb_to_yuv420(rgb, layout.matrix, layout.full_range)
        _plane(out, layout, 0, height, width)[:] = y
        _plane(out, layout, 1, _half(height), _half(width))[:] = u
        _plane(out, layout, 2, _half(height), _half(width))[:] = v
    else:
        raise ValueError(f"cannot write {layout.format} frames")
    return bytes(out)


def rgb_to_yuv420(rgb: np.ndarray, matrix: str = "bt601", full_range: bool = False) -> tuple[np.ndarray, ...]:
    """RGB uint8 ``(h, w, 3)`` -> Y ``(h, w)`` and Cb, Cr ``(ceil(h/2), ceil(w/2))`` uint8.

    Chroma is the mean of each 2x2 block (the last row and column repeated for odd sizes).
    """
    kr, kb = MATRICES.get(matrix, MATRICES["bt601"])
    r, g, b = (rgb[..., i].astype(np.float32) / 255 for i in range(3))
    luma = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - luma) / (2 * (1 - kb))
    cr = (r - luma) / (2 * (1 - kr))
    height, width = luma.shape
    padded = [np.pad(c, ((0, height % 2), (0, width % 2)), mode="edge") for c in (cb, cr)]
    cb, cr = (p.reshape(_half(height), 2, _half(width), 2).mean(axis=(1, 3)) for p in padded)
    y_scale, y_offset, c_scale = (255, 0, 255) if full_range else (219, 16, 224)
    y = luma * y_scale + y_offset
    u, v = cb * c_scale + 128, cr * c_scale + 128
    return tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, u, v))
