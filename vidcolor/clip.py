"""Colouring one clip frame after frame: shots, the reference of each shot, temporal smoothing.

No threads and no files: batches of lightness go in, RGB batches come out, and everything that
one frame hands to the next lives in a :class:`ClipState` (which a resumable run saves as bytes).
Shots start at scene cuts (:class:`vidcolor.temporal.CutDetector`) and at pins
(:mod:`vidcolor.pins`); an unpinned shot's reference is chosen from several of its frames
(:mod:`vidcolor.judge`).
The frame colourer (a :class:`~vidcolor.Colorizer`) is passed in and keeps no per-clip state:
the reference in force is the state's, passed explicitly to each call.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from . import defaults, metrics, temporal
from . import keyframes as kf
from .color import gray_to_lightness_numpy, to_gray_batch
from .judge import ReferenceJudge, combined_scores
from .pins import FramePosition, ReferencePin, check_pins, pin_at, pinned_reference
from .report import RunReport, Shot

__all__ = ["ClipState", "FramePosition", "ReferencePin", "colorize_batches", "colorize_stream", "lightness_batch",
           "load_state", "pinned_reference", "save_state", "shot_starts"]


class FrameColourer(Protocol):
    """What the clip loop needs of a colourizer (:class:`vidcolor.Colorizer` is one)."""

    references: list  # the references set, in order (their number is what the loop uses)

    def working_lightness(self, lightness: torch.Tensor) -> torch.Tensor: ...
    def reference_scores(self, lightness_work: torch.Tensor) -> list[float]: ...
    def reference_fields(self, lightness_work: torch.Tensor, reference: int) -> list[np.ndarray] | None: ...
    def flow_candidate(self, lightness_work: torch.Tensor, reference: int,
                       fields: list[np.ndarray] | None = None) -> tuple[torch.Tensor, torch.Tensor]: ...
    def flow_confidence(self, lightness_work: torch.Tensor, reference: int,
                        fields: list[np.ndarray] | None = None) -> torch.Tensor: ...
    def predict_ab(self, lightness_work: torch.Tensor, reference: int, candidate) -> torch.Tensor: ...
    def colour_kept(self, confidence: torch.Tensor) -> list[float]: ...
    def merge(self, lightness: torch.Tensor, lightness_work: torch.Tensor, ab_work: torch.Tensor) -> torch.Tensor: ...


@dataclass
class ClipState:
    """What colouring a clip carries from one frame to the next, besides the report."""

    detector: temporal.CutDetector = field(default_factory=temporal.CutDetector)
    smoother: temporal.Smoother = field(default_factory=temporal.Smoother)
    pin: int | None = None  # the pinned reference in force
    reference: int = 0  # the reference colouring the current shot
    cdc: metrics.CdcAccumulator = field(default_factory=metrics.CdcAccumulator)
    judge: ReferenceJudge = field(default_factory=ReferenceJudge)  # choosing the shot's reference
    keyframes: kf.KeyframeState = field(default_factory=kf.KeyframeState)  # --keyframes auto


def _detect(
    detector: temporal.CutDetector,
    lightness_work: np.ndarray,
    seconds: Sequence[float] | None,
    pins: Sequence[ReferencePin],
    current_pin: int | None,
    first_frame: int,
) -> tuple[list[int | None], int | None, list[np.ndarray | None]]:
    """:func:`shot_starts`, plus each frame's signature (None for a blank frame or a held flash)."""
    starts: list[int | None] = []
    signatures: list[np.ndarray | None] = []
    for i, frame in enumerate(lightness_work):
        cut = detector.update(frame)
        signatures.append(detector.signature if detector.compared else None)
        pin = pin_at(pins, seconds[i] if seconds is not None else None, first_frame + i, cut, current_pin)
        if cut or pin != current_pin:
            starts.append(-1 if pin is None else pin)
        else:
            starts.append(None)
        current_pin = pin
    return starts, current_pin, signatures


