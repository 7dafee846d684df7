"""``vidcolor batch``: many films (files, folders, list files) to an output folder, on Ray."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from .. import defaults
from ..errors import VidcolorError
from .options import add_run_options
from ..references import parse_references


def build_batch_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidcolor batch",
        description="Colour many videos on Ray (a local one, or a cluster): each film is split into chunks at "
        "scene cuts that run in parallel; a rerun does only what is missing.",
    )
    parser.add_argument("inputs", nargs="+", help="videos, folders of videos, or list files (.txt: one video per "
                        "line, optionally followed by its own --reference options)")
    parser.add_argument("-o", "--out", required=True, help="output folder (created); outputs are named <stem>_color<ext>")
    parser.add_argument("-r", "--reference", action="append", default=[],
                        help="reference image or folder for every film without references of its own (repeatable; "
                        "none at all: automatic colours from the model's learned prior)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: one per GPU, else one per CPU)")
    parser.add_argument("--gpus-per-worker", type=float, default=1.0, help="GPUs per worker where there are GPUs")
    parser.add_argument("--ray-address", default=None, help="join this running Ray cluster (default: a local Ray)")
    parser.add_argument("--chunk-seconds", type=float, default=60.0,
                        help="about this much video per chunk, split at scene cuts where possible (default 60)")
    parser.add_argument("--retries", type=int, default=2, help="retries of a task whose worker died (default 2)")
    parser.add_argument("--task-timeout", type=float, default=3600.0, metavar="SECONDS",
                        help="a task running longer is retried on a new worker (default 3600)")
    parser.add_argument("--summary", help="write a JSON summary: each film's status, chunks, workers and times")
    parser.add_argument("--overwrite", action="store_true", help="colour again the films whose output exists "
                        "(default: skip them, so that a rerun does only what is missing)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_run_options(parser)
    parser.add_argument("--precision", choices=defaults.PRECISIONS, default=defaults.PRECISION)
    enc = parser.add_argument_group("encoder")
    enc.add_argument("--codec", default=defaults.CODEC)
    enc.add_argument("--crf", type=int, default=defaults.CRF)
    enc.add_argument("--preset", default=defaults.PRESET)
    enc.add_argument("--pix-fmt", default=defaults.PIX_FMT)
    return parser


def _list_entries(path: Path) -> list[tuple[str, list[str]]]:
    """A list file's lines: ``VIDEO [-r REF ...]``; blank lines and ``#`` comments skipped."""
    entries = []
    line_parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    line_parser.add_argument("input")
    line_parser.add_argument("-r", "--reference", action="append", default=[])
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            parsed = line_parser.parse_args(shlex.split(line))
        except (argparse.ArgumentError, ValueError, SystemExit) as error:
            raise VidcolorError(f"{path}:{number}: cannot read the line ({error})") from None
        base = path.parent
        entries.append((str(base / parsed.input), [str(base / r) if "=" not in r else r for r in parsed.reference]))
    return entries


def collect_films(inputs: list[str], references: list[str], out: Path) -> list:
    """The films of a batch, each with its references (its own from a list file, else the command's)."""
    from ..batch import Film

    entries: list[tuple[str, list[str]]] = []
    for value in inputs:
        path = Path(value)
        if path.is_dir():
            entries += [(str(p), []) for p in sorted(path.iterdir()) if p.suffix.lower() in defaults.VIDEO_SUFFIXES]
        elif path.suffix.lower() == ".txt":
            entries += _list_entries(path)
        else:
            entries.append((value, []))
    if not entries:
        raise VidcolorError("no videos found in the inputs")
    films, outputs = [], set()
    for video, own in entries:
        # No reference at all: the film is coloured automatically (the model's learned prior).
        paths, pins = parse_references(own or references)
        output = out / f"{Path(video).stem}_color{Path(video).suffix or '.mp4'}"
        if output in outputs:
            raise VidcolorError(f"{video}: two inputs would write the same output {output.name}")
        outputs.add(output)
        films.append(Film(video, str(output), tuple(str(p) for p in paths), tuple(pins)))
    return films


def batch_command(argv: list[str]) -> int:
    args = build_batch_parser().parse_args(argv)
    from ..batch import BatchSettings
    from ..runner import VideoOptions

    out = Path(args.out)
    films = collect_films(args.inputs, args.reference, out)
    for film in films:
        for path in (film.input, *film.references):
            if not Path(path).is_file():
                raise VidcolorError(f"{path}: no such file")
    out.mkdir(parents=True, exist_ok=True)
    existing = [film for film in films if Path(film.output).exists() and not args.overwrite]
    films = [film for film in films if film not in existing]
    settings = BatchSettings(
        model=args.model, device=args.device, work_size=args.work_size, precision=args.precision,
        hedge=not args.full_colour, chunk_seconds=args.chunk_seconds, retries=args.retries,
        task_timeout_s=args.task_timeout,
        options=VideoOptions(batch_size=args.batch_size, smooth=args.temporal == "flow", codec=args.codec,
                             crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt, keyframes=args.keyframes),
    )
    started = time.perf_counter()
    statuses = _run_with_progress(films, settings, args) if films else []
    seconds = time.perf_counter() - started
    if args.summary:
        Path(args.summary).write_text(json.dumps({"seconds": seconds, "films": [vars(s) for s in statuses]}, indent=1))
    failed = [s for s in statuses if s.status != "done"]
    for film in existing:
        print(f"  exists {film.input} -> {film.output} (skipped; --overwrite colours it again)", file=sys.stderr)
    for status in statuses:
        line = f"  {status.status:6s} {status.input}"
        line += f": {status.error}" if status.error else f" -> {status.output} ({status.frames} frames, " \
                f"{status.chunks_coloured} chunks coloured, {status.chunks_reused} reused)"
        print(line, file=sys.stderr)
    frames = sum(s.frames for s in statuses if s.status == "done")
    print(f"{len(statuses) - len(failed)} of {len(statuses)} videos done, {frames} frames in {seconds:.1f} s"
          + (f"; {len(existing)} skipped (output exists)" if existing else ""), file=sys.stderr)
    return 1 if failed else 0


def _run_with_progress(films: list, settings, args: argparse.Namespace) -> list:
    from tqdm import tqdm

    from ..batch import run_batch

    with tqdm(total=0, unit="frame", disable=args.quiet, file=sys.stderr, dynamic_ncols=True) as bar:

        def on_event(kind: str, details: dict) -> None:
            if kind == "frames":
                if "total" in details:
                    bar.total += details["total"]
                    bar.refresh()
                bar.update(details["count"])

        return run_batch(films, settings, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                         ray_address=args.ray_address, on_event=on_event)
