"""Reading an input once: :class:`VideoSource` decodes frames and queues the other streams.

A single demuxer serves everything, so a pipe or a live stream (which cannot be read
twice) keeps its audio, and a file is read only once. Frames are handled in their coded
orientation and keep their exact timestamps, so variable-frame-rate input stays in sync
with its audio. Damaged input is worked around and reported rather than refused.
"""

from __future__ import annotations

import collections
import itertools
import os
import warnings
from collections.abc import Iterator

import av
import numpy as np

from ..defaults import MAX_VIDEO_PIXELS
from ..errors import megapixels
from .errors import FrameTooLargeError, MediaError, MediaWarning, describe_av_error, media_errors
from .info import VideoInfo, describe_video, main_video_stream, open_input
from .luma import GrayFrame, luma_codes
from .targets import StrPath, display_name, is_stream_target

# Demuxers (FFmpeg names, by prefix) whose duration is stored in the file rather than
# estimated from the bit rate: a file ending well before it was cut short.
_FORMATS_STATING_DURATION = ("matroska", "mov,mp4")


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

    ``max_pixels`` bounds the memory a frame may take: a stream whose frames are larger is
    refused (:class:`FrameTooLargeError`) from its header, before anything is decoded, and so
    is a stream whose frames grow past it mid-way (the decoder is told the limit too, so it
    never allocates a picture far over it). ``timeout_s`` bounds the wait for a network peer
    to connect or to send data (a default applies to URLs); ``low_delay`` trades start-up
    analysis and frame-threaded decoding for latency. Raises MediaError for what cannot be
    read at all.
    """

    def __init__(
        self,
        target: StrPath,
        *,
        keep_other_streams: bool = False,
        timeout_s: float | None = None,
        low_delay: bool = False,
        max_pixels: int = MAX_VIDEO_PIXELS,
    ) -> None:
        self.name = display_name(target)
        self.max_pixels = max_pixels
        self.target = os.fspath(target)
        # The decoders' limit has slack: FFmpeg counts the stride-aligned width (see _check_size).
        decoder_limit = max_pixels + max_pixels // 4 + 4096
        self._container = open_input(target, timeout_s=timeout_s, low_delay=low_delay, max_pixels=decoder_limit)
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
            self._video = main_video_stream(self._container, target)
            # The size the stream declares (0 when the demuxer has not seen it yet: the decoder's
            # limit below still holds).
            self._check_size(self._video.width, self._video.height, "the video's frames are")
            # The decoder refuses to allocate a picture far over the limit; frames just over it are
            # refused as they come out.
            self._video.codec_context.options = {**self._video.codec_context.options, "max_pixels": str(decoder_limit)}
            # Frame threads add one frame of delay per thread; slices do not.
            self._video.thread_type = "SLICE" if low_delay else "AUTO"
            self._decoded = self._decode_all()
            first = next(self._decoded, None)
            if first is None and not self._video.width:
                # Not even the size is known: FFmpeg's probing decoders could not decode a frame
                # either, held to the same limit.
                raise FrameTooLargeError(
                    f"{self.name}: no frame could be decoded: the video is damaged, or its frames are over the "
                    f"{megapixels(max_pixels)} Mpixel accepted"
                )
            if first is None:
                raise MediaError(f"{self.name}: the video stream has no decodable frames")
            self.info = describe_video(self._container, self._video, first, self.target)
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
            self._stopped_at = f"unreadable data ({describe_av_error(error)})"
        except (av.error.FFmpegError, OSError) as error:
            if is_stream_target(self.target):
                raise MediaError(f"{self.name}: connection lost: {describe_av_error(error)}") from error
            self._stopped_at = f"a read error ({describe_av_error(error)})"
        yield from self._decode_packet(None)

    def _decode_packet(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        try:
            return self._video.decode(packet)
        except av.error.FFmpegError:
            # The decoder refuses a picture over max_pixels; it has taken the new size by then.
            context = self._video.codec_context
            self._check_size(context.width, context.height, "mid-stream the frames become")
            return []  # a damaged packet: counted as a missing frame (packets in vs frames out)

    def _check_size(self, width: int, height: int, what: str) -> None:
        if width * height > self.max_pixels:
            raise FrameTooLargeError(
                f"{self.name}: {what} {width}x{height} pixels ({megapixels(width * height)} Mpixel), more than "
                f"the {megapixels(self.max_pixels)} Mpixel accepted"
            )

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
            with media_errors(self.name, "cannot seek"):
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
                self._check_size(frame.width, frame.height, "mid-stream the frames become")
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
            codes, bits, full_range = luma_codes(frame)
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


def probe(path: StrPath) -> VideoInfo:
    """Describe the main video stream of ``path`` and list all its streams.

    Decodes the first frame, because FFmpeg reports the display matrix (rotation) and
    the effective colour range only on frames. Raises MediaError if the file is
    missing, unreadable, not media, or has no decodable video. (A pipe or live stream
    can be read only once: open it as a :class:`VideoSource`, which probes as it reads.)
    """
    with VideoSource(path) as source:
        return source.info


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
