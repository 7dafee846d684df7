"""One film in chunks that can be coloured apart (on other machines) and joined into one run's output.

1. :func:`scan_video` reads the film once at the working size and runs the clip loop's own cut
   detection (:func:`vidcolor.clip.shot_starts`), keeping every frame's pts and the detector's
   state just before each scene cut (and every few frames, for splits inside a long shot).
2. :func:`plan_chunks` splits the frames at scene cuts where it can. At a cut the smoother
   restarts and the shot's reference is chosen afresh, and a chunk starts from the detector's
   saved state, so each chunk colours its frames exactly as one uninterrupted run does. A shot
   longer than a chunk is split inside with a warm-up: the chunk's worker colours
   ``warmup_frames`` frames before its start and throws them away, so that the smoother's state
   is close to (not exactly) the uninterrupted run's.
3. :func:`colour_chunk` writes a chunk's frames as a video-only segment (the segment encoding of
   a resumable run: :func:`vidcolor.media.plan_segments`); :func:`join_chunks` joins the
   segments without re-encoding and copies the audio and subtitles once from the original.

No scheduling here: :mod:`vidcolor.batch` runs chunks on Ray; :func:`colorize_in_chunks` runs
them one after another (what the tests compare with an uninterrupted run).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import temporal
from .clip import ClipState, ReferencePin, shot_starts
from .colorizer import Colorizer
from .media import VideoInfo, VideoSource, VideoWriter, join_segments, plan_segments, probe
from .report import RunReport
from .runner import VideoOptions, colorize_frames, frames_lightness

# The detector's state is kept every this many frames, for splits inside a long shot.
_SNAPSHOT_EVERY = 8


@dataclass
class Scan:
    """What :func:`scan_video` learnt of a film: every frame's pts, the cuts, and saved states.

    ``states[i]`` is ``(detector, pin)`` just before frame ``i``, for every cut ``i`` and every
    ``_SNAPSHOT_EVERY``-th frame.
    """

    info: VideoInfo
    pts: list[int]
    cuts: list[int]
    states: dict[int, tuple[temporal.CutDetector, int | None]] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return len(self.pts)


@dataclass(frozen=True)
class Chunk:
    """Frames ``start`` to ``end`` (excluded); decoding starts at ``warmup_start`` (= start at a cut)."""

    index: int
    start: int
    end: int
    warmup_start: int
    start_pts: int
    warmup_pts: int
    end_pts: int | None  # the next chunk's first pts: the last frame's duration; None at the end
    detector: temporal.CutDetector | None  # the state before warmup_start (None: the film's start)
    pin: int | None

    @property
    def exact(self) -> bool:
        """Whether the chunk's frames equal an uninterrupted run's (it starts at a cut or at 0)."""
        return self.warmup_start == self.start

    @property
    def name(self) -> str:
        return f"chunk_{self.index:05d}_{self.start:08d}_{self.end:08d}"


def scan_video(path: str | Path, colorizer: Colorizer, pins: Sequence[ReferencePin] = ()) -> Scan:
    """Read the film once: pts, scene cuts and the detector's state where chunks may start."""
    detector, pin = temporal.CutDetector(), None
    pts: list[int] = []
    cuts: list[int] = []
    states: dict[int, tuple[temporal.CutDetector, int | None]] = {}
    with VideoSource(path, keep_other_streams=False) as source:
        info = source.info
        frames = source.gray_frames()
        while batch := list(itertools.islice(frames, 16)):
            lightness_work = colorizer.working_lightness(frames_lightness(batch))[:, 0].cpu().numpy()
            for frame, frame_work in zip(batch, lightness_work):
                index = len(pts)
                before = (copy.deepcopy(detector), pin)
                starts, pin = shot_starts(detector, frame_work[None], [frame.time - source.start_time], pins, pin,
                                          first_frame=index)
                if index and starts[0] is not None:
                    cuts.append(index)
                    states[index] = before
                elif index % _SNAPSHOT_EVERY == 0:
                    states[index] = before
                pts.append(frame.pts)
    return Scan(info, pts, cuts, states)


