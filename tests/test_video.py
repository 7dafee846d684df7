"""Tests for vidcolor.media: probing, luma decoding and re-encoding with stream copy."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from media import (
    container_metadata,
    decoded_rotation,
    frame_pts,
    frame_times,
    has_encoder,
    make_audio_clip,
    make_clip,
    packets,
    pattern_rgb,
    stream_kinds,
)
from vidcolor.clip import lightness_batch
from vidcolor.runner import frames_lightness, frames_per_batch
from vidcolor.media import (
    EncoderOptions,
    GrayFrame,
    MediaError,
    MediaWarning,
    VideoWriter,
    probe,
    read_gray_frames,
    read_rgb_frames,
    write_clip,
)

needs_vp9 = pytest.mark.skipif(not has_encoder("libvpx-vp9"), reason="PyAV's FFmpeg has no libvpx-vp9")


def roundtrip(src: Path, out: Path, **writer_kwargs) -> Path:
    """Re-encode every frame of ``src`` into ``out`` with its own pts."""
    info = probe(src)
    with VideoWriter(out, info, **writer_kwargs) as writer:
        for pts, rgb in read_rgb_frames(src):
            writer.write(rgb, pts)
    return out


def rounded_ms(times: list[float]) -> list[int]:
    return [round(t * 1000) for t in times]


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ----------------------------------------------------------------------------- probe


def test_probe_reports_the_video_stream(mp4_clip):
    info = probe(mp4_clip)

    assert (info.width, info.height) == (96, 64)
    assert isinstance(info.fps, Fraction) and info.fps == 24
    assert isinstance(info.time_base, Fraction)
    assert info.frame_count == 24
    assert info.duration == pytest.approx(1.0, abs=1e-3)
    assert info.rotation == 90
    assert info.display_matrix is not None
    assert (info.pix_fmt, info.bit_depth) == ("yuv420p", 8)
    assert info.color_range in ("tv", "unknown")
    assert [(s.index, s.kind, s.codec_name) for s in info.streams] == [(0, "video", "h264"), (1, "audio", "aac")]
    assert info.metadata["title"] == "Test Title"
    assert info.path == os.fspath(mp4_clip)


def test_probe_keeps_ntsc_rate_as_exact_fraction(tmp_path):
    clip = make_clip(tmp_path / "ntsc.mkv", fps=Fraction(30000, 1001), frames=12, audio=False)

    info = probe(clip)

    assert info.fps == Fraction(30000, 1001)
    assert info.rotation == 0 and info.display_matrix is None


def test_probe_full_range_and_10_bit(tmp_path):
    full = probe(make_clip(tmp_path / "full.mp4", pix_fmt="yuvj420p", frames=4, audio=False))
    deep = probe(make_clip(tmp_path / "deep.mp4", pix_fmt="yuv420p10le", frames=4, audio=False))

    assert (full.pix_fmt, full.color_range) == ("yuvj420p", "pc")
    assert (deep.pix_fmt, deep.bit_depth) == ("yuv420p10le", 10)


# ----------------------------------------------------------------------------- gray decoding

LOSSLESS_X264 = {"qp": "0"}


@pytest.mark.parametrize("bits, full_range", [(8, False), (8, True), (10, False)])
def test_code_lookup_matches_the_float_path_for_every_code(bits, full_range):
    # All codes of the depth, in rows padded as decoded planes are (a strided view).
    dtype = np.uint8 if bits == 8 else np.uint16
    padded = np.zeros((16, 2**bits // 16 + 3), dtype)
    codes = padded[:, :-3]
    codes[:] = np.arange(2**bits).reshape(16, -1)
    frames = [GrayFrame(0, 0, 0.0, codes, bits, full_range), GrayFrame(1, 1, 0.04, codes[::-1], bits, full_range)]
    np.testing.assert_array_equal(
        frames_lightness(frames).numpy(), lightness_batch(np.stack([frame.gray for frame in frames])).numpy()
    )


@pytest.mark.parametrize(
    ("pix_fmt", "codec", "suffix", "y_code", "expected"),
    [
        ("yuv420p", "libx264", ".mp4", 100, (100 - 16) / 219),
        ("yuvj420p", "libx264", ".mp4", 100, 100 / 255),
        ("yuv420p10le", "libx264", ".mp4", 400, (400 - 64) / 876),
        ("yuv444p", "libx264", ".mp4", 180, (180 - 16) / 219),
        ("yuv422p", "ffv1", ".mkv", 60, (60 - 16) / 219),
        ("gray", "ffv1", ".mkv", 100, 100 / 255),
        ("gray10le", "ffv1", ".mkv", 400, 400 / 1023),
        ("yuv420p10le", "ffv1", ".mkv", 1000, 1.0),  # above limited-range white: clipped
        ("yuv420p", "ffv1", ".mkv", 5, 0.0),  # below limited-range black: clipped
    ],
)
def test_gray_frames_map_luma_codes_to_unit_range(tmp_path, pix_fmt, codec, suffix, y_code, expected):
    # ffv1 accepts odd sizes, so those cases also exercise padded plane rows.
    width, height = (33, 17) if codec == "ffv1" else (34, 18)
    options = LOSSLESS_X264 if codec == "libx264" else None
    clip = make_clip(
        tmp_path / f"flat{suffix}", width=width, height=height, frames=3, pix_fmt=pix_fmt, codec=codec,
        codec_options=options, flat_y=y_code, audio=False,
    )

    frames = list(read_gray_frames(clip))

    assert len(frames) == 3
    for frame in frames:
        assert isinstance(frame, GrayFrame)
        # The stored codes are kept as they are (a quarter of float memory at 8 bits).
        assert frame.codes.dtype == (np.uint8 if frame.bits == 8 else np.uint16)
        assert (frame.codes == y_code).all()
        assert frame.gray.shape == (height, width) and frame.gray.dtype == np.float32
        np.testing.assert_allclose(frame.gray, expected, atol=1e-6)
    # The pipeline maps codes straight to L: exactly the values of the float path.
    np.testing.assert_array_equal(
        frames_lightness(frames).numpy(), lightness_batch(np.stack([frame.gray for frame in frames])).numpy()
    )


def test_batches_of_large_frames_are_smaller():
    assert frames_per_batch(8, 854, 480) == 8
    assert frames_per_batch(8, 1280, 720) == 8
    assert frames_per_batch(8, 1920, 1080) == 4
    assert frames_per_batch(8, 3840, 2160) == 1
    assert frames_per_batch(3, 854, 480) == 3  # never more than asked
    assert frames_per_batch(8, 15360, 8640) == 1  # at least one


def test_gray_frames_of_rgb_video_use_the_conversion_fallback(tmp_path):
    clip = make_clip(tmp_path / "rgb.mkv", codec="ffv1", pix_fmt="bgr0", color=False, frames=3, audio=False)

    frames = list(read_gray_frames(clip))

    for frame in frames:
        expected = pattern_rgb(frame.index, 96, 64, color=False)[..., 0] / 255.0
        np.testing.assert_allclose(frame.gray, expected, atol=1.5 / 255)


def test_gray_frames_keep_order_and_timestamps(vfr_mp4_clip):
    info = probe(vfr_mp4_clip)

    frames = list(read_gray_frames(vfr_mp4_clip))

    assert [f.index for f in frames] == list(range(24))
    assert [f.pts for f in frames] == frame_pts(vfr_mp4_clip)
    assert [f.time for f in frames] == pytest.approx([float(f.pts * info.time_base) for f in frames])
    steps = np.diff([f.time for f in frames])
    assert steps.min() > 0 and steps.max() > 2 * steps.min()  # really variable


def test_gray_frames_follow_the_picture(tmp_path):
    clip = make_clip(tmp_path / "pattern.mkv", codec="ffv1", pix_fmt="yuv444p", color=False, frames=2, audio=False)

    gray = next(read_gray_frames(clip)).gray
    expected = pattern_rgb(0, 96, 64, color=False)[..., 0] / 255.0

    # Limited-range Y of a gray RGB pattern, back in [0, 1]: equal up to rounding.
    np.testing.assert_allclose(gray, expected, atol=2.5 / 255)


def test_rgb_frames(mp4_clip):
    frames = list(read_rgb_frames(mp4_clip))

    assert [pts for pts, _ in frames] == frame_pts(mp4_clip)
    for _, rgb in frames:
        assert rgb.shape == (64, 96, 3) and rgb.dtype == np.uint8
    expected = pattern_rgb(5, 96, 64).astype(np.float32)
    assert np.abs(frames[5][1].astype(np.float32) - expected).mean() < 4


# ----------------------------------------------------------------------------- writer


def test_roundtrip_mp4_keeps_timing_audio_rotation_and_metadata(tmp_path, mp4_clip):
    out = roundtrip(mp4_clip, tmp_path / "out.mp4")

    info_in, info_out = probe(mp4_clip), probe(out)
    assert frame_pts(out) == frame_pts(mp4_clip)
    assert (info_out.width, info_out.height) == (96, 64)
    assert (info_out.frame_count, info_out.fps, info_out.time_base) == (24, 24, info_in.time_base)
    assert info_out.duration == pytest.approx(info_in.duration, abs=1e-3)
    assert stream_kinds(out) == [("video", "h264"), ("audio", "aac")]
    assert packets(out, "audio") == packets(mp4_clip, "audio")
    assert decoded_rotation(out) == 90 and info_out.rotation == 90
    assert container_metadata(out)["title"] == "Test Title"
    assert container_metadata(out)["artist"] == "Nobody"
    assert leftovers(tmp_path) == ["out.mp4"]


def test_roundtrip_mkv_keeps_timing_audio_rotation_and_metadata(tmp_path, mp4_clip):
    out = roundtrip(mp4_clip, tmp_path / "out.mkv")

    # Matroska counts in milliseconds.
    assert rounded_ms(frame_times(out)) == rounded_ms(frame_times(mp4_clip))
    assert probe(out).duration == pytest.approx(probe(mp4_clip).duration, abs=2e-3)
    assert [data for _, _, data in packets(out, "audio")] == [data for _, _, data in packets(mp4_clip, "audio")]
    assert decoded_rotation(out) == 90
    tags = {k.lower(): v for k, v in container_metadata(out).items()}
    assert tags["title"] == "Test Title" and tags["artist"] == "Nobody"


def test_roundtrip_keeps_variable_frame_rate(tmp_path, vfr_mp4_clip):
    out = roundtrip(vfr_mp4_clip, tmp_path / "out.mp4")

    assert frame_pts(out) == frame_pts(vfr_mp4_clip)
    assert probe(out).duration == pytest.approx(probe(vfr_mp4_clip).duration, abs=1e-3)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_odd_size_is_kept_with_444_chroma(tmp_path, suffix):
    src = make_clip(tmp_path / "odd_in.mp4", width=97, height=61, codec="mpeg4", frames=6)

    with pytest.warns(MediaWarning, match="odd size 97x61"):
        out = roundtrip(src, tmp_path / f"odd_out{suffix}")

    info = probe(out)
    assert (info.width, info.height, info.pix_fmt) == (97, 61, "yuv444p")
    assert len(frame_pts(out)) == 6


@needs_vp9
def test_odd_size_with_vp9_keeps_420(tmp_path):
    src = make_clip(tmp_path / "odd_in.mp4", width=97, height=61, codec="mpeg4", frames=6, audio=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = roundtrip(src, tmp_path / "odd_out.webm", options=EncoderOptions(codec="libvpx-vp9"))

    info = probe(out)
    assert (info.width, info.height, info.pix_fmt) == (97, 61, "yuv420p")


@needs_vp9
def test_webm_output_switches_to_vp9_and_opus(tmp_path, mp4_clip):
    with pytest.warns(MediaWarning) as caught:
        out = roundtrip(mp4_clip, tmp_path / "out.webm")

    messages = " ".join(str(w.message) for w in caught)
    assert "libvpx-vp9" in messages and "libopus" in messages
    assert stream_kinds(out) == [("video", "vp9"), ("audio", "opus")]
    assert rounded_ms(frame_times(out)) == rounded_ms(frame_times(mp4_clip))
    assert decoded_rotation(out) == 90


def test_colours_survive_the_roundtrip(tmp_path):
    src = make_clip(tmp_path / "colour.mkv", codec="ffv1", pix_fmt="yuv444p", frames=3, audio=False)

    out = roundtrip(src, tmp_path / "out.mkv", options=EncoderOptions(pix_fmt="yuv444p", crf=0))

    for (_, before), (_, after) in zip(read_rgb_frames(src), read_rgb_frames(out), strict=True):
        # A matrix mismatch (BT.601 vs BT.709) would shift saturated colours by ~10 levels.
        assert np.abs(before.astype(int) - after.astype(int)).max() <= 3


def test_subtitles_are_copied_or_dropped_with_a_warning(tmp_path, mkv_clip_with_subtitles):
    kept = roundtrip(mkv_clip_with_subtitles, tmp_path / "out.mkv")
    with pytest.warns(MediaWarning, match="subrip.*dropped"):
        dropped = roundtrip(mkv_clip_with_subtitles, tmp_path / "out.mp4")

    assert packets(kept, "subtitle") == packets(mkv_clip_with_subtitles, "subtitle")
    assert [kind for kind, _ in stream_kinds(dropped)] == ["video", "audio"]


def test_no_copy_source_gives_video_only(tmp_path, mp4_clip):
    out = roundtrip(mp4_clip, tmp_path / "out.mp4", copy_streams_from=None)

    assert stream_kinds(out) == [("video", "h264")]


def test_frames_without_pts_follow_the_frame_rate(tmp_path, mp4_clip):
    info = probe(mp4_clip)
    with VideoWriter(tmp_path / "out.mp4", info) as writer:
        for _, rgb in read_rgb_frames(mp4_clip):
            writer.write(rgb)

    assert frame_pts(tmp_path / "out.mp4") == frame_pts(mp4_clip)


def test_exception_inside_with_leaves_nothing(tmp_path, mp4_clip):
    info = probe(mp4_clip)
    frames = list(read_rgb_frames(mp4_clip))

    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(tmp_path / "out.mp4", info) as writer:
            for pts, rgb in frames:
                writer.write(rgb, pts)
            raise RuntimeError("boom")

    assert leftovers(tmp_path) == []


def test_abort_and_bad_frames_leave_nothing(tmp_path, mp4_clip):
    info = probe(mp4_clip)
    pts, rgb = next(read_rgb_frames(mp4_clip))

    writer = VideoWriter(tmp_path / "out.mkv", info)
    writer.write(rgb, pts)
    writer.abort()
    with pytest.raises(ValueError, match="uint8"):
        with VideoWriter(tmp_path / "out.mp4", info) as writer:
            writer.write(rgb[:-1], pts)
    with pytest.raises(ValueError, match="increase"):
        with VideoWriter(tmp_path / "out.mp4", info) as writer:
            writer.write(rgb, pts)
            writer.write(rgb, pts)

    assert leftovers(tmp_path) == []


def test_write_failure_is_a_media_error_and_leaves_nothing(tmp_path, mp4_clip):
    # A file size limit makes every write past it fail like a full disk (EFBIG).
    script = textwrap.dedent(
        f"""
        import resource, signal
        from vidcolor.media import MediaError, VideoWriter, probe, read_rgb_frames
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        info = probe({os.fspath(mp4_clip)!r})
        frames = list(read_rgb_frames(info.path))
        resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))
        try:
            with VideoWriter({os.fspath(tmp_path / "out.mp4")!r}, info) as writer:
                for pts, rgb in frames:
                    writer.write(rgb, pts)
        except MediaError as error:
            print("MediaError:", error)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)

    assert "MediaError:" in result.stdout and "out.mp4" in result.stdout, result.stderr[-2000:]
    assert leftovers(tmp_path) == []