def shot_starts(
    detector: temporal.CutDetector,
    lightness_work: np.ndarray,
    seconds: Sequence[float] | None,
    pins: Sequence[ReferencePin],
    current_pin: int | None,
    first_frame: int = 0,
) -> tuple[list[int | None], int | None]:
    """For each frame of a batch: None, or the pinned reference index (-1 if unpinned) where a shot starts.

    A shot starts at a detected scene cut, and where a pin changes the reference (pins snap to
    cuts a few frames away: :mod:`vidcolor.pins`). ``seconds`` are the frames' times and
    ``first_frame`` the number of the batch's first frame (for pins placed by frame number).
    Returns the per-frame markers and the pin in force after the batch.
    """
    starts, current_pin, _ = _detect(detector, lightness_work, seconds, pins, current_pin, first_frame)
    return starts, current_pin


def lightness_batch(gray: np.ndarray) -> torch.Tensor:
    """Gray levels ``(b, h, w)`` in [0, 1] -> CIE L ``(b, 1, h, w)``, the input of :func:`colorize_batches`."""
    return torch.from_numpy(gray_to_lightness_numpy(gray)).unsqueeze(1)


def _scores(colorizer: FrameColourer, frame_work: torch.Tensor) -> tuple[list[float], list[float]]:
    """One frame ``(1, 1, h, w)``: each reference's combined score and its feature match."""
    matches = colorizer.reference_scores(frame_work)
    confidences = [float(colorizer.flow_confidence(frame_work, r).mean()) for r in range(len(matches))]
    return combined_scores(matches, confidences), matches


def _choose_references(
    colorizer: FrameColourer, lightness_work: torch.Tensor, starts: list[int | None],
    signatures: list[np.ndarray | None], state: ClipState, report: RunReport,
) -> list[int]:
    """The reference of each frame of a batch (see :mod:`vidcolor.judge`); shots and switches go in the report."""
    choose = len(colorizer.references) > 1
    references = []
    for i, marker in enumerate(starts):
        frame_work = lightness_work[i : i + 1]
        if marker is not None:
            if marker < 0 and choose:
                scores, matches = _scores(colorizer, frame_work)
                state.reference = state.judge.start(scores, matches)
                match = matches[state.reference]
            else:  # pinned (or a single reference): nothing to choose
                state.reference = max(marker, 0)
                state.judge.close()
                match = colorizer.reference_scores(frame_work)[state.reference]
            report.shots.append(Shot(report.frames + i, state.reference, match))
        elif state.judge.wants(signatures[i]):
            scores, matches = _scores(colorizer, frame_work)
            switch = state.judge.judge(scores, matches, state.reference, signatures[i])
            if switch is not None:
                state.reference = switch
                report.shots.append(Shot(report.frames + i, switch, state.judge.match, cut=False))
            report.shots[-1].match = state.judge.match
        references.append(state.reference)
    return references


def _predict_runs(
    colorizer: FrameColourer, lightness_work: torch.Tensor, references: list[int], report: RunReport
) -> torch.Tensor:
    """ab ``(b, 2, h, w)`` for a batch: each run of frames that shares a reference in one model call."""
    bounds = [i for i in range(1, len(references)) if references[i] != references[i - 1]] + [len(references)]
    ab_parts, begin = [], 0
    for end in bounds:
        reference = references[begin]
        started = time.perf_counter()
        candidate = colorizer.flow_candidate(lightness_work[begin:end], reference)
        report.timed("flow candidate", started)
        started = time.perf_counter()
        ab_parts.append(colorizer.predict_ab(lightness_work[begin:end], reference, candidate))
        report.colour_kept.extend(colorizer.colour_kept(candidate[1]))
        report.timed("network", started)
        begin = end
    return torch.cat(ab_parts)


