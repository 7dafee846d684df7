"""Many films on a Ray cluster (or a local Ray): long-lived workers, films split into chunks.

Each worker is a Ray actor that loads the model once: one per GPU (never more GPU workers than
GPUs), or CPU workers when there is no GPU. A film is first scanned (frames, scene cuts), then
split into chunks at scene cuts (:mod:`vidcolor.chunks`), which the workers colour in parallel;
the driver joins a film's chunks without re-encoding and copies its audio and subtitles once.

Every machine must see the same paths (inputs, references, the output folder: a shared file
system). A chunk is written under a temporary name and renamed when complete, into a folder
beside the output keyed by what makes the output what it is (input, model, references,
settings, chunk plan); a rerun of the same command colours only the chunks that are missing,
and a changed setting starts the film's chunks afresh. A worker that dies is replaced and its
task retried; every wait has a timeout; a film that fails does not stop the others.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .allocator import keep_large_blocks_on_heap
from .chunks import Chunk, colour_chunk, join_chunks, plan_chunks, scan_video
from .clip import ReferencePin
from .colorizer import Colorizer
from .errors import VidcolorError
from .images import read_image
from .media import MediaError, plan_segments
from .runner import VideoOptions, run_identity

try:
    import ray
except ImportError:  # the optional extra; run_batch says how to install it
    ray = None

_RUN_FILE = "run.json"


@dataclass(frozen=True)
class Film:
    """One input of a batch: where it is, where its output goes, its references and pins."""

    input: str
    output: str
    references: tuple[str, ...]
    pins: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True)
class BatchSettings:
    """What every worker needs: the model and colourizer settings, the video options, the chunking."""

    model: str | None = None
    device: str = "auto"
    work_size: int = 256
    precision: str = "auto"
    hedge: bool = True
    options: VideoOptions = VideoOptions()
    chunk_seconds: float = 60.0  # about this much video per chunk, split at scene cuts where possible
    warmup_frames: int = 16
    retries: int = 2  # times a task is retried after its worker died or timed out
    task_timeout_s: float = 3600.0


@dataclass
class FilmStatus:
    """How a film went: ``status`` is "done", "failed" or "stopped"."""

    input: str
    output: str
    status: str = "pending"
    error: str | None = None
    frames: int = 0
    chunks: int = 0
    chunks_coloured: int = 0
    chunks_reused: int = 0
    seconds: float = 0.0
    tasks: list[dict] = field(default_factory=list)


class _Worker:
    """A Ray actor: one loaded model, scanning films and colouring chunks."""

    def __init__(self, settings: BatchSettings, threads: int):
        import torch

        keep_large_blocks_on_heap()  # as the command line does (vidcolor/allocator.py)
        torch.set_num_threads(max(1, threads))
        self.settings = settings
        self.colorizer = Colorizer.from_pretrained(settings.model, device=settings.device, work_size=settings.work_size,
                                                   precision=settings.precision, hedge=settings.hedge)
        self.references: tuple[str, ...] = ()

    def _use(self, film: Film) -> None:
        if film.references != self.references:
            self.colorizer.set_references([read_image(path) for path in film.references])
            self.references = film.references

    def where(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "device": self.colorizer.device.type}

    def scan(self, film: Film) -> tuple:
        self._use(film)
        pins = [ReferencePin(seconds, index) for seconds, index in film.pins]
        scan = scan_video(film.input, self.colorizer, pins)
        return scan, self.colorizer.identity()

    def colour(self, film: Film, chunk: Chunk, segment: str) -> dict:
        self._use(film)
        options = _film_options(self.settings.options, film)
        started = time.perf_counter()
        colour_chunk(film.input, chunk, segment, self.colorizer, options, film.output)
        return {"frames": chunk.end - chunk.start, "seconds": time.perf_counter() - started, **self.where()}


def _film_options(options: VideoOptions, film: Film) -> VideoOptions:
    return replace(options, pins=[ReferencePin(seconds, index) for seconds, index in film.pins], segment_seconds=None,
                   resume=False)


def chunk_folder(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f".{output.name}.chunks")


def _prepare_folder(film: Film, identity: dict) -> Path:
    """The film's chunk folder for this run: kept when the run is the same, emptied when not."""
    folder = chunk_folder(film.output)
    run_file = folder / _RUN_FILE
    if folder.is_dir():
        try:
            same = json.loads(run_file.read_text()) == identity
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(folder)
    folder.mkdir(exist_ok=True)
    if not run_file.is_file():
        tmp = run_file.with_name(_RUN_FILE + ".tmp")
        tmp.write_text(json.dumps(identity, indent=1))
        os.replace(tmp, run_file)
    return folder


