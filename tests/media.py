"""Synthetic media for the tests: tiny clips written with PyAV, plus inspectors.

Every helper writes or reads a real container so the tests exercise FFmpeg's
muxers/demuxers exactly as production files would.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Irregular frame durations (in 1/1000 s) cycled through for variable-frame-rate clips.
_VFR_STEPS_MS = (40, 40, 80, 33, 50, 120)

_SUBTITLE_LINES_MS = ((0, 400, "First line"), (500, 400, "Second line"))


def _default_audio_codec(path: Path) -> str:
    return "libopus" if path.suffix == ".webm" else "aac"


def pattern_rgb(index: int, width: int, height: int, *, color: bool = True) -> np.ndarray:
    """Frame ``index`` of the synthetic pattern as (h, w, 3) uint8 RGB.

    A coloured gradient with a square moving a few pixels per frame; with ``color=False``
    its channel mean is repeated in R, G and B.
    """
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = (xs * 255 // max(width - 1, 1)).astype(np.uint8)
    rgb[..., 1] = (ys * 255 // max(height - 1, 1)).astype(np.uint8)
    rgb[..., 2] = (index * 10) % 256
    side = max(min(width, height) // 4, 1)
    x0 = (index * 3) % max(width - side, 1)
    rgb[side : 2 * side, x0 : x0 + side] = (250, 240, 20)
    if color:
        return rgb
    luma = rgb.mean(axis=2).astype(np.uint8)
    return np.repeat(luma[..., None], 3, axis=2)


def flat_frame(width: int, height: int, pix_fmt: str, y_code: int) -> av.VideoFrame:
    """A frame of `pix_fmt` whose luma samples all equal `y_code` (chroma neutral).

    `y_code` is in the format's own bit depth (e.g. 0..1023 for 10-bit).
    """
    frame = av.VideoFrame(width, height, pix_fmt)
    bits = frame.format.components[0].bits
    dtype = np.dtype("<u2") if bits > 8 else np.dtype(np.uint8)
    neutral_chroma = 1 << (bits - 1)
    for plane_index, plane in enumerate(frame.planes):
        samples = np.frombuffer(plane, dtype=dtype)
        samples[:] = y_code if plane_index == 0 else neutral_chroma
    return frame


def make_clip(
    path: str | Path,
    *,
    width: int = 96,
    height: int = 64,
    frames: int = 24,
    fps: int | Fraction = 24,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    codec_options: dict[str, str] | None = None,
    audio: bool | str = True,
    rotation: int | None = None,
    color: bool = True,
    vfr: bool = False,
    subtitles: bool = False,
    flat_y: int | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a small synthetic clip and return its path.

    audio: True for a stereo 440 Hz tone in the container's usual codec (AAC,
        Opus for .webm), a codec name to choose it, False for none.
    rotation: counter-clockwise display rotation stored as a display matrix.
    vfr: irregular frame durations (time base 1/1000).
    subtitles: add a two-line SubRip stream (Matroska only).
    flat_y: every frame is flat with this luma code value (in the pix_fmt's bit
        depth) and neutral chroma; otherwise a moving pattern (grey if not `color`).
    """
    path = Path(path)
    if subtitles and path.suffix != ".mkv":
        raise ValueError("synthetic subtitles are only written to .mkv")
    fps = Fraction(fps)
    container = av.open(str(path), "w")
    container.metadata.update(metadata or {"title": "vidcolor test clip"})

    video = container.add_stream(codec, rate=fps)
    video.width, video.height, video.pix_fmt = width, height, pix_fmt
    if codec_options:
        video.options = dict(codec_options)
    if vfr:
        video.codec_context.time_base = Fraction(1, 1000)
        video.time_base = Fraction(1, 1000)
    if rotation is not None:
        video.set_display_rotation(rotation)

    audio_stream = None
    if audio:
        audio_codec = audio if isinstance(audio, str) else _default_audio_codec(path)
        audio_stream = container.add_stream(audio_codec, rate=48000)
        audio_stream.layout = "stereo"

    subtitle_stream = None
    if subtitles:
        # No subtitle encoder is needed: SubRip packets are the plain text.
        subtitle_stream = container.add_mux_stream("subrip")
        subtitle_stream.time_base = Fraction(1, 1000)

    pts = 0
    for index in range(frames):
        if flat_y is not None:
            frame = flat_frame(width, height, pix_fmt, flat_y)
        else:
            rgb = pattern_rgb(index, width, height, color=color)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts
        pts += _VFR_STEPS_MS[index % len(_VFR_STEPS_MS)] if vfr else 1
        container.mux(video.encode(frame))
    container.mux(video.encode(None))

    duration_s = float(pts * video.codec_context.time_base)
    if audio_stream is not None:
        _write_tone(container, audio_stream, duration_s)
    if subtitle_stream is not None:
        for start_ms, length_ms, text in _SUBTITLE_LINES_MS:
            packet = av.Packet(text.encode())
            packet.stream = subtitle_stream
            packet.time_base = Fraction(1, 1000)
            packet.pts = packet.dts = start_ms
            packet.duration = length_ms
            container.mux(packet)
    container.close()
    return path


