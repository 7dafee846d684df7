"""``vidcolor shots VIDEO --out FOLDER``: one still per shot and a shot list, for colourists."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import defaults
from ..errors import VidcolorError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidcolor shots",
        description="Find the shots of a video and write one still of each (its most representative frame) "
        "and shots.json. Colour the stills in any tool, keep their names, then colour the video with "
        "`vidcolor VIDEO --reference FOLDER`: each shot takes its own still.",
    )
    parser.add_argument("input", help="video file")
    parser.add_argument("--out", required=True, help="folder for the stills and shots.json (created if missing)")
    parser.add_argument("--overwrite", action="store_true", help="replace the stills and shots.json of an earlier run")
    parser.add_argument("--work-size", type=int, default=defaults.WORK_SIZE,
                        help=f"short side the shots are detected at; use the colouring run's (default {defaults.WORK_SIZE})")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    return parser


def _check(args: argparse.Namespace) -> Path:
    """Everything that can fail before reading the video."""
    from ..images import is_image_path

    source, folder = Path(args.input), Path(args.out)
    if not source.is_file():
        raise VidcolorError(f"{source}: no such file")
    if is_image_path(source):
        raise VidcolorError(f"{source}: a photo has no shots; give a video")
    if args.work_size < defaults.MIN_WORK_SIZE:
        raise VidcolorError(f"--work-size must be at least {defaults.MIN_WORK_SIZE} pixels, got {args.work_size}")
    if folder.exists() and not folder.is_dir():
        raise VidcolorError(f"{folder}: exists and is not a folder")
    if not folder.parent.is_dir():
        raise VidcolorError(f"{folder.parent}: no such folder")
    earlier = [*folder.glob("shot_*"), *folder.glob("shots.json")] if folder.is_dir() else []
    if earlier and not args.overwrite:
        raise VidcolorError(f"{folder}: holds the stills of an earlier run (use --overwrite to replace them)")
    return folder


def shots_command(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    folder = _check(args)
    from ..shots import find_shots, write_keyframes

    started = time.perf_counter()
    shots = find_shots(args.input, args.work_size)
    folder.mkdir(exist_ok=True)
    if args.overwrite:
        for old in [*folder.glob("shot_*"), *folder.glob("shots.json")]:
            old.unlink()
    listing = write_keyframes(args.input, shots, folder, args.work_size)
    if not args.quiet:
        print(f"{len(shots)} shot{'s' if len(shots) != 1 else ''} in {time.perf_counter() - started:.1f} s -> {listing}",
              file=sys.stderr)
        for shot in shots:
            print(f"  frames {shot.start}-{shot.end - 1} (from {shot.start_time:.2f} s): {shot.still} "
                  f"= frame {shot.keyframe}", file=sys.stderr)
    return 0
