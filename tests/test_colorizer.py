import numpy as np
import pytest
import torch

from vidcolor import Colorizer, ReferenceWarning, VidcolorError
from vidcolor.color import lab_to_rgb_uint8, rgb_uint8_to_lab
from vidcolor import colorizer as colorizer_module
from vidcolor.guided import guided_coefficients, guided_coefficients_hwc, guided_upsample, guided_upsample_lab_hwc
from vidcolor.color import to_gray_batch
from vidcolor.colorizer import working_shape
from vidcolor.models import build_model


@pytest.fixture(scope="module")
def colorizer():
    torch.manual_seed(0)
    colorizer = Colorizer(build_model("tiny"), device="cpu", work_size=32)
    colorizer.set_reference(colour_image(40, 56, seed=1))
    return colorizer


def colour_image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def gray_frames(b, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (b, h, w), dtype=np.uint8)


def test_output_is_full_resolution_rgb_with_the_original_lightness(colorizer):
    frames = gray_frames(3, 45, 61)  # odd sizes
    rgb = colorizer.colorize(frames)
    assert rgb.shape == (3, 45, 61, 3) and rgb.dtype == np.uint8
    lightness_out = rgb_uint8_to_lab(torch.from_numpy(rgb))[:, 0]
    lightness_in = rgb_uint8_to_lab(torch.from_numpy(np.repeat(frames[..., None], 3, -1)))[:, 0]
    # Only chroma comes from the model: L changes only where a colour leaves the sRGB gamut.
    assert (lightness_out - lightness_in).abs().median() < 1.0


def test_accepts_numpy_torch_gray_colour_and_single_frames(colorizer):
    frame = gray_frames(1, 24, 32)[0]
    reference_result = colorizer.colorize(frame)
    assert reference_result.shape == (1, 24, 32, 3)
    assert np.array_equal(colorizer.colorize(torch.from_numpy(frame)), reference_result)
    assert np.array_equal(colorizer.colorize(frame.astype(np.float32) / 255.0), reference_result)
    colour = np.repeat(frame[..., None], 3, -1)  # a colour frame is colourised from its luma
    assert np.abs(colorizer.colorize(colour).astype(int) - reference_result).max() <= 1
    assert colorizer.colorize_photo(colour).shape == (24, 32, 3)


def test_the_hedge_scales_the_network_colour_unless_turned_off():
    torch.manual_seed(0)
    model = build_model("tiny")
    hedged, full = Colorizer(model, device="cpu", work_size=32), Colorizer(model, device="cpu", work_size=32, hedge=False)
    for colorizer in (hedged, full):
        colorizer.set_reference(colour_image(40, 56, seed=1))
    lightness_work = torch.rand(2, 1, 32, 40) * 100
    full_ab = full.predict_ab(lightness_work)
    assert full_ab.abs().mean() > 0.1
    model.hedge_scales.fill_(0.5)
    torch.testing.assert_close(hedged.predict_ab(lightness_work), 0.5 * full_ab)
    torch.testing.assert_close(full.predict_ab(lightness_work), full_ab)


def test_the_flow_candidate_keeps_the_reference_sharp_at_the_working_resolution():
    # Fine colour detail (4-pixel stripes, each colour at its own lightness so the flow can
    # follow it) must survive: the tiny preset encodes references at 64 pixels, and a flow
    # candidate carried from there blurred the stripes away (mean ab error 17 Lab units).
    columns = np.arange(160) // 4 % 2 == 0
    reference = np.where(columns[None, :, None], [200, 60, 50], [40, 90, 210]).astype(np.uint8)
    reference = np.ascontiguousarray(np.broadcast_to(reference, (96, 160, 3)))
    colorizer = Colorizer(build_model("tiny"), device="cpu", work_size=96)
    colorizer.set_reference(reference)
    lab = rgb_uint8_to_lab(torch.from_numpy(reference)[None])  # (1, 3, h, w)
    ab, confidence = colorizer.flow_candidate(colorizer.working_lightness(lab[:, :1]))
    assert (ab - lab[:, 1:]).abs().mean() < 3.0
    assert confidence.mean() > 0.9


def test_the_flow_confidence_alone_is_the_flow_candidates():
    # The hedge and the reference choice weigh only the match; the cheaper path must give the
    # same numbers, with a reference and without one.
    colorizer = Colorizer(build_model("tiny"), device="cpu", work_size=48)
    lightness_work = colorizer.working_lightness(torch.from_numpy(gray_frames(3, 48, 64)).float()[:, None] / 2.55)
    assert not colorizer.flow_confidence(lightness_work).any()
    colorizer.set_reference(colour_image(64, 64))
    fields = colorizer.reference_fields(lightness_work)
    _, expected = colorizer.flow_candidate(lightness_work, 0, fields)
    assert expected.shape == (3, 1, 48, 64) and 0 < float(expected.mean()) < 1
    assert torch.equal(colorizer.flow_confidence(lightness_work, 0, fields), expected)
    assert torch.equal(colorizer.flow_confidence(lightness_work), expected)


