"""Video file input/output: probing, luma decoding and re-encoding with stream copy.

This is the only module of vidcolor that talks to FFmpeg (through PyAV). Everything it
raises for a bad file, an unsupported format or a failed write is a :class:`MediaError`
whose message is one user-facing line.

Frames are handled in their coded orientation (the display rotation is metadata that
:class:`VideoWriter` carries over), and timestamps are kept exactly so variable-frame-rate
input stays in sync with its audio.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import enum
import functools
import io
import itertools
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

__all__ = [
    "EncoderOptions",
    "GrayFrame",
    "MediaError",
    "MediaWarning",
    "StreamInfo",
    "VideoInfo",
    "VideoSource",
    "VideoWriter",
    "is_stream_target",
    "join_segments",
    "luma_levels",
    "plan_segments",
    "probe",
    "read_gray_frames",
    "read_rgb_frames",
    "write_clip",
]

StrPath = str | os.PathLike

# Output container (FFmpeg muxer name) for each supported output file extension.
_MUXER_BY_SUFFIX = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".ts": "mpegts",
    ".nut": "nut",
}
# Containers that can be written front to back without seeking: what stdout and URLs take.
STREAM_FORMATS = ("mpegts", "matroska", "nut")
# Every muxer an output may name explicitly; flv and rtsp serve rtmp:// and rtsp:// URLs.
_KNOWN_MUXERS = (*STREAM_FORMATS, "mp4", "mov", "webm", "flv", "rtsp")
# The muxer a URL gets when none is named.
_MUXER_BY_SCHEME = {"udp": "mpegts", "tcp": "mpegts", "srt": "mpegts", "rtmp": "flv", "rtsp": "rtsp"}
# AVI has no per-frame timestamps (its muxer pads with empty frames at the time base's
# rate and B-frames come back out of order), so it cannot keep the input timing.
_REJECTED_SUFFIXES = {".avi": "AVI cannot store per-frame timestamps"}

# Muxer options that keep timestamps exactly as given. Matroska would otherwise shift
# every stream when one starts before zero (AAC priming copied from MP4 does), moving
# all video frames; it stores negative block times fine (checked by reading back).
_MUXER_OPTIONS = {"matroska": {"avoid_negative_ts": "disabled"}, "webm": {"avoid_negative_ts": "disabled"}}

# Video encoders tried, in order, when the requested one does not fit the container.
_FALLBACK_VIDEO_CODECS = ("libx264", "libvpx-vp9", "libsvtav1", "mpeg4", "ffv1")

# These encoders refuse frame sizes that their chroma subsampling cannot divide
# (checked: libx264 and libx265 fail to open for yuv420p at 97x61; libvpx-vp9,
# libsvtav1, mpeg4 and ffv1 accept odd sizes).
_ENCODERS_NEEDING_EVEN_CHROMA = frozenset({"libx264", "libx265"})

# x264-style preset names mapped to libvpx-vp9's cpu-used (0 = slowest, 5 = fastest
# in "good" quality mode).
_VP9_CPU_USED_BY_PRESET = {
    "placebo": 0,
    "veryslow": 0,
    "slower": 1,
    "slow": 1,
    "medium": 2,
    "fast": 3,
    "faster": 4,
    "veryfast": 4,
    "superfast": 5,
    "ultrafast": 5,
}

# Container tags that muxers write themselves; copying them would describe the input file.
_REGENERATED_TAGS = frozenset({"encoder", "major_brand", "minor_version", "compatible_brands"})
_REGENERATED_STREAM_TAGS = frozenset({"encoder", "duration", "handler_name", "vendor_id"})

# "-" names stdin (input) or stdout (output).
STDIO = "-"
# A URL (tcp://, udp://, rtmp://, ...) rather than a file path.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# How long a network peer may take to connect or stay silent before the run fails.
DEFAULT_NETWORK_TIMEOUT_S = 10.0
# Side of the small copy of the first frame whose chroma tells a colour input from a gray one.
_CHROMA_PROBE_SIZE = 64
# Mean chroma (8-bit codes from neutral, U and V summed) above which an input counts as colour:
# gray sources and their compression noise stay around 1.
_COLOUR_INPUT_CHROMA = 4.0

# Demuxers (FFmpeg names, by prefix) whose duration is stored in the file rather than
# estimated from the bit rate: a file ending well before it was cut short.
_FORMATS_STATING_DURATION = ("matroska", "mov,mp4")

# Bit patterns of the display matrix that FFmpeg stores as side data: 3x3 int32.
_DISPLAY_MATRIX_SIZE = 9


class MediaError(Exception):
    """A media file could not be opened, decoded or written; the message is one line."""


class MediaWarning(UserWarning):
    """The output differs from what was asked for (codec, pixel format, dropped stream)."""


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a media file: its index, kind ('video', 'audio', ...) and codec."""

    index: int
    kind: str
    codec_name: str | None