def _identity(film: Film, colorizer_identity: dict, settings: BatchSettings, chunks: list[Chunk]) -> dict:
    """The run's identity (as it reads back from run.json) with the chunk plan."""
    identity = run_identity(film.input, colorizer_identity, _film_options(settings.options, film))
    return json.loads(json.dumps({**identity, "chunks": [[c.start, c.end, c.warmup_start] for c in chunks]}))


class _Pool:
    """The worker actors: started, replaced when they die, each running one task at a time."""

    def __init__(self, settings: BatchSettings, workers: int, gpus_per_worker: float, cpus_per_worker: float):
        remote_worker = ray.remote(_Worker)
        # Workers decode, colour and encode on the same cores: OpenMP threads that sleep when idle
        # (vidcolor/openmp.py; the policy is read when torch loads, so it goes in the environment).
        runtime_env = {"env_vars": {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}}
        self._make = lambda: remote_worker.options(
            num_gpus=gpus_per_worker, num_cpus=cpus_per_worker, max_concurrency=1, runtime_env=runtime_env,
        ).remote(settings, int(cpus_per_worker) or 1)
        self.idle = [self._make() for _ in range(workers)]

    def replace(self, actor) -> None:
        ray.kill(actor, no_restart=True)
        self.idle.append(self._make())

    def shutdown(self) -> None:
        for actor in self.idle:
            ray.kill(actor, no_restart=True)


