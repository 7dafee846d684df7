"""Video colourisation: decode -> colourise in batches -> encode, as three overlapping stages.

A decoder thread and an encoder thread are joined to the per-clip loop (:mod:`vidcolor.clip`) by
bounded queues, so the model works while PyAV decodes and encodes, and memory stays flat however
long the film is (back-pressure: a full queue blocks its producer). An exception in any stage
stops the others and is raised once, from :func:`colorize_video`.

A file output may be written in segments (:class:`vidcolor.media.SegmentedOutput`) so that an
interrupted run can be resumed; what identifies a run for that (:func:`run_identity`) is
defined here, so a library caller is refused a mismatched resume as the command line is.
"""

from __future__ import annotations

import collections
import functools
import itertools
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from . import defaults
from .allocator import HeapTrimmer
from .clip import ClipState, ReferencePin, colorize_batches, load_state, save_state
from .colorizer import Colorizer, working_shape
from .media import (
    YUV420_FORMATS,
    EncoderOptions,
    GrayFrame,
    MediaWarning,
    SegmentedOutput,
    VideoSource,
    VideoWriter,
    is_stream_target,
)
from .report import RunReport
from .yuv420 import code_lightness, gray_frame_planes, pays_off

_DONE = object()
# How long a stopped run waits for its decode and encode threads before giving up on them.
_STAGE_EXIT_TIMEOUT_S = 10.0
# Full-resolution float32 lightness one batch may hold: batches of large frames get fewer frames,
# so that the batches in flight (decoded, being coloured, queued for the encoder) stay small.
_BATCH_BYTES = 36 << 20


@dataclass(frozen=True)
class VideoOptions:
    """How :func:`colorize_video` colours and writes a video.

    ``batch_size``: most frames per batch (fewer above 720p, see :func:`frames_per_batch`).
    ``smooth``: flow-guided temporal smoothing of chroma. ``pins``: which reference colours
    which time (seconds from the first frame); without pins each shot takes the reference that
    matches its first frame best. ``codec``, ``crf``, ``preset``, ``pix_fmt``: the encoder
    (:class:`vidcolor.media.EncoderOptions`); ``low_delay``: no encoder lookahead, for live
    streams. ``container_format`` names the container where no file extension does (stdout,
    URLs); ``timeout_s`` bounds network waits. ``segment_seconds`` (file to file only) writes the
    video in closed segments of about that length, and ``resume`` continues an interrupted run
    after its last complete segment, with the same output as an uninterrupted run.
    ``measure_cdc`` fills the report's colour distribution consistency. ``keyframes``: "every"
    runs the network on every frame, "auto" on adaptive keyframes only (:mod:`vidcolor.keyframes`).
    """

    batch_size: int = defaults.BATCH_SIZE
    smooth: bool = True
    pins: Sequence[ReferencePin] = ()
    codec: str = defaults.CODEC
    crf: int = defaults.CRF
    preset: str = defaults.PRESET
    pix_fmt: str = defaults.PIX_FMT
    low_delay: bool = False
    container_format: str | None = None
    timeout_s: float | None = None
    segment_seconds: float | None = None
    resume: bool = False
    measure_cdc: bool = False
    keyframes: str = defaults.KEYFRAMES

    def encoder(self) -> EncoderOptions:
        return EncoderOptions(codec=self.codec, crf=self.crf, preset=self.preset, pix_fmt=self.pix_fmt,
                              low_delay=self.low_delay)


