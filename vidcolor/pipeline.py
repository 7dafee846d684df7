"""Video colourisation: decode -> colourise in batches -> encode, as three overlapping stages.

A decoder thread and an encoder thread are joined to the colourizer by bounded queues, so the
model works while PyAV decodes and encodes, and memory stays flat however long the film is
(back-pressure: a full queue blocks its producer). An exception in any stage stops the others
and is raised once, from :func:`colorize_video`.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from . import metrics, temporal
from .color import gray_to_lightness_numpy
from .colorizer import Colorizer
from .segments import SegmentedOutput
from .video import EncoderOptions, GrayFrame, MediaWarning, VideoSource, VideoWriter, is_stream_target, luma_levels

_DONE = object()
# How long a stopped run waits for its decode and encode threads before giving up on them.
_STAGE_EXIT_TIMEOUT_S = 10.0


@dataclass
class Shot:
    """One shot of the output: its first frame and the reference it was coloured from."""

    start: int
    reference: int


@dataclass
class RunReport:
    """What a run did, frame by frame; ``to_dict()`` is what ``--report`` writes.

    ``scene_cuts`` are the frame indices where a new shot starts (not 0); ``chroma_energy`` is
    each output frame's mean |ab| and ``flicker`` its mean |ab| change from the previous frame
    (Lab units, working resolution, 0 at a shot start); ``cdc`` is the output's colour
    distribution consistency (lower = steadier colours), when measured. ``stage_seconds`` is
    the time spent in each stage (decode and encode run in their own threads, so the stages
    overlap and their sum exceeds the wall time). ``resumed_frames`` of the frames were coloured
    by an interrupted run this one resumed (their per-frame figures are restored, not their times).
    """

    frames: int = 0
    shots: list[Shot] = field(default_factory=list)
    chroma_energy: list[float] = field(default_factory=list)
    flicker: list[float] = field(default_factory=list)
    cdc: float | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    resumed_frames: int = 0  # frames restored from an interrupted run's saved segments

    def timed(self, stage: str, started: float) -> None:
        """Add the time since ``started`` (a ``perf_counter()`` reading) to ``stage``."""
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + time.perf_counter() - started

    @property
    def scene_cuts(self) -> list[int]:
        return [shot.start for shot in self.shots[1:]]

    def to_dict(self) -> dict:
        return {
            "frames": self.frames,
            "resumed_frames": self.resumed_frames,
            "shots": [{"start": s.start, "reference": s.reference} for s in self.shots],
            "scene_cuts": self.scene_cuts,
            "cdc": self.cdc,
            "mean_flicker": float(np.mean(self.flicker)) if self.flicker else 0.0,
            "stage_seconds": self.stage_seconds,
            "chroma_energy": self.chroma_energy,
            "flicker": self.flicker,
        }


@dataclass
class ClipState:
    """What colouring a clip carries from one frame to the next, besides the report.

    Saved at the end of each segment of a resumable run (:func:`save_state`), so that a resumed
    run colours the following frames exactly as an uninterrupted one.
    """

    detector: temporal.CutDetector = field(default_factory=temporal.CutDetector)
    smoother: temporal.Smoother = field(default_factory=temporal.Smoother)
    pin: int | None = None  # the pinned reference in force
    reference: int = 0  # the reference colouring the current shot
    cdc: metrics.CdcAccumulator = field(default_factory=metrics.CdcAccumulator)


def _to_tensors(value):
    """numpy arrays -> tensors, through lists and dicts: what ``torch.load(weights_only=True)`` reads."""
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


def save_state(state: ClipState, report: RunReport) -> dict:
    """The state and the report so far as tensors and plain values (``torch.save``-able)."""
    detector, smoother = state.detector, state.smoother
    return _to_tensors({
        "detector": {"signature": detector.signature, "recent_scores": detector.recent_scores,
                     "frames_in_shot": detector.frames_in_shot},
        "smoother": {"lightness": smoother.lightness, "ab": smoother.ab},
        "pin": state.pin,
        "reference": state.reference,
        "cdc": state.cdc.state_dict(),
        "report": {"frames": report.frames, "shots": [[s.start, s.reference] for s in report.shots],
                   "chroma_energy": report.chroma_energy, "flicker": report.flicker, "cdc": report.cdc},
    })


def load_state(saved: dict) -> tuple[ClipState, RunReport]:
    """The inverse of :func:`save_state`."""
    saved = _to_arrays(saved)
    state = ClipState(
        detector=temporal.CutDetector(**saved["detector"]),
        smoother=temporal.Smoother(**saved["smoother"]),
        pin=saved["pin"],
        reference=saved["reference"],
    )
    state.cdc.load_state_dict(saved["cdc"])
    past = saved["report"]
    report = RunReport(
        frames=past["frames"], shots=[Shot(start, ref) for start, ref in past["shots"]],
        chroma_energy=past["chroma_energy"], flicker=past["flicker"], cdc=past["cdc"],
    )
    return state, report


@dataclass(frozen=True)
class ReferencePin:
    """Use reference ``index`` from ``seconds`` on (until the next pin)."""

    seconds: float
    index: int


# Full-resolution float32 lightness one batch may hold: batches of large frames get fewer frames,
# so that the batches in flight (decoded, being coloured, queued for the encoder) stay small.
_BATCH_BYTES = 36 << 20


def frames_per_batch(batch_size: int, width: int, height: int) -> int:
    """Frames per batch: ``batch_size``, fewer for frames above 720p (4 at 1080p, 1 at 4K).

    At 1080p this takes ~150 MB off the peak memory and costs no speed on a CPU, where the
    network runs one frame per call anyway.
    """
    return max(1, min(batch_size, _BATCH_BYTES // (width * height * 4)))


def pinned_reference(pins: Sequence[ReferencePin], seconds: float) -> int:
    """The reference pinned for a frame at ``seconds``: the last pin at or before it (else the first pin)."""
    ordered = sorted(pins, key=lambda pin: pin.seconds)
    chosen = ordered[0].index
    for pin in ordered:
        if pin.seconds <= seconds:
            chosen = pin.index
    return chosen


def shot_starts(
    detector: temporal.CutDetector,
    lightness_work: np.ndarray,
    seconds: Sequence[float] | None,
    pins: Sequence[ReferencePin],
    current_pin: int | None,
) -> tuple[list[int | None], int | None]:
    """For each frame of a batch: None, or the pinned reference index (-1 if unpinned) where a shot starts.

    A shot starts at a detected scene cut, and where the time passes a pin (a new pinned
    reference). Returns the per-frame markers and the pin in force after the batch.
    """
    starts: list[int | None] = []
    for i, frame in enumerate(lightness_work):
        cut = detector.update(frame)
        pin = pinned_reference(pins, seconds[i]) if pins and seconds is not None else None
        if cut or pin != current_pin:
            starts.append(-1 if pin is None else pin)
        else:
            starts.append(None)
        current_pin = pin
    return starts, current_pin


def lightness_batch(gray: np.ndarray) -> torch.Tensor:
    """Gray levels ``(b, h, w)`` in [0, 1] -> CIE L ``(b, 1, h, w)``, the input of :func:`colorize_batches`."""
    return torch.from_numpy(gray_to_lightness_numpy(gray)).unsqueeze(1)


@functools.cache
def _code_lightness(bits: int, full_range: bool) -> np.ndarray:
    return gray_to_lightness_numpy(luma_levels(bits, full_range))


def frames_lightness(frames: Sequence[GrayFrame]) -> torch.Tensor:
    """Decoded frames -> CIE L ``(b, 1, h, w)``: :func:`lightness_batch` of their gray, by one lookup per sample.

    Decoded luma stays in its stored codes until here (a quarter of the memory of float gray
    in the decode queue at 8 bits) and each code maps straight to L through a table.
    """
    lightness = np.empty((len(frames), 1, *frames[0].codes.shape), np.float32)
    for i, frame in enumerate(frames):
        table = _code_lightness(frame.bits, frame.full_range)
        if frame.codes.dtype == np.uint8:
            cv2.LUT(frame.codes, table, dst=lightness[i, 0])  # 0.3 ms per 1080p frame, numpy's take 4.9
        else:
            table.take(frame.codes, out=lightness[i, 0])
    return torch.from_numpy(lightness)


def colorize_batches(
    colorizer: Colorizer,
    batches: Iterable[tuple[torch.Tensor, Sequence[float] | None]],
    smooth: bool = True,
    report: RunReport | None = None,
    pins: Sequence[ReferencePin] = (),
    measure_cdc: bool = False,
    state: ClipState | None = None,
) -> Iterator[torch.Tensor]:
    """Colourise consecutive batches of one clip: ``(lightness, seconds)`` -> RGB uint8 ``(b, H, W, 3)``.

    ``lightness`` is CIE L ``(b, 1, H, W)``; ``seconds`` the frames' presentation times (needed
    only with ``pins``). Each shot (split at scene cuts and pin times) is coloured from its
    pinned reference, or else the one that matches its first frame best. The temporal state
    (cut detection, flow smoothing) is carried across batches, so the result does not depend on
    the batch size. ``measure_cdc`` fills ``report.cdc`` (it costs a histogram per output frame).
    ``state`` is the temporal state to start from (e.g. a resumed run's, with its ``report``),
    updated after each batch.
    """
    state = state if state is not None else ClipState()
    detector, smoother = state.detector, state.smoother
    report = report if report is not None else RunReport()
    colorizer.active = state.reference
    for lightness, seconds in batches:
        started = time.perf_counter()
        lightness_work = colorizer.working_lightness(lightness)
        l_np = lightness_work[:, 0].cpu().numpy()
        report.timed("downsample", started)
        started = time.perf_counter()
        starts, state.pin = shot_starts(detector, l_np, seconds, pins, state.pin)
        report.timed("cut detection", started)
        # Predict each run of frames that shares a reference in one model call.
        bounds = [i for i, start in enumerate(starts) if start is not None and i > 0] + [len(starts)]
        ab_parts, begin = [], 0
        for end in bounds:
            marker = starts[begin]
            if marker is not None:
                if marker >= 0:
                    colorizer.active = marker
                else:
                    colorizer.choose_reference(lightness_work[begin : begin + 1])
                report.shots.append(Shot(report.frames + begin, colorizer.active))
            started = time.perf_counter()
            candidate = colorizer.flow_candidate(lightness_work[begin:end])
            report.timed("flow candidate", started)
            started = time.perf_counter()
            ab_parts.append(colorizer.predict_ab(lightness_work[begin:end], candidate))
            report.timed("network", started)
            begin = end
        started = time.perf_counter()
        ab_np = torch.cat(ab_parts).permute(0, 2, 3, 1).cpu().numpy()
        smoothed = []
        for i in range(ab_np.shape[0]):
            new_shot = starts[i] is not None
            previous = smoother.ab
            ab = smoother.update(l_np[i], ab_np[i], new_shot, enabled=smooth)
            report.flicker.append(temporal.flicker(previous, ab, new_shot))
            report.chroma_energy.append(float(np.abs(ab).mean()))
            smoothed.append(ab)
        report.frames += len(smoothed)
        report.timed("temporal smoothing", started)
        started = time.perf_counter()
        ab_work = torch.from_numpy(np.stack(smoothed)).permute(0, 3, 1, 2).to(lightness_work.device)
        rgb = colorizer.merge(lightness, lightness_work, ab_work)
        report.timed("upsample + merge", started)
        if measure_cdc:
            for frame in rgb.cpu().numpy():
                state.cdc.add(frame)
            report.cdc = state.cdc.value()
        state.reference = colorizer.active
        yield rgb


def colorize_stream(
    colorizer: Colorizer, frames: Iterable, batch_size: int = 8, smooth: bool = True
) -> Iterator[np.ndarray]:
    """Colourise frames one by one as they come: an iterator in, RGB uint8 ``(h, w, 3)`` frames out.

    ``frames`` yields gray ``(h, w)`` (uint8, or float in [0, 1]) or colour ``(h, w, 3)`` arrays
    (reduced to their luma), all of one size: e.g. a PyAV decode loop or an OpenCV capture loop.
    Frames are coloured ``batch_size`` at a time (the last batch may be shorter), so each output
    frame follows its input after at most ``batch_size`` frames. The temporal state (scene cuts,
    flow smoothing) is carried across batches exactly as for a file, so the same frames give
    the same colours as ``vidcolor`` on the command line with the same batch size.
    """
    from .colorizer import to_gray_batch

    def batches() -> Iterator[tuple[torch.Tensor, None]]:
        grays: list[np.ndarray] = []
        for frame in frames:
            grays.append(to_gray_batch(frame)[0].numpy())
            if len(grays) == batch_size:
                yield lightness_batch(np.stack(grays)), None
                grays = []
        if grays:
            yield lightness_batch(np.stack(grays)), None

    for rgb in colorize_batches(colorizer, batches(), smooth=smooth):
        yield from rgb.cpu().numpy()


class _Stage(threading.Thread):
    """A worker thread that records its exception and tells the other stages to stop."""

    def __init__(self, target: Callable[[], None], name: str, stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self._stop_event = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            self.error = exc
            self._stop_event.set()


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Blocking put that gives up when the run is being stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event):
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                return _DONE


def colorize_video(
    input_path: str | Path | VideoSource,
    output_path: str | Path,
    colorizer: Colorizer,
    *,
    batch_size: int = 8,
    encoder: EncoderOptions = EncoderOptions(),
    smooth: bool = True,
    pins: Sequence[ReferencePin] = (),
    measure_cdc: bool = False,
    on_frames: Callable[[int, float], None] | None = None,
    container_format: str | None = None,
    timeout_s: float | None = None,
    segment_seconds: float | None = None,
    resume: bool = False,
    run: dict | None = None,
) -> RunReport:
    """Colourise a video; audio, subtitles and metadata are copied. Returns a RunReport.

    ``input_path`` is a file, ``"-"`` (stdin) or a URL, or a :class:`VideoSource` already
    opened on one (with ``keep_other_streams=True``, except for a segmented run, which copies
    the other streams from the file at the end); the input is read once. ``output_path``
    is a file, ``"-"`` (stdout) or a URL; ``container_format`` names the container where
    no file extension does (see :class:`VideoWriter`), ``timeout_s`` bounds network waits.
    The colorizer's references (``set_references``) are chosen per shot, or by ``pins``
    (seconds from the first frame). A file output appears under ``output_path`` only when
    complete, also when the run is interrupted (KeyboardInterrupt) or fails.

    ``segment_seconds`` (file to file only) writes the video in closed segments of about
    that length (see :mod:`vidcolor.segments`); with ``resume`` an interrupted run continues
    after its last complete segment, giving the same output as an uninterrupted run. ``run``
    describes the run (model, references, settings) so that a resume of another run is refused.

    ``batch_size`` is the most frames per batch; large frames go in smaller batches (see
    :func:`frames_per_batch`). ``on_frames(n, delay_s)`` is called after each batch of ``n`` frames is handed to the
    encoder, ``delay_s`` seconds after the batch's first frame was decoded (progress bars,
    live latency; a resumed run first reports the frames already done, with delay 0). A colour input
    (coloured from its luma) and damaged input (frames skipped) are reported as MediaWarnings.
    """
    if isinstance(input_path, VideoSource):
        source, owns_source = input_path, False
    else:
        source = VideoSource(input_path, keep_other_streams=not segment_seconds, timeout_s=timeout_s)
        owns_source = True
    batch_size = frames_per_batch(batch_size, source.info.width, source.info.height)
    stages: list[_Stage] = []
    try:
        report = _colorize_source(
            source, output_path, colorizer, stages, batch_size=batch_size, encoder=encoder, smooth=smooth, pins=pins,
            measure_cdc=measure_cdc, on_frames=on_frames, container_format=container_format, timeout_s=timeout_s,
            segment_seconds=segment_seconds, resume=resume, run=run,
        )
    finally:
        # A decoder still blocked in a read (a silent pipe) must not see its input closed under it.
        if owns_source and not any(stage.is_alive() for stage in stages):
            source.close()
    damage = source.damage_summary()
    if damage:
        warnings.warn(damage, MediaWarning, stacklevel=2)
    return report


def _open_writer(
    source: VideoSource, output_path: str | Path, encoder: EncoderOptions, batch_size: int,
    container_format: str | None, timeout_s: float | None, segment_seconds: float | None, resume: bool,
    run: dict | None,
) -> tuple[VideoWriter | SegmentedOutput, int | None]:
    """The output (a VideoWriter, or a SegmentedOutput) and the frames per segment (None: one piece)."""
    info = source.info
    if not segment_seconds:
        writer = VideoWriter(output_path, info, encoder, copy_streams_from=source,
                             container_format=container_format, timeout_s=timeout_s)
        return writer, None
    if is_stream_target(source.target) or is_stream_target(output_path):
        raise ValueError("a video is written in segments only from a file to a file")
    # Segments end on batch boundaries, so a resumed run sees the same batches.
    segment_frames = max(1, round(segment_seconds * float(info.fps) / batch_size)) * batch_size
    run = {**(run or {}), "batch_size": batch_size, "segment_frames": segment_frames}
    writer = SegmentedOutput(output_path, info, encoder, run, copy_streams_from=source.target, resume=resume)
    return writer, segment_frames


def _colorize_source(
    source: VideoSource,
    output_path: str | Path,
    colorizer: Colorizer,
    stages: list[_Stage],
    *,
    batch_size: int,
    encoder: EncoderOptions,
    smooth: bool,
    pins: Sequence[ReferencePin],
    measure_cdc: bool,
    on_frames: Callable[[int, float], None] | None,
    container_format: str | None,
    timeout_s: float | None,
    segment_seconds: float | None,
    resume: bool,
    run: dict | None,
) -> RunReport:
    """The body of :func:`colorize_video`; ``stages`` receives the decode and encode threads."""
    if source.info.is_colour:
        warnings.warn(
            f"{source.name}: the video is already in colour; it is coloured anew from its luma", MediaWarning, stacklevel=3
        )
    writer, segment_frames = _open_writer(
        source, output_path, encoder, batch_size, container_format, timeout_s, segment_seconds, resume, run
    )
    state, report = ClipState(), RunReport()
    saved = writer.saved if isinstance(writer, SegmentedOutput) else None
    if saved is not None:
        state, report = load_state(saved.state)
        report.resumed_frames = saved.frames
        if on_frames:
            on_frames(saved.frames, 0.0)
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=2)
    encoded: queue.Queue = queue.Queue(maxsize=2)
    pts_batches: queue.Queue = queue.Queue()

    def decode() -> None:
        batch: list[GrayFrame] = []
        first_decoded_at = 0.0
        frames = source.gray_frames()
        while True:
            started = time.perf_counter()
            frame = next(frames, None)
            report.timed("decode", started)
            if frame is None:
                break
            if not batch:
                first_decoded_at = time.monotonic()
            batch.append(frame)
            if len(batch) == batch_size:
                if not _put(decoded, (batch, first_decoded_at), stop):
                    return
                batch = []
        if batch:
            _put(decoded, (batch, first_decoded_at), stop)
        _put(decoded, _DONE, stop)

    def batches() -> Iterator[tuple[torch.Tensor, list[float]]]:
        while (item := _get(decoded, stop)) is not _DONE:
            frames, first_decoded_at = item
            pts_batches.put(([frame.pts for frame in frames], first_decoded_at))
            started = time.perf_counter()
            lightness = frames_lightness(frames)
            report.timed("to tensor", started)
            yield lightness, [frame.time - source.start_time for frame in frames]

    def encode() -> None:
        while (item := _get(encoded, stop)) is not _DONE:
            rgb, (pts, decoded_at), segment_end_state = item
            started = time.perf_counter()
            for frame_rgb, frame_pts in zip(rgb, pts):
                writer.write(frame_rgb, frame_pts)
            if segment_end_state is not None:
                writer.end_segment(segment_end_state)
            report.timed("encode", started)
            if on_frames:
                on_frames(len(pts), time.monotonic() - decoded_at)

    stages += [_Stage(decode, "vidcolor-decode", stop), _Stage(encode, "vidcolor-encode", stop)]
    try:
        if saved is None or not saved.complete:
            if saved is not None:
                source.start_at(saved.next_pts)
            for stage in stages:
                stage.start()
            try:
                for rgb in colorize_batches(
                    colorizer, batches(), smooth=smooth, report=report, pins=pins, measure_cdc=measure_cdc, state=state
                ):
                    at_segment_end = segment_frames is not None and report.frames % segment_frames == 0
                    item = (rgb.cpu().numpy(), pts_batches.get(), save_state(state, report) if at_segment_end else None)
                    if not _put(encoded, item, stop):
                        break
                _put(encoded, _DONE, stop)
                for stage in stages:
                    stage.join()
            finally:
                stop.set()  # unblocks the stages if the colourizer failed or was interrupted
                for stage in stages:
                    if stage.is_alive():
                        stage.join(timeout=_STAGE_EXIT_TIMEOUT_S)
            for stage in stages:
                if stage.error is not None:
                    raise stage.error
        started = time.perf_counter()
        writer.close()
        report.timed("finish (flush, join segments)", started)
    except BaseException:
        writer.abort()
        raise
    return report