@dataclass(frozen=True)
class VideoInfo:
    """What vidcolor needs to know about an input video (see :func:`probe`).

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


@dataclass(frozen=True)
class GrayFrame:
    """One decoded frame's luma, kept as the stored sample codes (4x smaller than floats).

    ``codes`` is (h, w) uint8 or uint16 as stored in the Y plane, ``bits`` their depth and
    ``full_range`` whether they span the whole code range (else video levels, 16-235 at 8 bits).
    ``pts`` is in the video stream's time base and ``time`` in seconds; both are None when the
    file gives no timestamp.
    """

    index: int
    pts: int | None
    time: float | None
    codes: np.ndarray
    bits: int
    full_range: bool

    @property
    def gray(self) -> np.ndarray:
        """The luma as (h, w) float32 gray levels in [0, 1]."""
        return luma_levels(self.bits, self.full_range).take(self.codes)


@dataclass(frozen=True)
class EncoderOptions:
    """Video encoder settings; options a codec has no use for are ignored (see module notes).

    ``crf`` and ``preset`` follow x264's meaning; libx265 and libvpx-vp9 map them to their
    own controls, mpeg4/mjpeg use a fixed quantiser derived from ``crf`` and lossless
    codecs (ffv1, png) take neither. ``low_delay`` makes each frame leave the encoder
    as soon as it is encoded (no lookahead or frame reordering), for live streams.
    """

    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str = "yuv420p"
    low_delay: bool = False


# ----------------------------------------------------------------------------- errors


def _describe_av_error(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "is a directory, not a media file"
    if isinstance(error, PermissionError):
        return "permission denied"
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return reason.rstrip(".")


@contextlib.contextmanager
def _media_errors(path: StrPath, doing: str) -> Iterator[None]:
    """Turn PyAV/OS failures inside the block into a one-line MediaError about ``path``."""
    try:
        yield
    except MediaError:
        raise
    except (av.error.FFmpegError, OSError) as error:
        raise MediaError(f"{_display_name(path)}: {doing}: {_describe_av_error(error)}") from error


# ----------------------------------------------------------------------------- targets


def is_stream_target(target: StrPath) -> bool:
    """Whether ``target`` is stdin/stdout (``"-"``) or a URL (``tcp://...``) rather than a file path.

    Such targets are read or written once, in order: no probing pass, no temporary file.
    """
    text = os.fspath(target)
    return text == STDIO or _URL.match(text) is not None


def _display_name(target: StrPath, *, writing: bool = False) -> str:
    text = os.fspath(target)
    if text == STDIO:
        return "stdout" if writing else "stdin"
    return text


def _ffmpeg_url(target: StrPath, *, writing: bool = False) -> str:
    """The name FFmpeg opens: its pipe protocol for "-" (reads/writes the descriptor directly)."""
    text = os.fspath(target)
    if text == STDIO:
        return "pipe:1" if writing else "pipe:0"
    return text


def _timeouts(target: StrPath, timeout_s: float | None) -> float | None:
    """Open/read timeout for PyAV: network targets get one (a silent peer must not hang us)."""
    if timeout_s is not None:
        return timeout_s
    text = os.fspath(target)
    return DEFAULT_NETWORK_TIMEOUT_S if _URL.match(text) and not text.startswith("file:") else None


def _open_input(path: StrPath, *, timeout_s: float | None = None, low_delay: bool = False) -> av.container.InputContainer:
    name = _display_name(path)
    # Small probe buffers make a live stream start at once instead of after ~5 s of analysis.
    # (Not fflags=nobuffer: it discards the packets read during that analysis.)
    options = {"probesize": "32768", "analyzeduration": "200000"} if low_delay else {}
    try:
        # Tags in legacy 8-bit encodings must not make a valid file unreadable.
        return av.open(
            _ffmpeg_url(path), "r", metadata_errors="replace", options=options, timeout=_timeouts(path, timeout_s)
        )
    except (av.error.InvalidDataError, av.error.EOFError) as error:
        raise MediaError(f"{name}: not a media file or unsupported format (or damaged beyond reading)") from error
    except av.error.ExitError as error:
        raise MediaError(f"{name}: cannot open: no answer within the timeout") from error
    except (av.error.FFmpegError, OSError) as error:
        raise MediaError(f"{name}: cannot open: {_describe_av_error(error)}") from error


def _main_video_stream(container: av.container.InputContainer, path: StrPath) -> av.video.stream.VideoStream:
    """The first video stream that is a real picture sequence (not cover art)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise MediaError(f"{_display_name(path)}: no video stream")


# ----------------------------------------------------------------------------- probing


def _codec_name(stream: av.stream.Stream) -> str | None:
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
    raise MediaError(f"{_display_name(path)}: cannot determine the frame rate")


def _chroma_strength(frame: av.VideoFrame) -> float:
    """Mean distance of a frame's chroma from neutral, in 8-bit code values (0 for gray).

    Measured on a small 4:4:4 copy, so it costs nothing and works for any pixel format.
    """
    small = frame.reformat(width=_CHROMA_PROBE_SIZE, height=_CHROMA_PROBE_SIZE, format="yuv444p")
    u, v = (np.frombuffer(small.planes[i], np.uint8).astype(np.float32) for i in (1, 2))
    return float(np.mean(np.abs(u - 128) + np.abs(v - 128)))


def probe(path: StrPath) -> VideoInfo:
    """Describe the main video stream of ``path`` and list all its streams.

    Decodes the first frame, because FFmpeg reports the display matrix (rotation) and
    the effective colour range only on frames. Raises MediaError if the file is
    missing, unreadable, not media, or has no decodable video. (A pipe or live stream
    can be read only once: open it as a :class:`VideoSource`, which probes as it reads.)
    """
    with VideoSource(path) as source:
        return source.info


# ----------------------------------------------------------------------------- decoding


def _luma_plane_dtype(pix_fmt: av.VideoFormat) -> np.dtype | None:
    """numpy dtype of the Y plane samples when they can be read directly, else None.

    Direct reading covers planar YUV (yuv*, yuvj*, with or without alpha) and gray of
    8 to 16 bits, whose samples are stored right-aligned one per byte or 16-bit word.
    Packed, RGB, palette, float and MSB-aligned (p010) formats are converted instead.
    """
    name = pix_fmt.name
    if not (name.startswith(("yuv", "gray")) and (pix_fmt.is_planar or name.startswith("gray"))):
        return None
    if "f16" in name or "f32" in name or name.startswith("yuyv"):
        return None
    bits = pix_fmt.components[0].bits
    if bits <= 8:
        return np.dtype(np.uint8)
    return np.dtype(">u2" if pix_fmt.is_big_endian else "<u2")


def _is_full_range(frame: av.VideoFrame) -> bool:
    """Whether Y spans the full code range; untagged YUV is limited, untagged gray is full."""
    if frame.color_range == ColorRange.JPEG:
        return True
    if frame.color_range == ColorRange.MPEG:
        return False
    name = frame.format.name
    return name.startswith(("yuvj", "gray"))


@functools.cache
def luma_levels(bits: int, full_range: bool) -> np.ndarray:
    """Gray level in [0, 1] of every luma code of ``bits`` bits: float32, indexed by the code."""
    gray = np.arange(1 << bits, dtype=np.float32)
    scale = 1 << (bits - 8)
    if full_range:
        gray *= np.float32(1.0 / ((1 << bits) - 1))
    else:
        gray -= np.float32(16 * scale)
        gray *= np.float32(1.0 / (219 * scale))
    np.clip(gray, 0.0, 1.0, out=gray)
    gray.flags.writeable = False  # shared by every caller
    return gray


def _luma_codes(frame: av.VideoFrame) -> tuple[np.ndarray, int, bool]:
    """The frame's Y plane as (h, w) codes (a copy), their bit depth and range (see :class:`GrayFrame`)."""
    dtype = _luma_plane_dtype(frame.format)
    if dtype is None:
        # swscale treats gray output as full range; ask for it explicitly anyway.
        frame = frame.reformat(format="gray", dst_color_range=ColorRange.JPEG)
        dtype, bits, full_range = np.dtype(np.uint8), 8, True
    else:
        bits, full_range = frame.format.components[0].bits, _is_full_range(frame)

    plane = frame.planes[0]
    samples_per_line = plane.line_size // dtype.itemsize
    # Rows are padded to line_size; view the buffer and crop instead of copying row by row.
    rows = np.frombuffer(plane, dtype=dtype, count=samples_per_line * frame.height)
    codes = rows.reshape(frame.height, samples_per_line)[:, : frame.width]
    # Native byte order, and a copy: the decoder reuses the frame's buffer.
    return codes.astype(dtype.newbyteorder("=")), bits, full_range


class VideoSource:
    """One input - a file, ``"-"`` for stdin, or a network URL - opened once and read once.

    A single demuxer serves everything: :meth:`frames` decodes the main video stream,
    and (with ``keep_other_streams``) the packets of every other stream are queued for a
    :class:`VideoWriter` given this source as ``copy_streams_from``, which muxes them
    beside the new video. So a pipe or a live stream, which cannot be read twice, keeps
    its audio. Opening decodes the first frame to fill :attr:`info`.

    Damaged input is tolerated: packets the decoder rejects, frames whose timestamp does
    not increase and the rest of a file after unreadable data are skipped, and counted
    (:meth:`damage_summary`); frames whose size changed mid-stream are scaled back to the
    stream's size. A missing pts is filled in one nominal frame duration after the
    previous one, so every frame has an increasing pts.

    ``timeout_s`` bounds the wait for a network peer to connect or to send data (a
    default applies to URLs); ``low_delay`` trades start-up analysis and frame-threaded
    decoding for latency. Raises MediaError for what cannot be read at all.
    """

    def __init__(
        self,
        target: StrPath,
        *,
        keep_other_streams: bool = False,
        timeout_s: float | None = None,
        low_delay: bool = False,
    ) -> None:
        self.name = _display_name(target)
        self.target = os.fspath(target)
        self._container = _open_input(target, timeout_s=timeout_s, low_delay=low_delay)
        self._keep_other_streams = keep_other_streams
        # Packets of the other streams, from the demuxing thread to the writing thread.
        self._other_packets: collections.deque[av.Packet] = collections.deque()
        self._video_packets = 0
        self._frames_out = 0
        self._frames_rejected = 0
        self._frames_rescaled = 0
        self._frames_concealed = 0
        self._last_frame_end: float | None = None
        self._stopped_at: str | None = None  # why reading ended before the end of the input
        try:
            self._video = _main_video_stream(self._container, target)
            # Frame threads add one frame of delay per thread; slices do not.
            self._video.thread_type = "SLICE" if low_delay else "AUTO"
            self._decoded = self._decode_all()
            first = next(self._decoded, None)
            if first is None:
                raise MediaError(f"{self.name}: the video stream has no decodable frames")
            self.info = self._describe(first)
            # Time of the first frame: the origin of the times reference pins are given in.
            self.start_time = float((first.pts or 0) * self.info.time_base)
            self._stated_end_s = self._stated_end()
            self._first: av.VideoFrame | None = first
        except BaseException:
            self._container.close()
            raise

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Release the input (stops a network connection)."""
        self._container.close()

    def _describe(self, first: av.VideoFrame) -> VideoInfo:
        stream, container = self._video, self._container
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
            path=self.target,
            width=stream.width,
            height=stream.height,
            fps=_frame_rate(stream, self.target),
            time_base=time_base,
            duration=duration,
            frame_count=stream.frames or None,
            rotation=int(rotation),
            pix_fmt=first.format.name,
            color_range=_range_label(first),
            bit_depth=first.format.components[0].bits,
            streams=tuple(StreamInfo(s.index, s.type, _codec_name(s)) for s in container.streams),
            metadata=dict(container.metadata),
            display_matrix=matrix,
            first_frame_chroma=_chroma_strength(first),
        )

    def _decode_all(self) -> Iterator[av.VideoFrame]:
        """Demux the whole input once: decode video packets, queue the others."""
        video_index = self._video.index
        try:
            for packet in self._container.demux():
                if not packet.size:  # end-of-stream markers; the decoder is flushed below
                    continue
                if packet.stream.index == video_index:
                    self._video_packets += 1
                    yield from self._decode_packet(packet)
                elif self._keep_other_streams:
                    self._other_packets.append(packet)
        except av.error.ExitError as error:
            raise MediaError(f"{self.name}: no data within the timeout; the sender stopped or the connection is lost") from error
        except av.error.InvalidDataError as error:
            self._stopped_at = f"unreadable data ({_describe_av_error(error)})"
        except (av.error.FFmpegError, OSError) as error:
            if is_stream_target(self.target):
                raise MediaError(f"{self.name}: connection lost: {_describe_av_error(error)}") from error
            self._stopped_at = f"a read error ({_describe_av_error(error)})"
        yield from self._decode_packet(None)

    def _decode_packet(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        try:
            return self._video.decode(packet)
        except av.error.FFmpegError:
            return []  # a damaged packet: counted as a missing frame (packets in vs frames out)

    def start_at(self, pts: int) -> None:
        """Make :meth:`frames` begin with the frame at ``pts`` (a file input, before reading).

        Seeks to the keyframe before it and decodes up to it, so resuming a long film does
        not decode everything before. Raises MediaError if no frame has this pts (the file
        changed, or it cannot seek).
        """
        if self._first is None:
            raise RuntimeError("VideoSource.start_at() must come before frames()")
        if pts <= self._first.pts:
            return
        frame = None
        # Seek to the keyframe at or before pts; if the demuxer overshoots (no index), from the start.
        for target in (pts, self._video.start_time or 0):
            with _media_errors(self.name, "cannot seek"):
                self._container.seek(target, stream=self._video, backward=True)
            self._video.codec_context.flush_buffers()
            self._video_packets = 0
            decoded = self._decode_all()
            frame = next(decoded, None)
            if frame is not None and frame.pts is not None and frame.pts <= pts:
                break
        skipped = 0
        while frame is not None and (frame.pts is None or frame.pts < pts):
            frame, skipped = next(decoded, None), skipped + 1
        if frame is None or frame.pts != pts:
            raise MediaError(f"{self.name}: no frame at the point to resume from; has the input changed?")
        self._video_packets -= skipped  # the frames before pts were read, not lost
        self._first, self._decoded = frame, decoded

    def frames(self) -> Iterator[av.VideoFrame]:
        """The decodable frames of the main video stream in presentation order (read once).

        Every frame has the stream's size and an increasing pts (see the class notes).
        """
        width, height = self.info.width, self.info.height
        frame_ticks = max(1, round(1 / (self.info.fps * self.info.time_base)))
        last_pts: int | None = None
        first, self._first = self._first, None
        if first is None:
            raise RuntimeError("VideoSource.frames() can be iterated only once")
        for frame in itertools.chain([first], self._decoded):
            if frame.pts is None:
                frame.pts = 0 if last_pts is None else last_pts + frame_ticks
            elif last_pts is not None and frame.pts <= last_pts:
                self._frames_rejected += 1
                continue
            if (frame.width, frame.height) != (width, height):
                frame = frame.reformat(width=width, height=height)
                self._frames_rescaled += 1
            self._frames_concealed += frame.is_corrupt
            last_pts = frame.pts
            self._frames_out += 1
            self._last_frame_end = float((frame.pts + frame_ticks) * self.info.time_base)
            yield frame

    def gray_frames(self) -> Iterator[GrayFrame]:
        """The frames' luma as :class:`GrayFrame` (see :func:`read_gray_frames`), read once."""
        time_base = self.info.time_base
        for index, frame in enumerate(self.frames()):
            codes, bits, full_range = _luma_codes(frame)
            yield GrayFrame(index, frame.pts, float(frame.pts * time_base), codes, bits, full_range)

    def _take_other_packet(self) -> av.Packet | None:
        """The next queued packet of a non-video stream, or None if none is waiting now."""
        try:
            return self._other_packets.popleft()
        except IndexError:
            return None

    def _stated_end(self) -> float | None:
        """Where the file says the video ends, in seconds, if it stores its duration."""
        stream, container = self._video, self._container
        if not container.format.name.startswith(_FORMATS_STATING_DURATION):
            return None
        if stream.duration is not None:
            return float(((stream.start_time or 0) + stream.duration) * stream.time_base)
        if container.duration is not None:
            return ((container.start_time or 0) + container.duration) / av.time_base
        return None

    def _missing_tail_frames(self) -> int:
        """Frames the stated duration promises after the last one read (a file cut short)."""
        if self._last_frame_end is None or self._stated_end_s is None:
            return 0
        return max(0, round((self._stated_end_s - self._last_frame_end) * float(self.info.fps)))

    @property
    def dropped_frames(self) -> int:
        """Frames lost so far: video packets that gave no frame, plus frames skipped for their pts."""
        return max(0, self._video_packets - self._frames_out)

    def damage_summary(self) -> str | None:
        """One line about what damage was worked around, or None if the input read cleanly."""
        notes = []
        if self.dropped_frames:
            notes.append(
                f"{self.dropped_frames} of {self._video_packets} frames could not be decoded and were skipped "
                "(the frames before them are shown longer, so the timing is kept)"
            )
        if self._frames_rescaled:
            notes.append(f"{self._frames_rescaled} frames had another size and were scaled to {self.info.width}x{self.info.height}")
        if self._frames_concealed:
            notes.append(f"{self._frames_concealed} frames had damaged data that the decoder patched over")
        if self._stopped_at:
            notes.append(f"reading stopped after frame {self._frames_out} at {self._stopped_at}")
        missing = self._missing_tail_frames()
        # One frame of slack: the stated duration may include audio that outlasts the video.
        if missing > 1:
            notes.append(f"the input ends {missing} frames before its stated duration (cut short?)")
        return f"{self.name}: the input is damaged: {'; '.join(notes)}" if notes else None


def _warn_damage(source: VideoSource) -> None:
    summary = source.damage_summary()
    if summary:
        warnings.warn(summary, MediaWarning, stacklevel=3)


def read_gray_frames(path: StrPath) -> Iterator[GrayFrame]:
    """Decode the main video stream of ``path`` as luma frames in presentation order.

    The luma is read straight from the Y plane (8 to 16 bit, limited or full range,
    any chroma subsampling) and normalised to [0, 1]; other pixel formats are converted
    to gray by FFmpeg. Frames keep their original pts. Damage is skipped and reported
    by a MediaWarning at the end (see :class:`VideoSource`).
    """
    with VideoSource(path) as source:
        yield from source.gray_frames()
        _warn_damage(source)


def read_rgb_frames(path: StrPath) -> Iterator[tuple[int | None, np.ndarray]]:
    """Decode the main video stream of ``path`` as ``(pts, rgb_uint8 (h, w, 3))`` pairs.

    The YUV to RGB conversion uses the matrix and range the file is tagged with.
    """
    with VideoSource(path) as source:
        for frame in source.frames():
            yield frame.pts, frame.to_ndarray(format="rgb24")
        _warn_damage(source)


# ----------------------------------------------------------------------------- encoding


def _output_muxer(target: StrPath, container_format: str | None) -> str:
    """The FFmpeg muxer for an output: ``container_format`` if given, else from the name."""
    text = os.fspath(target)
    if container_format is not None:
        if container_format not in _KNOWN_MUXERS:
            raise MediaError(f"unsupported container format {container_format!r}; use one of {', '.join(_KNOWN_MUXERS)}")
        return container_format
    if text == STDIO:
        raise MediaError(f"stdout: name the container format to write ({', '.join(STREAM_FORMATS)})")
    if _URL.match(text):
        muxer = _MUXER_BY_SCHEME.get(text.split(":", 1)[0].lower())
        if muxer is None:
            raise MediaError(f"{text}: name the container format to send ({', '.join(STREAM_FORMATS)})")
        return muxer
    path = Path(text)
    suffix = path.suffix.lower()
    muxer = _MUXER_BY_SUFFIX.get(suffix)
    if muxer is None:
        choices = ", ".join(sorted(_MUXER_BY_SUFFIX))
        reason = _REJECTED_SUFFIXES.get(suffix, f"unsupported output extension {path.suffix or '(none)'!r}")
        raise MediaError(f"{path}: {reason}; use one of {choices}")
    return muxer


def _video_encoder(name: str) -> av.Codec:
    try:
        codec = av.Codec(name, "w")
    except (av.codec.codec.UnknownCodecError, ValueError):
        codec = None
    if codec is None or codec.type != "video":
        available = [c for c in _FALLBACK_VIDEO_CODECS + ("libx265", "prores_ks") if c in av.codecs_available]
        raise MediaError(f"unknown video encoder {name!r}; choose e.g. {', '.join(available)}")
    return codec


def _pix_fmt_for(codec: av.Codec, pix_fmt: str, width: int, height: int) -> str:
    """``pix_fmt`` if the encoder takes it at this size, else the 4:4:4 variant (warned)."""
    supported = [f.name for f in codec.video_formats or ()]
    if supported and pix_fmt not in supported:
        raise MediaError(f"the {codec.name} encoder cannot write {pix_fmt}; it takes {', '.join(supported[:10])}")
    if codec.name not in _ENCODERS_NEEDING_EVEN_CHROMA:
        return pix_fmt
    fmt = av.VideoFormat(pix_fmt)
    # Subsampling factors: how many luma samples share one chroma sample per axis.
    probe_size = 64
    step_x = probe_size // fmt.chroma_width(probe_size)
    step_y = probe_size // fmt.chroma_height(probe_size)
    if width % step_x == 0 and height % step_y == 0:
        return pix_fmt
    full_chroma = pix_fmt.replace("420", "444").replace("422", "444").replace("440", "444")
    if full_chroma not in supported:
        raise MediaError(
            f"the {codec.name} encoder cannot write {pix_fmt} at the odd size {width}x{height}; choose another codec"
        )
    warnings.warn(
        f"{codec.name} cannot encode {pix_fmt} at the odd size {width}x{height}; writing {full_chroma} "
        "instead (same picture size, but some players cannot play 4:4:4 video)",
        MediaWarning,
        stacklevel=4,
    )
    return full_chroma


def _encoder_settings(options: EncoderOptions, codec_name: str) -> tuple[dict[str, str], int | None]:
    """(AVOptions, fixed quantiser or None) that express ``options`` for this encoder."""
    crf = str(options.crf)
    if codec_name in ("libx264", "libx265"):
        settings = {"crf": crf, "preset": options.preset}
        if options.low_delay:
            settings["tune"] = "zerolatency"
        return settings, None
    if codec_name == "libvpx-vp9":
        # b=0 selects constant quality; row-mt lets libvpx use several cores per frame.
        cpu_used = _VP9_CPU_USED_BY_PRESET.get(options.preset, 2)
        settings = {"crf": crf, "b": "0", "cpu-used": str(cpu_used), "row-mt": "1"}
        if options.low_delay:
            settings["lag-in-frames"] = "0"
        return settings, None
    if codec_name == "libvpx":
        # VP8 reads crf as a quality floor under a bitrate cap; make the cap generous.
        return {"crf": crf, "b": "20M"}, None
    if codec_name == "libsvtav1":
        return {"crf": crf}, None
    if codec_name in ("mpeg4", "mjpeg", "mpeg2video", "mpeg1video"):
        # No crf: a fixed quantiser of about crf/6 gives comparable quality (18 -> 3).
        return {}, min(max(round(options.crf / 6), 1), 31)
    return {}, None


def _add_video_stream(
    output: av.container.OutputContainer,
    output_path: Path,
    options: EncoderOptions,
    width: int,
    height: int,
    fps: Fraction,
    time_base: Fraction,
) -> av.video.stream.VideoStream:
    """Add the video stream, falling back to a codec the container accepts (warned)."""
    codec = _video_encoder(options.codec)
    try:
        stream = output.add_stream(codec.name, rate=fps)
    except ValueError:
        fallback = next((c for c in _FALLBACK_VIDEO_CODECS if _container_accepts(output, c)), None)
        if fallback is None:
            raise MediaError(f"{output_path}: the {output.format.name} container takes none of the video codecs "
                             f"{', '.join(_FALLBACK_VIDEO_CODECS)}") from None
        warnings.warn(
            f"{output_path.name}: the {output.format.name} container cannot hold {codec.name} video; "
            f"encoding with {fallback}",
            MediaWarning,
            stacklevel=3,
        )
        codec = av.Codec(fallback, "w")
        options = dataclasses.replace(options, codec=codec.name, pix_fmt=_default_pix_fmt(codec, options.pix_fmt))
        stream = output.add_stream(codec.name, rate=fps)

    pix_fmt = _pix_fmt_for(codec, options.pix_fmt, width, height)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    stream.codec_context.framerate = fps
    av_options, fixed_quantiser = _encoder_settings(options, codec.name)
    stream.options = av_options
    if fixed_quantiser is not None:
        stream.codec_context.qscale = True
        stream.codec_context.global_quality = fixed_quantiser
    # Frames are converted from RGB with the BT.709 matrix; say so in the bitstream.
    context = stream.codec_context
    context.colorspace = context.color_primaries = context.color_trc = 1  # AVCOL_*_BT709
    context.color_range = ColorRange.JPEG if _is_full_range_format(pix_fmt) else ColorRange.MPEG
    # Open now so a bad setting (e.g. an unknown preset) fails before any frame is made.
    settings = " ".join(f"{k}={v}" for k, v in av_options.items()) or "default settings"
    with _media_errors(output_path, f"cannot start the {codec.name} encoder ({settings})"):
        context.open()
    return stream


def _default_pix_fmt(codec: av.Codec, requested: str) -> str:
    supported = [f.name for f in codec.video_formats or ()]
    return requested if not supported or requested in supported else supported[0]


def _container_accepts(output: av.container.OutputContainer, codec_name: str) -> bool:
    return codec_name in av.codecs_available and codec_name in output.supported_codecs


def _is_full_range_format(pix_fmt: str) -> bool:
    return pix_fmt.startswith("yuvj") or pix_fmt.startswith(("rgb", "bgr", "gbr", "gray"))


class _RgbToEncoderFrames:
    """Converts RGB arrays to frames in the encoder's pixel format (BT.709)."""

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        self._pix_fmt = stream.codec_context.pix_fmt
        self._range = stream.codec_context.color_range
        self._reformatter = VideoReformatter()

    def __call__(self, rgb_uint8: np.ndarray) -> av.VideoFrame:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb_uint8), format="rgb24")
        return self._reformatter.reformat(
            frame, format=self._pix_fmt, dst_colorspace=Colorspace.ITU709, dst_color_range=self._range
        )


