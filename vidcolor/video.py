"""Video file input/output: probing, luma decoding and re-encoding with stream copy.

This is the only module of vidcolor that talks to FFmpeg (through PyAV). Everything it
raises for a bad file, an unsupported format or a failed write is a :class:`MediaError`
whose message is one user-facing line.

Frames are handled in their coded orientation (the display rotation is metadata that
:class:`VideoWriter` carries over), and timestamps are kept exactly so variable-frame-rate
input stays in sync with its audio.
"""

from __future__ import annotations

import contextlib
import enum
import os
import warnings
from collections.abc import Iterable, Iterator
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
    "VideoWriter",
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
}
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
    'tv' (limited), 'pc' (full) or 'unknown'.
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


@dataclass(frozen=True)
class GrayFrame:
    """One decoded frame's luma: ``gray`` is (h, w) float32 in [0, 1].

    ``pts`` is in the video stream's time base and ``time`` in seconds; both are None
    when the file gives no timestamp.
    """

    index: int
    pts: int | None
    time: float | None
    gray: np.ndarray


@dataclass(frozen=True)
class EncoderOptions:
    """Video encoder settings; options a codec has no use for are ignored (see module notes).

    ``crf`` and ``preset`` follow x264's meaning; libx265 and libvpx-vp9 map them to their
    own controls, mpeg4/mjpeg use a fixed quantiser derived from ``crf`` and lossless
    codecs (ffv1, png) take neither.
    """

    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str = "yuv420p"


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
        raise MediaError(f"{os.fspath(path)}: {doing}: {_describe_av_error(error)}") from error


def _open_input(path: StrPath) -> av.container.InputContainer:
    path = os.fspath(path)
    try:
        # Tags in legacy 8-bit encodings must not make a valid file unreadable.
        return av.open(path, "r", metadata_errors="replace")
    except av.error.InvalidDataError as error:
        raise MediaError(f"{path}: not a media file or unsupported format") from error
    except (av.error.FFmpegError, OSError) as error:
        raise MediaError(f"{path}: cannot open: {_describe_av_error(error)}") from error


def _main_video_stream(container: av.container.InputContainer, path: StrPath) -> av.video.stream.VideoStream:
    """The first video stream that is a real picture sequence (not cover art)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise MediaError(f"{os.fspath(path)}: no video stream")


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
    raise MediaError(f"{os.fspath(path)}: cannot determine the frame rate")


def probe(path: StrPath) -> VideoInfo:
    """Describe the main video stream of ``path`` and list all its streams.

    Decodes the first frame, because FFmpeg reports the display matrix (rotation) and
    the effective colour range only on frames. Raises MediaError if the file is
    missing, unreadable, not media, or has no decodable video.
    """
    with _open_input(path) as container:
        stream = _main_video_stream(container, path)
        with _media_errors(path, "cannot decode video"):
            first = next(container.decode(stream), None)
        if first is None:
            raise MediaError(f"{os.fspath(path)}: the video stream has no decodable frames")

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
            path=os.fspath(path),
            width=stream.width,
            height=stream.height,
            fps=_frame_rate(stream, path),
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
        )


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


def _luma_float01(frame: av.VideoFrame) -> np.ndarray:
    """The frame's luma as (h, w) float32 in [0, 1], read from the Y plane when possible."""
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

    gray = codes.astype(np.float32)
    scale = 1 << (bits - 8)
    if full_range:
        gray *= np.float32(1.0 / ((1 << bits) - 1))
    else:
        gray -= np.float32(16 * scale)
        gray *= np.float32(1.0 / (219 * scale))
    np.clip(gray, 0.0, 1.0, out=gray)
    return gray


def _decoded_frames(path: StrPath) -> Iterator[tuple[av.VideoFrame, Fraction]]:
    """Frames of the main video stream in presentation order, with the stream time base."""
    with _open_input(path) as container:
        stream = _main_video_stream(container, path)
        # Frame and slice threads; frames still come out in presentation order.
        stream.thread_type = "AUTO"
        time_base = Fraction(stream.time_base)
        with _media_errors(path, "cannot decode video"):
            for frame in container.decode(stream):
                yield frame, time_base