def test_gray_batch_conversion_and_bad_shapes():
    assert to_gray_batch(np.full((2, 3), 255, np.uint8)).tolist() == [[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]
    with pytest.raises(ValueError):
        to_gray_batch(np.zeros((2, 3, 4, 5)))


def test_working_shape_keeps_aspect_in_multiples_of_eight():
    assert working_shape(480, 854, 256) == (256, 456)
    assert working_shape(1080, 1920, 256) == (256, 456)
    assert working_shape(45, 61, 32) == (32, 40)


def test_without_a_reference_the_colorizer_is_automatic():
    """No reference (never set, or set to None): the network sees the flat gray stand-in it was
    trained with for "no reference", and no flow candidate."""
    colorizer = Colorizer(build_model("tiny"), device="cpu", hedge=False)
    assert colorizer.automatic and colorizer.identity()["references"] == ["automatic"]
    frames = gray_frames(2, 48, 64)
    first = colorizer.colorize(frames)
    assert first.shape == (2, 48, 64, 3)
    lightness_work = colorizer.working_lightness(torch.rand(2, 1, 48, 64) * 100)
    ab, confidence = colorizer.flow_candidate(lightness_work)
    assert not ab.any() and not confidence.any() and ab.shape == (2, 2, *lightness_work.shape[-2:])
    colorizer.set_reference(colour_image(64, 64))
    assert not colorizer.automatic and not np.array_equal(colorizer.colorize(frames), first)
    colorizer.set_reference(None)
    assert colorizer.automatic and np.array_equal(colorizer.colorize(frames), first)


def test_reference_checks():
    colorizer = Colorizer(build_model("tiny"), device="cpu")
    with pytest.raises(VidcolorError, match="too small"):
        colorizer.set_reference(colour_image(8, 8))
    with pytest.warns(ReferenceWarning, match="colourless"):
        colorizer.set_reference(np.repeat(gray_frames(1, 32, 32)[0][..., None], 3, -1))


def test_unknown_model_is_a_clear_error():
    with pytest.raises(VidcolorError, match="shipped models"):
        Colorizer.from_pretrained("no-such-model")


def test_cpu_merge_matches_the_device_path(colorizer):
    lightness = torch.rand(2, 1, 45, 61) * 100
    lightness_work = colorizer.working_lightness(lightness)
    ab_work = torch.randn(2, 2, *lightness_work.shape[-2:]) * 15
    fast = colorizer.merge(lightness, lightness_work, ab_work).numpy()
    ab_full = guided_upsample(lightness_work, ab_work, lightness)
    reference = lab_to_rgb_uint8(torch.cat([lightness, ab_full], 1)).numpy()
    assert np.abs(fast.astype(int) - reference).mean() < 0.05 and np.abs(fast.astype(int) - reference).max() <= 2


def test_cpu_guided_filter_matches_the_torch_one():
    torch.manual_seed(0)
    lightness_low, ab_low = torch.rand(1, 1, 13, 17) * 100, torch.randn(1, 2, 13, 17) * 20  # mostly border
    lightness_full = torch.rand(1, 1, 40, 51) * 100
    a, b = guided_coefficients(lightness_low, ab_low)
    a_hwc, b_hwc = guided_coefficients_hwc(lightness_low[0, 0].numpy(), ab_low[0].permute(1, 2, 0).contiguous().numpy())
    assert np.allclose(a_hwc, a[0].permute(1, 2, 0).numpy(), atol=1e-5)
    assert np.allclose(b_hwc, b[0].permute(1, 2, 0).numpy(), atol=1e-3)
    lab = guided_upsample_lab_hwc(a_hwc, b_hwc, lightness_full[0, 0].numpy())
    assert np.allclose(lab[..., 0], lightness_full[0, 0].numpy(), atol=1e-4)  # L passes through
    ab_full = guided_upsample(lightness_low, ab_low, lightness_full)
    assert np.allclose(lab[..., 1:], ab_full[0].permute(1, 2, 0).numpy(), atol=1e-3)


@pytest.mark.parametrize(("amx", "avx512_bf16", "expected"), [
    (True, True, "bf16"), (False, True, "bf16"), (False, False, "fp32"),
])
def test_auto_precision_is_bf16_only_on_cpus_with_native_bf16(monkeypatch, amx, avx512_bf16, expected):
    model = build_model("tiny")
    monkeypatch.setattr(colorizer_module, "cpu_has_amx", lambda: amx)
    monkeypatch.setattr(colorizer_module, "cpu_has_avx512_bf16", lambda: avx512_bf16)
    assert Colorizer(model, device="cpu").precision == expected
    assert Colorizer(model, device="cpu", precision="fp32").precision == "fp32"


def test_reduced_precision_stays_close_to_fp32():
    torch.manual_seed(0)
    model = build_model("tiny")
    frames = gray_frames(2, 40, 56)
    outputs = {}
    for precision in ("fp32", "bf16"):
        colorizer = Colorizer(model, device="cpu", work_size=32, precision=precision)
        colorizer.set_reference(colour_image(40, 56, seed=1))
        outputs[precision] = rgb_uint8_to_lab(torch.from_numpy(colorizer.colorize(frames)))
    assert (outputs["fp32"] - outputs["bf16"]).abs().mean() < 1.0  # Lab units
    with pytest.raises(VidcolorError, match="unknown precision"):
        Colorizer(model, device="cpu", precision="int4")