def frames_per_batch(batch_size: int, width: int, height: int) -> int:
    """Frames per batch: ``batch_size``, fewer for frames above 720p (4 at 1080p, 1 at 4K).

    At 1080p this takes ~150 MB off the peak memory and costs no speed on a CPU, where the
    network runs one frame per call anyway.
    """
    return max(1, min(batch_size, _BATCH_BYTES // (width * height * 4)))


def frames_lightness(frames: Sequence[GrayFrame]) -> torch.Tensor:
    """Decoded frames -> CIE L ``(b, 1, h, w)``, by one table lookup per sample.

    Decoded luma stays in its stored codes until here (a quarter of the memory of float gray
    in the decode queue at 8 bits) and each code maps straight to L through a table.
    """
    lightness = np.empty((len(frames), 1, *frames[0].codes.shape), np.float32)
    for i, frame in enumerate(frames):
        table = code_lightness(frame.bits, frame.full_range)
        if frame.codes.dtype == np.uint8:
            cv2.LUT(frame.codes, table, dst=lightness[i, 0])  # 0.3 ms per 1080p frame, numpy's take 4.9
        else:
            table.take(frame.codes, out=lightness[i, 0])
    return torch.from_numpy(lightness)


def run_identity(input_path: str | Path, colorizer_identity: dict, options: VideoOptions) -> dict:
    """What makes a run's output what it is (JSON-able); a resumed run must match the saved one.

    The input file (path, size, modification time), the colourizer (``Colorizer.identity()``:
    weights, references, settings), the pins and every option that changes the frames or their
    encoding. Also what keys a chunked run's saved chunks (:mod:`vidcolor.batch`).
    """
    path = Path(input_path).resolve()
    stat = path.stat()
    return {
        "input": [str(path), stat.st_size, stat.st_mtime_ns],
        "colorizer": colorizer_identity,
        "pins": [[pin.seconds if pin.frame is None else f"#{pin.frame}", pin.index] for pin in options.pins],
        "encoder": asdict(options.encoder()),
        "smooth": options.smooth,
        "keyframes": options.keyframes,
    }


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
    options: VideoOptions = VideoOptions(),
    on_frames: Callable[[int, float], None] | None = None,
) -> RunReport:
    """Colourise a video; audio, subtitles and metadata are copied. Returns a :class:`RunReport`.

    ``input_path`` is a file, ``"-"`` (stdin) or a URL, or a :class:`VideoSource` already
    opened on one (with ``keep_other_streams=True``, except for a segmented run, which copies
    the other streams from the file at the end); the input is read once. ``output_path`` is a
    file, ``"-"`` (stdout) or a URL. The colorizer's references are chosen per shot, or by
    ``options.pins``. A file output appears under ``output_path`` only when complete, also when
    the run is interrupted (KeyboardInterrupt) or fails.

    ``on_frames(n, delay_s)`` is called after each batch of ``n`` frames is handed to the
    encoder, ``delay_s`` seconds after the batch's first frame was decoded (progress bars, live
    latency; a resumed run first reports the frames already done, with delay 0). A colour input
    (coloured from its luma) and damaged input (frames skipped) are reported as MediaWarnings.
    """
    if isinstance(input_path, VideoSource):
        source, owns_source = input_path, False
    else:
        source = VideoSource(input_path, keep_other_streams=not options.segment_seconds, timeout_s=options.timeout_s)
        owns_source = True
    stages: list[_Stage] = []
    try:
        report = _colorize_source(source, output_path, colorizer, options, on_frames, stages)
    finally:
        # A decoder still blocked in a read (a silent pipe) must not see its input closed under it.
        if owns_source and not any(stage.is_alive() for stage in stages):
            source.close()
    damage = source.damage_summary()
    if damage:
        warnings.warn(damage, MediaWarning, stacklevel=2)
    return report


def _open_writer(
    source: VideoSource, output_path: str | Path, colorizer: Colorizer, options: VideoOptions, batch_size: int
) -> tuple[VideoWriter | SegmentedOutput, int | None]:
    """The output (a VideoWriter, or a SegmentedOutput) and the frames per segment (None: one piece)."""
    info = source.info
    if not options.segment_seconds:
        writer = VideoWriter(output_path, info, options.encoder(), copy_streams_from=source,
                             container_format=options.container_format, timeout_s=options.timeout_s)
        return writer, None
    if is_stream_target(source.target) or is_stream_target(output_path):
        raise ValueError("a video is written in segments only from a file to a file")
    # Segments end on batch boundaries, so a resumed run sees the same batches.
    segment_frames = max(1, round(options.segment_seconds * float(info.fps) / batch_size)) * batch_size
    run = {**run_identity(source.target, colorizer.identity(), options), "batch_size": batch_size,
           "segment_frames": segment_frames}
    writer = SegmentedOutput(output_path, info, options.encoder(), run, copy_streams_from=source.target,
                             resume=options.resume)
    return writer, segment_frames


def _colorize_source(
    source: VideoSource,
    output_path: str | Path,
    colorizer: Colorizer,
    options: VideoOptions,
    on_frames: Callable[[int, float], None] | None,
    stages: list[_Stage],
) -> RunReport:
    """The body of :func:`colorize_video`; ``stages`` receives the decode and encode threads."""
    if source.info.is_colour:
        warnings.warn(
            f"{source.name}: the video is already in colour; it is coloured anew from its luma", MediaWarning, stacklevel=3
        )
    batch_size = frames_per_batch(options.batch_size, source.info.width, source.info.height)
    writer, segment_frames = _open_writer(source, output_path, colorizer, options, batch_size)
    state, report = ClipState(), RunReport()
    saved = writer.saved if isinstance(writer, SegmentedOutput) else None
    if saved is not None:
        state, report = load_state(saved.state)
        report.resumed_frames = saved.frames
        if on_frames:
            on_frames(saved.frames, 0.0)
    try:
        if saved is None or not saved.complete:
            if saved is not None:
                source.start_at(saved.next_pts)
            _run_stages(source, writer, colorizer, options, on_frames, stages, state, report,
                        batch_size, segment_frames)
        started = time.perf_counter()
        writer.close()
        report.timed("finish (flush, join segments)", started)
    except BaseException:
        writer.abort()
        raise
    return report


def colorize_frames(
    source: VideoSource, writer, colorizer: Colorizer, options: VideoOptions, state: ClipState,
    frame_count: int | None = None, on_frames: Callable[[int, float], None] | None = None, first_frame: int = 0,
) -> RunReport:
    """Colour the next ``frame_count`` frames of ``source`` (all: None) into ``writer``, from ``state``.

    The building block of a chunked run (:mod:`vidcolor.chunks`): ``source`` may have been
    started at a later frame (:meth:`VideoSource.start_at`) and ``state`` is the clip's state
    just before it; ``writer`` is any object with ``write(picture, pts)`` taking RGB arrays and,
    for a 4:2:0 ``options.pix_fmt``, :class:`~vidcolor.media.Yuv420Planes` (e.g. a
    :class:`VideoWriter`), which the caller closes. Decoding and encoding overlap with the
    colouring as in :func:`colorize_video`. ``first_frame`` is the number of the source's next
    frame in the whole film (frame pins and the report count from it).
    """
    report = RunReport(frames=first_frame)
    batch_size = frames_per_batch(options.batch_size, source.info.width, source.info.height)
    stages: list[_Stage] = []
    _run_stages(source, writer, colorizer, options, on_frames, stages, state, report, batch_size, None, frame_count)
    return report


def _run_stages(
    source: VideoSource, writer: VideoWriter | SegmentedOutput, colorizer: Colorizer, options: VideoOptions,
    on_frames: Callable[[int, float], None] | None, stages: list[_Stage], state: ClipState, report: RunReport,
    batch_size: int, segment_frames: int | None, frame_count: int | None = None,
) -> None:
    """Decode and encode in their own threads while this one colours; raises the first stage's error."""
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=2)
    encoded: queue.Queue = queue.Queue(maxsize=2)
    stages += [
        _Stage(functools.partial(_decode, source, decoded, batch_size, report, stop, frame_count), "vidcolor-decode", stop),
        _Stage(functools.partial(_encode, writer, encoded, on_frames, report, stop), "vidcolor-encode", stop),
    ]

    info = source.info
    full_range = yuv420_output(info.height, info.width, colorizer.work_size, options.pix_fmt, options.measure_cdc)
    pending: collections.deque = collections.deque()  # each batch's decoded frames and arrival, until coloured

    def batches() -> Iterator[tuple[torch.Tensor, list[float]]]:
        while (item := _get(decoded, stop)) is not _DONE:
            frames, _ = item
            started = time.perf_counter()
            lightness = frames_lightness(frames)
            report.timed("to tensor", started)
            pending.append(item)
            yield lightness, [frame.time - source.start_time for frame in frames]

    trim_heap = HeapTrimmer()  # long runs: keep resident memory flat (vidcolor/allocator.py)
    for stage in stages:
        stage.start()
    try:
        for coloured in colorize_batches(colorizer, batches(), smooth=options.smooth, report=report, pins=options.pins,
                                         measure_cdc=options.measure_cdc, state=state, keyframes=options.keyframes,
                                         output="rgb" if full_range is None else "ab"):
            frames, first_decoded_at = pending.popleft()
            if full_range is None:
                pictures = coloured.cpu().numpy()
            else:
                started = time.perf_counter()
                lightness_work, ab_work = coloured
                pictures = [gray_frame_planes(frame, lightness_work[i], ab_work[i], full_range)
                            for i, frame in enumerate(frames)]
                report.timed("upsample + merge", started)
            at_segment_end = segment_frames is not None and report.frames % segment_frames == 0
            item = (pictures, ([frame.pts for frame in frames], first_decoded_at),
                    save_state(state, report) if at_segment_end else None)
            if not _put(encoded, item, stop):
                break
            trim_heap()
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