def _check_rgb(rgb_uint8: np.ndarray, width: int, height: int) -> None:
    if rgb_uint8.dtype != np.uint8 or rgb_uint8.shape != (height, width, 3):
        raise ValueError(
            f"expected a ({height}, {width}, 3) uint8 RGB frame, got {rgb_uint8.shape} {rgb_uint8.dtype}"
        )


def _packet_seconds(packet: av.Packet) -> float | None:
    """Decoding time of a packet in seconds (what the muxer interleaves by)."""
    ts = packet.dts if packet.dts is not None else packet.pts
    return None if ts is None else float(ts * packet.time_base)


def _copyable_tags(metadata: dict[str, str], regenerated: frozenset[str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k.lower() not in regenerated and not k.startswith("_STATISTICS")}


class _Muxer:
    """Hands packets to an output container, skipping those that damaged input makes it refuse.

    Muxing is interleaved, so a packet is written some calls after it is given, and a packet
    the container refuses (e.g. audio whose frame header was corrupted) fails a later, innocent
    call. Once the header is written, refusals for invalid data, arguments or features (a
    damaged header can read as an unsupported variant) skip that packet
    (counted in :attr:`refused`); write errors (disk full, closed pipe) still fail the run.
    """

    def __init__(self, output: av.container.OutputContainer) -> None:
        self._output = output
        self._started = False
        self.refused = 0

    def warn_refused(self, output_path: Path) -> None:
        """One warning for the packets left out, if any (after the output is finished)."""
        if self.refused:
            warnings.warn(f"{output_path}: {self.refused} packets with damaged data were left out",
                          MediaWarning, stacklevel=3)

    def __call__(self, packets: av.Packet | list[av.Packet]) -> None:
        try:
            self._output.mux(packets)
        except (av.error.InvalidDataError, av.error.ArgumentError, av.error.PatchWelcomeError):
            if not self._started:
                raise
            self.refused += 1
            return
        self._started = True


class _StreamCopier:
    """Carries the audio, subtitle and data streams of a source into an output.

    Packets are copied untouched when the container takes the codec; audio it cannot
    take is re-encoded (Opus for WebM, AAC otherwise); other streams it cannot take are
    dropped. The packets come from ``next_packet`` (None: none available now) and are
    muxed alongside the video being written (:meth:`advance_to`), so that only a few
    are ever buffered, whatever the length of the film.
    """

    def __init__(
        self,
        input_container: av.container.InputContainer,
        source_name: str,
        output: av.container.OutputContainer,
        output_path: Path,
        mux: _Muxer,
        *,
        main_video: int | None,
        next_packet: Callable[[], av.Packet | None] | None = None,
        owns_input: bool,
    ) -> None:
        self._source_name = source_name
        self._input = input_container
        self._owns_input = owns_input
        self._output = output
        self._muxer = mux
        self._copies: dict[int, av.stream.Stream] = {}
        self._reencodes: dict[int, av.audio.stream.AudioStream] = {}
        for stream in self._input.streams:
            if stream.index != main_video:
                self._plan(stream, output_path)
        wanted = [self._input.streams[i] for i in (*self._copies, *self._reencodes)]
        if next_packet is None:
            packets = self._input.demux(wanted) if wanted else iter(())
            next_packet = functools.partial(next, packets, None)
        self._next_packet = next_packet
        self._pending: av.Packet | None = None
        self._last_dts: dict[int, int] = {}
        self._skipped_packets = 0
        self._read_error: str | None = None

    @classmethod
    def from_path(
        cls, source: StrPath, output: av.container.OutputContainer, output_path: Path, mux: _Muxer
    ) -> _StreamCopier:
        """Copy from a file of its own, read a second time beside the video's reader."""
        container = _open_input(source)
        try:
            main_video = _main_video_stream(container, source).index
        except MediaError:
            main_video = None  # an audio-only source can still lend its audio
        try:
            return cls(
                container, _display_name(source), output, output_path, mux, main_video=main_video, owns_input=True
            )
        except BaseException:
            container.close()
            raise

    @classmethod
    def from_source(
        cls, source: VideoSource, output: av.container.OutputContainer, output_path: Path, mux: _Muxer
    ) -> _StreamCopier:
        """Copy the packets that ``source``'s single demuxer queues while its frames are read."""
        return cls(
            source._container, source.name, output, output_path, mux, main_video=source._video.index,
            next_packet=source._take_other_packet, owns_input=False,
        )

    def _plan(self, stream: av.stream.Stream, output_path: Path) -> None:
        label = f"{output_path.name}: input stream #{stream.index} ({stream.type}, {_codec_name(stream)})"
        if stream.type not in ("audio", "subtitle", "data", "attachment"):
            warnings.warn(f"{label} is not copied: only the main video stream is carried over", MediaWarning, stacklevel=4)
            return
        if stream.type == "audio" and (
            stream.codec_context is None or stream.codec_context.sample_rate <= 0 or stream.codec_context.channels <= 0
        ):
            # Muxers refuse to start with such a stream, which would fail the whole output.
            warnings.warn(f"{label} is dropped: its codec is unknown or its header is damaged", MediaWarning, stacklevel=4)
            return
        try:
            copy = self._output.add_stream_from_template(stream)
        except (ValueError, av.error.FFmpegError):
            copy = None
        if copy is not None:
            copy.metadata.update(_copyable_tags(stream.metadata, _REGENERATED_STREAM_TAGS))
            copy.disposition = stream.disposition
            if stream.type != "attachment":  # attachments travel in the header, not as packets
                self._copies[stream.index] = copy
            return
        if stream.type != "audio":
            warnings.warn(f"{label} is dropped: the {self._output.format.name} container cannot hold it",
                          MediaWarning, stacklevel=4)
            return
        codec_name = "libopus" if self._output.format.name == "webm" else "aac"
        encoder = av.Codec(codec_name, "w")
        rate = stream.codec_context.sample_rate
        if encoder.audio_rates and rate not in encoder.audio_rates:
            rate = 48000
        warnings.warn(f"{label} is re-encoded to {codec_name}: the {self._output.format.name} container cannot hold "
                      f"{_codec_name(stream)}", MediaWarning, stacklevel=4)
        reencode = self._output.add_stream(codec_name, rate=rate)
        reencode.layout = stream.codec_context.layout
        reencode.metadata.update(_copyable_tags(stream.metadata, _REGENERATED_STREAM_TAGS))
        reencode.disposition = stream.disposition
        self._reencodes[stream.index] = reencode

    def advance_to(self, seconds: float | None) -> None:
        """Mux every available source packet up to ``seconds`` (all that are available if None)."""
        with _media_errors(self._source_name, "cannot read the streams to copy"):
            while True:
                if self._pending is None:
                    self._pending = self._read_packet()
                    if self._pending is None:
                        break
                    if not self._pending.size or self._pending.stream.index not in (*self._copies, *self._reencodes):
                        self._pending = None  # an end-of-stream marker, or a stream not carried over
                        continue
                packet_time = _packet_seconds(self._pending)
                if seconds is not None and packet_time is not None and packet_time > seconds:
                    break
                packet, self._pending = self._pending, None
                self._mux(packet)

    def _read_packet(self) -> av.Packet | None:
        """The next packet to copy, or None. Unreadable data ends the copy (warned), as it ends the video."""
        if self._read_error is not None:
            return None
        try:
            return self._next_packet()
        except av.error.FFmpegError as error:
            if not self._owns_input or is_stream_target(self._input.name):
                raise
            self._read_error = _describe_av_error(error)
            return None

    def _timestamps_fit(self, packet: av.Packet) -> bool:
        """Whether the muxer will take this packet's timestamps (damaged input breaks them).

        Muxers refuse a missing dts, a pts before the dts, and a dts that goes back (or, for
        audio, stands still); such a packet would fail the whole output, so it is skipped.
        """
        index, dts, pts = packet.stream.index, packet.dts, packet.pts
        if dts is None or (pts is not None and pts < dts):
            return False
        last = self._last_dts.get(index)
        if last is not None and (dts <= last if packet.stream.type == "audio" else dts < last):
            return False
        self._last_dts[index] = dts
        return True

    def _mux(self, packet: av.Packet) -> None:
        index = packet.stream.index
        if index in self._copies:
            if not self._timestamps_fit(packet):
                self._skipped_packets += 1
                return
            packet.stream = self._copies[index]
            self._muxer(packet)
            return
        reencode = self._reencodes[index]
        try:
            frames = packet.decode()
        except (av.error.InvalidDataError, av.error.ArgumentError):
            self._skipped_packets += 1  # damaged audio: a short silence instead of a failed run
            return
        for frame in frames:
            self._muxer(reencode.encode(frame))

    def finish(self) -> None:
        """Mux the remaining packets and flush the audio re-encoders."""
        self.advance_to(None)
        with _media_errors(self._source_name, "cannot re-encode audio"):
            for index, reencode in self._reencodes.items():
                for frame in self._input.streams[index].decode(None):
                    self._muxer(reencode.encode(frame))
                self._muxer(reencode.encode(None))
        if self._skipped_packets:
            warnings.warn(f"{self._source_name}: {self._skipped_packets} damaged audio/subtitle packets were skipped",
                          MediaWarning, stacklevel=3)
        if self._read_error is not None:
            warnings.warn(f"{self._source_name}: the audio/subtitles are copied only up to unreadable data "
                          f"({self._read_error})", MediaWarning, stacklevel=3)

    def close(self) -> None:
        if self._owns_input:
            self._input.close()


class _AudioArraySource:
    """Encodes an in-memory (channels, samples) float32 signal alongside the video.

    Same interface as :class:`_StreamCopier`, so the writer interleaves it the same way.
    """

    _CHUNK_SAMPLES = 1024

    def __init__(self, output: av.container.OutputContainer, audio: np.ndarray, sample_rate: int) -> None:
        self._audio = np.ascontiguousarray(np.atleast_2d(audio), dtype=np.float32)
        self._rate = sample_rate
        # "<n>c" is FFmpeg's default layout for n channels (mono, stereo, ..., 5.1).
        self._layout = av.AudioLayout(f"{self._audio.shape[0]}c").name
        codec = av.Codec("libopus" if output.format.name == "webm" else "aac", "w")
        # The encoder resamples on its own when it cannot take this rate (Opus).
        rate = sample_rate if not codec.audio_rates or sample_rate in codec.audio_rates else 48000
        self._output = output
        self._stream = output.add_stream(codec.name, rate=rate)
        self._stream.layout = self._layout
        self._next_sample = 0

    def advance_to(self, seconds: float | None) -> None:
        total = self._audio.shape[1]
        end = total if seconds is None else min(total, int(np.ceil(seconds * self._rate)))
        while self._next_sample < end:
            chunk = self._audio[:, self._next_sample : self._next_sample + self._CHUNK_SAMPLES]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=self._layout)
            frame.sample_rate = self._rate
            frame.time_base = Fraction(1, self._rate)
            frame.pts = self._next_sample
            self._output.mux(self._stream.encode(frame))
            self._next_sample += chunk.shape[1]

    def finish(self) -> None:
        self.advance_to(None)
        self._output.mux(self._stream.encode(None))

    def close(self) -> None:
        """Nothing to release: the signal lives in memory."""


