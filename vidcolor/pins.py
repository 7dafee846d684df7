"""Pinned references: which reference colours which part of a clip, by time or by frame number.

A pin says "reference ``index`` from here on". Its place is a time in seconds from the first
frame, or a frame number (a :class:`FramePosition`, written ``#134=IMAGE`` on the command line;
a keyframe folder pins each still to its shot's first frame this way). Index -1 means "no
still for this shot: choose among the references as without pins".

Pins snap back to scene cuts: a cut up to :data:`SNAP_FRAMES` frames (or :data:`SNAP_SECONDS`)
before a pin starts the pinned reference at the cut. A time typed while watching the film is
often a frame or two after the cut (the player shows the first frame of the new shot at a
rounded time), and a shot should start with its own reference, not take it a frame in. A pin
with no cut just before it applies at its own time exactly (snapping forward to a cut a frame
or two after a pin would mean holding every pin back that long). The decision needs no state
but the pin in force, so a resumed or chunked run decides exactly as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import VidcolorError

SNAP_FRAMES = 3
SNAP_SECONDS = 0.125  # 3 frames at 24 fps, 3.75 at 30


class FramePosition(int):
    """A pin's place given as a frame number (0 = the first frame), not as a time."""

    def __repr__(self) -> str:
        return f"#{int(self)}"


@dataclass(frozen=True)
class ReferencePin:
    """Use reference ``index`` from ``seconds`` on (until the next pin).

    ``seconds`` may be a :class:`FramePosition`: from that frame on. ``index`` -1: the shots
    from here on choose their reference among all (as without pins).
    """

    seconds: float
    index: int

    @property
    def frame(self) -> int | None:
        """The pin's frame number, for a pin placed by frame; None for a pin placed by time."""
        return int(self.seconds) if isinstance(self.seconds, FramePosition) else None


def check_pins(pins: Sequence[ReferencePin]) -> None:
    """Pins are all placed by time or all by frame number (a mix has no order without the frame rate)."""
    if len({pin.frame is None for pin in pins}) > 1:
        raise VidcolorError("pins are placed either all by time or all by frame number, not both")


def pinned_reference(pins: Sequence[ReferencePin], seconds: float | None, frame: int | None = None) -> int | None:
    """The reference pinned at a frame: the last pin at or before it (before the first pin: the first).

    ``seconds`` is the frame's time and ``frame`` its number; None where the pins' kind of place
    is unknown (time pins and no times: no pin applies, None is returned).
    """
    if not pins:
        return None
    by_frame = pins[0].frame is not None
    where = frame if by_frame else seconds
    if where is None:
        return None
    ordered = sorted(pins, key=lambda pin: pin.seconds)
    chosen = ordered[0].index
    for pin in ordered:
        if pin.seconds <= where:
            chosen = pin.index
    return chosen


def pin_at(
    pins: Sequence[ReferencePin], seconds: float | None, frame: int, cut: bool, current: int | None
) -> int | None:
    """The pin in force at a frame (``frame``: its number, ``seconds``: its time), with snapping.

    ``current`` is the pin in force before this frame. At a scene cut every pin due within the
    next few frames applies at once; elsewhere a pin applies when it is due, and a pin that a
    cut applied early stays. (A pin due less than a snap after the one in force, with no cut
    near, is passed over: it would have coloured only a frame or two.)
    """
    if not pins:
        return None
    soon = pinned_reference(pins, None if seconds is None else seconds + SNAP_SECONDS, frame + SNAP_FRAMES)
    if cut:
        return current if soon is None else soon
    exact = pinned_reference(pins, seconds, frame)
    if exact is None or current in (exact, soon):  # in step, or a cut applied the coming pin early
        return current
    return exact
