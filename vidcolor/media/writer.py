"""Writing a coloured video: :class:`VideoWriter` encodes RGB frames beside the input's other streams.

The output keeps the input's timing (every frame's pts, variable frame rate included),
display rotation, metadata, audio and subtitles. A file output appears under its name
only when complete; pipes and URLs are written as the frames come.
"""

from __future__ import annotations

import contextlib
import enum
import os
from pathlib import Path

import av
import numpy as np

from .encoder import MUXER_OPTIONS, EncoderOptions, EncoderFrames, Yuv420Planes, add_video_stream, output_muxer
from .errors import MediaError, media_errors
from .info import VideoInfo
from .source import VideoSource
from .streamcopy import AudioArraySource, Muxer, StreamCopier, carry_video_metadata, packet_seconds
from .targets import StrPath, display_name, ffmpeg_url, is_stream_target, timeout_for

class _Sentinel(enum.Enum):
    """Default of ``copy_streams_from``: the input named by ``info.path`` (None means no streams)."""

    INFO_PATH = enum.auto()


def _muxer_options(muxer: str, *, streaming: bool) -> dict[str, str]:
    """The options the output's muxer is opened with."""
    options = dict(MUXER_OPTIONS.get(muxer, {}))
    if streaming:
        # Hand every packet to the pipe or socket at once: readers see frames as they are made.
        options["flush_packets"] = "1"
        if muxer == "mpegts":
            # With its length in the PES header, a reader can hand a video packet on as
            # soon as it arrives, instead of when the next one starts (a frame later).
            options["omit_video_pes_length"] = "0"
    return options


def partial_path(output_path: Path) -> Path:
    """The temporary name a file output is written under until it is complete."""
    return output_path.with_name(f".{output_path.name}.partial")


def remove_quietly(path: Path) -> None:
    """Delete ``path`` if it exists."""
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
    written as the frames come and need a streamable format
    (:data:`vidcolor.defaults.STREAM_FORMATS`; URL schemes imply one); a failure there
    leaves a cut stream, which readers of such streams expect.

    The video stream has the input's size, time base, frame rate and display matrix and
    every frame keeps the pts it is given, so frame count, timestamps and duration match
    the input (variable frame rate included). Audio, subtitle and data streams of
    ``copy_streams_from`` (default ``info.path``; a :class:`VideoSource` to share its
    single read, which a pipe or live input needs; None for none) are copied packet
    for packet; see :class:`~vidcolor.media.streamcopy.StreamCopier` for what happens
    when the container cannot take them. Container metadata (title, ...) is kept.

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
        self.output_path = Path(display_name(output_path, writing=True))
        self._info = info
        self._temp_path = None if self._streaming else partial_path(self.output_path)
        self._output: av.container.OutputContainer | None = None
        self._copier: StreamCopier | None = None
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
            muxer = output_muxer(output_path, container_format)
            muxer_options = _muxer_options(muxer, streaming=self._streaming)
            with media_errors(self.output_path, "cannot create the output"):
                self._output = av.open(
                    os.fspath(self._temp_path) if self._temp_path else ffmpeg_url(output_path, writing=True),
                    "w", format=muxer, options=muxer_options, timeout=timeout_for(output_path, timeout_s),
                )
                self._video = add_video_stream(
                    self._output, self.output_path, options, info.width, info.height, info.fps, info.time_base
                )
                carry_video_metadata(self._output, self._video, info)
            self._muxer = Muxer(self._output)
            if isinstance(source, VideoSource):
                self._copier = StreamCopier.from_source(source, self._output, self.output_path, self._muxer)
            elif source is not None:
                self._copier = StreamCopier.from_path(source, self._output, self.output_path, self._muxer)
            self._to_frame = EncoderFrames(self._video)
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

    def write(self, picture: np.ndarray | Yuv420Planes, pts: int | None = None) -> None:
        """Encode one picture at ``pts`` (input time base): ``(h, w, 3)`` uint8 RGB, or
        :class:`Yuv420Planes` (passed to a 4:2:0 encoder as they are, converted for any other).

        Without ``pts`` the frame follows the previous one by one nominal frame duration.
        The frame is converted at once but encoded when the next one arrives, because
        its duration (which the encoder does not pass on) is the gap to the next pts.
        """
        if self._finished:
            raise ValueError("write() on a closed VideoWriter")
        last_pts = None if self._held is None else self._held.pts
        if pts is None:
            pts = 0 if last_pts is None else last_pts + self._frame_ticks
        elif last_pts is not None and pts <= last_pts:
            raise ValueError(f"frame pts must increase: got {pts} after {last_pts}")
        frame = self._to_frame(picture)
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
        with media_errors(self.output_path, "cannot encode or write the video"):
            for packet in self._video.encode(frame):
                packet.duration = self._durations.pop(packet.pts, 0)
                if self._copier is not None:
                    self._copier.advance_to(packet_seconds(packet))
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
            with media_errors(self.output_path, "cannot encode or write the video"):
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

    def _attach_side_streams(self, source: StreamCopier | AudioArraySource) -> None:
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
            remove_quietly(self._temp_path)


# ----------------------------------------------------------------------------- segments

# Containers tried, in order, for the segments of a resumable output. MOV and MP4 keep the
