"""Choosing how an output is encoded: container (muxer), video codec, pixel format and settings.

The container follows the output's extension or URL scheme (or is named); an encoder the
container cannot hold falls back to one it can, and a pixel format the encoder cannot take
at an odd frame size falls back to 4:4:4 - both warned, since the output then differs from
what was asked. :class:`EncoderOptions` speaks x264's language (crf, preset), translated
here for each encoder. Frames are converted from RGB with the BT.709 matrix.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from typing import NamedTuple
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from ..defaults import CODEC, CRF, PIX_FMT, PRESET, STREAM_FORMATS
from .errors import MediaError, MediaWarning, media_errors
from .targets import STDIO, URL_PATTERN, StrPath

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
MUXER_OPTIONS = {"matroska": {"avoid_negative_ts": "disabled"}, "webm": {"avoid_negative_ts": "disabled"}}

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


@dataclass(frozen=True)
class EncoderOptions:
    """Video encoder settings; options a codec has no use for are ignored (see module notes).

    ``crf`` and ``preset`` follow x264's meaning; libx265 and libvpx-vp9 map them to their
    own controls, mpeg4/mjpeg use a fixed quantiser derived from ``crf`` and lossless
    codecs (ffv1, png) take neither. ``low_delay`` makes each frame leave the encoder
    as soon as it is encoded (no lookahead or frame reordering), for live streams.
    """

    codec: str = CODEC
    crf: int = CRF
    preset: str = PRESET
    pix_fmt: str = PIX_FMT
    low_delay: bool = False


def output_muxer(target: StrPath, container_format: str | None) -> str:
    """The FFmpeg muxer for an output: ``container_format`` if given, else from the name."""
    text = os.fspath(target)
    if container_format is not None:
        if container_format not in _KNOWN_MUXERS:
            raise MediaError(f"unsupported container format {container_format!r}; use one of {', '.join(_KNOWN_MUXERS)}")
        return container_format
    if text == STDIO:
        raise MediaError(f"stdout: name the container format to write ({', '.join(STREAM_FORMATS)})")
    if URL_PATTERN.match(text):
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


def check_output_target(target: StrPath, container_format: str | None) -> None:
    """Raise MediaError if no container can be chosen for ``target``: a check before any work is done.

    It fails for an unsupported extension (``.avi``, ...), an unknown ``container_format``, and
    stdout or a URL scheme that implies no container when none is named.
    """
    output_muxer(target, container_format)


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


def add_video_stream(
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
        fallback = next((c for c in _FALLBACK_VIDEO_CODECS if container_accepts(output, c)), None)
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
    with media_errors(output_path, f"cannot start the {codec.name} encoder ({settings})"):
        context.open()
    return stream


def _default_pix_fmt(codec: av.Codec, requested: str) -> str:
    supported = [f.name for f in codec.video_formats or ()]
    return requested if not supported or requested in supported else supported[0]


def container_accepts(output: av.container.OutputContainer, codec_name: str) -> bool:
    """Whether this FFmpeg has the ``codec_name`` encoder and ``output``'s container can hold its streams."""
    return codec_name in av.codecs_available and codec_name in output.supported_codecs


def _is_full_range_format(pix_fmt: str) -> bool:
    return pix_fmt.startswith("yuvj") or pix_fmt.startswith(("rgb", "bgr", "gbr", "gray"))


class Yuv420Planes(NamedTuple):
    """One picture as 8-bit 4:2:0 planes: ``y`` ``(h, w)``, ``u`` and ``v`` ``((h+1)//2, (w+1)//2)``, all uint8.

    BT.709 Y'CbCr in video range (16-235), or full range (0-255) where ``full_range``.
    """

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    full_range: bool = False


# The pixel formats that :class:`Yuv420Planes` are written in without conversion (-> full range).
YUV420_FORMATS = {"yuv420p": False, "yuvj420p": True}


def _check_picture(picture, width: int, height: int) -> None:
    if isinstance(picture, Yuv420Planes):
        chroma = ((height + 1) // 2, (width + 1) // 2)
        shapes = tuple(plane.shape for plane in picture[:3])
        if any(plane.dtype != np.uint8 for plane in picture[:3]) or shapes != ((height, width), chroma, chroma):
            raise ValueError(f"expected uint8 4:2:0 planes of {(height, width)} and {chroma}, got {shapes}")
    elif not isinstance(picture, np.ndarray) or picture.dtype != np.uint8 or picture.shape != (height, width, 3):
        shape = getattr(picture, "shape", type(picture).__name__)
        raise ValueError(f"expected a ({height}, {width}, 3) uint8 RGB frame, got {shape} {getattr(picture, 'dtype', '')}")


class EncoderFrames:
    """Converts pictures (RGB arrays or :class:`Yuv420Planes`) to frames in the encoder's pixel format (BT.709)."""

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        self._pix_fmt = stream.codec_context.pix_fmt
        self._range = stream.codec_context.color_range
        self._width, self._height = stream.codec_context.width, stream.codec_context.height
        self._reformatter = VideoReformatter()

    def __call__(self, picture: np.ndarray | Yuv420Planes) -> av.VideoFrame:
        """``picture``: ``(h, w, 3)`` uint8 RGB, or 4:2:0 planes (copied as they are into a 4:2:0 stream)."""
        _check_picture(picture, self._width, self._height)
        if isinstance(picture, Yuv420Planes):
            frame = av.VideoFrame(self._width, self._height, "yuvj420p" if picture.full_range else "yuv420p")
            for plane, samples in zip(frame.planes, picture[:3]):
                # Rows are padded to line_size: write through a view of the plane's buffer.
                rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
                rows[:, : samples.shape[1]] = samples
            frame.colorspace = Colorspace.ITU709
            frame.color_range = ColorRange.JPEG if picture.full_range else ColorRange.MPEG
            if frame.format.name == self._pix_fmt and frame.color_range == self._range:
                return frame
            return self._reformatter.reformat(
                frame, format=self._pix_fmt, src_colorspace=Colorspace.ITU709, dst_colorspace=Colorspace.ITU709,
                src_color_range=frame.color_range, dst_color_range=self._range,
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
        return self._reformatter.reformat(
            frame, format=self._pix_fmt, dst_colorspace=Colorspace.ITU709, dst_color_range=self._range
        )
