"""Video colourisation: decode -> colourise in batches -> encode, as three overlapping stages.

A decoder thread and an encoder thread are joined to the colourizer by bounded queues, so the
model works while PyAV decodes and encodes, and memory stays flat however long the film is
(back-pressure: a full queue blocks its producer). An exception in any stage stops the others
and is raised once, from :func:`colorize_video`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import temporal
from .color import gray_to_lightness
from .colorizer import Colorizer
from .video import EncoderOptions, VideoInfo, VideoWriter, probe, read_gray_frames

_DONE = object()


@dataclass
class RunReport:
    """What a run did: frames, the shots found, and per-frame chroma energy (mean |ab|)."""

    frames: int = 0
    scene_cuts: list[int] = field(default_factory=list)
    chroma_energy: list[float] = field(default_factory=list)


def colorize_batches(
    colorizer: Colorizer,
    lightness_batches: Iterable[torch.Tensor],
    smooth: bool = True,
    report: RunReport | None = None,
) -> Iterator[torch.Tensor]:
    """Colourise consecutive batches of one clip: CIE L ``(b, 1, H, W)`` -> RGB uint8 ``(b, H, W, 3)``.

    Carries the temporal state (flow smoothing, cut detection) across batches, so the result
    does not depend on the batch size.
    """
    state = temporal.TemporalState()
    report = report if report is not None else RunReport()
    for lightness in lightness_batches:
        lightness_work, ab_work = colorizer.predict_ab(lightness)
        l_np = lightness_work[:, 0].cpu().numpy()
        ab_np = ab_work.permute(0, 2, 3, 1).cpu().numpy()
        smoothed = []
        for i in range(ab_np.shape[0]):
            ab, cut = temporal.step(state, l_np[i], ab_np[i], smooth=smooth)
            if cut and report.frames > 0:
                report.scene_cuts.append(report.frames)
            report.chroma_energy.append(float(np.abs(ab).mean()))
            report.frames += 1
            smoothed.append(ab)
        ab_work = torch.from_numpy(np.stack(smoothed)).permute(0, 3, 1, 2).to(lightness_work.device)
        yield colorizer.merge(lightness, lightness_work, ab_work)


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
    input_path: str | Path,
    output_path: str | Path,
    colorizer: Colorizer,
    *,
    batch_size: int = 8,
    encoder: EncoderOptions = EncoderOptions(),
    smooth: bool = True,
    on_frames: Callable[[int], None] | None = None,
    info: VideoInfo | None = None,
) -> RunReport:
    """Colourise a video file; audio, subtitles and metadata are copied. Returns a RunReport.

    The output appears under ``output_path`` only when complete. ``on_frames(n)`` is called
    after each batch of ``n`` frames is handed to the encoder (progress bars).
    """
    info = info or probe(input_path)
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=2)
    encoded: queue.Queue = queue.Queue(maxsize=2)
    report = RunReport()

    def decode() -> None:
        grays, pts = [], []
        for frame in read_gray_frames(input_path):
            grays.append(frame.gray)
            pts.append(frame.pts)
            if len(grays) == batch_size:
                if not _put(decoded, (np.stack(grays), pts), stop):
                    return
                grays, pts = [], []
        if grays:
            _put(decoded, (np.stack(grays), pts), stop)
        _put(decoded, _DONE, stop)

    def batches() -> Iterator[torch.Tensor]:
        while (item := _get(decoded, stop)) is not _DONE:
            gray, pts = item
            pts_batches.put(pts)
            yield gray_to_lightness(torch.from_numpy(gray)).unsqueeze(1)

    def encode(writer: VideoWriter) -> None:
        while (item := _get(encoded, stop)) is not _DONE:
            rgb, pts = item
            for frame_rgb, frame_pts in zip(rgb, pts):
                writer.write(frame_rgb, frame_pts)
            if on_frames:
                on_frames(len(pts))

    pts_batches: queue.Queue = queue.Queue()
    with VideoWriter(output_path, info, encoder, copy_streams_from=input_path) as writer:
        stages = [_Stage(decode, "vidcolor-decode", stop), _Stage(lambda: encode(writer), "vidcolor-encode", stop)]
        for stage in stages:
            stage.start()
        try:
            for rgb in colorize_batches(colorizer, batches(), smooth=smooth, report=report):
                if not _put(encoded, (rgb.cpu().numpy(), pts_batches.get()), stop):
                    break
            _put(encoded, _DONE, stop)
            for stage in stages:
                stage.join()
        finally:
            stop.set()  # unblocks the stages if the colourizer failed or was interrupted
            for stage in stages:
                stage.join(timeout=10)
        for stage in stages:
            if stage.error is not None:
                raise stage.error
    return report