def _worker_counts(workers: int | None, gpus_per_worker: float) -> tuple[int, float, float]:
    """How many workers, with how many GPUs and CPUs each, for this cluster."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
    if gpus:
        count = min(workers or gpus, int(gpus / gpus_per_worker))
        return max(1, count), gpus_per_worker, 1.0
    count = max(1, min(workers or cpus, cpus))
    return count, 0.0, max(1.0, float(cpus // count))


def run_batch(
    films: Sequence[Film],
    settings: BatchSettings,
    *,
    workers: int | None = None,
    gpus_per_worker: float = 1.0,
    ray_address: str | None = None,
    on_event: Callable[[str, dict], None] | None = None,
) -> list[FilmStatus]:
    """Colour ``films`` on Ray; returns each film's status (a failed film does not stop the others).

    ``ray_address`` joins a running cluster (else a local Ray is started and stopped here).
    ``on_event(kind, details)`` hears of progress: "frames" (``count``), "task started",
    "task done", "film done", "film failed" (with the film's ``input``).
    """
    if ray is None:
        raise VidcolorError("running on Ray needs the ray extra: pip install 'vidcolor[ray]'")
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(address=ray_address, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        count, gpus, cpus = _worker_counts(workers, gpus_per_worker)
        pool = _Pool(settings, count, gpus, cpus)
        try:
            return _Scheduler(films, settings, pool, on_event or (lambda kind, details: None)).run()
        finally:
            pool.shutdown()
    finally:
        if started_ray:
            ray.shutdown()


class _Scheduler:
    """The driver's loop: hand tasks to idle workers, collect results, retry, join finished films."""

    def __init__(self, films: Sequence[Film], settings: BatchSettings, pool: _Pool, on_event):
        self.films, self.settings, self.pool, self.on_event = list(films), settings, pool, on_event
        self.status = [FilmStatus(film.input, film.output) for film in films]
        self.tasks: collections.deque = collections.deque(("scan", i, None, 0) for i in range(len(films)))
        self.running: dict = {}  # object ref -> (task, actor, started)
        self.left: dict[int, set[int]] = {}  # film -> chunk indices not yet coloured
        self.segments: dict[int, list[Path]] = {}
        self.started = {i: time.monotonic() for i in range(len(films))}

    def run(self) -> list[FilmStatus]:
        try:
            while self.tasks or self.running:
                self._assign()
                ready, _ = ray.wait(list(self.running), num_returns=1, timeout=1.0)
                for ref in ready:
                    self._collect(ref)
                self._expire()
        except BaseException:
            for _, actor, _ in self.running.values():
                ray.kill(actor, no_restart=True)
            for status in self.status:
                if status.status == "pending":
                    status.status = "stopped"
            raise
        return self.status

    def _assign(self) -> None:
        while self.tasks and self.pool.idle:
            task = self.tasks.popleft()
            kind, film_index, chunk, _ = task
            if self.status[film_index].status == "failed":
                continue
            actor = self.pool.idle.pop()
            film = self.films[film_index]
            if kind == "scan":
                ref = actor.scan.remote(film)
            else:
                ref = actor.colour.remote(film, chunk, str(self.segments[film_index][chunk.index]))
            self.running[ref] = (task, actor, time.monotonic())
            self.on_event("task started", {"kind": kind, "input": film.input, "actor": actor,
                                           "chunk": None if chunk is None else chunk.index})

    def _collect(self, ref) -> None:
        task, actor, _ = self.running.pop(ref)
        kind, film_index, chunk, tries = task
        try:
            result = ray.get(ref, timeout=self.settings.task_timeout_s)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            self.pool.replace(actor)
            self._retry(task, "its worker stopped")
            return
        except ray.exceptions.RayTaskError as error:
            self.pool.idle.append(actor)
            self._fail(film_index, _message(error))
            return
        self.pool.idle.append(actor)
        if kind == "scan":
            self._planned(film_index, *result)
        else:
            self._coloured(film_index, chunk, result, tries)

    def _expire(self) -> None:
        """A task past its time limit: its worker is killed and replaced, the task retried."""
        now = time.monotonic()
        for ref, (task, actor, started) in list(self.running.items()):
            if now - started > self.settings.task_timeout_s:
                del self.running[ref]
                self.pool.replace(actor)
                self._retry(task, f"it took over {self.settings.task_timeout_s:g} s")

    def _retry(self, task: tuple, why: str) -> None:
        kind, film_index, chunk, tries = task
        if tries >= self.settings.retries:
            self._fail(film_index, f"a {kind} task failed {tries + 1} times ({why})")
        else:
            self.tasks.appendleft((kind, film_index, chunk, tries + 1))

    def _planned(self, film_index: int, scan, colorizer_identity: dict) -> None:
        film, status = self.films[film_index], self.status[film_index]
        chunk_frames = max(1, round(self.settings.chunk_seconds * float(scan.info.fps)))
        chunks = plan_chunks(scan, chunk_frames, self.settings.warmup_frames)
        folder = _prepare_folder(film, _identity(film, colorizer_identity, self.settings, chunks))
        _, muxer = plan_segments(film.output, scan.info, _film_options(self.settings.options, film).encoder())
        self.segments[film_index] = [folder / f"{chunk.name}.{muxer}" for chunk in chunks]
        status.frames, status.chunks = scan.frames, len(chunks)
        missing = [chunk for chunk in chunks if not self.segments[film_index][chunk.index].is_file()]
        status.chunks_reused = len(chunks) - len(missing)
        self.on_event("frames", {"count": sum(c.end - c.start for c in chunks if c not in missing), "total": scan.frames,
                                 "input": film.input})
        self.left[film_index] = {chunk.index for chunk in missing}
        self.tasks.extend(("chunk", film_index, chunk, 0) for chunk in missing)
        if not missing:
            self._join(film_index)

    def _coloured(self, film_index: int, chunk: Chunk, result: dict, tries: int) -> None:
        status = self.status[film_index]
        status.tasks.append({"chunk": chunk.index, "start": chunk.start, "end": chunk.end, "tries": tries + 1, **result})
        status.chunks_coloured += 1
        self.on_event("frames", {"count": result["frames"], "input": self.films[film_index].input})
        self.left[film_index].discard(chunk.index)
        if not self.left[film_index] and status.status != "failed":
            self._join(film_index)

    def _join(self, film_index: int) -> None:
        film, status = self.films[film_index], self.status[film_index]
        try:
            join_chunks(self.segments[film_index], film.output, film.input)
        except (MediaError, VidcolorError, OSError) as error:
            self._fail(film_index, str(error))
            return
        shutil.rmtree(chunk_folder(film.output), ignore_errors=True)
        status.status, status.seconds = "done", time.monotonic() - self.started[film_index]
        self.on_event("film done", {"input": film.input})

    def _fail(self, film_index: int, message: str) -> None:
        status = self.status[film_index]
        if status.status != "failed":
            status.status, status.error = "failed", message
            status.seconds = time.monotonic() - self.started[film_index]
            self.on_event("film failed", {"input": status.input, "error": message})


def _message(error: Exception) -> str:
    """The one-line message of a task's error (the user-facing text of a MediaError or VidcolorError)."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, (MediaError, VidcolorError)):
        return str(cause)
    return f"{type(cause or error).__name__}: {str(cause or error).splitlines()[0] if str(cause or error) else ''}"
