"""The 4:2:0 route (vidcolor/yuv420.py): colour written straight into the encoder's planes must look
like the RGB route converted by the encoder, keep the source's luma where the output is gray, and
be what a default video output goes through."""

import av
import cv2
import numpy as np
import pytest
import torch
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter
from skimage.color import deltaE_ciede2000, rgb2lab

from vidcolor import Colorizer, VideoOptions, colorize_video
from vidcolor import runner
from vidcolor.color import gray_to_lightness_numpy, lab_hwc_to_rgb_uint8
from vidcolor.guided import guided_coefficients_hwc, guided_upsample_lab_hwc
from vidcolor.media import EncoderOptions, Yuv420Planes, luma_levels, read_rgb_frames, write_clip
from vidcolor.yuv420 import lab_to_yuv420, lightness_planes, luma_code_table, output_luma, pays_off

from media import pattern_rgb


def colourful(height: int = 120, width: int = 160) -> np.ndarray:
    """A smooth, saturated RGB picture ``(h, w, 3)`` uint8 with hard edges (the moving square)."""
    return cv2.GaussianBlur(pattern_rgb(3, width, height), (0, 0), 2)


def to_rgb(planes: Yuv420Planes) -> np.ndarray:
    """Planes decoded to RGB the way a player does (swscale, BT.709)."""
    height, width = planes.y.shape
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, samples in zip(frame.planes, planes[:3]):
        np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)[:, : samples.shape[1]] = samples
    return VideoReformatter().reformat(frame, format="rgb24", src_colorspace=Colorspace.ITU709,
                                       src_color_range=ColorRange.MPEG).to_ndarray()