def plan_chunks(scan: Scan, chunk_frames: int, warmup_frames: int = 16) -> list[Chunk]:
    """Split the film into chunks of about ``chunk_frames`` frames, at scene cuts where possible.

    A chunk ends at the first cut at least ``chunk_frames / 2`` frames after its start; with no
    cut before ``1.5 * chunk_frames`` it ends there instead (a split with a warm-up).
    """
    starts = [0]
    cuts = [c for c in scan.cuts if 0 < c < scan.frames]
    while True:
        begin = starts[-1]
        at_cut = next((c for c in cuts if c >= begin + chunk_frames // 2), None)
        if at_cut is not None and at_cut <= begin + chunk_frames * 3 // 2:
            starts.append(at_cut)
        elif scan.frames - begin > chunk_frames * 3 // 2:
            starts.append(begin + chunk_frames)
        else:
            break
    chunks = []
    for index, (start, end) in enumerate(zip(starts, [*starts[1:], scan.frames])):
        warmup_start = start if start == 0 or start in cuts else _snapshot_before(scan, start - warmup_frames)
        detector, pin = scan.states[warmup_start] if warmup_start else (None, None)
        chunks.append(Chunk(
            index, start, end, warmup_start, scan.pts[start], scan.pts[warmup_start],
            scan.pts[end] if end < scan.frames else None, detector, pin,
        ))
    return chunks


def _snapshot_before(scan: Scan, frame: int) -> int:
    """The latest frame at or before ``frame`` with a saved state."""
    return max(i for i in scan.states if i <= max(frame, 0)) if frame > 0 else 0


class _DropFirst:
    """A writer that passes frames on after dropping the first ``count`` (a chunk's warm-up)."""

    def __init__(self, writer: VideoWriter, count: int):
        self.writer, self.count = writer, count

    def write(self, picture, pts: int) -> None:
        if self.count:
            self.count -= 1
            return
        self.writer.write(picture, pts)


def colour_chunk(
    input_path: str | Path, chunk: Chunk, segment_path: str | Path, colorizer: Colorizer, options: VideoOptions,
    output_path: str | Path,
) -> RunReport:
    """Colour one chunk into ``segment_path`` (video only; appears only when complete).

    ``output_path`` is the film's final output: the segment is encoded as it will be stored there.
    """
    with VideoSource(input_path, keep_other_streams=False) as source:
        encoder, muxer = plan_segments(output_path, source.info, options.encoder())
        source.start_at(chunk.warmup_pts)
        state = ClipState(detector=copy.deepcopy(chunk.detector) if chunk.detector else temporal.CutDetector(),
                          pin=chunk.pin)
        writer = VideoWriter(segment_path, source.info, encoder, copy_streams_from=None, container_format=muxer)
        try:
            report = colorize_frames(source, _DropFirst(writer, chunk.start - chunk.warmup_start), colorizer, options,
                                     state, frame_count=chunk.end - chunk.warmup_start, first_frame=chunk.warmup_start)
            writer.close(chunk.end_pts)
        except BaseException:
            writer.abort()
            raise
    return report


def join_chunks(segments: Sequence[str | Path], output_path: str | Path, input_path: str | Path) -> None:
    """Join the chunks' segments into ``output_path``, with the input's audio and subtitles copied once."""
    join_segments(segments, output_path, probe(input_path), copy_streams_from=input_path)


def colorize_in_chunks(
    input_path: str | Path, output_path: str | Path, colorizer: Colorizer, options: VideoOptions,
    chunk_frames: int, work_folder: str | Path,
) -> list[Chunk]:
    """Colour a film chunk after chunk in this process (what a cluster does in parallel); returns the chunks."""
    scan = scan_video(input_path, colorizer, options.pins)
    chunks = plan_chunks(scan, chunk_frames)
    _, muxer = plan_segments(output_path, scan.info, options.encoder())
    segments = [Path(work_folder) / f"{chunk.name}.{muxer}" for chunk in chunks]
    for chunk, segment in zip(chunks, segments):
        colour_chunk(input_path, chunk, segment, colorizer, options, output_path)
    join_chunks(segments, output_path, input_path)
    return chunks
