"""The colouring behind the GStreamer element, without GStreamer: settings, references, batches.

One :class:`Engine` per running element. It colours batches of frames through
:func:`vidcolor.clip.colorize_batches` with one :class:`~vidcolor.clip.ClipState` carried from
batch to batch, and each frame is reduced to lightness exactly as
:func:`vidcolor.clip.colorize_stream` does, so the element gives the frames of
:meth:`vidcolor.Colorizer.stream` for the same frames, settings and batch size.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import defaults
from ..references import parse_references
from ..clip import ClipState, ReferencePin, colorize_batches, lightness_batch
from ..color import to_gray_batch
from ..colorizer import Colorizer
from ..errors import VidcolorError
from ..images import read_image


def split_references(value: str) -> list[str]:
    """The ``reference`` property -> the values ``vidcolor --reference`` would get, one per image, folder or pin."""
    return [part.strip() for part in re.split(r"[,;]", value or "") if part.strip()]


@dataclass(frozen=True)
class Settings:
    """What the element's properties say about the colouring (the command line's options)."""

    reference: str = ""
    model: str | None = None
    device: str = "auto"
    work_size: int = defaults.WORK_SIZE
    precision: str = defaults.PRECISION
    temporal: str = defaults.TEMPORAL
    full_colour: bool = False
    keyframes: str = defaults.KEYFRAMES

    def check(self) -> None:
        if self.keyframes not in defaults.KEYFRAME_MODES:
            raise VidcolorError(f"unknown keyframes mode {self.keyframes!r}; choose from {', '.join(defaults.KEYFRAME_MODES)}")
        if self.temporal not in defaults.TEMPORAL_MODES:
            raise VidcolorError(f"unknown temporal mode {self.temporal!r}; choose from {', '.join(defaults.TEMPORAL_MODES)}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise VidcolorError(f"unknown device {self.device!r}; choose auto, cpu or cuda")


class Engine:
    """References and model loaded once; frames coloured batch by batch with the clip's state carried."""

    def __init__(self, settings: Settings):
        """Load the references, then the model: a bad reference fails before the slow part."""
        settings.check()
        paths, pins = parse_references(split_references(settings.reference))
        images = [read_image(path) for path in paths]
        self.pins = [ReferencePin(seconds, index) for seconds, index in pins]
        self.smooth = settings.temporal == "flow"
        self.keyframes = settings.keyframes
        self.colorizer = Colorizer.from_pretrained(
            settings.model or None, device=settings.device, work_size=settings.work_size,
            precision=settings.precision, hedge=not settings.full_colour,
        )
        self.colorizer.set_references(images)
        self.state = ClipState()

    def reset(self) -> None:
        """Forget the clip so far (after a flush, a seek or a discontinuity): the next frame starts a shot."""
        self.state = ClipState()

    def colour(self, frames: Sequence[np.ndarray], seconds: Sequence[float] | None = None) -> np.ndarray:
        """Frames as :meth:`vidcolor.Colorizer.stream` takes them -> RGB uint8 ``(b, h, w, 3)``.

        ``seconds``: the frames' stream times, which choose the pinned reference when there are pins.
        """
        gray = np.stack([to_gray_batch(frame)[0].numpy() for frame in frames])
        batch = [(lightness_batch(gray), seconds if self.pins else None)]
        (rgb,) = colorize_batches(self.colorizer, batch, smooth=self.smooth, pins=self.pins, state=self.state,
                                  keyframes=self.keyframes)
        return rgb.cpu().numpy()

    def seconds_per_frame(self, frame: np.ndarray) -> float:
        """About how long colouring a frame like ``frame`` takes (the clip's state is left as it was).

        The first frame of a size also pays one-off set-up costs, so the second of two is timed.
        """
        state, self.state = self.state, ClipState()
        try:
            for _ in range(2):
                started = time.perf_counter()
                self.colour([frame])
            return time.perf_counter() - started
        finally:
            self.state = state