def test_write_clip_with_audio(tmp_path):
    frames = [pattern_rgb(i, 64, 48) for i in range(12)]
    tone = np.sin(np.linspace(0, 2000, 24000, dtype=np.float32)) * 0.1

    out = write_clip(tmp_path / "clip.mp4", frames, 24, audio=np.stack([tone, tone]), sample_rate=48000)

    info = probe(out)
    assert (info.width, info.height, info.frame_count, info.fps) == (64, 48, 12, 24)
    assert stream_kinds(out) == [("video", "h264"), ("audio", "aac")]
    assert leftovers(tmp_path) == ["clip.mp4"]


# ----------------------------------------------------------------------------- errors


@pytest.fixture()
def text_file_mp4(tmp_path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n")
    return path


@pytest.fixture()
def audio_only_m4a(tmp_path) -> Path:
    return make_audio_clip(tmp_path / "audio.m4a")


@pytest.mark.parametrize("reader", [probe, lambda p: list(read_gray_frames(p)), lambda p: list(read_rgb_frames(p))])
@pytest.mark.parametrize(
    ("make_path", "message"),
    [
        (lambda tmp, text, audio: tmp / "missing.mp4", "no such file"),
        (lambda tmp, text, audio: text, "not a media file"),
        (lambda tmp, text, audio: audio, "no video stream"),
        (lambda tmp, text, audio: tmp, "directory"),
    ],
)
def test_unreadable_inputs_raise_media_error(tmp_path, text_file_mp4, audio_only_m4a, reader, make_path, message):
    path = make_path(tmp_path, text_file_mp4, audio_only_m4a)

    with pytest.raises(MediaError, match=message) as caught:
        reader(path)

    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert type(caught.value) is MediaError


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("out.avi", EncoderOptions(), "AVI cannot store"),
        ("out.gif", EncoderOptions(), "unsupported output extension"),
        ("out.mp4", EncoderOptions(codec="no-such-codec"), "unknown video encoder.*libx264"),
        ("out.mp4", EncoderOptions(pix_fmt="rgb24"), "cannot write rgb24"),
        ("out.mp4", EncoderOptions(preset="sluggish"), "cannot start the libx264 encoder"),
    ],
)
def test_bad_output_settings_raise_media_error(tmp_path, mp4_clip, name, options, message):
    with pytest.raises(MediaError, match=message):
        VideoWriter(tmp_path / name, probe(mp4_clip), options)

    assert leftovers(tmp_path) == []


def test_missing_copy_source_raises_media_error(tmp_path, mp4_clip):
    with pytest.raises(MediaError, match="no such file"):
        VideoWriter(tmp_path / "out.mp4", probe(mp4_clip), copy_streams_from=tmp_path / "gone.mp4")

    assert leftovers(tmp_path) == []

