"""A film's shots and one still of each: the keyframe workflow colourists use.

    vidcolor shots movie.mp4 --out keyframes/     # shot_000_f000000_t0000.00.png ... + shots.json
    (colour the stills in any tool; keep their names, any image format)
    vidcolor movie.mp4 --reference keyframes/     # each shot from its own still, no matching

:func:`find_shots` reads the film once at the working size and runs the colouring run's own cut
detector (:class:`vidcolor.temporal.CutDetector`), so the shots are the ones a colouring run
finds. Each shot's still is its most representative frame: the one whose signature (layout ranks
and edges) is nearest the shot's mean, never a blank frame, so not a flash, a frame of a fade or
the blur of a whip pan. :func:`write_keyframes` reads the film again and writes those frames as
they are stored (full resolution, coded orientation), then ``shots.json``; a still's name carries
its SHOT's number, first frame and start time, which is all :func:`keyframe_pins` needs (with or
without ``shots.json``) to pin each coloured still to its shot.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import defaults, temporal
from .colorizer import working_shape
from .errors import VidcolorError
from .images import write_image
from .media import VideoSource
from .runner import frames_lightness

SHOTS_FILE = "shots.json"
_STILL_NAME = re.compile(r"^shot_(\d+)_f(\d+)_t(\d+(?:\.\d+)?)$")
_READ_BATCH = 16


@dataclass(frozen=True)
class ShotInfo:
    """One shot: frames ``start`` to ``end`` (excluded), its still ``keyframe`` and the still's file name."""

    shot: int
    start: int
    end: int
    start_time: float
    keyframe: int
    keyframe_time: float
    still: str


def still_name(shot: int, start: int, start_time: float) -> str:
    """``shot_002_f000134_t0004.62.png``: the shot's number, first frame and start time (seconds)."""
    return f"shot_{shot:03d}_f{start:06d}_t{start_time:07.2f}.png"


def _working_frames(source: VideoSource, work_size: int) -> Iterator[tuple[int, float, np.ndarray]]:
    """``(frame number, seconds, working-resolution lightness (h, w))`` for every frame, as a colouring run sees it."""
    frames = source.gray_frames()
    index = 0
    while batch := [frame for _, frame in zip(range(_READ_BATCH), frames)]:
        lightness = frames_lightness(batch)
        shape = working_shape(*lightness.shape[-2:], work_size)
        work = F.interpolate(lightness, size=shape, mode="area")[:, 0].numpy()
        for frame, frame_work in zip(batch, work):
            yield index, (frame.time or 0.0) - (source.start_time or 0.0), frame_work
            index += 1


def _representative(frames: list[int], signatures: list[np.ndarray | None]) -> int:
    """The frame whose signature is nearest the mean of the shot's informative frames.

    Among frames within 5% of the nearest, the one nearest the shot's middle: away from the
    transitions at its ends.
    """
    informative = [(f, s) for f, s in zip(frames, signatures) if s is not None]
    middle = frames[len(frames) // 2]
    if not informative:
        return middle
    stacked = np.stack([s for _, s in informative])
    distances = np.abs(stacked - stacked.mean(axis=0)).sum(axis=1)
    near = [f for (f, _), d in zip(informative, distances) if d <= 1.05 * distances.min()]
    return min(near, key=lambda f: abs(f - middle))


def find_shots(path: str | Path, work_size: int = defaults.WORK_SIZE) -> list[ShotInfo]:
    """The shots of a video file and the frame of each that best represents it."""
    detector = temporal.CutDetector()
    shots: list[ShotInfo] = []
    start, start_time, times = 0, 0.0, []
    frames: list[int] = []
    signatures: list[np.ndarray | None] = []

    def close(end: int) -> None:
        keyframe = _representative(frames, signatures)
        shots.append(ShotInfo(len(shots), start, end, round(start_time, 3), keyframe,
                              round(times[keyframe - start], 3), still_name(len(shots), start, start_time)))

    with torch.inference_mode(), VideoSource(path, keep_other_streams=False) as source:
        for index, seconds, lightness in _working_frames(source, work_size):
            signature = temporal.frame_signature(lightness)
            if detector.update_signature(signature) and index > 0:
                close(index)
                start, start_time, times, frames, signatures = index, seconds, [], [], []
            times.append(seconds)
            frames.append(index)
            # The layout ranks and edges: the part that is the same under any exposure.
            signatures.append(signature[temporal.LAYOUT_CELLS :] if detector.compared else None)
        if frames:
            close(frames[-1] + 1)
    if not shots:
        raise VidcolorError(f"{path}: the video has no frames")
    return shots


def write_keyframes(path: str | Path, shots: list[ShotInfo], folder: str | Path, work_size: int) -> Path:
    """Write each shot's still (the frame as stored, gray) and ``shots.json`` into ``folder``; returns the JSON's path.

    Each file appears under its name only when complete; ``shots.json`` is written last.
    """
    folder = Path(folder)
    wanted = {shot.keyframe: shot for shot in shots}
    with VideoSource(path, keep_other_streams=False) as source:
        for index, frame in enumerate(source.gray_frames()):
            shot = wanted.get(index)
            if shot is not None:
                gray = np.round(frame.gray * 255.0).astype(np.uint8)
                write_image(folder / shot.still, np.repeat(gray[..., None], 3, axis=2))
            if index >= max(wanted):
                break
        info = source.info
    payload = {
        "video": Path(path).name,
        "frames": shots[-1].end,
        "fps": float(info.fps) if info.fps else None,
        "work_size": work_size,
        "shots": [asdict(shot) for shot in shots],
    }
    target = folder / SHOTS_FILE
    tmp = folder / f".{SHOTS_FILE}.partial"
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, target)
    return target


def keyframe_pins(folder: str | Path) -> list[tuple[int, Path | None]] | None:
    """A keyframe folder's shots: ``(first frame, coloured still or None)`` per shot; None if ``folder`` is not one.

    The shots come from ``shots.json`` when there is one, else from the stills' names. A still
    is found by its name with any image extension (a colourist may save it as JPEG); a shot
    without one gets None (it chooses among the stills that are there).
    """
    folder = Path(folder)
    images = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in defaults.IMAGE_SUFFIXES}
    listing = folder / SHOTS_FILE
    if listing.is_file():
        try:
            shots = json.loads(listing.read_text())["shots"]
            starts = [(int(s["start"]), Path(s["still"]).stem) for s in shots]
        except (ValueError, KeyError, TypeError) as exc:
            raise VidcolorError(f"{listing}: not a shot list written by `vidcolor shots` ({exc})") from exc
    else:
        named = [(_STILL_NAME.match(stem), stem) for stem in images]
        if not named or not all(found for found, _ in named):
            return None
        starts = sorted((int(found.group(2)), stem) for found, stem in named)
    pins = [(start, images.get(stem)) for start, stem in starts]
    if not any(still for _, still in pins):
        raise VidcolorError(f"{folder}: the keyframe folder holds none of its stills")
    return pins