def _smooth(
    smoother: temporal.Smoother, l_np: np.ndarray, ab: torch.Tensor, starts: list[int | None], enabled: bool,
    report: RunReport,
) -> np.ndarray:
    """Temporal smoothing of a batch's ab ``(b, 2, h, w)`` -> ``(b, h, w, 2)``, recording flicker and chroma."""
    ab_np = ab.permute(0, 2, 3, 1).cpu().numpy()
    smoothed = []
    for i in range(ab_np.shape[0]):
        new_shot = starts[i] is not None
        previous = smoother.ab
        ab_frame = smoother.update(l_np[i], ab_np[i], new_shot, enabled=enabled)
        report.flicker.append(temporal.flicker(previous, ab_frame, new_shot))
        report.chroma_energy.append(float(np.abs(ab_frame).mean()))
        smoothed.append(ab_frame)
    return np.stack(smoothed)


def _plan_keyframes(
    l_np: np.ndarray, references: list[int], starts: list[int | None], state: ClipState
) -> tuple[list[bool], list[kf.FrameFlow | None]]:
    """Which frames of a batch are keyframes, and each frame's flow to the one before (None at a shot start)."""
    keys, steps = [], []
    previous = state.smoother.lightness
    for i, lightness in enumerate(l_np):
        new_shot = starts[i] is not None or previous is None
        step = None if new_shot else kf.frame_flow(lightness, previous)
        forced = new_shot or references[i] != state.keyframes.reference
        keys.append(state.keyframes.decide(step, forced, lightness.shape))
        steps.append(step)
        state.keyframes.reference, previous = references[i], lightness
    return keys, steps


def _predict_keyframes(
    colorizer: FrameColourer, lightness_work: torch.Tensor, references: list[int], keys: list[bool],
    report: RunReport,
) -> dict[int, tuple[np.ndarray, float, np.ndarray | None]]:
    """Each keyframe's network ab ``(h, w, 2)``, colour kept and flow into its reference, one model call per reference."""
    predicted = {}
    for reference in sorted({references[i] for i, key in enumerate(keys) if key}):
        frames = [i for i, key in enumerate(keys) if key and references[i] == reference]
        started = time.perf_counter()
        fields = colorizer.reference_fields(lightness_work[frames], reference)
        candidate = colorizer.flow_candidate(lightness_work[frames], reference, fields)
        report.timed("flow candidate", started)
        started = time.perf_counter()
        ab = colorizer.predict_ab(lightness_work[frames], reference, candidate).permute(0, 2, 3, 1).cpu().numpy()
        kept = colorizer.colour_kept(candidate[1])
        report.timed("network", started)
        predicted.update({i: (ab[n], kept[n], None if fields is None else fields[n]) for n, i in enumerate(frames)})
    return predicted


def _own_kept(colorizer: FrameColourer, frame_work: torch.Tensor, reference: int, field: np.ndarray) -> float:
    """A carried frame ``(1, 1, h, w)``'s own chroma hedge, from its flow ``field`` into the reference."""
    return colorizer.colour_kept(colorizer.flow_confidence(frame_work, reference, [field]))[0]


def _colour_auto(
    colorizer: FrameColourer, lightness_work: torch.Tensor, l_np: np.ndarray, references: list[int],
    starts: list[int | None], state: ClipState, smooth: bool, report: RunReport,
) -> np.ndarray:
    """``--keyframes auto``: a batch's ab ``(b, h, w, 2)``, the network on keyframes only, colour carried between."""
    started = time.perf_counter()
    keys, steps = _plan_keyframes(l_np, references, starts, state)
    report.timed("keyframe flow", started)
    predicted = _predict_keyframes(colorizer, lightness_work, references, keys, report)
    started = time.perf_counter()
    smoother, out = state.smoother, []
    for i, step in enumerate(steps):
        previous = smoother.ab
        if keys[i]:
            ab, kept, state.keyframes.reference_flow = predicted[i]
            if smooth and step is not None and previous is not None:
                ab = kf.blend_keyframe(ab, previous, step, temporal.DEFAULT_STRENGTH)
        else:
            ab = kf.carry_ab(previous, step)
            kept = report.colour_kept[-1] if report.colour_kept else 1.0
            if state.keyframes.reference_flow is not None:  # None: no reference (automatic mode)
                # The frame's own hedge, from its flow into the reference composed since the keyframe.
                field = kf.carried_reference_flow(state.keyframes.reference_flow, step)
                own = _own_kept(colorizer, lightness_work[i : i + 1], references[i], field)
                ab, kept = kf.rehedged(ab, own, kept), own
                state.keyframes.reference_flow = field
        new_shot = starts[i] is not None
        smoother.lightness, smoother.ab = l_np[i], ab
        report.colour_kept.append(kept)
        report.flicker.append(temporal.flicker(previous, ab, new_shot))
        report.chroma_energy.append(float(np.abs(ab).mean()))
        out.append(ab)
    report.timed("temporal smoothing", started)
    return np.stack(out)


