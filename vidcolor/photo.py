"""A photo's full-resolution steps in strips of rows: memory grows with the working size, not the photo.

:meth:`vidcolor.Colorizer.colorize_photo` runs gray -> CIE L, the area reduction to the working
size, the guided upsampling of chroma, the merge with L and Lab -> RGB a strip of rows at a time,
so that besides the photo and the result (both uint8) only strip-sized float arrays exist. Whole
float32 planes of a 100-Mpixel scan (L, two upsampled coefficients, Lab, RGB) would take ~6 GB.

The maths is the whole-image path's (:meth:`~vidcolor.Colorizer.working_lightness`,
:meth:`~vidcolor.Colorizer.merge`), reordered: the tests check that the two agree.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .color import gray_to_lightness, lab_hwc_to_rgb_uint8, to_gray_batch
from .errors import VidcolorError
from .guided import guided_coefficients_hwc, guided_upsample_lab_hwc

# Full-resolution pixels per strip: ~60 bytes of float temporaries each (~120 MB), whatever the
# photo's size; larger strips are no faster.
STRIP_PIXELS = 1 << 21


def photo_array(image) -> np.ndarray:
    """A photo (numpy or torch) as numpy ``(h, w)`` gray or ``(h, w, 3)`` RGB, uint8 or float in [0, 1].

    A batch of one, ``(1, h, w)`` or ``(1, h, w, 3)``, is unwrapped.
    """
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 4 and array.shape[0] == 1 or array.ndim == 3 and array.shape[0] == 1 and array.shape[-1] != 3:
        array = array[0]
    if not (array.ndim == 2 or array.ndim == 3 and array.shape[-1] == 3):
        raise VidcolorError(f"a photo must be gray (h, w) or RGB (h, w, 3), got shape {tuple(array.shape)}")
    return array


def _rows_per_strip(width: int, strip_pixels: int | None) -> int:
    return max(1, (strip_pixels or STRIP_PIXELS) // width)


def lightness_rows(photo: np.ndarray, start: int, stop: int) -> torch.Tensor:
    """CIE L ``(rows, w)`` float32 of the photo's rows ``start:stop`` (as :func:`to_gray_batch` and
    :func:`gray_to_lightness` make it for the whole photo)."""
    return gray_to_lightness(to_gray_batch(photo[start:stop]))[0]


def working_lightness(photo: np.ndarray, size: tuple[int, int], strip_pixels: int | None = None) -> torch.Tensor:
    """The photo's L area-reduced to ``size`` ``(h, w)``: ``(1, 1, h, w)`` float32 on the CPU.

    The same numbers as ``F.interpolate(L, size, mode="area")`` on the whole L plane, bit for bit
    (the optical flow downstream turns a last-bit change into visibly different colour): that is
    adaptive average pooling, where output row ``i`` averages input rows ``floor(i*H/h)`` to
    ``ceil((i+1)*H/h)``, so pooling exactly those rows, one output row at a time, sums the same
    numbers in the same order. A strip holds the input rows of a run of output rows.
    """
    height, width = photo.shape[:2]
    out_height, out_width = size
    index = np.arange(out_height + 1, dtype=np.int64)
    starts = index[:-1] * height // out_height
    stops = -(-index[1:] * height // out_height)  # ceiling
    rows = _rows_per_strip(width, strip_pixels)
    out = torch.empty((1, 1, out_height, out_width))
    first = 0
    while first < out_height:
        # The output rows whose input rows fit in one strip (at least one output row).
        last = max(first + 1, int(np.searchsorted(stops, starts[first] + rows, side="right")))
        top = int(starts[first])
        lightness = lightness_rows(photo, top, int(stops[last - 1]))[None, None]
        for i in range(first, last):
            window = lightness[..., starts[i] - top : stops[i] - top, :]
            out[..., i : i + 1, :] = F.adaptive_avg_pool2d(window, (1, out_width))
        first = last
    return out


def _rows_at(low: np.ndarray, out_rows: slice, out_height: int) -> np.ndarray:
    """Rows ``out_rows`` of ``low`` ``(h, w, c)`` bilinearly resized to ``out_height`` rows (width kept).

    OpenCV's convention (as ``align_corners=False``): output row y samples ``(y + 0.5) * h / H - 0.5``,
    the two rows around it clamped to the image.
    """
    low_height = low.shape[0]
    y = np.arange(out_rows.start, out_rows.stop, dtype=np.float64)
    position = ((y + 0.5) * (low_height / out_height) - 0.5).astype(np.float32)
    above = np.floor(position)
    weight = (position - above)[:, None, None]
    above = above.astype(np.int64)
    upper = low[np.clip(above, 0, low_height - 1)]
    lower = low[np.clip(above + 1, 0, low_height - 1)]
    return np.ascontiguousarray(upper * (1 - weight) + lower * weight, dtype=np.float32)


def merge(photo: np.ndarray, lightness_work: np.ndarray, ab_work: np.ndarray, strip_pixels: int | None = None) -> np.ndarray:
    """Guided-upsample ab and merge it with the photo's own L -> RGB uint8 ``(H, W, 3)``, strip by strip.

    ``lightness_work`` ``(h, w)`` and ``ab_work`` ``(h, w, 2)`` (Lab units, float32) are the
    working-resolution L and predicted chroma. The guided filter's coefficients are fitted once at
    the working resolution; for each strip their rows are interpolated at the working width, then
    :func:`guided_upsample_lab_hwc` widens them (its resize then keeps the rows) and applies them
    to the strip's L.
    """
    height, width = photo.shape[:2]
    a_low, b_low = guided_coefficients_hwc(lightness_work, ab_work)
    out = np.empty((height, width, 3), np.uint8)
    rows = _rows_per_strip(width, strip_pixels)
    for top in range(0, height, rows):
        strip = slice(top, min(height, top + rows))
        lightness = lightness_rows(photo, strip.start, strip.stop).numpy()
        lab = guided_upsample_lab_hwc(_rows_at(a_low, strip, height), _rows_at(b_low, strip, height), lightness)
        out[strip] = lab_hwc_to_rgb_uint8(lab)
    return out
