"""Issue 24: the GStreamer element's frame layouts (no GStreamer needed: plain bytes and numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from vidcolor.gst.engine import split_references
from vidcolor.gst.frames import VIDEO_LEVELS, Layout, default_layout, read_frame, rgb_to_yuv420, write_frame
from vidcolor.media.luma import luma_levels


def test_video_levels_are_the_command_lines():
    np.testing.assert_array_equal(VIDEO_LEVELS, luma_levels(8, False))


def test_an_odd_width_gray_frame_is_read_through_its_stride():
    layout = default_layout("GRAY8", 321, 11)
    assert layout.strides == (324,) and layout.size == 324 * 11
    image = np.random.default_rng(0).integers(0, 256, (11, 321), dtype=np.uint8)
    rows = np.full((11, 324), 7, np.uint8)  # padding bytes that must not leak into the frame
    rows[:, :321] = image
    frame = read_frame(rows.tobytes(), layout)
    np.testing.assert_array_equal(frame, image)
    assert frame.dtype == np.uint8


def test_video_level_luma_is_mapped_to_gray_and_chroma_ignored():
    layout = default_layout("I420", 5, 3, full_range=False)
    data = bytearray(layout.size)
    data[: layout.strides[0] * 3] = bytes([16, 126, 235, 255, 0, 9, 9, 9]) * 3  # Y rows (stride 8), then chroma
    data[layout.offsets[1]:] = b"\xff" * (layout.size - layout.offsets[1])
    frame = read_frame(bytes(data), layout)
    assert frame.dtype == np.float32 and frame.shape == (3, 5)
    np.testing.assert_allclose(frame[0], [0.0, 110 / 219, 1.0, 1.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("format, order", [("RGB", (0, 1, 2)), ("BGRx", (2, 1, 0)), ("xBGR", (3, 2, 1))])
def test_packed_rgb_formats_are_read_as_rgb(format, order):
    width, height, pixel = 7, 3, len(format)
    rgb = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    stride = (width * pixel + 3) // 4 * 4
    packed = np.zeros((height, stride), np.uint8)
    for channel, position in enumerate(order):
        packed[:, position : width * pixel : pixel] = rgb[..., channel]
    layout = Layout(format, width, height, (stride,), (0,), stride * height)
    np.testing.assert_array_equal(read_frame(packed.tobytes(), layout), rgb)


def test_rgb_and_rgbx_output_keep_the_pixels_and_zero_the_padding():
    rgb = np.random.default_rng(2).integers(0, 256, (5, 9, 3), dtype=np.uint8)
    rgb_layout, rgbx_layout = default_layout("RGB", 9, 5), default_layout("RGBx", 9, 5)
    rows = np.frombuffer(write_frame(rgb, rgb_layout), np.uint8).reshape(5, 28)
    np.testing.assert_array_equal(rows[:, :27].reshape(5, 9, 3), rgb)
    assert not rows[:, 27:].any()
    pixels = np.frombuffer(write_frame(rgb, rgbx_layout), np.uint8).reshape(5, 9, 4)
    np.testing.assert_array_equal(pixels[..., :3], rgb)
    assert (pixels[..., 3] == 255).all()


def test_i420_output_of_odd_size_has_video_levels_and_neutral_gray():
    gray = np.repeat(np.linspace(0, 255, 7 * 5).reshape(5, 7, 1), 3, axis=2).round().astype(np.uint8)
    layout = default_layout("I420", 7, 5)
    assert layout.strides == (8, 4, 4) and layout.offsets == (0, 48, 60) and layout.size == 72
    data = np.frombuffer(write_frame(gray, layout), np.uint8)
    y = data[:40].reshape(5, 8)[:, :7]
    u, v = (data[offset : offset + 12].reshape(3, 4)[:, :4] for offset in (48, 60))
    np.testing.assert_array_equal(y, np.rint(gray[..., 0] / 255 * 219 + 16).astype(np.uint8))
    assert (u == 128).all() and (v == 128).all()  # gray has no chroma (the odd column repeated)
    y_full, _, _ = rgb_to_yuv420(gray, full_range=True)
    np.testing.assert_array_equal(y_full, gray[..., 0])


def test_i420_chroma_follows_the_matrix():
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    for matrix, kr in (("bt601", 0.299), ("bt709", 0.2126)):
        y, u, v = rgb_to_yuv420(red, matrix)
        assert y[0, 0] == round(16 + 219 * kr) and v[0, 0] == 240  # Cr of pure red is the maximum


def test_reference_property_values_split_like_repeated_options():
    assert split_references(" a.jpg, stills/ ;0:00=b.png;; 1:30=c.png ") == ["a.jpg", "stills/", "0:00=b.png", "1:30=c.png"]
    assert split_references("") == []
