import numpy as np
import torch
from skimage import color as skcolor

from vidcolor.color import (
    gray_to_lightness,
    gray_to_lightness_numpy,
    lab_hwc_to_rgb_uint8,
    lab_to_rgb,
    lab_to_rgb_uint8,
    rgb_to_lab,
    rgb_uint8_to_lab,
)


def random_rgb(seed=0, shape=(2, 3, 32, 48)):
    return torch.from_numpy(np.random.default_rng(seed).random(shape, dtype=np.float32))


def test_rgb_to_lab_matches_scikit_image():
    rgb = random_rgb()
    ours = rgb_to_lab(rgb).permute(0, 2, 3, 1).numpy()
    theirs = np.stack([skcolor.rgb2lab(img) for img in rgb.permute(0, 2, 3, 1).numpy()])
    delta_e = skcolor.deltaE_ciede2000(ours, theirs)
    assert delta_e.mean() < 0.05 and delta_e.max() < 0.5


def test_lab_to_rgb_round_trip_and_matches_scikit_image():
    rgb = random_rgb(1)
    lab = rgb_to_lab(rgb)
    assert torch.allclose(lab_to_rgb(lab), rgb, atol=2e-3)
    theirs = np.stack([skcolor.lab2rgb(img) for img in lab.permute(0, 2, 3, 1).numpy()])
    assert np.abs(lab_to_rgb(lab).permute(0, 2, 3, 1).numpy() - theirs).max() < 2e-3


def test_gray_lightness_equals_lab_of_neutral_rgb():
    gray = torch.linspace(0, 1, 256)
    neutral = gray.view(1, 1, 1, -1).expand(1, 3, 1, 256)
    assert torch.allclose(gray_to_lightness(gray), rgb_to_lab(neutral)[0, 0, 0], atol=1e-3)


def test_uint8_helpers_are_channels_last_and_exact_on_round_trip():
    rgb_uint8 = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (1, 8, 9, 3), dtype=np.uint8))
    assert torch.equal(lab_to_rgb_uint8(rgb_uint8_to_lab(rgb_uint8)), rgb_uint8)


def test_numpy_fast_paths_match_the_torch_maths():
    gray = np.random.default_rng(3).random((2, 17, 23), dtype=np.float32)
    assert np.abs(gray_to_lightness_numpy(gray) - gray_to_lightness(torch.from_numpy(gray)).numpy()).max() < 0.01
    rgb_uint8 = torch.from_numpy(np.random.default_rng(4).integers(0, 256, (1, 16, 16, 3), dtype=np.uint8))
    lab = rgb_uint8_to_lab(rgb_uint8)
    fast = lab_hwc_to_rgb_uint8(lab[0].permute(1, 2, 0).numpy())
    assert np.abs(fast.astype(int) - rgb_uint8[0].numpy()).max() <= 1
