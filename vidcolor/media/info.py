"""What is known about an input: :class:`VideoInfo`, and opening an input to learn it.

FFmpeg reports the display matrix (rotation) and the effective colour range only on
decoded frames, so a video is described from its container, its main video stream and
its first frame together (:func:`describe_video`). :func:`open_input` opens a file, pipe
or URL with the options that keep odd files readable and live streams quick to start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import ColorRange

from .errors import MediaError, describe_av_error
from .targets import StrPath, display_name, ffmpeg_url, is_stream_target, timeout_for

# Side of the small copy of the first frame whose chroma tells a colour input from a gray one.
_CHROMA_PROBE_SIZE = 64
# Mean chroma (8-bit codes from neutral, U and V summed) above which an input counts as colour:
# gray sources and their compression noise stay around 1.
_COLOUR_INPUT_CHROMA = 4.0

# Streams of an input given the probing decoders' pixel limit (PyAV takes one option set per stream).
_PROBED_STREAMS = 256

# Bit patterns of the display matrix that FFmpeg stores as side data: 3x3 int32.
_DISPLAY_MATRIX_SIZE = 9


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a media file: its index, kind ('video', 'audio', ...) and codec."""

    index: int
    kind: str
    codec_name: str | None


@dataclass(frozen=True)
class VideoInfo:
    """What vidcolor needs to know about an input video (see :func:`~vidcolor.media.probe`).

    ``width``/``height`` are the coded size (before any display rotation). ``rotation``
    is the display rotation in counter-clockwise degrees in [-180, 180], as FFmpeg reports
    it (a portrait phone clip typically reads -90); ``display_matrix`` is the full 3x3
    matrix (flips included) when the file has one. ``color_range`` is the tagged range:
    'tv' (limited), 'pc' (full) or 'unknown'. ``first_frame_chroma`` is the first frame's
    mean distance from neutral chroma in 8-bit codes (see :attr:`is_colour`).
    """

    path: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    duration: float | None
    frame_count: int | None
    rotation: int
    pix_fmt: str
    color_range: str
    bit_depth: int
    streams: tuple[StreamInfo, ...]
    metadata: dict[str, str] = field(default_factory=dict, hash=False)
    display_matrix: tuple[int, ...] | None = None
    first_frame_chroma: float = 0.0

    @property
    def is_colour(self) -> bool:
        """Whether the video already has colour (vidcolor then works from its luma alone)."""
        return self.first_frame_chroma > _COLOUR_INPUT_CHROMA


# ----------------------------------------------------------------------------- opening


def open_input(path: StrPath, *, timeout_s: float | None = None, low_delay: bool = False,
               max_pixels: int | None = None) -> av.container.InputContainer:
    """Open a file, ``"-"`` (stdin) or URL for reading; raises MediaError if it cannot be read.

    ``max_pixels``: the decoders FFmpeg runs on a file while it probes its streams allocate no
    picture larger (a 16K stream took 270 MB there before it could be refused); the streams'
    sizes are still read from their headers. Not for pipes and URLs, nor for formats that list
    their streams only once probed (MPEG-TS): PyAV takes no per-stream options for those.
    """
    name = display_name(path)
    # Small probe buffers make a live stream start at once instead of after ~5 s of analysis.
    # (Not fflags=nobuffer: it discards the packets read during that analysis.)
    options = {"probesize": "32768", "analyzeduration": "200000"} if low_delay else {}
    # Tags in legacy 8-bit encodings must not make a valid file unreadable.
    settings = dict(metadata_errors="replace", options=options, timeout=timeout_for(path, timeout_s))
    try:
        if max_pixels and not is_stream_target(path):
            try:
                return av.open(ffmpeg_url(path), "r", **settings,
                               stream_options=[{"max_pixels": str(max_pixels)}] * _PROBED_STREAMS)
            except ValueError:  # no stream list before probing: open the file again without them
                pass
        return av.open(ffmpeg_url(path), "r", **settings)
    except (av.error.InvalidDataError, av.error.EOFError) as error:
        raise MediaError(f"{name}: not a media file or unsupported format (or damaged beyond reading)") from error
    except av.error.ExitError as error:
        raise MediaError(f"{name}: cannot open: no answer within the timeout") from error
    except (av.error.FFmpegError, OSError) as error:
        raise MediaError(f"{name}: cannot open: {describe_av_error(error)}") from error


def main_video_stream(container: av.container.InputContainer, path: StrPath) -> av.video.stream.VideoStream:
    """The first video stream that is a real picture sequence (not cover art)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise MediaError(f"{display_name(path)}: no video stream")


# ----------------------------------------------------------------------------- describing


def codec_name(stream: av.stream.Stream) -> str | None:
    """The stream's codec, by the format's name ('mp3'), or None if FFmpeg does not know it."""
    if stream.codec_context is None:
        return None
    # canonical_name is the format's name ('mp3'), not the decoder's ('mp3float').
    return stream.codec_context.codec.canonical_name


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    side_data = frame.side_data.get("DISPLAYMATRIX")
    if side_data is None:
        return None
    matrix = np.frombuffer(side_data, dtype=np.int32)
    return tuple(int(v) for v in matrix[:_DISPLAY_MATRIX_SIZE])


def _legacy_rotate_tag(stream: av.stream.Stream) -> int:
    """Counter-clockwise rotation from an old-style clockwise 'rotate' tag (0 if absent)."""
    try:
        clockwise = int(float(stream.metadata.get("rotate", "0")))
    except ValueError:
        return 0
    return (180 - clockwise) % 360 - 180 if clockwise % 360 else 0


def _range_label(frame: av.VideoFrame) -> str:
    if frame.color_range == ColorRange.MPEG:
        return "tv"
    if frame.color_range == ColorRange.JPEG or frame.format.name.startswith("yuvj"):
        return "pc"
    return "unknown"


def _frame_rate(stream: av.video.stream.VideoStream, path: StrPath) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    raise MediaError(f"{display_name(path)}: cannot determine the frame rate")


def _chroma_strength(frame: av.VideoFrame) -> float:
    """Mean distance of a frame's chroma from neutral, in 8-bit code values (0 for gray).

    Measured on a small 4:4:4 copy, so it costs nothing and works for any pixel format.
    """
    small = frame.reformat(width=_CHROMA_PROBE_SIZE, height=_CHROMA_PROBE_SIZE, format="yuv444p")
    u, v = (np.frombuffer(small.planes[i], np.uint8).astype(np.float32) for i in (1, 2))
    return float(np.mean(np.abs(u - 128) + np.abs(v - 128)))


def describe_video(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, first: av.VideoFrame, target: str
) -> VideoInfo:
    """The :class:`VideoInfo` of ``stream`` (the main video of ``container``), given its first frame."""
    matrix = _display_matrix(first)
    rotation = first.rotation if matrix is not None else _legacy_rotate_tag(stream)
    time_base = Fraction(stream.time_base)
    if stream.duration is not None:
        duration = float(stream.duration * time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = None
    return VideoInfo(
        path=target,
        width=stream.width,
        height=stream.height,
        fps=_frame_rate(stream, target),
        time_base=time_base,
        duration=duration,
        frame_count=stream.frames or None,
        rotation=int(rotation),
        pix_fmt=first.format.name,
        color_range=_range_label(first),
        bit_depth=first.format.components[0].bits,
        streams=tuple(StreamInfo(s.index, s.type, codec_name(s)) for s in container.streams),
        metadata=dict(container.metadata),
        display_matrix=matrix,
        first_frame_chroma=_chroma_strength(first),
    )