def _carry_video_metadata(output: av.container.OutputContainer, video: av.video.stream.VideoStream, info: VideoInfo) -> None:
    """The input's display rotation (or matrix) and container tags, on a new output."""
    if info.display_matrix is not None:
        video.set_display_matrix(info.display_matrix)
    elif info.rotation:
        video.set_display_rotation(info.rotation)
    output.metadata.update(_copyable_tags(info.metadata, _REGENERATED_TAGS))


class _Sentinel(enum.Enum):
    INFO_PATH = enum.auto()


def _partial_path(output_path: Path) -> Path:
    """The temporary name a file output is written under until it is complete."""
    return output_path.with_name(f".{output_path.name}.partial")


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class VideoWriter:
    """Writes RGB frames as a new video that keeps the input's timing, streams and metadata.

    ``with VideoWriter(out_path, info) as writer: writer.write(rgb, pts)`` for each
    frame. The output container follows ``out_path``'s extension, or
    ``container_format``. A file is written as ``.<name>.partial`` beside ``out_path``
    and renamed only by a successful :meth:`close`; an exception inside the ``with``
    block (or :meth:`abort`) deletes it, so nothing ever appears under ``out_path``
    unless it is complete. ``"-"`` (stdout) and URLs (``tcp://``, ``udp://``, ...) are
    written as the frames come and need a streamable format (:data:`STREAM_FORMATS`;
    URL schemes imply one); a failure there leaves a cut stream, which readers of such
    streams expect.

    The video stream has the input's size, time base, frame rate and display matrix and
    every frame keeps the pts it is given, so frame count, timestamps and duration match
    the input (variable frame rate included). Audio, subtitle and data streams of
    ``copy_streams_from`` (default ``info.path``; a :class:`VideoSource` to share its
    single read, which a pipe or live input needs; None for none) are copied packet
    for packet; see :class:`_StreamCopier` for what happens when the container cannot
    take them. Container metadata (title, ...) is kept.

    Raises MediaError when the output cannot be created, encoded or written, and
    ValueError for a frame of the wrong shape or a pts that does not increase.
    """

    def __init__(
        self,
        output_path: StrPath,
        info: VideoInfo,
        options: EncoderOptions = EncoderOptions(),
        copy_streams_from: StrPath | VideoSource | None | _Sentinel = _Sentinel.INFO_PATH,
        *,
        container_format: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self._streaming = is_stream_target(output_path)
        # For a pipe or URL this is only a label for messages.
        self.output_path = Path(_display_name(output_path, writing=True))
        self._info = info
        self._temp_path = None if self._streaming else _partial_path(self.output_path)
        self._output: av.container.OutputContainer | None = None
        self._copier: _StreamCopier | None = None
        # The latest frame, converted, waiting for the next pts to know its duration.
        self._held: av.VideoFrame | None = None
        self._first_pts = 0
        # Frame durations by pts, to put on the packets the encoder returns.
        self._durations: dict[int, int] = {}
        self._finished = False
        # Nominal frame duration in time-base units: the pts step when none is given.
        self._frame_ticks = max(1, round(1 / (info.fps * info.time_base)))
        source = info.path if copy_streams_from is _Sentinel.INFO_PATH else copy_streams_from
        try:
            muxer = _output_muxer(output_path, container_format)
            muxer_options = dict(_MUXER_OPTIONS.get(muxer, {}))
            if self._streaming:
                # Hand every packet to the pipe or socket at once: readers see frames as they are made.
                muxer_options["flush_packets"] = "1"
                if muxer == "mpegts":
                    # With its length in the PES header, a reader can hand a video packet on as
                    # soon as it arrives, instead of when the next one starts (a frame later).
                    muxer_options["omit_video_pes_length"] = "0"
            with _media_errors(self.output_path, "cannot create the output"):
                self._output = av.open(
                    os.fspath(self._temp_path) if self._temp_path else _ffmpeg_url(output_path, writing=True),
                    "w", format=muxer, options=muxer_options, timeout=_timeouts(output_path, timeout_s),
                )
                self._video = _add_video_stream(
                    self._output, self.output_path, options, info.width, info.height, info.fps, info.time_base
                )
                _carry_video_metadata(self._output, self._video, info)
            self._muxer = _Muxer(self._output)
            if isinstance(source, VideoSource):
                self._copier = _StreamCopier.from_source(source, self._output, self.output_path, self._muxer)
            elif source is not None:
                self._copier = _StreamCopier.from_path(source, self._output, self.output_path, self._muxer)
            self._to_frame = _RgbToEncoderFrames(self._video)
        except BaseException:
            self._discard()
            raise

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, rgb_uint8: np.ndarray, pts: int | None = None) -> None:
        """Encode one (h, w, 3) uint8 RGB frame at ``pts`` (input time base).

        Without ``pts`` the frame follows the previous one by one nominal frame duration.
        The frame is converted at once but encoded when the next one arrives, because
        its duration (which the encoder does not pass on) is the gap to the next pts.
        """
        if self._finished:
            raise ValueError("write() on a closed VideoWriter")
        _check_rgb(rgb_uint8, self._info.width, self._info.height)
        last_pts = None if self._held is None else self._held.pts
        if pts is None:
            pts = 0 if last_pts is None else last_pts + self._frame_ticks
        elif last_pts is not None and pts <= last_pts:
            raise ValueError(f"frame pts must increase: got {pts} after {last_pts}")
        frame = self._to_frame(rgb_uint8)
        frame.pts = pts
        frame.time_base = self._info.time_base
        if self._held is None:
            self._first_pts = pts
        else:
            self._encode(self._held, pts - last_pts)
        self._held = frame

    def _last_frame_ticks(self, end_pts: int | None) -> int:
        """Duration of the final frame: up to ``end_pts`` if given, else to the input's end.

        Falls back to the nominal frame duration when the input's duration is unknown or
        clearly not the video's own (e.g. a container duration stretched by longer audio).
        """
        if end_pts is not None:
            return end_pts - self._held.pts
        if self._info.duration is None:
            return self._frame_ticks
        end_pts = self._first_pts + round(self._info.duration / self._info.time_base)
        ticks = end_pts - self._held.pts
        return ticks if 0 < ticks <= 3 * self._frame_ticks else self._frame_ticks

    def _encode(self, frame: av.VideoFrame | None, duration: int = 0) -> None:
        if frame is not None:
            frame.duration = duration
            self._durations[frame.pts] = duration
        with _media_errors(self.output_path, "cannot encode or write the video"):
            for packet in self._video.encode(frame):
                packet.duration = self._durations.pop(packet.pts, 0)
                if self._copier is not None:
                    self._copier.advance_to(_packet_seconds(packet))
                self._muxer(packet)

    def close(self, end_pts: int | None = None) -> None:
        """Flush everything, finish the file and move it to its final name.

        ``end_pts`` is where the last frame ends (a segment of a longer video ends where the
        next one begins); by default the output ends where the input does.
        """
        if self._finished:
            return
        try:
            if self._held is None:
                raise MediaError(f"{self.output_path}: no video frames were written")
            if end_pts is not None and end_pts <= self._held.pts:
                raise ValueError(f"end_pts {end_pts} is not after the last frame's pts {self._held.pts}")
            self._encode(self._held, self._last_frame_ticks(end_pts))
            self._encode(None)
            with _media_errors(self.output_path, "cannot encode or write the video"):
                if self._copier is not None:
                    self._copier.finish()
                self._output.close()
                if self._temp_path is not None:
                    os.replace(self._temp_path, self.output_path)
        except BaseException:
            self._discard()
            raise
        self._finished = True
        self._release_copier()
        self._muxer.warn_refused(self.output_path)

    def abort(self) -> None:
        """Stop writing and delete the partial file; nothing appears under the output name."""
        if not self._finished:
            self._discard()

    def _attach_side_streams(self, source: _StreamCopier | _AudioArraySource) -> None:
        """Use ``source`` for the non-video streams (before the first frame is written)."""
        self._copier = source

    def _release_copier(self) -> None:
        if self._copier is not None:
            self._copier.close()
            self._copier = None

    def _discard(self) -> None:
        self._finished = True
        self._release_copier()
        if self._output is not None:
            # Closing writes a trailer, which can fail again (e.g. disk full): irrelevant here.
            with contextlib.suppress(Exception):
                self._output.close()
        if self._temp_path is not None:
            _remove_quietly(self._temp_path)


