"""Choosing a shot's reference from several of its frames, not only the first. Pure logic on scores.

Each judged frame gives every reference a score: the network's feature match (mean best cosine
similarity, about 0.5 for an unrelated image and 0.9 for the same scene) plus the DIS flow
confidence of carrying the reference onto the frame (the share of the frame it explains, 0-1).
The match alone can prefer a still with a similar layout; the flow confidence prefers the still
that shows the same things in the same places; together they agree with a look at the film.

A shot starts with the reference that scores best on its first frame. The first frames are often
poor evidence (the end of a splice, motion blur, a figure crossing), so every
:data:`JUDGE_EVERY`-th frame of the next :data:`JUDGE_FRAMES` is scored too, and if one reference
leads every other by :data:`SWITCH_MARGIN` over the last :data:`RECENT` scored frames while
another is in use, the shot switches to it, once. A switch is not a cut: the smoother keeps
running, so the colours cross-fade over a few frames instead of jumping.

A dissolve (or a pan into another place) is not a cut either; once the picture has drifted from
the frames the choice was judged on by as much as a cut (:data:`DRIFT`, a
:func:`vidcolor.temporal.cut_score`), judging opens again for one more switch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import temporal

JUDGE_FRAMES = 24
JUDGE_EVERY = 2
RECENT = 3
SWITCH_MARGIN = 0.05
DRIFT = 0.5


def combined_scores(matches: list[float], confidences: list[float]) -> list[float]:
    """Each reference's score for one frame: feature match plus mean flow confidence."""
    return [match + confidence for match, confidence in zip(matches, confidences)]


@dataclass
class ReferenceJudge:
    """The judging of the current shot's reference (part of a clip's state, saved with it)."""

    frames: int = -1  # frames since judging opened; -1: closed
    recent: list[list[float]] = field(default_factory=list)  # scores of the last RECENT judged frames
    switched: bool = False
    anchor: np.ndarray | None = None  # signature of the last frame the choice was judged on
    match_sum: float = 0.0  # the reference in use: its feature match summed over the judged frames
    match_count: int = 0

    def start(self, scores: list[float], matches: list[float]) -> int:
        """A new shot: the reference that scores best on its first frame; judging opens."""
        reference = max(range(len(scores)), key=scores.__getitem__)
        self.frames, self.recent, self.switched = 0, [scores], False
        self.match_sum, self.match_count = matches[reference], 1
        return reference

    def close(self) -> None:
        """No judging (a pinned shot, or a single reference)."""
        self.frames, self.recent, self.anchor = -1, [], None

    def wants(self, signature: np.ndarray | None) -> bool:
        """Advance one frame (``signature``: the frame's, None for a blank one); True if it should be judged."""
        if self.frames < 0:
            if self.anchor is not None and signature is not None and (
                temporal.cut_score(self.anchor, signature) > DRIFT
            ):
                self.frames, self.recent, self.switched = 0, [], False  # the picture moved on: judge again
                return True
            return False
        self.frames += 1
        if self.frames >= JUDGE_FRAMES:
            self.frames = -1
            self.anchor = signature if signature is not None else self.anchor
            return False
        return signature is not None and self.frames % JUDGE_EVERY == 0

    def judge(self, scores: list[float], matches: list[float], reference: int, signature: np.ndarray) -> int | None:
        """A judged frame's scores; returns the reference to switch to, or None to keep ``reference``."""
        self.recent = (self.recent + [scores])[-RECENT:]
        self.anchor = signature
        mean = np.mean(self.recent, axis=0)
        order = np.argsort(-mean, kind="stable")
        best = int(order[0])
        leads = len(mean) < 2 or mean[best] - mean[order[1]] > SWITCH_MARGIN
        if not self.switched and best != reference and leads and len(self.recent) >= min(2, RECENT):
            self.switched = True
            self.match_sum, self.match_count = matches[best], 1
            return best
        self.match_sum += matches[reference]
        self.match_count += 1
        return None

    @property
    def match(self) -> float | None:
        """The reference in use: its mean feature match over the frames it was judged on."""
        return self.match_sum / self.match_count if self.match_count else None

    def state_dict(self) -> dict:
        return {"frames": self.frames, "recent": [list(map(float, s)) for s in self.recent],
                "switched": self.switched, "anchor": self.anchor, "match_sum": self.match_sum,
                "match_count": self.match_count}