def colorize_batches(
    colorizer: FrameColourer,
    batches: Iterable[tuple[torch.Tensor, Sequence[float] | None]],
    smooth: bool = True,
    report: RunReport | None = None,
    pins: Sequence[ReferencePin] = (),
    measure_cdc: bool = False,
    state: ClipState | None = None,
    keyframes: str = defaults.KEYFRAMES,
    output: str = "rgb",
) -> Iterator[torch.Tensor] | Iterator[tuple[np.ndarray, np.ndarray]]:
    """Colourise consecutive batches of one clip: ``(lightness, seconds)`` -> RGB uint8 ``(b, H, W, 3)``.

    ``lightness`` is CIE L ``(b, 1, H, W)``; ``seconds`` the frames' presentation times (needed
    only with pins placed by time). Each shot (split at scene cuts and pins) is coloured from its
    pinned reference, or else the one that fits its first frames best (:mod:`vidcolor.judge`:
    it may switch once in the shot's first frames, and again after a dissolve). The temporal state
    (cut detection, flow smoothing) is carried across batches, so the result does not depend on
    the batch size. ``measure_cdc`` fills ``report.cdc`` (it costs a histogram per output frame).
    ``state`` is the state to start from (e.g. a resumed run's, with its ``report``), updated
    after each batch. ``keyframes``: "every" runs the network on every frame; "auto" only on
    adaptive keyframes, carrying colour along the motion between them (:mod:`vidcolor.keyframes`).
    ``output="ab"`` yields the working-resolution colour instead, for a caller that writes it in
    another form (:mod:`vidcolor.yuv420`): CIE L ``(b, h, w)`` and ab ``(b, h, w, 2)``, numpy float32.
    """
    if keyframes not in defaults.KEYFRAME_MODES:
        raise ValueError(f"keyframes must be one of {defaults.KEYFRAME_MODES}, not {keyframes!r}")
    if output not in ("rgb", "ab") or (output == "ab" and measure_cdc):
        raise ValueError(f"output must be 'rgb' or 'ab' (and 'rgb' to measure CDC), not {output!r}")
    check_pins(pins)
    state = state if state is not None else ClipState()
    report = report if report is not None else RunReport()
    for lightness, seconds in batches:
        started = time.perf_counter()
        lightness_work = colorizer.working_lightness(lightness)
        l_np = lightness_work[:, 0].cpu().numpy()
        report.timed("downsample", started)
        started = time.perf_counter()
        starts, state.pin, signatures = _detect(state.detector, l_np, seconds, pins, state.pin, report.frames)
        report.timed("cut detection", started)
        started = time.perf_counter()
        references = _choose_references(colorizer, lightness_work, starts, signatures, state, report)
        report.timed("reference choice", started)
        if keyframes == "auto":
            smoothed = _colour_auto(colorizer, lightness_work, l_np, references, starts, state, smooth, report)
        else:
            ab = _predict_runs(colorizer, lightness_work, references, report)
            started = time.perf_counter()
            smoothed = _smooth(state.smoother, l_np, ab, starts, smooth, report)
            report.timed("temporal smoothing", started)
        report.frames += len(smoothed)
        if output == "ab":
            yield l_np, smoothed
            continue
        started = time.perf_counter()
        ab_work = torch.from_numpy(smoothed).permute(0, 3, 1, 2).to(lightness_work.device)
        rgb = colorizer.merge(lightness, lightness_work, ab_work)
        report.timed("upsample + merge", started)
        if measure_cdc:
            for frame in rgb.cpu().numpy():
                state.cdc.add(frame)
            report.cdc = state.cdc.value()
        yield rgb


