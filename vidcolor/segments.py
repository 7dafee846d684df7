"""Resumable file output: the video is written as closed segments and joined at the end.

A run writes a parts folder beside the output (``.<output name>.parts/``) holding numbered
video-only segments, each a complete file from its own encoder (so it starts on a keyframe),
the colouring state after the newest segment, and ``manifest.json``, which lists only the
segments that are complete and what the run was (input, model, references, settings). The
manifest is replaced atomically after each segment closes, so whatever stops the run - Ctrl-C,
a crash, a power cut - the folder describes finished work. At the end the segments' packets
are joined without re-encoding, with the input's audio and subtitles copied once, into the
output, and the folder is removed.

Resuming reads the manifest, checks that the run is the same one, restores the saved state and
continues from the first frame after the last complete segment. Segments end at the same
frames whether or not a run was interrupted, and the restored state is the one an
uninterrupted run had there, so the joined result is the same.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .video import EncoderOptions, MediaError, MediaWarning, VideoInfo, VideoWriter, join_segments, plan_segments

# Segment length the command line uses: an interruption loses at most this much work, and a
# keyframe every 30 s costs nothing (x264 puts one every ~10 s anyway).
DEFAULT_SEGMENT_SECONDS = 30.0

_MANIFEST = "manifest.json"
_MANIFEST_VERSION = 1


def parts_folder(output_path: str | os.PathLike) -> Path:
    """Where the segments of ``output_path`` are kept until they are joined."""
    output_path = Path(output_path)
    return output_path.with_name(f".{output_path.name}.parts")


@dataclass(frozen=True)
class SavedProgress:
    """Where an interrupted run stopped: frames done, the pts of the next frame, and the state there.

    ``complete``: every frame was coloured and only the joining was left to do (``next_pts`` is
    then None).
    """

    frames: int
    next_pts: int | None
    state: dict
    complete: bool


def _atomic_write(path: Path, data: bytes) -> None:
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
    segment with the state to save; the segment is closed when the next frame arrives (its
    last frame lasts until then) or by :meth:`close`, which joins everything into the output.
    :meth:`abort` stops, keeping the complete segments.
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
                    f"{self.output_path}: discarding the saved segments of an earlier run (use --resume to continue it)",
                    MediaWarning, stacklevel=2,
                )
            shutil.rmtree(self._folder)
        elif resume:
            warnings.warn(f"{self.output_path}: no saved segments to resume from; starting at the beginning",
                          MediaWarning, stacklevel=2)
        self._folder.mkdir(exist_ok=True)
        self._writer: VideoWriter | None = None
        self._ending_state: dict | None = None  # state saved when the current segment closes
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
            state = torch.load(self._folder / state_file, map_location="cpu", weights_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise MediaError(f"{self._folder}: the saved run cannot be read ({error}); run without --resume") from None
        changed = sorted(k for k in {*manifest.get("run", {}), *self._run}
                         if manifest.get("run", {}).get(k) != self._run.get(k))
        if changed:
            raise MediaError(f"{self.output_path}: the saved run differs in {', '.join(changed)}; "
                             "repeat its command exactly to resume, or run without --resume to start over")
        self._segments, self._state_file = segments, state_file
        self.saved = SavedProgress(self.frames_done, segments[-1]["end_pts"], state, manifest["complete"])

    def write(self, rgb_uint8: np.ndarray, pts: int) -> None:
        """Encode one RGB ``(h, w, 3)`` uint8 frame at ``pts`` (the input's time base)."""
        if self._ending_state is not None:
            self._close_segment(end_pts=pts)
        if self._writer is None:
            name = f"segment_{len(self._segments):05d}.{self._segment_muxer}"
            self._writer = VideoWriter(self._folder / name, self._info, self._encoder, copy_streams_from=None,
                                       container_format=self._segment_muxer)
        self._writer.write(rgb_uint8, pts)
        self._frames_in_segment += 1

    def end_segment(self, state: dict) -> None:
        """The current segment ends with the frame just written; ``state`` is what follows it.

        ``state`` must load with ``torch.load(weights_only=True)`` (tensors, numbers, strings,
        lists and dicts of them).
        """
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
            self._state_file = f"state_{index:05d}.pt"
            state_bytes = io.BytesIO()
            torch.save(self._ending_state, state_bytes)
            _atomic_write(self._folder / self._state_file, state_bytes.getvalue())
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
        """Stop: the open segment is dropped; complete ones are kept for ``--resume`` (warned)."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        if self._segments:
            warnings.warn(
                f"{self.output_path}: {self.frames_done} frames are saved in {self._folder.name}; "
                "run the same command with --resume to continue from there",
                MediaWarning, stacklevel=2,
            )
        else:
            shutil.rmtree(self._folder, ignore_errors=True)