def read_gray_frames(path: StrPath) -> Iterator[GrayFrame]:
    """Decode the main video stream of ``path`` as luma frames in presentation order.

    The luma is read straight from the Y plane (8 to 16 bit, limited or full range,
    any chroma subsampling) and normalised to [0, 1]; other pixel formats are converted
    to gray by FFmpeg. Frames keep their original pts.
    """
    for index, (frame, time_base) in enumerate(_decoded_frames(path)):
        time = None if frame.pts is None else float(frame.pts * time_base)
        yield GrayFrame(index=index, pts=frame.pts, time=time, gray=_luma_float01(frame))


def read_rgb_frames(path: StrPath) -> Iterator[tuple[int | None, np.ndarray]]:
    """Decode the main video stream of ``path`` as ``(pts, rgb_uint8 (h, w, 3))`` pairs.

    The YUV to RGB conversion uses the matrix and range the file is tagged with.
    """
    for frame, _ in _decoded_frames(path):
        yield frame.pts, frame.to_ndarray(format="rgb24")


# ----------------------------------------------------------------------------- encoding


def _output_muxer(path: Path) -> str:
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
        return {"crf": crf, "preset": options.preset}, None
    if codec_name == "libvpx-vp9":
        # b=0 selects constant quality; row-mt lets libvpx use several cores per frame.
        cpu_used = _VP9_CPU_USED_BY_PRESET.get(options.preset, 2)
        return {"crf": crf, "b": "0", "cpu-used": str(cpu_used), "row-mt": "1"}, None
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
        options = EncoderOptions(codec.name, options.crf, options.preset, _default_pix_fmt(codec, options.pix_fmt))
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


class _StreamCopier:
    """Carries the audio, subtitle and data streams of a source file into an output.

    Packets are copied untouched when the container takes the codec; audio it cannot
    take is re-encoded (Opus for WebM, AAC otherwise); other streams it cannot take are
    dropped. The source is read alongside the video being written (:meth:`advance_to`)
    so that only a few packets are ever buffered, whatever the length of the film.
    """

    def __init__(self, source: StrPath, output: av.container.OutputContainer, output_path: Path) -> None:
        self._source_path = os.fspath(source)
        self._input = _open_input(source)
        self._output = output
        self._copies: dict[int, av.stream.Stream] = {}
        self._reencodes: dict[int, av.audio.stream.AudioStream] = {}
        try:
            main_video = _main_video_stream(self._input, source).index
        except MediaError:
            main_video = None  # an audio-only source can still lend its audio
        for stream in self._input.streams:
            if stream.index != main_video:
                self._plan(stream, output_path)
        wanted = [self._input.streams[i] for i in (*self._copies, *self._reencodes)]
        self._packets = self._input.demux(wanted) if wanted else iter(())
        self._pending: av.Packet | None = None
        self._exhausted = not wanted

    def _plan(self, stream: av.stream.Stream, output_path: Path) -> None:
        label = f"{output_path.name}: input stream #{stream.index} ({stream.type}, {_codec_name(stream)})"
        if stream.type not in ("audio", "subtitle", "data", "attachment"):
            warnings.warn(f"{label} is not copied: only the main video stream is carried over", MediaWarning, stacklevel=4)
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
        """Mux every source packet up to ``seconds`` (all that remain if None)."""
        with _media_errors(self._source_path, "cannot read the streams to copy"):
            while not self._exhausted:
                if self._pending is None:
                    self._pending = next(self._packets, None)
                    if self._pending is None:
                        self._exhausted = True
                        break
                    if not self._pending.size:  # end-of-stream marker from the demuxer
                        self._pending = None
                        continue
                packet_time = _packet_seconds(self._pending)
                if seconds is not None and packet_time is not None and packet_time > seconds:
                    break
                packet, self._pending = self._pending, None
                self._mux(packet)

    def _mux(self, packet: av.Packet) -> None:
        index = packet.stream.index
        if index in self._copies:
            packet.stream = self._copies[index]
            self._output.mux(packet)
            return
        reencode = self._reencodes[index]
        for frame in packet.decode():
            self._output.mux(reencode.encode(frame))

    def finish(self) -> None:
        """Mux the remaining packets and flush the audio re-encoders."""
        self.advance_to(None)
        with _media_errors(self._source_path, "cannot re-encode audio"):
            for index, reencode in self._reencodes.items():
                for frame in self._input.streams[index].decode(None):
                    self._output.mux(reencode.encode(frame))
                self._output.mux(reencode.encode(None))

    def close(self) -> None:
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