def colorize_stream(
    colorizer: FrameColourer, frames: Iterable, batch_size: int = defaults.BATCH_SIZE, smooth: bool = True,
    keyframes: str = defaults.KEYFRAMES,
) -> Iterator[np.ndarray]:
    """Colourise frames one by one as they come: an iterator in, RGB uint8 ``(h, w, 3)`` frames out.

    ``frames`` yields gray ``(h, w)`` (uint8, or float in [0, 1]) or colour ``(h, w, 3)`` arrays
    (reduced to their luma), all of one size: e.g. a PyAV decode loop or an OpenCV capture loop.
    Frames are coloured ``batch_size`` at a time (the last batch may be shorter), so each output
    frame follows its input after at most ``batch_size`` frames. The temporal state (scene cuts,
    flow smoothing) is carried across batches exactly as for a file, so the same frames give
    the same colours as ``vidcolor`` on the command line with the same batch size.
    ``keyframes``: "every" frame through the network, or "auto" (see :func:`colorize_batches`).
    """

    def batches() -> Iterator[tuple[torch.Tensor, None]]:
        grays: list[np.ndarray] = []
        for frame in frames:
            grays.append(to_gray_batch(frame)[0].numpy())
            if len(grays) == batch_size:
                yield lightness_batch(np.stack(grays)), None
                grays = []
        if grays:
            yield lightness_batch(np.stack(grays)), None

    for rgb in colorize_batches(colorizer, batches(), smooth=smooth, keyframes=keyframes):
        yield from rgb.cpu().numpy()


# ---- the state as bytes, for a resumable run (read back with torch.load(weights_only=True))


def _to_tensors(value):
    """numpy arrays -> tensors, through lists and dicts."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {k: _to_tensors(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_tensors(v) for v in value]
    return value


def _to_arrays(value):
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {k: _to_arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_arrays(v) for v in value]
    return value


def save_state(state: ClipState, report: RunReport) -> bytes:
    """The state and the per-frame part of the report so far, as bytes."""
    smoother = state.smoother
    saved = _to_tensors({
        "detector": state.detector.state_dict(),
        "smoother": {"lightness": smoother.lightness, "ab": smoother.ab},
        "pin": state.pin,
        "reference": state.reference,
        "judge": state.judge.state_dict(),
        "cdc": state.cdc.state_dict(),
        "keyframes": state.keyframes.state_dict(),
        "report": {"frames": report.frames, "shots": [[s.start, s.reference, s.match, s.cut] for s in report.shots],
                   "chroma_energy": report.chroma_energy, "flicker": report.flicker,
                   "colour_kept": report.colour_kept, "cdc": report.cdc},
    })
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    return buffer.getvalue()


def load_state(data: bytes) -> tuple[ClipState, RunReport]:
    """The inverse of :func:`save_state`."""
    saved = _to_arrays(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
    state = ClipState(
        detector=temporal.CutDetector(**saved["detector"]),
        smoother=temporal.Smoother(**saved["smoother"]),
        pin=saved["pin"],
        reference=saved["reference"],
        judge=ReferenceJudge(**saved["judge"]),
        keyframes=kf.KeyframeState(**saved["keyframes"]),
    )
    state.cdc.load_state_dict(saved["cdc"])
    past = saved["report"]
    report = RunReport(
        frames=past["frames"], shots=[Shot(*shot) for shot in past["shots"]],
        chroma_energy=past["chroma_energy"], flicker=past["flicker"], colour_kept=past["colour_kept"],
        cdc=past["cdc"],
    )
    return state, report