def yuv420_output(height: int, width: int, work_size: int, pix_fmt: str, measure_cdc: bool = False) -> bool | None:
    """Whether colour goes to the encoder as 4:2:0 planes (:mod:`vidcolor.yuv420`), and then in which
    range (True: full); None: as RGB frames (another pixel format, an odd size, a picture where the
    planes do not pay off: :func:`vidcolor.yuv420.pays_off`, or CDC measured). ``vidcolor evaluate
    --encoded`` makes the same choice for the default output."""
    work_shape = working_shape(height, width, work_size)
    if width % 2 or height % 2 or measure_cdc or not pays_off(height, width, work_shape):
        return None
    return YUV420_FORMATS.get(pix_fmt)


def _decode(source: VideoSource, decoded: queue.Queue, batch_size: int, report: RunReport,
            stop: threading.Event, frame_count: int | None = None) -> None:
    """The decode stage: batches of decoded frames (the first ``frame_count``, or all), with when
    each batch's first frame came."""
    batch: list[GrayFrame] = []
    first_decoded_at = 0.0
    frames = itertools.islice(source.gray_frames(), frame_count)
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


def _encode(writer: VideoWriter | SegmentedOutput, encoded: queue.Queue,
            on_frames: Callable[[int, float], None] | None, report: RunReport, stop: threading.Event) -> None:
    """The encode stage: frames to the writer, a segment closed where the clip loop saved its state."""
    while (item := _get(encoded, stop)) is not _DONE:
        pictures, (pts, decoded_at), segment_end_state = item
        started = time.perf_counter()
        for picture, frame_pts in zip(pictures, pts):
            writer.write(picture, frame_pts)
        if segment_end_state is not None:
            writer.end_segment(segment_end_state)
        report.timed("encode", started)
        if on_frames:
            on_frames(len(pts), time.monotonic() - decoded_at)
