"""Resumable file output: the video is written as closed segments and joined at the end.

A run writes a parts folder beside the output (``.<output name>.parts/``) holding numbered
video-only segments, each a complete file from its own encoder (so it starts on a keyframe),
the colouring state after the newest segment (bytes the caller serialised; this layer does not
look inside them), and ``manifest.json``, which lists only the segments that are complete and
what the run was (input, model, references, settings). The manifest is replaced atomically
after each segment closes, so whatever stops the run - Ctrl-C, a crash, a power cut - the
folder describes finished work. At the end the segments' packets are joined without
re-encoding, with the input's audio and subtitles copied once, into the output, and the
folder is removed.

Resuming reads the manifest, checks that the run is the same one and hands back the saved
state, from which the caller continues with the first frame after the last complete segment.
Segments end at the same frames whether or not a run was interrupted, and the restored state
is the one an uninterrupted run had there, so the joined result is the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import shutil
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .encoder import MUXER_OPTIONS, EncoderOptions, Yuv420Planes, add_video_stream, container_accepts, output_muxer
from .errors import MediaError, MediaWarning, media_errors
from .info import VideoInfo
from .streamcopy import Muxer, StreamCopier, carry_video_metadata, packet_seconds
from .targets import StrPath
from .writer import VideoWriter, partial_path, remove_quietly

_MANIFEST = "manifest.json"
# Version 2: the state after a segment is the caller's opaque bytes, saved as state_NNNNN.bin.
_MANIFEST_VERSION = 2

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
    muxer = output_muxer(path, None)
    with av.open(io.BytesIO(), "w", format=muxer) as trial:
        stream = add_video_stream(trial, path, options, info.width, info.height, info.fps, info.time_base)
        resolved = dataclasses.replace(options, codec=stream.codec_context.name, pix_fmt=stream.pix_fmt)
    for segment_muxer in _SEGMENT_MUXERS:
        with av.open(io.BytesIO(), "w", format=segment_muxer) as trial:
            if container_accepts(trial, resolved.codec):
                return resolved, segment_muxer
    raise MediaError(f"{path}: the {resolved.codec} encoder cannot be written in segments; write the video in one piece")


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
    temp_path = partial_path(output_path)
    muxer = output_muxer(output_path, None)
    output: av.container.OutputContainer | None = None
    copier: StreamCopier | None = None
    try:
        with media_errors(output_path, "cannot create the output"):
            output = av.open(os.fspath(temp_path), "w", format=muxer, options=dict(MUXER_OPTIONS.get(muxer, {})))
            with av.open(os.fspath(segments[0])) as first:
                video = output.add_stream_from_template(first.streams.video[0])
            carry_video_metadata(output, video, info)
        mux = Muxer(output)
        if copy_streams_from is not None:
            copier = StreamCopier.from_path(copy_streams_from, output, output_path, mux)
        for segment in segments:
            _copy_segment(segment, video, output_path, mux, copier)
        with media_errors(output_path, "cannot write the video"):
            if copier is not None:
                copier.finish()
            output.close()
        os.replace(temp_path, output_path)
        mux.warn_refused(output_path)
    except BaseException:
        if output is not None:
            with contextlib.suppress(Exception):
                output.close()
        remove_quietly(temp_path)
        raise
    finally:
        if copier is not None:
            copier.close()


def _copy_segment(
    segment: Path, video: av.video.stream.VideoStream, output_path: Path, mux: Muxer, copier: StreamCopier | None
) -> None:
    """Mux the video packets of one segment as ``video``, with the other streams up to each."""
    with media_errors(segment, "cannot read a saved segment"), av.open(os.fspath(segment)) as part:
        for packet in part.demux(part.streams.video[0]):
            if not packet.size:
                continue
            packet.stream = video
            with media_errors(output_path, "cannot write the video"):
                if copier is not None:
                    copier.advance_to(packet_seconds(packet))
                mux(packet)


def parts_folder(output_path: str | os.PathLike) -> Path:
    """Where the segments of ``output_path`` are kept until they are joined."""
    output_path = Path(output_path)
    return output_path.with_name(f".{output_path.name}.parts")


@dataclass(frozen=True)
class SavedProgress:
    """Where an interrupted run stopped: frames done, the pts of the next frame, and the state there.

    ``state`` is the bytes given to :meth:`SegmentedOutput.end_segment` for the last complete
    segment, exactly as they were saved (what they mean is the caller's business).
    ``complete``: every frame was coloured and only the joining was left to do (``next_pts`` is
    then None).
    """

    frames: int
    next_pts: int | None
    state: bytes
    complete: bool


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step: a reader sees the old file or the new one, never a part."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


class SegmentedOutput:
    """Writes a video file in segments that the caller ends (see the module notes).

    ``run`` describes the run (JSON-able: input file, model, references, settings); a
    resumed run must describe itself identically. The audio, subtitle and data streams of
    ``copy_streams_from`` (a file) are copied when the segments are joined. With ``resume``,
    :attr:`saved` is the progress to continue from (None when there is none: the run starts
    from the beginning). Without it, segments of an earlier run are discarded (warned).

    Call :meth:`write` for each frame and :meth:`end_segment` after the last frame of each
    segment with the state to save (opaque bytes, e.g. a serialised colouring state); the
    segment is closed when the next frame arrives (its last frame lasts until then) or by
    :meth:`close`, which joins everything into the output. :meth:`abort` stops, keeping the
    complete segments.
    """

    def __init__(
        self,
        output_path: str | os.PathLike,
        info: VideoInfo,
        encoder: EncoderOptions,
        run: dict,
        *,
        copy_streams_from: str | os.PathLike | None,
        resume: bool = False,
    ) -> None:
        self.output_path = Path(output_path)
        self._copy_streams_from = copy_streams_from
        self._info = info
        self._encoder, self._segment_muxer = plan_segments(self.output_path, info, encoder)
        self._folder = parts_folder(self.output_path)
        self._run = json.loads(json.dumps(run))  # as it reads back from the manifest
        self._segments: list[dict] = []
        self._state_file: str | None = None
        self.saved: SavedProgress | None = None
        if resume and (self._folder / _MANIFEST).is_file():
            self._load()
        elif self._folder.exists():
            if not resume:
                warnings.warn(
                    f"{self.output_path}: discarding the saved segments of an earlier run "
                    "(resume the run to continue it instead)",
                    MediaWarning, stacklevel=2,
                )
            shutil.rmtree(self._folder)
        elif resume:
            warnings.warn(f"{self.output_path}: no saved segments to resume from; starting at the beginning",
                          MediaWarning, stacklevel=2)
        self._folder.mkdir(exist_ok=True)
        self._writer: VideoWriter | None = None
        self._ending_state: bytes | None = None  # state saved when the current segment closes
        self._frames_in_segment = 0

    @property
    def frames_done(self) -> int:
        """Frames in complete segments."""
        return sum(segment["frames"] for segment in self._segments)

    def _load(self) -> None:
        try:
            manifest = json.loads((self._folder / _MANIFEST).read_text())
            if manifest.get("version") != _MANIFEST_VERSION:
                raise ValueError("unknown version")
            segments, state_file = manifest["segments"], manifest["state"]
            state = (self._folder / state_file).read_bytes()
        except (OSError, ValueError, KeyError) as error:
            raise MediaError(
                f"{self._folder}: the saved run cannot be read ({error}); start the run over without resuming"
            ) from None
        changed = sorted(k for k in {*manifest.get("run", {}), *self._run}
                         if manifest.get("run", {}).get(k) != self._run.get(k))
        if changed:
            raise MediaError(f"{self.output_path}: the saved run differs in {', '.join(changed)}; "
                             "resume it with exactly the same input, model, references and settings, "
                             "or start the run over without resuming")
        self._segments, self._state_file = segments, state_file
        self.saved = SavedProgress(self.frames_done, segments[-1]["end_pts"], state, manifest["complete"])

    def write(self, picture: np.ndarray | Yuv420Planes, pts: int) -> None:
        """Encode one picture (RGB ``(h, w, 3)`` uint8, or :class:`Yuv420Planes`) at ``pts`` (the input's time base)."""
        if self._ending_state is not None:
            self._close_segment(end_pts=pts)
        if self._writer is None:
            name = f"segment_{len(self._segments):05d}.{self._segment_muxer}"
            self._writer = VideoWriter(self._folder / name, self._info, self._encoder, copy_streams_from=None,
                                       container_format=self._segment_muxer)
        self._writer.write(picture, pts)
        self._frames_in_segment += 1

    def end_segment(self, state: bytes) -> None:
        """The current segment ends with the frame just written; ``state`` is what follows it.

        ``state`` is opaque bytes (the caller serialises its own state): they are saved beside
        the segment when it closes and come back unchanged as :attr:`SavedProgress.state`.
        """
        if not isinstance(state, bytes):
            raise TypeError(f"end_segment() takes the state as bytes, not {type(state).__name__}")
        self._ending_state = state

    def _close_segment(self, end_pts: int | None) -> None:
        """Close the current segment, save the state after it, and list it in the manifest.

        ``end_pts`` is the next segment's first pts; None for the input's last segment.
        """
        name = self._writer.output_path.name
        self._writer.close(end_pts)
        self._writer = None
        index = len(self._segments)
        previous_state = self._state_file
        if self._ending_state is not None:
            self._state_file = f"state_{index:05d}.bin"
            _atomic_write(self._folder / self._state_file, self._ending_state)
        self._segments.append({"file": name, "frames": self._frames_in_segment, "end_pts": end_pts})
        manifest = {"version": _MANIFEST_VERSION, "run": self._run, "segments": self._segments,
                    "state": self._state_file, "complete": end_pts is None}
        _atomic_write(self._folder / _MANIFEST, json.dumps(manifest, indent=1).encode())
        if previous_state is not None and previous_state != self._state_file:
            (self._folder / previous_state).unlink(missing_ok=True)
        self._ending_state, self._frames_in_segment = None, 0

    def close(self) -> None:
        """Close the last segment and join all of them, with the other streams, into the output."""
        if self._writer is not None:
            self._close_segment(end_pts=None)
        if not self._segments:
            raise MediaError(f"{self.output_path}: no video frames were written")
        join_segments([self._folder / s["file"] for s in self._segments], self.output_path, self._info,
                      self._copy_streams_from)
        shutil.rmtree(self._folder, ignore_errors=True)

    def abort(self) -> None:
        """Stop: the open segment is dropped; complete ones are kept for resuming (warned)."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        if self._segments:
            warnings.warn(
                f"{self.output_path}: {self.frames_done} frames are saved in {self._folder.name}; "
                "resume the run to continue from there",
                MediaWarning, stacklevel=2,
            )
        else:
            shutil.rmtree(self._folder, ignore_errors=True)
