"""Tests for vidcolor.metrics on images with known metric values."""

import math

import cv2

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

from vidcolor import metrics


def _random_rgb(seed, h=24, w=32):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_psnr_constant_difference_of_one():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert metrics.psnr(a, a + 1) == pytest.approx(20 * math.log10(255), abs=1e-9)
    assert metrics.psnr(a, a + 1) == pytest.approx(48.13, abs=0.01)


def test_psnr_identical_is_inf_and_symmetric():
    a, b = _random_rgb(0), _random_rgb(1)
    assert metrics.psnr(a, a) == math.inf
    assert metrics.psnr(a, b) == pytest.approx(metrics.psnr(b, a))


def test_psnr_rejects_bad_input():
    with pytest.raises(ValueError):
        metrics.psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError):
        metrics.psnr(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.float32))


def test_ssim_matches_skimage():
    a, b = _random_rgb(2), _random_rgb(3)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    expected = structural_similarity(a, b, channel_axis=2, data_range=255)
    assert metrics.ssim(a, b) == pytest.approx(expected)


def test_ciede2000_identical_is_zero():
    a = _random_rgb(4)
    assert metrics.mean_ciede2000(a, a) == pytest.approx(0.0, abs=1e-9)


def test_ciede2000_matches_skimage():
    a, b = _random_rgb(5), _random_rgb(6)
    expected = np.mean(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)))
    assert metrics.mean_ciede2000(a, b) == pytest.approx(expected)
    # Uniform images: the mean is the single pair's difference.
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200
    orange = red.copy()
    orange[..., 1] = 100
    pair = deltaE_ciede2000(rgb2lab(red[:1, :1]), rgb2lab(orange[:1, :1]))[0, 0]
    assert metrics.mean_ciede2000(red, orange) == pytest.approx(pair)
    assert pair > 10


def test_colourfulness_gray_is_zero():
    ramp = np.repeat(np.linspace(0, 255, 16).astype(np.uint8)[None, :, None], 3, 2)
    assert metrics.colourfulness(np.repeat(ramp, 4, 0)) == pytest.approx(0.0)


def test_colourfulness_two_pixel_image():
    image = np.array([[[255, 0, 0], [0, 0, 0]]], np.uint8)
    # rg = [255, 0], yb = [127.5, 0]: std = mean = (127.5, 63.75) -> 1.3 * 63.75 * sqrt(5)
    assert metrics.colourfulness(image) == pytest.approx(1.3 * 63.75 * math.sqrt(5))


def test_js_divergence_bounds():
    p = np.zeros(256)
    q = np.zeros(256)
    p[:128] = 1 / 128
    q[128:] = 1 / 128
    assert metrics.js_divergence(p, q) == pytest.approx(1.0)
    assert metrics.js_divergence(p, p) == pytest.approx(0.0)
    r = np.full(256, 1 / 256)
    assert 0 < metrics.js_divergence(p, r) < 1
    assert metrics.js_divergence(p, r) == pytest.approx(metrics.js_divergence(r, p))


def test_channel_histograms_sum_to_one():
    hist = metrics.channel_histograms(_random_rgb(7))
    assert hist.shape == (3, 256)
    np.testing.assert_allclose(hist.sum(axis=1), 1.0)


def test_cdc_identical_frames_is_zero():
    frame = _random_rgb(8)
    assert metrics.cdc([frame] * 6) == pytest.approx(0.0, abs=1e-12)


def test_cdc_short_clips():
    frame = _random_rgb(9)
    assert metrics.cdc([frame]) == 0.0
    assert metrics.cdc([]) == 0.0
    assert metrics.cdc([frame, 255 - frame]) > 0


def test_cdc_frame_vs_inverse():
    black = np.zeros((8, 8, 3), np.uint8)
    white = np.full((8, 8, 3), 255, np.uint8)
    # Two frames: only d = 1 fits, histograms disjoint -> exactly 1.
    assert metrics.cdc([black, white]) == pytest.approx(1.0)
    frame = _random_rgb(10)
    value = metrics.cdc([frame, 255 - frame])
    assert 0 < value <= 1
    # Symmetric under reversing time.
    clip = [_random_rgb(s) // (s + 1) for s in range(7)]
    assert metrics.cdc(clip) == pytest.approx(metrics.cdc(clip[::-1]))
    assert 0 < metrics.cdc(clip) <= 1


def test_cdc_offsets_weighted_equally():
    black = np.zeros((4, 4, 3), np.uint8)
    white = np.full((4, 4, 3), 255, np.uint8)
    # Alternating clip of 5 frames: d = 1 pairs all disjoint (1), d = 2 and d = 4 all equal (0).
    clip = [black, white, black, white, black]
    assert metrics.cdc(clip) == pytest.approx(1 / 3)
    # Three frames: d = 1 (1) and d = 2 (0) fit -> 1/2.
    assert metrics.cdc(clip[:3]) == pytest.approx(1 / 2)


def test_clip_metrics():
    gt = [_random_rgb(s) for s in range(4)]
    out = [np.clip(g.astype(int) + 1, 0, 255).astype(np.uint8) for g in gt]
    result = metrics.clip_metrics(out, gt)
    assert set(result) >= {"psnr", "ssim", "ciede2000", "colourfulness_ratio", "cdc",
                           "cdc_ground_truth"}
    assert result["psnr"] > 45
    assert result["ssim"] > 0.99
    assert result["ciede2000"] < 1
    assert result["colourfulness_ratio"] == pytest.approx(1.0, abs=0.02)
    assert result["cdc_ground_truth"] == pytest.approx(metrics.cdc(gt))
    assert result["cdc"] == pytest.approx(metrics.cdc(out))
    identical = metrics.clip_metrics(gt, gt)
    assert identical["psnr"] == math.inf
    assert identical["colourfulness_ratio"] == pytest.approx(1.0)
    assert identical["ciede2000"] == pytest.approx(0.0, abs=1e-9)
    gray = [np.repeat(g[..., :1], 3, 2) for g in gt]
    assert metrics.clip_metrics(gray, gt)["colourfulness_ratio"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        metrics.clip_metrics(out[:2], gt)


def test_chroma_warp_error_tells_flickering_colour_from_steady_colour():
    """A texture panning right: colour that moves with it scores ~0, colour that flickers does not,
    and a colourless output scores 0 (it cannot flicker) - unlike CDC, which only sees lightness."""
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.random((12, 20)).astype(np.float32), (200, 80), interpolation=cv2.INTER_CUBIC)
    lightness = (texture.clip(0, 1) * 160 + 40).astype(np.uint8)
    tint = np.stack([lightness, (lightness * 0.6).astype(np.uint8), (lightness * 0.3).astype(np.uint8)], -1)
    truth = [np.ascontiguousarray(tint[:, 2 * t : 2 * t + 160]) for t in range(8)]
    gray = [np.repeat(f.mean(-1, keepdims=True).astype(np.uint8), 3, -1) for f in truth]
    flicker = [f if t % 2 else f[..., ::-1].copy() for t, f in enumerate(truth)]  # red and blue swapped every other frame
    steady = metrics.chroma_warp_error(truth, truth)
    assert steady < 1.0 and metrics.chroma_warp_error(gray, truth) < 0.5
    assert metrics.chroma_warp_error(flicker, truth) > 10 * max(steady, 0.5)
