"""Writing a short generated clip from RGB frames and an in-memory sound, for examples and tests."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from .encoder import EncoderOptions, Yuv420Planes
from .info import VideoInfo
from .streamcopy import AudioArraySource
from .targets import StrPath
from .writer import VideoWriter


def write_clip(
    path: StrPath,
    frames_rgb: Iterable[np.ndarray | Yuv420Planes],
    fps: int | Fraction,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 48000,
    options: EncoderOptions = EncoderOptions(),
) -> Path:
    """Write RGB uint8 frames (or :class:`Yuv420Planes`) and optional float32 audio as a new clip; returns its path.

    ``audio`` is (channels, samples) in [-1, 1], encoded as AAC (Opus for .webm). Meant
    for short generated clips (examples, tests): the audio is encoded after the video.
    The file appears under ``path`` only when complete.
    """
    frames = iter(frames_rgb)
    first = next(frames, None)
    if first is None:
        raise ValueError("write_clip needs at least one frame")
    height, width = (first.y if isinstance(first, Yuv420Planes) else first).shape[:2]
    fps = Fraction(fps)
    info = VideoInfo(
        path=os.fspath(path), width=width, height=height, fps=fps, time_base=1 / fps, duration=None,
        frame_count=None, rotation=0, pix_fmt="rgb24", color_range="pc", bit_depth=8, streams=(),
    )
    with VideoWriter(path, info, options, copy_streams_from=None) as writer:
        if audio is not None:
            writer._attach_side_streams(AudioArraySource(writer._output, audio, sample_rate))
        writer.write(first)
        for rgb in frames:
            writer.write(rgb)
    return Path(path)
