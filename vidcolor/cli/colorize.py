"""The main command, ``vidcolor INPUT --reference REF``: options, checks before any work, the run, the summary."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from .. import __version__, defaults
from ..errors import TooLargeError, VidcolorError, megapixels
from .options import add_run_options
from .progress import progress
from ..references import parse_references


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidcolor",
        description="Colour a black-and-white video or photo from a colour reference image.",
        epilog="other commands: vidcolor example | train | evaluate | demo | shots | batch | gst-path  "
        "(see `vidcolor COMMAND --help`)",
    )
    parser.add_argument("--version", action="version", version=f"vidcolor {__version__}")
    parser.add_argument("input", help="video or photo to colourise")
    parser.add_argument(
        "-r", "--reference", action="append", default=[],
        help="colour reference image or folder of images (none: automatic colours from the model's "
        "learned prior); repeat for several (the best match is "
        "chosen per shot) or pin one to a time or a frame: --reference 0:00=a.jpg --reference 1:30=b.jpg "
        "or --reference '#0=a.jpg' --reference '#2160=b.jpg'; a folder from `vidcolor shots` gives each "
        "shot its own still",
    )
    parser.add_argument("-o", "--output", help="output path (default: <input stem>_color<ext>)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    parser.add_argument("--report", help="write a JSON report: shots, chosen references, scene cuts, flicker, CDC")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from its last complete segment (same command otherwise)")
    parser.add_argument("--segment", type=float, default=defaults.SEGMENT_SECONDS, metavar="SECONDS",
                        help="write a file output in closed segments of about this length, which an interrupted "
                        f"run resumes from (default {defaults.SEGMENT_SECONDS:g}; 0: in one piece, not resumable)")
    parser.add_argument("--max-megapixels", type=float, default=None, metavar="MP",
                        help="largest photo, reference or video frame accepted, in Mpixel (default "
                        f"{megapixels(defaults.MAX_PHOTO_PIXELS)} for photos and references, "
                        f"{megapixels(defaults.MAX_VIDEO_PIXELS)} (8K) for video frames)")
    add_run_options(parser)
    parser.add_argument("--precision", choices=defaults.PRECISIONS, default=defaults.PRECISION,
                        help="network precision (default: fp16 on a GPU, bf16 on a CPU with AMX or AVX512-BF16, else fp32)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (faster on a GPU after a slow start)")
    stream = parser.add_argument_group("streams", "INPUT and -o may be - (stdin/stdout) or a URL (tcp://, udp://, ...)")
    stream.add_argument("--format", dest="container_format", choices=defaults.STREAM_FORMATS,
                        help="container written to stdout or a URL (needed for -o -)")
    stream.add_argument("--latency", type=int, metavar="N",
                        help="low-latency mode: at most N frames in flight (batches of N, no encoder lookahead)")
    stream.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help=f"how long a network peer may take to connect or stay silent (default {defaults.NETWORK_TIMEOUT_S:g})")
    enc = parser.add_argument_group("encoder")
    enc.add_argument("--codec", default=defaults.CODEC, help=f"video codec (default {defaults.CODEC})")
    enc.add_argument("--crf", type=int, default=defaults.CRF, help=f"constant rate factor (default {defaults.CRF})")
    enc.add_argument("--preset", default=defaults.PRESET, help=f"encoder preset (default {defaults.PRESET})")
    enc.add_argument("--pix-fmt", default=defaults.PIX_FMT, help=f"output pixel format (default {defaults.PIX_FMT})")
    return parser

def default_output(input_path: Path) -> Path:
    return input_path.with_name(f"{input_path.stem}_color{input_path.suffix}")

def check_paths(input_path: str, output_path: str, overwrite: bool) -> None:
    """Refuse, before any work, everything that would fail late or lose data.

    ``-`` (stdin/stdout) and URLs are not files: only their format is checked, later.
    """
    from ..media import is_stream_target

    input_is_file, output_is_file = not is_stream_target(input_path), not is_stream_target(output_path)
    if input_is_file:
        source = Path(input_path)
        if not source.exists():
            raise VidcolorError(f"{source}: no such file")
        if not source.is_file() or not os.access(source, os.R_OK):
            raise VidcolorError(f"{source}: not a readable file")
        if source.stat().st_size == 0:
            raise VidcolorError(f"{source}: empty file")
    if output_is_file:
        target = Path(output_path)
        if input_is_file and target.resolve() == Path(input_path).resolve():
            raise VidcolorError(f"{target}: the output would overwrite the input; choose another -o")
        if target.exists() and not overwrite:
            raise VidcolorError(f"{target}: already exists (use --overwrite to replace it)")
        if not target.parent.is_dir():
            raise VidcolorError(f"{target.parent}: output directory does not exist")


def _output_for(args: argparse.Namespace) -> str:
    from ..media import is_stream_target

    if args.output:
        return args.output
    if is_stream_target(args.input):
        raise VidcolorError(f"{args.input}: name the output with -o (a file, - for stdout, or a URL)")
    return str(default_output(Path(args.input)))


@dataclasses.dataclass
class _Plan:
    """A colouring run, checked before anything is loaded."""

    output: str
    is_photo: bool
    segmented: bool
    reference_paths: list[Path]
    references: list  # RGB uint8 (h, w, 3) arrays
    pins: list[tuple[float, int]]
    photo_max_pixels: int = defaults.MAX_PHOTO_PIXELS  # photos and references
    video_max_pixels: int = defaults.MAX_VIDEO_PIXELS


def plan_run(args: argparse.Namespace) -> _Plan:
    """Check every argument and read the references: all that can fail fails before the model loads."""
    from ..images import image_file_size, is_image_path, read_image
    from ..media import check_output_target, is_stream_target

    output = _output_for(args)
    check_paths(args.input, output, args.overwrite)
    is_photo = not is_stream_target(args.input) and is_image_path(args.input)
    if is_photo and (is_stream_target(output) or not is_image_path(output)):
        raise VidcolorError(f"{output}: a photo is written as an image; name the output .png, .jpg, .tif or .webp")
    if not is_photo and not is_stream_target(output) and is_image_path(output):
        raise VidcolorError(f"{output}: a video cannot be written as an image; name the output .mp4, .mkv or .mov")
    if output == "-" and not args.container_format:
        raise VidcolorError("-o - writes to stdout: choose its container with --format (mpegts, matroska or nut)")
    if not is_photo:
        check_output_target(output, args.container_format)
    if args.work_size < defaults.MIN_WORK_SIZE:
        raise VidcolorError(f"--work-size must be at least {defaults.MIN_WORK_SIZE} pixels, got {args.work_size}")
    if args.latency is not None and args.latency < 1:
        raise VidcolorError("--latency must be at least 1 frame")
    if args.segment < 0:
        raise VidcolorError("--segment must be 0 (one piece) or a length in seconds")
    segmented = args.segment > 0 and not is_stream_target(args.input) and not is_stream_target(output)
    if args.resume and not segmented:
        raise VidcolorError("--resume needs a file input and a file output written in segments (--segment > 0)")
    if args.report and not is_stream_target(output) and Path(args.report).resolve() in (
        Path(args.input).resolve(), Path(output).resolve()
    ):
        raise VidcolorError(f"{args.report}: the report would overwrite the input or the output")
    if is_photo and args.report:
        raise VidcolorError("--report applies to videos, not photos")
    if args.max_megapixels is not None and not args.max_megapixels > 0:
        raise VidcolorError("--max-megapixels must be a positive number of Mpixel")
    limits = ([round(args.max_megapixels * 1e6)] * 2 if args.max_megapixels
              else [defaults.MAX_PHOTO_PIXELS, defaults.MAX_VIDEO_PIXELS])
    if is_photo:
        image_file_size(args.input, limits[0])  # from its header: a bomb is refused before the model loads
    reference_paths, pins = parse_references(args.reference)
    references = [read_image(path, limits[0]) for path in reference_paths]
    return _Plan(output, is_photo, segmented, reference_paths, references, pins, *limits)

def colorize_command(args: argparse.Namespace) -> int:
    try:
        return _colorize(args)
    except TooLargeError as exc:  # the library's message, and how to get past it here
        raise VidcolorError(f"{exc}; raise the limit with --max-megapixels") from exc


def _colorize(args: argparse.Namespace) -> int:
    from ..images import read_image, write_image

    plan = plan_run(args)
    from ..colorizer import Colorizer  # torch: 2 s of imports that bad arguments need not wait for
    started = time.perf_counter()
    colorizer = Colorizer.from_pretrained(
        args.model, device=args.device, work_size=args.work_size, precision=args.precision, compile=args.compile,
        hedge=not args.full_colour,
    )
    colorizer.set_references(plan.references)
    if not plan.references and not args.quiet:
        print("vidcolor: no --reference: the colours come from the model's learned prior alone (automatic mode; "
              "the shipped model has no colour prior yet, so with it they come out near gray)", file=sys.stderr)
    if plan.is_photo:
        # No name for the photo: it is freed before the result is written (a 100-Mpixel one is 300 MB).
        coloured = colorizer.colorize_photo(read_image(args.input, plan.photo_max_pixels),
                                            max_pixels=plan.photo_max_pixels)
        write_image(plan.output, coloured)
        if not args.quiet:
            print(f"coloured 1 photo in {time.perf_counter() - started:.1f} s -> {plan.output}", file=sys.stderr)
        return 0
    report = _colorize_video_file(args, plan, colorizer)
    if args.report:
        payload = report.to_dict()
        payload["references"] = [str(path) for path in plan.reference_paths]
        write_json(Path(args.report), payload)
    if not args.quiet:
        _print_summary(report, plan, time.perf_counter() - started)
    return 0


def _colorize_video_file(args: argparse.Namespace, plan: _Plan, colorizer):
    from ..clip import ReferencePin
    from ..media import VideoSource, parts_folder
    from ..runner import VideoOptions, colorize_video

    low_delay = args.latency is not None
    options = VideoOptions(
        batch_size=min(args.batch_size, args.latency) if low_delay else args.batch_size,
        smooth=args.temporal == "flow", pins=[ReferencePin(sec, i) for sec, i in plan.pins],
        codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt, low_delay=low_delay,
        container_format=args.container_format, timeout_s=args.timeout,
        segment_seconds=args.segment if plan.segmented else None, resume=args.resume, measure_cdc=bool(args.report),
        keyframes=args.keyframes,
    )
    # Opened once, here: a pipe or live stream cannot be probed and then read again. With
    # -o -, stdout carries media bytes only: anything printed goes to stderr instead.
    quiet_stdout = contextlib.redirect_stdout(sys.stderr) if plan.output == "-" else contextlib.nullcontext()
    # A segmented run copies the audio from the file when it joins the segments, not on the way.
    with quiet_stdout, VideoSource(args.input, keep_other_streams=not plan.segmented, timeout_s=args.timeout,
                                   low_delay=low_delay, max_pixels=plan.video_max_pixels) as source:
        with progress(source.info.frame_count, args.quiet, low_delay) as on_frames:
            try:
                return colorize_video(source, plan.output, colorizer, options, on_frames=on_frames)
            except KeyboardInterrupt:
                if plan.segmented and parts_folder(plan.output).is_dir():
                    print("vidcolor: the finished segments are kept: run the same command with --resume to "
                          "continue from there", file=sys.stderr)
                raise

def _print_summary(report, plan: _Plan, seconds: float) -> None:
    """What happened: frames and speed, the shots with their references, and what came out muted."""
    done = report.frames - report.resumed_frames
    resumed = f", resumed after {report.resumed_frames}" if report.resumed_frames else ""
    print(f"coloured {done} frames{resumed} in {seconds:.1f} s ({done / max(seconds, 1e-9):.1f} fps) -> {plan.output}",
          file=sys.stderr)
    print(report.summary([path.name for path in plan.reference_paths] or ["no reference (automatic)"]),
          file=sys.stderr)
    if report.muted_frames:
        print("  to colour them: give each shot a still of its own scene (repeat --reference, or pin "
              "TIME=IMAGE), or keep the network's full colour with --full-colour", file=sys.stderr)


def write_json(path: Path, payload: dict) -> None:
    """Write JSON under a temporary name, then rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)