# ----------------------------------------------------------------------------- segments

# Containers tried, in order, for the segments of a resumable output. MOV and MP4 keep the
# encoder's timestamps exactly (checked by reading back); Matroska rounds them to
# milliseconds and does not store dts, so it only serves codecs neither takes.
_SEGMENT_MUXERS = ("mov", "mp4", "matroska")


def plan_segments(output_path: StrPath, info: VideoInfo, options: EncoderOptions) -> tuple[EncoderOptions, str]:
    """How to write ``output_path`` in segments: the encoder settings and the segments' container.

    The settings are those the final container takes (a codec or pixel-format fallback is
    warned about here, once), so the segments can be joined into it without re-encoding.
    Raises MediaError as :class:`VideoWriter` would for the output.
    """
    path = Path(output_path)
    muxer = _output_muxer(path, None)
    with av.open(io.BytesIO(), "w", format=muxer) as trial:
        stream = _add_video_stream(trial, path, options, info.width, info.height, info.fps, info.time_base)
        resolved = dataclasses.replace(options, codec=stream.codec_context.name, pix_fmt=stream.pix_fmt)
    for segment_muxer in _SEGMENT_MUXERS:
        with av.open(io.BytesIO(), "w", format=segment_muxer) as trial:
            if _container_accepts(trial, resolved.codec):
                return resolved, segment_muxer
    raise MediaError(f"{path}: the {resolved.codec} encoder cannot be written in segments; use --segment 0")