class _Sentinel(enum.Enum):
    INFO_PATH = enum.auto()


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class VideoWriter:
    """Writes RGB frames as a new video that keeps the input's timing, streams and metadata.

    ``with VideoWriter(out_path, info) as writer: writer.write(rgb, pts)`` for each
    frame. The output container follows ``out_path``'s extension. The file is written
    as ``.<name>.partial`` beside ``out_path`` and renamed only by a successful
    :meth:`close`; an exception inside the ``with`` block (or :meth:`abort`) deletes it,
    so nothing ever appears under ``out_path`` unless it is complete.

    The video stream has the input's size, time base, frame rate and display matrix and
    every frame keeps the pts it is given, so frame count, timestamps and duration match
    the input (variable frame rate included). Audio, subtitle and data streams of
    ``copy_streams_from`` (default ``info.path``; None for none) are copied packet for
    packet; see :class:`_StreamCopier` for what happens when the container cannot take
    them. Container metadata (title, ...) is kept.

    Raises MediaError when the output cannot be created, encoded or written, and
    ValueError for a frame of the wrong shape or a pts that does not increase.
    """

    def __init__(
        self,
        output_path: StrPath,
        info: VideoInfo,
        options: EncoderOptions = EncoderOptions(),
        copy_streams_from: StrPath | None | _Sentinel = _Sentinel.INFO_PATH,
    ) -> None:
        self.output_path = Path(output_path)
        self._info = info
        self._temp_path = self.output_path.with_name(f".{self.output_path.name}.partial")
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
            muxer = _output_muxer(self.output_path)
            with _media_errors(self.output_path, "cannot create the output"):
                self._output = av.open(
                    os.fspath(self._temp_path), "w", format=muxer, options=_MUXER_OPTIONS.get(muxer, {})
                )
                self._video = _add_video_stream(
                    self._output, self.output_path, options, info.width, info.height, info.fps, info.time_base
                )
                if info.display_matrix is not None:
                    self._video.set_display_matrix(info.display_matrix)
                elif info.rotation:
                    self._video.set_display_rotation(info.rotation)
                self._output.metadata.update(_copyable_tags(info.metadata, _REGENERATED_TAGS))
            if source is not None:
                self._copier = _StreamCopier(source, self._output, self.output_path)
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

    def _last_frame_ticks(self) -> int:
        """Duration of the final frame: what makes the output as long as the input.

        Falls back to the nominal frame duration when the input's duration is unknown or
        clearly not the video's own (e.g. a container duration stretched by longer audio).
        """
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
                self._output.mux(packet)

    def close(self) -> None:
        """Flush everything, finish the file and move it to its final name."""
        if self._finished:
            return
        try:
            if self._held is None:
                raise MediaError(f"{self.output_path}: no video frames were written")
            self._encode(self._held, self._last_frame_ticks())
            self._encode(None)
            with _media_errors(self.output_path, "cannot encode or write the video"):
                if self._copier is not None:
                    self._copier.finish()
                self._output.close()
                os.replace(self._temp_path, self.output_path)
        except BaseException:
            self._discard()
            raise
        self._finished = True
        self._release_copier()

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
        _remove_quietly(self._temp_path)


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
