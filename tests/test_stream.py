"""Issue 8: pipes (stdin/stdout), the streaming Python API and network streams on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np

from media import frame_pts, make_clip, packets, stream_kinds
from vidcolor.cli import STREAM_FORMATS, main
from vidcolor.colorizer import Colorizer
from vidcolor.video import STREAM_FORMATS as VIDEO_STREAM_FORMATS
from vidcolor.video import read_gray_frames

REPO = Path(__file__).parents[1]


def vidcolor_command(*args) -> list[str]:
    return [sys.executable, "-m", "vidcolor", *map(str, args)]


def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def test_the_cli_and_the_library_agree_on_stream_formats():
    assert STREAM_FORMATS == VIDEO_STREAM_FORMATS


def test_stdin_to_stdout_keeps_frames_and_audio(tmp_path, tiny_checkpoint, reference):
    """``cat in.ts | vidcolor - --reference ref.png -o - --format mpegts > out.ts``"""
    clip = make_clip(tmp_path / "in.ts", frames=20, width=64, height=48, color=False)
    with open(clip, "rb") as stdin, open(tmp_path / "out.ts", "wb") as stdout:
        result = subprocess.run(
            vidcolor_command("-", "--reference", reference, "-o", "-", "--format", "mpegts",
                             "--model", tiny_checkpoint, "--work-size", "32"),
            stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=child_env(), cwd=REPO, timeout=120,
        )
    assert result.returncode == 0, result.stderr.decode()
    out = tmp_path / "out.ts"
    data = out.read_bytes()
    # Nothing but MPEG-TS on stdout: 188-byte packets, each starting with the sync byte.
    assert len(data) % 188 == 0 and data[::188] == b"\x47" * (len(data) // 188)
    assert b"coloured 20 frames" in result.stderr  # the summary went to stderr
    assert frame_pts(out) == frame_pts(clip)
    assert stream_kinds(out) == stream_kinds(clip)
    assert [p[2] for p in packets(out, "audio")] == [p[2] for p in packets(clip, "audio")]
    with av.open(str(out)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(first[..., 0] - first[..., 1]).mean() > 1  # coloured


def test_stream_api_gives_the_cli_frames(tmp_path, tiny_checkpoint, reference):
    clip = make_clip(tmp_path / "in.mp4", frames=18, width=64, height=48, color=False)
    out = tmp_path / "out.mkv"
    # RGB planes in a lossless codec: the decoded output is exactly what the colourizer made.
    assert main([str(clip), "-r", str(reference), "-o", str(out), "--model", str(tiny_checkpoint), "-q",
                 "--work-size", "32", "--batch-size", "4", "--codec", "ffv1", "--pix-fmt", "bgr0"]) == 0
    with av.open(str(out)) as container:
        cli_frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]

    colorizer = Colorizer.from_pretrained(tiny_checkpoint, work_size=32)
    colorizer.set_reference(cv2.cvtColor(cv2.imread(str(reference)), cv2.COLOR_BGR2RGB))
    streamed = colorizer.stream((frame.gray for frame in read_gray_frames(clip)), batch_size=4)
    api_frames = list(streamed)

    assert len(api_frames) == len(cli_frames) == 18
    for cli_frame, api_frame in zip(cli_frames, api_frames):
        assert api_frame.dtype == np.uint8 and api_frame.shape == (48, 64, 3)
        np.testing.assert_array_equal(api_frame, cli_frame)


def test_stream_api_is_lazy_and_takes_uint8_and_colour_frames(tiny_checkpoint, reference):
    colorizer = Colorizer.from_pretrained(tiny_checkpoint, work_size=32)
    colorizer.set_reference(cv2.cvtColor(cv2.imread(str(reference)), cv2.COLOR_BGR2RGB))
    pulled = []

    def frames():
        for index in range(7):
            pulled.append(index)
            yield np.full((40, 56, 3) if index % 2 else (40, 56), 30 * index, np.uint8)

    stream = colorizer.stream(frames(), batch_size=3)
    first = next(stream)
    assert first.shape == (40, 56, 3) and len(pulled) == 3  # one batch read, not the whole input
    assert len([first, *stream]) == 7
