"""Photos coloured in strips of rows (vidcolor.photo) give the whole-image path's result."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from vidcolor import Colorizer, VidcolorError, photo
from vidcolor.color import gray_to_lightness, to_gray_batch
from vidcolor.colorizer import working_shape
from vidcolor.models import build_model


@pytest.fixture(scope="module")
def colorizer():
    torch.manual_seed(0)
    colorizer = Colorizer(build_model("tiny"), device="cpu", work_size=64)
    colorizer.set_reference(data.coffee())
    return colorizer


@pytest.fixture(scope="module")
def cat():
    return data.chelsea()  # 300x451 RGB: a real photo, odd width


def whole_lightness(image) -> torch.Tensor:
    return gray_to_lightness(to_gray_batch(image)).unsqueeze(1)


def test_working_lightness_in_one_strip_is_the_area_reduction_bit_for_bit(cat):
    size = working_shape(*cat.shape[:2], 64)
    expected = F.interpolate(whole_lightness(cat), size=size, mode="area")
    assert torch.equal(photo.working_lightness(cat, size), expected)
    # Strips of a few rows: the same windows, so equal to the last bits of the L values
    # (torch's vectorised maths rounds the tail of each strip a little differently).
    strips = photo.working_lightness(cat, size, strip_pixels=cat.shape[1] * 5)
    assert (strips - expected).abs().max() < 1e-4


@pytest.mark.parametrize("rows", [1, 3, 7])
def test_strip_wise_merge_equals_the_whole_image_merge(colorizer, cat, rows):
    lightness = whole_lightness(cat)
    lightness_work = colorizer.working_lightness(lightness)
    ab_work = colorizer.predict_ab(lightness_work)
    whole = colorizer.merge(lightness, lightness_work, ab_work)[0].numpy()  # the video path, one piece
    strips = photo.merge(cat, lightness_work[0, 0].numpy(), ab_work[0].permute(1, 2, 0).contiguous().numpy(),
                         strip_pixels=cat.shape[1] * rows)
    difference = np.abs(strips.astype(int) - whole)
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3
    assert colourfulness_of(strips) > 2  # a coloured photo, not two equal gray ones


def colourfulness_of(rgb):
    from vidcolor.metrics import colourfulness

    return colourfulness(rgb)


def test_colorize_photo_in_tiny_strips_matches_the_whole_image_path(colorizer, cat, monkeypatch):
    whole = colorizer.colorize(cat)[0]  # the path colorize_photo took before it worked in strips
    monkeypatch.setattr(photo, "STRIP_PIXELS", cat.shape[1] * 2)
    strips = colorizer.colorize_photo(cat)
    assert strips.shape == cat.shape and strips.dtype == np.uint8
    assert np.abs(strips.astype(int) - whole).max() <= 1


@pytest.mark.parametrize("kind", ["gray uint8", "gray float", "batch of one", "torch"])
def test_colorize_photo_takes_the_same_inputs_as_before(colorizer, cat, kind):
    gray = cat[..., 1]
    image = {"gray uint8": gray, "gray float": gray / 255.0, "batch of one": gray[None],
             "torch": torch.from_numpy(gray)}[kind]
    assert np.abs(colorizer.colorize_photo(image).astype(int) - colorizer.colorize(gray)[0]).max() <= 1


def test_colorize_photo_refuses_what_is_not_a_photo(colorizer):
    with pytest.raises(VidcolorError, match=r"got shape \(2, 20, 30\)"):
        colorizer.colorize_photo(np.zeros((2, 20, 30), np.uint8))
