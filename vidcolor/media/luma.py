"""Luma as stored: :class:`GrayFrame` and reading a frame's Y plane without converting it.

vidcolor colours from the luma alone, so decoding keeps the Y plane's sample codes
(8 to 16 bit, limited or full range, any chroma subsampling) and maps them to [0, 1]
gray levels through a lookup table (:func:`luma_levels`) only when they are used.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import ColorRange


@dataclass(frozen=True)
class GrayFrame:
    """One decoded frame's luma, kept as the stored sample codes (4x smaller than floats).

    ``codes`` is (h, w) uint8 or uint16 as stored in the Y plane, ``bits`` their depth and
    ``full_range`` whether they span the whole code range (else video levels, 16-235 at 8 bits).
    ``pts`` is in the video stream's time base and ``time`` in seconds; both are None when the
    file gives no timestamp.
    """

    index: int
    pts: int | None
    time: float | None
    codes: np.ndarray
    bits: int
    full_range: bool

    @property
    def gray(self) -> np.ndarray:
        """The luma as (h, w) float32 gray levels in [0, 1]."""
        return luma_levels(self.bits, self.full_range).take(self.codes)


def _luma_plane_dtype(pix_fmt: av.VideoFormat) -> np.dtype | None:
    """numpy dtype of the Y plane samples when they can be read directly, else None.

    Direct reading covers planar YUV (yuv*, yuvj*, with or without alpha) and gray of
    8 to 16 bits, whose samples are stored right-aligned one per byte or 16-bit word.
    Packed, RGB, palette, float and MSB-aligned (p010) formats are converted instead.
    """
    name = pix_fmt.name
    if not (name.startswith(("yuv", "gray")) and (pix_fmt.is_planar or name.startswith("gray"))):
        return None
    if "f16" in name or "f32" in name or name.startswith("yuyv"):
        return None
    bits = pix_fmt.components[0].bits
    if bits <= 8:
        return np.dtype(np.uint8)
    return np.dtype(">u2" if pix_fmt.is_big_endian else "<u2")


def _is_full_range(frame: av.VideoFrame) -> bool:
    """Whether Y spans the full code range; untagged YUV is limited, untagged gray is full."""
    if frame.color_range == ColorRange.JPEG:
        return True
    if frame.color_range == ColorRange.MPEG:
        return False
    name = frame.format.name
    return name.startswith(("yuvj", "gray"))


@functools.cache
def luma_levels(bits: int, full_range: bool) -> np.ndarray:
    """Gray level in [0, 1] of every luma code of ``bits`` bits: float32, indexed by the code."""
    gray = np.arange(1 << bits, dtype=np.float32)
    scale = 1 << (bits - 8)
    if full_range:
        gray *= np.float32(1.0 / ((1 << bits) - 1))
    else:
        gray -= np.float32(16 * scale)
        gray *= np.float32(1.0 / (219 * scale))
    np.clip(gray, 0.0, 1.0, out=gray)
    gray.flags.writeable = False  # shared by every caller
    return gray


def luma_codes(frame: av.VideoFrame) -> tuple[np.ndarray, int, bool]:
    """The frame's Y plane as (h, w) codes (a copy), their bit depth and range (see :class:`GrayFrame`)."""
    dtype = _luma_plane_dtype(frame.format)
    if dtype is None:
        # swscale treats gray output as full range; ask for it explicitly anyway.
        frame = frame.reformat(format="gray", dst_color_range=ColorRange.JPEG)
        dtype, bits, full_range = np.dtype(np.uint8), 8, True
    else:
        bits, full_range = frame.format.components[0].bits, _is_full_range(frame)

    plane = frame.planes[0]
    samples_per_line = plane.line_size // dtype.itemsize
    # Rows are padded to line_size; view the buffer and crop instead of copying row by row.
    rows = np.frombuffer(plane, dtype=dtype, count=samples_per_line * frame.height)
    codes = rows.reshape(frame.height, samples_per_line)[:, : frame.width]
    # Native byte order, and a copy: the decoder reuses the frame's buffer.
    return codes.astype(dtype.newbyteorder("=")), bits, full_range
