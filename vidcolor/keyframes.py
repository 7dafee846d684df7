"""Adaptive keyframes: run the network on some frames and carry their colour along the motion between them.

Pure functions on numpy arrays at the working resolution. The network is the dominant cost per
frame on a CPU (and the reference's flow candidate the next one); between keyframes a frame's ab
is the previous output's ab carried along the frame-to-frame DIS flow, the same flow that the
temporal smoother computes (computed once here, and reused by the smoother on keyframes).

Whether carried colour can still be trusted depends on lightness alone (how well the flow
explains the frame), so the decision is made for a whole batch before the network runs, and
the network still runs on the batch's keyframes together. The trust is a map carried along
with the colour: each frame it is warped with the flow and multiplied by the frame's
photometric confidence, so areas that were occluded or newly visible at any frame since the
keyframe stay distrusted. A keyframe comes at each shot start and reference switch, when the
untrusted share of the frame exceeds ``KEYFRAME_UNTRUSTED_SHARE``, or after
``KEYFRAME_MAX_INTERVAL`` frames (slow drift: lighting, blur of repeated bilinear resampling).

Low-confidence pixels of a carried frame (a few percent at most, or it would be a keyframe) are
filled from their trusted surroundings (normalised convolution of the carried ab). Chosen over
the reference's flow candidate scaled by the model's hedge because that costs the 17 ms/frame
this saves, and where the flow fails frame to frame the reference's far flow is rarely better:
its confidence there is low, and the hedge mutes it to grey, which reads as a hole.

The chroma hedge (the model's factor for how well the reference matches a frame) is each frame's
own, as with ``every``: a carried frame's flow into the reference is the keyframe's (computed
for the network's flow candidate) composed with the frame-to-frame flows since then, which
costs two remaps instead of a DIS flow, and its colour is rescaled from the previous frame's
factor to its own. Without that, carried frames kept their keyframe's factor: with a distant
reference `auto` was 1.2% less faithful than ``every`` instead of 0.7%, and a keyframe interval
of 6 lost 2.8% (with it, 8 still loses 1.7-2.0%, so the interval stays 4: docs/keyframes.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import defaults, flow

# A carried pixel counts as trusted above this trust (photometric confidence, accumulated).
TRUSTED = 0.5
# Fill radius (Gaussian sigma, working pixels) for untrusted pixels of a carried frame.
FILL_SIGMA = 6.0
FILL_SCALE = 4


@dataclass
class FrameFlow:
    """The flow from a frame to the previous one, with the warp's photometric confidence ``(h, w)``."""

    flow: np.ndarray
    confidence: np.ndarray


def frame_flow(lightness: np.ndarray, previous_lightness: np.ndarray) -> FrameFlow:
    """DIS flow (the smoother's preset) from this frame's lightness to the previous one's, and its confidence."""
    field = flow.dis_flow(flow.to_uint8(lightness), flow.to_uint8(previous_lightness), "fast")
    warped = flow.warp(np.asarray(previous_lightness, np.float32), field)
    return FrameFlow(field, flow.photometric_confidence(lightness, warped))


def carried_trust(trust: np.ndarray, step: FrameFlow) -> np.ndarray:
    """The trust map after one more carried frame: the previous map warped along, times the new confidence."""
    return flow.warp(trust, step.flow) * step.confidence


def untrusted_share(trust: np.ndarray) -> float:
    """The share of the frame whose carried colour is not trusted."""
    return float((trust < TRUSTED).mean())


@dataclass
class KeyframeState:
    """What the keyframe decision carries from frame to frame: the trust map and frames since the keyframe."""

    trust: np.ndarray | None = None
    since: int = 0
    reference: int | None = None  # the last frame's reference (a switch forces a keyframe)
    reference_flow: np.ndarray | None = None  # the last frame's flow into its reference (h, w, 2)
    max_interval: int = defaults.KEYFRAME_MAX_INTERVAL
    untrusted: float = defaults.KEYFRAME_UNTRUSTED_SHARE

    def decide(self, step: FrameFlow | None, forced: bool, shape: tuple[int, int]) -> bool:
        """Whether this frame ``shape`` ``(h, w)`` is a keyframe. ``step``: its flow to the previous frame
        (None: no previous frame, or a shot start); ``forced``: a shot start or a reference switch."""
        if not forced and step is not None and self.trust is not None and self.since + 1 < self.max_interval:
            trust = carried_trust(self.trust, step)
            if untrusted_share(trust) <= self.untrusted:
                self.trust, self.since = trust, self.since + 1
                return False
        self.trust, self.since = np.ones(shape, np.float32), 0
        return True

    def state_dict(self) -> dict:
        """What a resumed run restores with ``KeyframeState(**state)``."""
        return {"trust": self.trust, "since": self.since, "reference": self.reference,
                "reference_flow": self.reference_flow}


def carry_ab(previous_ab: np.ndarray, step: FrameFlow) -> np.ndarray:
    """The previous output's ab ``(h, w, 2)`` carried onto this frame, untrusted pixels filled from around them."""
    warped = flow.warp(np.asarray(previous_ab, np.float32), step.flow)
    weight = step.confidence
    if float(weight.min()) >= TRUSTED:
        return warped
    # Normalised convolution: the trusted neighbourhood's colour, weighted by confidence. The fill
    # is smooth, so it is computed at 1/FILL_SCALE of the size (3.4 -> 1.1 ms per 256x456 frame).
    h, w = weight.shape
    small = (max(1, w // FILL_SCALE), max(1, h // FILL_SCALE))
    weighted = cv2.merge([warped[..., 0] * weight, warped[..., 1] * weight, weight])
    sums = cv2.GaussianBlur(cv2.resize(weighted, small, interpolation=cv2.INTER_AREA), (0, 0), FILL_SIGMA / FILL_SCALE)
    sums = cv2.resize(sums, (w, h), interpolation=cv2.INTER_LINEAR)
    filled = sums[..., :2] / np.maximum(sums[..., 2:], 1e-3)
    mix = np.clip(weight / TRUSTED, 0.0, 1.0)
    mix = cv2.merge([mix, mix])
    return mix * warped + (1.0 - mix) * filled


def carried_reference_flow(reference_flow: np.ndarray, step: FrameFlow) -> np.ndarray:
    """The previous frame's flow into the reference ``(h, w, 2)`` carried onto this frame (composed with its step)."""
    return flow.compose(reference_flow, step.flow)


def rehedged(ab: np.ndarray, kept: float, previous_kept: float) -> np.ndarray:
    """Carried ab ``(h, w, 2)`` with this frame's chroma hedge in place of the previous frame's.

    The hedge (``Colorizer.colour_kept``) scales the network's colour by how well the reference
    matches a frame; carried colour keeps its keyframe's scale unless rescaled by the ratio.
    """
    if previous_kept <= 1e-3:
        return ab
    return ab * np.float32(kept / previous_kept)


def blend_keyframe(ab_predicted: np.ndarray, previous_ab: np.ndarray, step: FrameFlow,
                   strength: float) -> np.ndarray:
    """The smoother's blend (:func:`vidcolor.temporal.smooth_ab`) on a keyframe, reusing the flow already computed."""
    warped = flow.warp(np.asarray(previous_ab, np.float32), step.flow)
    weight = strength * step.confidence
    weight = cv2.merge([weight, weight])
    return weight * warped + (1.0 - weight) * ab_predicted
