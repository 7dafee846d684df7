"""Issue 8: pipes (stdin/stdout), the streaming Python API and network streams on loopback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from media import frame_pts, make_clip, packets, pattern_rgb, stream_kinds
from vidcolor.cli import main
from vidcolor.colorizer import Colorizer
from vidcolor.media import read_gray_frames

REPO = Path(__file__).parents[1]


def vidcolor_command(*args) -> list[str]:
    return [sys.executable, "-m", "vidcolor", *map(str, args)]


def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_loopback_tcp_stream_keeps_frames_within_the_latency_bound(tiny_checkpoint, reference):
    """A live sender -> vidcolor --latency 4 -> a receiver, all on 127.0.0.1, frames paced at 25 fps."""
    fps, count, latency = 25, 75, 4
    in_port, out_port = free_port(), free_port()
    sent: list[float] = []  # when each frame left the sender, in order
    received: dict[int, float] = {}
    errors: list[BaseException] = []

    def receive() -> None:  # listens first: vidcolor connects to it when its output opens
        try:
            with av.open(f"tcp://127.0.0.1:{out_port}?listen=1", "r", format="mpegts", timeout=90,
                         options={"probesize": "32768", "analyzeduration": "0"}) as container:
                for frame in container.decode(video=0):
                    received[frame.pts] = time.monotonic()
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(("receiver", error))

    def connect() -> tuple[av.container.OutputContainer, av.video.stream.VideoStream]:
        deadline = time.monotonic() + 90  # vidcolor takes a few seconds to start listening
        while True:
            container = av.open(f"tcp://127.0.0.1:{in_port}", "w", format="mpegts", options={"flush_packets": "1", "omit_video_pes_length": "0"})
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            stream.options = {"tune": "zerolatency", "preset": "ultrafast"}
            try:
                container.start_encoding()  # connects
                return container, stream
            except (av.error.FFmpegError, OSError):  # not listening yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def send() -> None:
        try:
            container, stream = connect()
            with container:
                start = time.monotonic()
                for index in range(count):
                    time.sleep(max(0.0, start + index / fps - time.monotonic()))  # a live source
                    frame = av.VideoFrame.from_ndarray(pattern_rgb(index, 64, 48, color=False), format="rgb24")
                    frame.pts = index
                    container.mux(stream.encode(frame))  # zerolatency: the frame's packet comes out at once
                    sent.append(time.monotonic())
                container.mux(stream.encode(None))
        except BaseException as error:  # noqa: BLE001
            errors.append(("sender", error))

    receiver = threading.Thread(target=receive)
    receiver.start()
    process = subprocess.Popen(
        vidcolor_command(f"tcp://127.0.0.1:{in_port}?listen=1", "--reference", reference,
                         "-o", f"tcp://127.0.0.1:{out_port}", "--latency", str(latency), "--timeout", "90",
                         "--model", tiny_checkpoint, "--work-size", "32"),
        stderr=subprocess.PIPE, env=child_env(), cwd=REPO,
    )
    sender = threading.Thread(target=send)
    sender.start()
    try:
        sender.join(timeout=150)
        _, err = process.communicate(timeout=60)
        receiver.join(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"vidcolor did not finish: {process.communicate()[1].decode()} {errors} "
                             f"sent {len(sent)} received {len(received)}") from None
    finally:
        process.kill()
    assert not errors, errors
    assert process.returncode == 0, err.decode()
    assert len(received) == count
    # MPEG-TS shifts the timestamps by the muxer's start offset: frames are matched by order.
    delays = np.array([received[pts] - sent_at for pts, sent_at in zip(sorted(received), sent)])
    bound = (latency + latency) / fps  # --latency frames in flight plus one batch (batches of N)
    steady = delays[latency * 2 :]  # after the receiver's start-up
    print(f"loopback delay: median {np.median(steady) * 1000:.0f} ms, 90th percentile "
          f"{np.percentile(steady, 90) * 1000:.0f} ms, max {steady.max() * 1000:.0f} ms; bound {bound * 1000:.0f} ms")
    assert np.median(steady) < bound
    assert re.search(rb"delay \d+ ms", err)  # the live progress shows the current delay
