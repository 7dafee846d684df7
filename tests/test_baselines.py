"""Tests for vidcolor.baselines on synthetic Lab images."""

import cv2
import numpy as np
import pytest
from skimage.color import lab2rgb

from vidcolor import baselines


def _mapping(lightness):
    """A smooth ab as a function of L."""
    a = 40 * np.sin(lightness / 100 * np.pi)
    b = 30 * (lightness / 50 - 1)
    return np.stack([a, b], -1).astype(np.float32)


def _textured_lightness(seed, h, w):
    """Smooth random texture in L, range about 15-85, that optical flow can track."""
    noise = np.random.default_rng(seed).standard_normal((h, w)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 2.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    return (15 + 70 * texture).astype(np.float32)


def test_gray_ab():
    ab = baselines.gray_ab(np.full((5, 7), 50, np.float32))
    assert ab.shape == (5, 7, 2) and ab.dtype == np.float32
    assert not ab.any()


def test_palette_reproduces_lightness_mapping():
    rng = np.random.default_rng(0)
    ref_l = rng.uniform(0, 100, (64, 64)).astype(np.float32)
    reference = np.concatenate([ref_l[..., None], _mapping(ref_l)], -1)
    target_l = rng.uniform(0, 100, (48, 40)).astype(np.float32)
    ab = baselines.palette_ab(target_l, reference)
    assert ab.shape == (48, 40, 2) and ab.dtype == np.float32
    error = np.abs(ab - _mapping(target_l))
    assert error.mean() < 2
    assert np.abs(ab - _mapping(target_l))[(target_l > 5) & (target_l < 95)].max() < 2


def test_palette_fills_empty_bins_by_interpolation():
    # Reference has only two lightness levels with two colours; gaps are interpolated.
    ref_l = np.where(np.arange(40)[None, :] < 20, 20.0, 80.0) * np.ones((10, 1))
    ref_ab = np.where(ref_l[..., None] < 50, [-20.0, 10.0], [40.0, -30.0])
    reference = np.concatenate([ref_l[..., None], ref_ab], -1).astype(np.float32)
    for smooth in (0.0, 1.0):
        palette = baselines.luminance_palette(reference, smooth=smooth)
        assert palette.shape == (32, 2)
        assert np.isfinite(palette).all()
        ab = baselines.palette_ab(np.array([[20.0, 50.0, 80.0, 0.0, 100.0]], np.float32), reference,
                                  smooth=smooth)
        np.testing.assert_allclose(ab[0, 0], [-20, 10], atol=1e-3)
        np.testing.assert_allclose(ab[0, 2], [40, -30], atol=1e-3)
        np.testing.assert_allclose(ab[0, 1], [10, -10], atol=2)  # halfway
        np.testing.assert_allclose(ab[0, 3], [-20, 10], atol=1e-3)  # constant beyond the ends
        np.testing.assert_allclose(ab[0, 4], [40, -30], atol=1e-3)


def _shifted_pair(shift=3, h=96, w=128):
    ref_l = _textured_lightness(1, h, w)
    ref_ab = np.stack(
        [cv2.GaussianBlur(_textured_lightness(s, h, w), (0, 0), 3.0) - 50 for s in (2, 3)], -1
    )
    reference = np.concatenate([ref_l[..., None], ref_ab], -1)
    # target[y, x] = reference[y, x + shift]: the scene moved left by `shift` pixels.
    target_l = np.roll(ref_l, -shift, axis=1)
    expected_ab = np.roll(ref_ab, -shift, axis=1)
    return target_l, reference, expected_ab


def test_flow_reproduces_shifted_reference():
    target_l, reference, expected_ab = _shifted_pair()
    ab = baselines.flow_ab(target_l, reference)
    assert ab.shape == target_l.shape + (2,) and ab.dtype == np.float32
    m = 12
    error = np.abs(ab - expected_ab)[m:-m, m:-m]
    assert error.mean() < 1
    # Without following the motion the error would be much larger.
    assert np.abs(reference[..., 1:] - expected_ab)[m:-m, m:-m].mean() > 3 * error.mean()


def test_flow_resizes_reference():
    target_l, reference, _ = _shifted_pair()
    big = cv2.resize(reference, (256, 192), interpolation=cv2.INTER_LINEAR)
    ab = baselines.flow_ab(target_l, big, preset="fast")
    assert ab.shape == target_l.shape + (2,) and ab.dtype == np.float32
    assert np.isfinite(ab).all()


def test_lab_to_rgb_uint8_matches_skimage():
    rng = np.random.default_rng(4)
    lightness = rng.uniform(0, 100, (6, 9)).astype(np.float32)
    ab = rng.uniform(-40, 40, (6, 9, 2)).astype(np.float32)
    rgb = baselines.lab_to_rgb_uint8(lightness, ab)
    assert rgb.shape == (6, 9, 3) and rgb.dtype == np.uint8
    lab = np.concatenate([lightness[..., None], ab], -1)
    expected = np.round(np.clip(lab2rgb(lab), 0, 1) * 255)
    assert np.abs(rgb.astype(int) - expected.astype(int)).max() <= 1
    gray = baselines.lab_to_rgb_uint8(lightness, baselines.gray_ab(lightness))
    assert np.abs(gray.astype(int) - gray[..., :1].astype(int)).max() <= 1


def test_rejects_bad_shapes():
    with pytest.raises(ValueError):
        baselines.palette_ab(np.zeros((4, 4, 1), np.float32), np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        baselines.flow_ab(np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.float32))
