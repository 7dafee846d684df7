"""What a video run did: shots and their references, per-frame colour figures, stage times.

Filled by the per-clip loop (:mod:`vidcolor.clip`) and the runner (:mod:`vidcolor.runner`);
``to_dict()`` is what the command line's ``--report`` writes, ``summary()`` what it prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

# A frame is called muted when the chroma hedge kept less than this share of the network's
# colour: the reference matched it so badly that the model chose near-gray over guessed colours.
MUTED_BELOW = 0.5


@dataclass
class Shot:
    """A run of frames coloured from one reference: its first frame, the reference, and how well
    that reference matched the frames it was judged on (mean best cosine similarity of the
    matching features, about 0.5 for an unrelated image and 0.9 for the same scene).

    ``cut``: the run starts a shot (a scene cut, a pin or the first frame); False where the
    reference changed within a shot (:mod:`vidcolor.judge`), without a cut.
    """

    start: int
    reference: int
    match: float | None = None
    cut: bool = True


@dataclass
class RunReport:
    """What a run did, frame by frame.

    ``scene_cuts`` are the frame indices where a new shot starts (not 0); ``chroma_energy`` is
    each output frame's mean |ab| and ``flicker`` its mean |ab| change from the previous frame
    (Lab units, working resolution, 0 at a shot start); ``colour_kept`` is the share of the
    network's colour each frame kept (the chroma hedge: 1 where the reference matches, lower
    where it does not); ``cdc`` is the output's colour distribution consistency (lower =
    steadier colours), when measured. ``stage_seconds`` is the time spent in each stage (decode
    and encode run in their own threads, so the stages overlap and their sum exceeds the wall
    time). ``resumed_frames`` of the frames were coloured by an interrupted run this one resumed
    (their per-frame figures are restored, not their times).
    """

    frames: int = 0
    shots: list[Shot] = field(default_factory=list)
    chroma_energy: list[float] = field(default_factory=list)
    flicker: list[float] = field(default_factory=list)
    colour_kept: list[float] = field(default_factory=list)
    cdc: float | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    resumed_frames: int = 0

    def timed(self, stage: str, started: float) -> None:
        """Add the time since ``started`` (a ``perf_counter()`` reading) to ``stage``."""
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + time.perf_counter() - started

    @property
    def scene_cuts(self) -> list[int]:
        return [shot.start for shot in self.shots[1:] if shot.cut]

    @property
    def muted_frames(self) -> int:
        """Frames that kept less than :data:`MUTED_BELOW` of the network's colour."""
        return sum(kept < MUTED_BELOW for kept in self.colour_kept)

    def shot_ranges(self) -> list[tuple[Shot, int]]:
        """Each shot with its frame count."""
        ends = [shot.start for shot in self.shots[1:]] + [self.frames]
        return [(shot, end - shot.start) for shot, end in zip(self.shots, ends)]

    def summary(self, reference_names: list[str] | None = None) -> str:
        """A few lines for people: the shots, the reference of each, and how much came out muted."""
        lines = []
        for shot, count in self.shot_ranges():
            name = reference_names[shot.reference] if reference_names else f"reference {shot.reference}"
            match = f" (match {shot.match:.2f})" if shot.match is not None else ""
            muted = sum(kept < MUTED_BELOW for kept in self.colour_kept[shot.start : shot.start + count])
            muted_text = f", {muted} muted" if muted else ""
            switch = "" if shot.cut else ", switched to within the shot"
            lines.append(f"  frames {shot.start}-{shot.start + count - 1}: {name}{match}{switch}{muted_text}")
        shots = sum(shot.cut for shot in self.shots)
        head = f"{shots} shot{'s' if shots != 1 else ''}"
        if self.muted_frames:
            head += (f"; {self.muted_frames} of {self.frames} frames came out muted (nearly gray) because"
                     " the reference does not show what they show")
        return "\n".join([head, *lines])

    def to_dict(self) -> dict:
        return {
            "frames": self.frames,
            "resumed_frames": self.resumed_frames,
            "shots": [{"start": s.start, "reference": s.reference, "match": s.match, "cut": s.cut} for s in self.shots],
            "scene_cuts": self.scene_cuts,
            "muted_frames": self.muted_frames,
            "cdc": self.cdc,
            "mean_flicker": float(np.mean(self.flicker)) if self.flicker else 0.0,
            "stage_seconds": self.stage_seconds,
            "chroma_energy": self.chroma_energy,
            "flicker": self.flicker,
            "colour_kept": self.colour_kept,
        }
