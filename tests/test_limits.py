"""Inputs that would exhaust memory: decompression bombs, oversized or size-changing video, extreme shapes.

Every input is generated here: a 560 KB PNG declaring 24000x24000 (written row by row, so making
it takes no memory), clips whose frame size or format changes mid-stream in one MPEG-TS.
"""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from media import has_encoder, make_clip, pattern_rgb, write_zero_png
from vidcolor import Colorizer
from vidcolor.cli import main
from vidcolor.colorizer import working_shape
from vidcolor.errors import TooLargeError, VidcolorError
from vidcolor.images import read_image
from vidcolor.imagesize import image_size
from vidcolor.media import MediaError, VideoSource

BOMB_SIDE = 24000


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return write_zero_png(tmp_path_factory.mktemp("bomb") / "bomb.png", BOMB_SIDE, BOMB_SIDE)


@pytest.fixture
def no_decoding(monkeypatch):
    """Decoding an image fails the test: a bomb must be refused from its header alone."""

    def imread(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(cv2, "imread", imread)


def test_the_zero_png_writer_makes_valid_pngs(tmp_path):
    image = cv2.imread(str(write_zero_png(tmp_path / "small.png", 300, 1234)), cv2.IMREAD_UNCHANGED)
    assert image.shape == (1234, 300) and not image.any()


def test_the_bomb_is_small_on_disk(bomb):
    assert bomb.stat().st_size < 1_000_000
    assert image_size(bomb) == (BOMB_SIDE, BOMB_SIDE)


def test_read_image_refuses_the_bomb_from_its_header(bomb, no_decoding):
    with pytest.raises(TooLargeError, match=r"bomb.png: the image is 24000x24000 pixels \(576 Mpixel\), more than the 120 Mpixel"):
        read_image(bomb)


def test_colorize_photo_refuses_a_photo_over_its_limit(tiny_checkpoint):
    colorizer = Colorizer.from_pretrained(tiny_checkpoint, device="cpu", work_size=32)
    colorizer.set_reference(np.full((32, 32, 3), (200, 60, 40), np.uint8))
    # A zero-strided view: 24000x24000 pixels that take no memory, unless something copies them.
    huge = np.broadcast_to(np.uint8(0), (BOMB_SIDE, BOMB_SIDE))
    with pytest.raises(TooLargeError, match="24000x24000"):
        colorizer.colorize_photo(huge)
    with pytest.raises(TooLargeError, match="0.001 Mpixel"):
        colorizer.colorize_photo(np.zeros((40, 60), np.uint8), max_pixels=1000)
    assert colorizer.colorize_photo(np.zeros((40, 60), np.uint8), max_pixels=2400).shape == (40, 60, 3)


def test_the_cli_refuses_the_bomb_before_loading_the_model(bomb, tmp_path, reference, capsys, monkeypatch, no_decoding):
    def load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(Colorizer, "from_pretrained", load)
    out = tmp_path / "out.png"
    assert main([str(bomb), "-r", str(reference), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("vidcolor: error:"), err
    assert "24000x24000" in err and "raise the limit with --max-megapixels" in err
    assert list(tmp_path.iterdir()) == []


def test_the_limit_applies_to_references_and_can_be_raised(tmp_path, reference, tiny_checkpoint, capsys):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((40, 60), 128, np.uint8))
    args = [str(photo), "-r", str(reference), "-o", str(tmp_path / "out.png"), "--model", str(tiny_checkpoint), "-q"]
    assert main([*args, "--max-megapixels", "0.0025"]) == 2  # the photo passes (2400), the reference (3072) not
    err = capsys.readouterr().err
    assert reference.name in err and "--max-megapixels" in err and not (tmp_path / "out.png").exists()
    assert main([*args, "--max-megapixels", "1"]) == 0
    assert read_image(tmp_path / "out.png").shape == (40, 60, 3)


def _tiff_header(order: str, big: bool, width: int, height: int) -> bytes:
    """The first bytes of a TIFF (or BigTIFF) whose first directory gives a width and a height."""
    if big:
        head = (b"II+\0" if order == "<" else b"MM\0+") + struct.pack(order + "HHQ", 8, 0, 16)
        entries = [struct.pack(order + "HHQ", 256, 4, 1) + struct.pack(order + "I", width) + bytes(4),
                   struct.pack(order + "HHQ", 257, 16, 1) + struct.pack(order + "Q", height)]
        return head + struct.pack(order + "Q", len(entries)) + b"".join(entries)
    head = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", 8)
    entries = [struct.pack(order + "HHII", 256, 4, 1, width), struct.pack(order + "HHIHH", 257, 3, 1, height, 0)]
    return head + struct.pack(order + "H", len(entries)) + b"".join(entries)


@pytest.mark.parametrize("name,params", [
    ("a.png", []), ("a16.png", "16"), ("a.jpg", []), ("p.jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), ("g.jpg", "gray"),
    ("a.tif", []), ("a.webp", []), ("l.webp", [cv2.IMWRITE_WEBP_QUALITY, 101]), ("a.bmp", []), ("a.ppm", []),
    ("a.pgm", "gray"),
])
def test_image_size_matches_what_opencv_decodes(tmp_path, name, params):
    rgb = pattern_rgb(3, 53, 37)
    image = rgb[..., 0] if params == "gray" else rgb.astype(np.uint16) * 257 if params == "16" else rgb
    path = tmp_path / ("x" + name)  # by content: the file's name does not matter
    assert cv2.imwrite(str(tmp_path / name), image, params if isinstance(params, list) else [])
    path.write_bytes((tmp_path / name).read_bytes())
    assert image_size(path) == (53, 37)
    assert read_image(path).shape == (37, 53, 3)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("big", [False, True])
def test_image_size_reads_tiff_directories_in_both_byte_orders(tmp_path, order, big):
    path = tmp_path / "x.tif"
    path.write_bytes(_tiff_header(order, big, 70000, 3))
    assert image_size(path) == (70000, 3)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n\0\0", b"\xff\xd8\xff\xe0\0\x10JFIF", b"RIFF\0\0\0\0WEBPVP8 ",
                                     b"II*\0\xff\xff\xff\x7f", b"not an image at all"])
def test_a_cut_or_unknown_header_is_not_a_readable_image(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    assert image_size(path) is None
    with pytest.raises(VidcolorError, match="bad.png: not a readable image"):
        read_image(path)


def test_working_shape_is_bounded_for_any_aspect_ratio():
    assert working_shape(1080, 1920, 256) == (256, 456)  # up to 4:1, the short side is the work size
    assert working_shape(1000, 16000, 256) == (64, 1024)  # 16:1: the long side is 4x the work size
    assert working_shape(16000, 250, 256) == (1024, 16)  # 64:1: the short side stays at 16
    with pytest.raises(VidcolorError, match="more than 64 times as wide"):
        working_shape(10, 6500, 256)


# ---- video


def write_ts(path, parts, fps: int = 24):
    """One H.264 stream in MPEG-TS whose frames change size or pixel format between ``parts``.

    ``parts``: ``(width, height, frames, pix_fmt)``; each part has its own encoder (and so its own
    sequence header), the timestamps run on across parts, as in a broadcast that switches format.
    """
    container = av.open(str(path), "w", format="mpegts")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = parts[0][0], parts[0][1], parts[0][3]
    pts = 0
    for index, (width, height, frames, pix_fmt) in enumerate(parts):
        encoder = stream.codec_context
        if index:
            encoder = av.CodecContext.create("libx264", "w")
            encoder.width, encoder.height, encoder.pix_fmt = width, height, pix_fmt
            encoder.time_base, encoder.framerate = stream.codec_context.time_base, Fraction(fps)
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern_rgb(pts, width, height, color=False), format="rgb24")
            frame.pts, pts = pts, pts + 1
            for packet in encoder.encode(frame):
                packet.stream = stream
                container.mux(packet)
        for packet in encoder.encode(None):
            packet.stream = stream
            container.mux(packet)
    container.close()
    return path


def decoded_sizes(path) -> list[tuple[int, int]]:
    with av.open(str(path)) as container:
        return [(frame.width, frame.height) for frame in container.decode(video=0)]


def cli(args, tiny_checkpoint):
    return main([*map(str, args), "--model", str(tiny_checkpoint), "-q", "--work-size", "32", "--batch-size", "4"])


@pytest.mark.parametrize("second_part", [(96, 64, 12, "yuv420p"), (64, 48, 12, "yuv444p10le")],
                         ids=["size grows", "format changes"])
def test_a_stream_that_changes_mid_way_is_coloured_whole(tmp_path, tiny_checkpoint, reference, capsys, second_part):
    clip = write_ts(tmp_path / "switch.ts", [(64, 48, 12, "yuv420p"), second_part])
    assert len(set(decoded_sizes(clip))) == (2 if second_part[0] != 64 else 1)  # the input does switch
    out = tmp_path / "out.mp4"
    assert cli([clip, "-r", reference, "-o", out], tiny_checkpoint) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert all(line.startswith("vidcolor: warning:") for line in err.splitlines()), err
    if second_part[0] != 64:
        assert "12 frames had another size and were scaled to 64x48" in err
    assert decoded_sizes(out) == [(64, 48)] * 24


# Far over the limit the decoder itself refuses the frame (it is never allocated); just over it,
# the frame is decoded and refused as it comes out.
@pytest.mark.parametrize("size", [(256, 192), (112, 96)], ids=["far over", "just over"])
def test_frames_growing_past_the_limit_mid_stream_are_one_line_and_nothing_written(
        tmp_path, tiny_checkpoint, reference, capsys, size):
    clip = write_ts(tmp_path / "grow.ts", [(64, 48, 8, "yuv420p"), (*size, 2, "yuv420p")])
    out = tmp_path / "out.mp4"
    assert cli([clip, "-r", reference, "-o", out, "--max-megapixels", "0.01"], tiny_checkpoint) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("vidcolor: error: ") and f"mid-stream the frames become {size[0]}x{size[1]} pixels" in err
    assert "--max-megapixels" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["grow.ts"]


@pytest.mark.parametrize("suffix,codec", [("mp4", "libx264"), ("ts", "libx264"), ("mkv", "libx264"),
                                         ("webm", "libvpx-vp9")])
def test_a_video_far_over_the_limit_is_refused_in_any_container(tmp_path, suffix, codec):
    if not has_encoder(codec):
        pytest.skip(f"this FFmpeg has no {codec} encoder")
    clip = make_clip(tmp_path / f"clip.{suffix}", width=96, height=64, frames=12, audio=False, codec=codec)
    # FFmpeg's probing decoders are held to the limit too: where the container does not state the
    # size (VP9 in WebM), no frame and no size come out, and the message says both causes.
    expected = "no frame could be decoded" if suffix == "webm" else "the video's frames are 96x64 pixels"
    with pytest.raises(TooLargeError, match=f"clip.{suffix}: {expected}.*0.001 Mpixel accepted"):
        VideoSource(clip, max_pixels=1000)
    with VideoSource(clip) as source:
        assert len(list(source.frames())) == 12


def test_video_source_refuses_frames_over_its_limit_before_decoding(tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "clip.mp4", width=96, height=64, frames=2, audio=False)

    def decode_all(self):
        raise AssertionError("decoding started")

    with pytest.raises(MediaError, match="clip.mp4: the video's frames are 96x64 pixels") as error:
        with monkeypatch.context() as patch:
            patch.setattr(VideoSource, "_decode_all", decode_all)
            VideoSource(clip, max_pixels=96 * 64 - 1)
    assert isinstance(error.value, TooLargeError)
    with VideoSource(clip, max_pixels=96 * 64) as source:
        assert len(list(source.frames())) == 2