def join_segments(
    segments: Iterable[StrPath], output_path: StrPath, info: VideoInfo, copy_streams_from: StrPath | None
) -> None:
    """Join video segments written by :class:`VideoWriter` into ``output_path``, without re-encoding.

    The segments hold consecutive frames of one video (same encoder settings, each
    starting on a keyframe); their packets are copied in order, keeping their timestamps.
    Audio, subtitle and data streams are copied from ``copy_streams_from`` (read once,
    interleaved with the video), as :class:`VideoWriter` does. The output appears under its
    name only when complete.
    """
    segments = [Path(s) for s in segments]
    output_path = Path(output_path)
    temp_path = _partial_path(output_path)
    muxer = _output_muxer(output_path, None)
    output: av.container.OutputContainer | None = None
    copier: _StreamCopier | None = None
    try:
        with _media_errors(output_path, "cannot create the output"):
            output = av.open(os.fspath(temp_path), "w", format=muxer, options=dict(_MUXER_OPTIONS.get(muxer, {})))
            with av.open(os.fspath(segments[0])) as first:
                video = output.add_stream_from_template(first.streams.video[0])
            _carry_video_metadata(output, video, info)
        mux = _Muxer(output)
        if copy_streams_from is not None:
            copier = _StreamCopier.from_path(copy_streams_from, output, output_path, mux)
        for segment in segments:
            with _media_errors(segment, "cannot read a saved segment"), av.open(os.fspath(segment)) as part:
                for packet in part.demux(part.streams.video[0]):
                    if not packet.size:
                        continue
                    packet.stream = video
                    with _media_errors(output_path, "cannot write the video"):
                        if copier is not None:
                            copier.advance_to(_packet_seconds(packet))
                        mux(packet)
        with _media_errors(output_path, "cannot write the video"):
            if copier is not None:
                copier.finish()
            output.close()
        os.replace(temp_path, output_path)
        mux.warn_refused(output_path)
    except BaseException:
        if output is not None:
            with contextlib.suppress(Exception):
                output.close()
        _remove_quietly(temp_path)
        raise
    finally:
        if copier is not None:
            copier.close()


