"""Carrying the other streams of an input into an output, interleaved with the new video.

A coloured video keeps its input's audio, subtitles and data: :class:`StreamCopier` copies
their packets untouched (re-encoding audio the container cannot hold), reading them either
from a file of their own or from the queue a :class:`~vidcolor.media.source.VideoSource`
fills while its frames are decoded. :class:`AudioArraySource` does the same job for an
in-memory signal. Packets are muxed as the video advances, so only a few are buffered
whatever the length of the film, and :class:`Muxer` keeps damaged input from failing the run.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .errors import MediaError, MediaWarning, describe_av_error, media_errors
from .info import VideoInfo, codec_name, main_video_stream, open_input
from .source import VideoSource
from .targets import StrPath, display_name, is_stream_target

# Container tags that muxers write themselves; copying them would describe the input file.
_REGENERATED_TAGS = frozenset({"encoder", "major_brand", "minor_version", "compatible_brands"})
_REGENERATED_STREAM_TAGS = frozenset({"encoder", "duration", "handler_name", "vendor_id"})


def packet_seconds(packet: av.Packet) -> float | None:
    """Decoding time of a packet in seconds (what the muxer interleaves by)."""
    ts = packet.dts if packet.dts is not None else packet.pts
    return None if ts is None else float(ts * packet.time_base)


def _copyable_tags(metadata: dict[str, str], regenerated: frozenset[str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k.lower() not in regenerated and not k.startswith("_STATISTICS")}


class Muxer:
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


class StreamCopier:
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
        mux: Muxer,
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
        cls, source: StrPath, output: av.container.OutputContainer, output_path: Path, mux: Muxer
    ) -> StreamCopier:
        """Copy from a file of its own, read a second time beside the video's reader."""
        container = open_input(source)
        try:
            main_video = main_video_stream(container, source).index
        except MediaError:
            main_video = None  # an audio-only source can still lend its audio
        try:
            return cls(
                container, display_name(source), output, output_path, mux, main_video=main_video, owns_input=True
            )
        except BaseException:
            container.close()
            raise

    @classmethod
    def from_source(
        cls, source: VideoSource, output: av.container.OutputContainer, output_path: Path, mux: Muxer
    ) -> StreamCopier:
        """Copy the packets that ``source``'s single demuxer queues while its frames are read."""
        return cls(
            source._container, source.name, output, output_path, mux, main_video=source._video.index,
            next_packet=source._take_other_packet, owns_input=False,
        )

    def _plan(self, stream: av.stream.Stream, output_path: Path) -> None:
        label = f"{output_path.name}: input stream #{stream.index} ({stream.type}, {codec_name(stream)})"
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
        audio_codec = "libopus" if self._output.format.name == "webm" else "aac"
        encoder = av.Codec(audio_codec, "w")
        rate = stream.codec_context.sample_rate
        if encoder.audio_rates and rate not in encoder.audio_rates:
            rate = 48000
        warnings.warn(f"{label} is re-encoded to {audio_codec}: the {self._output.format.name} container cannot hold "
                      f"{codec_name(stream)}", MediaWarning, stacklevel=4)
        reencode = self._output.add_stream(audio_codec, rate=rate)
        reencode.layout = stream.codec_context.layout
        reencode.metadata.update(_copyable_tags(stream.metadata, _REGENERATED_STREAM_TAGS))
        reencode.disposition = stream.disposition
        self._reencodes[stream.index] = reencode

    def advance_to(self, seconds: float | None) -> None:
        """Mux every available source packet up to ``seconds`` (all that are available if None)."""
        with media_errors(self._source_name, "cannot read the streams to copy"):
            while True:
                if self._pending is None:
                    self._pending = self._read_packet()
                    if self._pending is None:
                        break
                    if not self._pending.size or self._pending.stream.index not in (*self._copies, *self._reencodes):
                        self._pending = None  # an end-of-stream marker, or a stream not carried over
                        continue
                packet_time = packet_seconds(self._pending)
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
            self._read_error = describe_av_error(error)
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
        with media_errors(self._source_name, "cannot re-encode audio"):
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


class AudioArraySource:
    """Encodes an in-memory (channels, samples) float32 signal alongside the video.

    Same interface as :class:`StreamCopier`, so the writer interleaves it the same way.
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


def carry_video_metadata(output: av.container.OutputContainer, video: av.video.stream.VideoStream, info: VideoInfo) -> None:
    """The input's display rotation (or matrix) and container tags, on a new output."""
    if info.display_matrix is not None:
        video.set_display_matrix(info.display_matrix)
    elif info.rotation:
        video.set_display_rotation(info.rotation)
    output.metadata.update(_copyable_tags(info.metadata, _REGENERATED_TAGS))