def make_audio_clip(path: str | Path, *, seconds: float = 0.5) -> Path:
    """Write an audio-only file (a stereo tone, AAC or Opus for .webm) and return its path."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(_default_audio_codec(path), rate=48000)
        stream.layout = "stereo"
        _write_tone(container, stream, seconds)
    return path


def _write_tone(container, stream, duration_s: float) -> None:
    rate = stream.codec_context.sample_rate
    samples = np.arange(int(round(duration_s * rate)))
    tone = (0.2 * np.sin(2 * np.pi * 440.0 * samples / rate)).astype(np.float32)
    chunk = 1024
    for start in range(0, tone.size, chunk):
        part = tone[start : start + chunk]
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(np.stack([part, part])), format="fltp", layout="stereo"
        )
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def packets(path: str | Path, kind: str) -> list[tuple[int | None, int | None, bytes]]:
    """(pts, dts, payload) of every packet of the first stream of `kind`."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [
            (packet.pts, packet.dts, bytes(packet))
            for packet in container.demux(stream)
            if packet.size
        ]


def frame_pts(path: str | Path) -> list[int]:
    """Presentation timestamps of the decoded frames of the first video stream."""
    with av.open(str(path)) as container:
        return [frame.pts for frame in container.decode(video=0)]


def frame_times(path: str | Path) -> list[float]:
    """Presentation times in seconds of the decoded frames of the first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [float(frame.pts * stream.time_base) for frame in container.decode(stream)]


def stream_kinds(path: str | Path) -> list[tuple[str, str | None]]:
    """(type, codec name) of every stream, in index order."""
    with av.open(str(path)) as container:
        return [
            (s.type, s.codec_context.name if s.codec_context is not None else None)
            for s in container.streams
        ]


def decoded_rotation(path: str | Path) -> int:
    """Display rotation of the first decoded video frame (counter-clockwise degrees)."""
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).rotation


def container_metadata(path: str | Path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return dict(container.metadata)


def has_encoder(name: str) -> bool:
    """Whether PyAV's bundled FFmpeg has the encoder ``name``."""
    try:
        return av.Codec(name, "w").is_encoder
    except Exception:  # UnknownCodecError: not built in
        return False


def write_reference(path: str | Path, *, color: bool = True) -> Path:
    """A 64x48 colour reference image (red left half, green right half), or a flat gray one."""
    import cv2

    rgb = np.full((48, 64, 3), 128, np.uint8)
    if color:
        rgb[:, :32] = (200, 40, 40)
        rgb[:, 32:] = (40, 160, 60)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return Path(path)


def garble_video_packets(src: str | Path, dst: str | Path, indices, *, seed: int = 0) -> Path:
    """Copy ``src`` to ``dst`` with the payload of video packets ``indices`` replaced by random bytes.

    ``indices`` count the video packets in file order (a container or ``range``); their sizes
    and timestamps are kept, so the demuxer reads them and only the decoder meets the damage.
    """
    rng = np.random.default_rng(seed)
    wanted = set(indices)
    with av.open(str(src)) as source, av.open(str(dst), "w") as output:
        streams = {s.index: output.add_stream_from_template(s) for s in source.streams}
        video_packets = 0
        for packet in source.demux():
            if not packet.size:
                continue
            target = streams[packet.stream.index]
            if packet.stream.type == "video":
                if video_packets in wanted:
                    garbled = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
                    garbled.pts, garbled.dts, garbled.duration = packet.pts, packet.dts, packet.duration
                    garbled.time_base, garbled.is_keyframe = packet.time_base, packet.is_keyframe
                    packet = garbled
                video_packets += 1
            packet.stream = target
            output.mux(packet)
    return Path(dst)


def decodable_frame_count(path: str | Path) -> int:
    """How many frames FFmpeg decodes from the first video stream, skipping packets it rejects."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                count += len(stream.decode(packet))
            except av.error.InvalidDataError:
                continue
    return count


def make_shot_clip(path: str | Path, shots: int = 3, frames_per_shot: int = 16, *, width: int = 96, height: int = 64,
                   fps: int = 8, seed: int = 0) -> Path:
    """A gray clip of ``shots`` shots of slowly panning random textures (cuts every ``frames_per_shot``
    frames), with a stereo sound track."""
    import cv2

    from vidcolor.media import write_clip

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(shots):
        noise = rng.random((height // 8, width // 8)).astype(np.float32)
        texture = cv2.resize(noise, (width + frames_per_shot * 2, height), interpolation=cv2.INTER_CUBIC)
        gray = (texture.clip(0, 1) * 200 + 20).astype(np.uint8)
        frames += [np.repeat(gray[:, 2 * i : 2 * i + width, None], 3, axis=2) for i in range(frames_per_shot)]
    seconds = len(frames) / fps
    audio = (0.1 * np.sin(np.linspace(0, 440 * 2 * np.pi * seconds, int(48000 * seconds)))).astype(np.float32)
    return write_clip(path, frames, fps, audio=np.stack([audio, audio]))


def write_zero_png(path: str | Path, width: int, height: int) -> Path:
    """A valid 8-bit gray PNG of zeros, compressed a block of rows at a time: a decompression bomb
    (24000x24000 is 560 KB on disk, 576 MB decoded) made without a full-size array."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, rows = zlib.compressobj(9), 1000
    block = bytes((width + 1) * rows)  # each row: filter type 0, then the samples
    parts = [compressor.compress(block) for _ in range(height // rows)]
    parts += [compressor.compress(bytes((width + 1) * (height % rows))), compressor.flush()]
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts))
                           + chunk(b"IEND", b""))
    return Path(path)