# ----------------------------------------------------------------------------- whole clips


def write_clip(
    path: StrPath,
    frames_rgb: Iterable[np.ndarray],
    fps: int | Fraction,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 48000,
    options: EncoderOptions = EncoderOptions(),
) -> Path:
    """Write RGB uint8 frames (and optional float32 audio) as a new clip; returns its path.

    ``audio`` is (channels, samples) in [-1, 1], encoded as AAC (Opus for .webm). Meant
    for short generated clips (examples, tests): the audio is encoded after the video.
    The file appears under ``path`` only when complete.
    """
    frames = iter(frames_rgb)
    first = next(frames, None)
    if first is None:
        raise ValueError("write_clip needs at least one frame")
    height, width = first.shape[:2]
    fps = Fraction(fps)
    info = VideoInfo(
        path=os.fspath(path), width=width, height=height, fps=fps, time_base=1 / fps, duration=None,
        frame_count=None, rotation=0, pix_fmt="rgb24", color_range="pc", bit_depth=8, streams=(),
    )
    with VideoWriter(path, info, options, copy_streams_from=None) as writer:
        if audio is not None:
            writer._attach_side_streams(_AudioArraySource(writer._output, audio, sample_rate))
        writer.write(first)
        for rgb in frames:
            writer.write(rgb)
    return Path(path)
