"""Colour straight into the encoder's 4:2:0 planes: the source's luma kept, chroma made at half resolution.

The RGB route (:meth:`vidcolor.Colorizer.merge`) upsamples ab to every pixel, converts Lab to
RGB at full resolution, and the encoder then converts that RGB back to Y'CbCr and throws three
quarters of the chroma away. For a 4:2:0 output this module does only the part that survives:

- chroma: ab guided-upsampled to the chroma planes' size, Lab -> RGB -> Cb, Cr there (BT.709,
  the matrix the writer tags its output with);
- luma: the source's own Y plane, plus the change of luma that the colour brings (a saturated
  blue of the same CIE L has a lower Y' than the gray it replaces), made at half resolution and
  upsampled. So the output keeps CIE L as the RGB route does, up to that correction's
  resolution (the correction is smooth wherever the chroma is).

Per 1080p frame, from the network's ab to the encoder's frame (AMD EPYC, one OpenCV thread,
medians of interleaved runs): 20.4 -> 8.1 ms. Used only where it pays off (:func:`pays_off`).
Pure numpy/OpenCV on one frame; planes are 8-bit, ``(h, w)`` luma and ``((h+1)//2, (w+1)//2)`` chroma.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from .color import gray_to_lightness_numpy, lab_to_rgb
from .guided import guided_coefficients_hwc, guided_upsample_lab_hwc
from .media import GrayFrame, Yuv420Planes, luma_levels

# BT.709 luma weights of R and B (G takes the rest).
_KR, _KB = 0.2126, 0.0722


def chroma_shape(height: int, width: int) -> tuple[int, int]:
    """``(h, w)`` of a 4:2:0 chroma plane for a ``height`` x ``width`` picture."""
    return (height + 1) // 2, (width + 1) // 2


def pays_off(height: int, width: int, work_shape: tuple[int, int]) -> bool:
    """Whether a ``height`` x ``width`` video is better written through the planes than as RGB.

    Where the chroma planes are larger than the network's output (above ~512 lines at work size
    256) the route saves the most (1080p: 12 ms per frame) and measured as faithful (the near
    set's 720p clip through x264: CIEDE2000 2.811 against 2.910 by the RGB route). At 480p and
    below it saves little (a few ms) and the encoder's own conversion of full-resolution RGB is
    more faithful after decoding (near set, the six clips of 480p and below: 2.627 against 2.705
    through the planes; with an exact decoder too, bikes 2.928 against 3.085; docs/keyframes.md),
    so those keep the RGB route.
    """
    chroma_h, chroma_w = chroma_shape(height, width)
    return chroma_h > work_shape[0] or chroma_w > work_shape[1]


def _code_scale(full_range: bool) -> tuple[float, float, float]:
    """8-bit (luma scale, luma offset, chroma scale): full range 255/0/255, video range 219/16/224."""
    return (255.0, 0.0, 255.0) if full_range else (219.0, 16.0, 224.0)


@functools.cache
def _rgb_to_codes(full_range: bool) -> np.ndarray:
    """``(3, 4)`` affine matrix: RGB in [0, 1] -> (Y', Cb, Cr) as 8-bit codes, for ``cv2.transform``."""
    kg = 1.0 - _KR - _KB
    luma = np.array([_KR, kg, _KB])
    cb = (np.array([0.0, 0.0, 1.0]) - luma) / (2 * (1 - _KB))
    cr = (np.array([1.0, 0.0, 0.0]) - luma) / (2 * (1 - _KR))
    y_scale, y_offset, c_scale = _code_scale(full_range)
    return np.array([
        [*(y_scale * luma), y_offset],
        [*(c_scale * cb), 128.0],
        [*(c_scale * cr), 128.0],
    ], np.float32)


@functools.cache
def luma_code_table(bits: int, full_range_in: bool, full_range_out: bool) -> np.ndarray:
    """Every stored luma code (``bits`` deep, either range) -> the same gray's 8-bit output code."""
    y_scale, y_offset, _ = _code_scale(full_range_out)
    table = np.clip(np.rint(luma_levels(bits, full_range_in) * y_scale + y_offset), 0, 255).astype(np.uint8)
    table.flags.writeable = False
    return table


def output_luma(codes: np.ndarray, bits: int, full_range_in: bool, full_range_out: bool) -> np.ndarray:
    """A decoded Y plane ``(h, w)`` as 8-bit output codes (the same array when nothing changes)."""
    if bits == 8 and full_range_in == full_range_out:
        return codes
    table = luma_code_table(bits, full_range_in, full_range_out)
    return cv2.LUT(codes, table) if codes.dtype == np.uint8 else table.take(codes)


@functools.cache
def code_lightness(bits: int, full_range: bool) -> np.ndarray:
    """CIE L of every luma code's gray (``bits`` deep, either range), float32, indexed by the code:
    a lookup table for ``cv2.LUT`` (8 bits) or ``take``. Shared by every caller: read-only."""
    table = gray_to_lightness_numpy(luma_levels(bits, full_range)).astype(np.float32)
    table.flags.writeable = False
    return table


def lab_to_yuv420(
    luma_codes: np.ndarray, lightness_work: np.ndarray, ab_work: np.ndarray, full_range: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame's planes ``(y, u, v)`` uint8 from its gray luma and the working-resolution ab.

    ``luma_codes`` ``(H, W)`` uint8: the gray picture as output luma codes (:func:`output_luma`);
    ``lightness_work`` ``(h, w)`` and ``ab_work`` ``(h, w, 2)``: the network's resolution, in
    Lab units. ``full_range``: the output's code range (video range 16-235 otherwise).
    The chroma planes' gray is the luma averaged over each 2x2 block, so where ``ab`` is zero
    the luma comes out unchanged and the chroma neutral.
    """
    height, width = luma_codes.shape
    chroma_h, chroma_w = chroma_shape(height, width)
    luma_half = cv2.resize(luma_codes, (chroma_w, chroma_h), interpolation=cv2.INTER_AREA)
    lightness_half = cv2.LUT(luma_half, code_lightness(8, full_range))
    a_coef, b_coef = guided_coefficients_hwc(lightness_work, ab_work)
    lab_half = guided_upsample_lab_hwc(a_coef, b_coef, lightness_half)
    rgb_half = cv2.cvtColor(lab_half, cv2.COLOR_Lab2RGB)
    # Out-of-gamut colours clipped to [0, 1], every channel (numpy's clip is 3x slower).
    cv2.threshold(rgb_half, 1.0, 1.0, cv2.THRESH_TRUNC, dst=rgb_half)
    cv2.threshold(rgb_half, 0.0, 0.0, cv2.THRESH_TOZERO, dst=rgb_half)
    # Y', Cb, Cr codes; from RGB in [0, 1] the chroma codes cannot leave [0, 255].
    luma_colour, cb, cr = cv2.split(cv2.transform(rgb_half, _rgb_to_codes(full_range)))
    # The luma the colour adds over the gray of the same L (zero where the output is gray).
    luma_change = cv2.subtract(luma_colour, luma_half, dtype=cv2.CV_32F)
    luma_change = cv2.resize(luma_change, (width, height), interpolation=cv2.INTER_LINEAR)
    y = cv2.add(luma_codes, luma_change, dtype=cv2.CV_8U)  # rounds and saturates
    return y, cv2.convertScaleAbs(cb), cv2.convertScaleAbs(cr)  # rounds to nearest


def gray_frame_planes(frame: GrayFrame, lightness_work: np.ndarray, ab_work: np.ndarray,
                      full_range: bool = False) -> Yuv420Planes:
    """A decoded frame coloured into 4:2:0 planes (see :func:`lab_to_yuv420`)."""
    luma_codes = output_luma(frame.codes, frame.bits, frame.full_range, full_range)
    return Yuv420Planes(*lab_to_yuv420(luma_codes, lightness_work, ab_work, full_range), full_range)


def lightness_planes(lightness: np.ndarray, lightness_work: np.ndarray, ab_work: np.ndarray,
                     full_range: bool = False) -> Yuv420Planes:
    """:func:`gray_frame_planes` for a gray given as CIE L ``(H, W)`` rather than as decoded luma codes."""
    y_scale, y_offset, _ = _code_scale(full_range)
    lab = np.stack([lightness, np.zeros_like(lightness), np.zeros_like(lightness)])[None]
    gray = lab_to_rgb(torch.from_numpy(lab.astype(np.float32)))[0, 1].numpy()  # neutral: R = G = B
    luma_codes = np.clip(np.rint(gray * y_scale + y_offset), 0, 255).astype(np.uint8)
    return Yuv420Planes(*lab_to_yuv420(luma_codes, lightness_work, ab_work, full_range), full_range)