def through_encoder_conversion(rgb: np.ndarray) -> np.ndarray:
    """The RGB route: RGB converted to 4:2:0 by swscale (as the writer does), and decoded again."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    yuv = VideoReformatter().reformat(frame, format="yuv420p", dst_colorspace=Colorspace.ITU709,
                                      dst_color_range=ColorRange.MPEG)
    return VideoReformatter().reformat(yuv, format="rgb24", src_colorspace=Colorspace.ITU709,
                                       src_color_range=ColorRange.MPEG).to_ndarray()


def mean_delta_e(a: np.ndarray, b: np.ndarray) -> float:
    return float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean())


def test_planes_look_like_the_rgb_route():
    truth = colourful()
    height, width = truth.shape[:2]
    lab_truth = cv2.cvtColor(truth.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    lightness = np.ascontiguousarray(lab_truth[..., 0])
    lightness_work = cv2.resize(lightness, (width // 3, height // 3), interpolation=cv2.INTER_AREA)
    ab_work = cv2.resize(lab_truth[..., 1:], (width // 3, height // 3), interpolation=cv2.INTER_AREA)

    a_coef, b_coef = guided_coefficients_hwc(lightness_work, ab_work)
    rgb_route = through_encoder_conversion(lab_hwc_to_rgb_uint8(guided_upsample_lab_hwc(a_coef, b_coef, lightness)))
    planes = lightness_planes(lightness, lightness_work, ab_work)
    gray = np.repeat(lab_hwc_to_rgb_uint8(np.dstack([lightness, np.zeros_like(lab_truth[..., 1:])]))[..., :1], 3, 2)

    # Close to the RGB route, and both far closer to the truth than gray is.
    assert mean_delta_e(to_rgb(planes), rgb_route) < 1.0
    assert mean_delta_e(to_rgb(planes), truth) < 1.1 * mean_delta_e(rgb_route, truth)
    assert mean_delta_e(to_rgb(planes), truth) < 0.3 * mean_delta_e(gray, truth)


def test_a_gray_output_keeps_the_source_luma_exactly():
    codes = np.random.default_rng(0).integers(16, 236, (64, 96)).astype(np.uint8)
    lightness = gray_to_lightness_numpy(luma_levels(8, False).take(codes))
    lightness_work = cv2.resize(lightness, (48, 32), interpolation=cv2.INTER_AREA)
    y, u, v = lab_to_yuv420(codes, lightness_work, np.zeros((32, 48, 2), np.float32))
    assert np.array_equal(y, codes)
    assert np.abs(u.astype(int) - 128).max() <= 1 and np.abs(v.astype(int) - 128).max() <= 1


def test_colour_changes_luma_as_the_rgb_route_does():
    """A saturated blue of the same CIE L as a gray has a much lower Y': the route must not keep Y' instead of L."""
    lightness = np.full((32, 32), 50.0, np.float32)
    ab = np.zeros((16, 16, 2), np.float32)
    ab[..., 1] = -60.0  # blue
    rgb_gray = lab_hwc_to_rgb_uint8(np.dstack([lightness, np.zeros_like(lightness), np.zeros_like(lightness)]))
    codes = np.full((32, 32), round(16 + 219 * float(rgb_gray[0, 0, 0]) / 255.0), np.uint8)
    y, _, _ = lab_to_yuv420(codes, lightness[::2, ::2].copy(), ab)
    rgb = lab_hwc_to_rgb_uint8(np.dstack([lightness, np.zeros_like(lightness), np.full_like(lightness, -60.0)]))
    expected = 16 + 219 * (rgb[0, 0] / 255.0) @ np.array([0.2126, 0.7152, 0.0722])
    assert abs(int(y[5, 5]) - expected) <= 1.5 and int(y[5, 5]) < int(codes[0, 0]) - 10


@pytest.mark.parametrize("bits, full_in, full_out, code, expected", [
    (8, True, False, 0, 16), (8, True, False, 255, 235), (8, False, True, 16, 0), (8, False, True, 235, 255),
    (10, False, False, 64, 16), (10, False, False, 940, 235), (10, True, False, 1023, 235),
])
def test_luma_codes_map_between_ranges_and_depths(bits, full_in, full_out, code, expected):
    assert luma_code_table(bits, full_in, full_out)[code] == expected
    codes = np.array([[code]], np.uint8 if bits == 8 else np.uint16)
    assert output_luma(codes, bits, full_in, full_out)[0, 0] == expected


def test_eight_bit_luma_in_the_output_range_is_passed_on_uncopied():
    codes = np.zeros((4, 4), np.uint8)
    assert output_luma(codes, 8, False, False) is codes


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p"])
def test_writer_takes_planes_for_any_pixel_format(tmp_path, pix_fmt):
    planes = Yuv420Planes(np.full((64, 96), 120, np.uint8), np.full((32, 48), 90, np.uint8),
                          np.full((32, 48), 170, np.uint8))
    path = write_clip(tmp_path / "planes.mp4", [planes] * 3, 24, options=EncoderOptions(crf=0, pix_fmt=pix_fmt))
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        assert frame.format.name == pix_fmt
        y, u = frame.to_ndarray(channel_last=False)[:2] if pix_fmt == "yuv444p" else (None, None)
    decoded = next(read_rgb_frames(path))[1]
    assert np.abs(decoded.astype(int) - to_rgb(planes).astype(int)).max() <= 2
    if pix_fmt == "yuv444p":
        assert np.abs(y.astype(int) - 120).max() == 0 and np.abs(u.astype(int) - 90).max() <= 1


def test_writer_refuses_planes_of_the_wrong_size(tmp_path):
    planes = Yuv420Planes(np.zeros((64, 96), np.uint8), np.zeros((16, 48), np.uint8), np.zeros((32, 48), np.uint8))
    with pytest.raises(ValueError, match="4:2:0 planes"):
        write_clip(tmp_path / "bad.mp4", [planes], 24)
    assert not (tmp_path / "bad.mp4").exists()


def test_default_video_output_goes_through_the_planes_and_matches_the_rgb_route(tmp_path, tiny_checkpoint,
                                                                                monkeypatch):
    clip = write_clip(tmp_path / "in.mp4", [pattern_rgb(i, 192, 128, color=False) for i in range(10)], 24)
    torch.manual_seed(0)
    colorizer = Colorizer.from_pretrained(tiny_checkpoint, device="cpu", work_size=32)  # chroma 64x96 > work 32x48
    colorizer.set_reference(colourful(64, 96))
    made = []
    monkeypatch.setattr(runner, "gray_frame_planes",
                        lambda *args, **kwargs: made.append(1) or runner_planes(*args, **kwargs))
    colorize_video(clip, tmp_path / "planes.mp4", colorizer, VideoOptions())
    assert len(made) == 10  # every frame went to the encoder as planes
    monkeypatch.setattr(runner, "yuv420_output", lambda *args: None)
    colorize_video(clip, tmp_path / "rgb.mp4", colorizer, VideoOptions())
    planes_route = [rgb for _, rgb in read_rgb_frames(tmp_path / "planes.mp4")]
    rgb_route = [rgb for _, rgb in read_rgb_frames(tmp_path / "rgb.mp4")]
    assert len(planes_route) == len(rgb_route) == 10
    assert np.mean([mean_delta_e(a, b) for a, b in zip(planes_route, rgb_route)]) < 1.5


runner_planes = runner.gray_frame_planes


def test_planes_are_used_where_they_pay_off(tmp_path, tiny_checkpoint, monkeypatch):
    """Chroma planes larger than the network's output: 4:2:0 route; 480p at work size 256, or a
    4:4:4 output: RGB."""
    assert pays_off(1080, 1920, (256, 456)) and pays_off(720, 1280, (256, 456))
    assert not pays_off(480, 854, (256, 456)) and not pays_off(272, 640, (256, 600))
    clip = write_clip(tmp_path / "in.mp4", [pattern_rgb(i, 96, 64, color=False) for i in range(4)], 24)
    colorizer = Colorizer.from_pretrained(tiny_checkpoint, device="cpu", work_size=32)  # chroma 32x48 = work
    made = []
    monkeypatch.setattr(runner, "gray_frame_planes", lambda *args: made.append(1) or runner_planes(*args))
    colorize_video(clip, tmp_path / "out.mp4", colorizer, VideoOptions())
    colorizer = Colorizer.from_pretrained(tiny_checkpoint, device="cpu", work_size=16)
    colorize_video(clip, tmp_path / "out444.mp4", colorizer, VideoOptions(pix_fmt="yuv444p"))
    assert made == []
    colorize_video(clip, tmp_path / "out420.mp4", colorizer, VideoOptions())
    assert len(made) == 4
