"""The ``vidcolor`` command line. It only parses arguments, calls the library and reports.

    vidcolor INPUT --reference REF [-o OUTPUT] [options]   colourise a video or a photo
    vidcolor example [--out DIR]                           colourise a built-in example clip
    vidcolor train --data DIR [DIR ...] --out RUN_DIR      train or fine-tune a model
    vidcolor evaluate SOURCE [SOURCE ...]                  quality metrics against baselines
    vidcolor demo [--port N] [--share]                     the Gradio web demo
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from .colorizer import PRECISIONS
from .errors import VidcolorError

# Containers for stdout and URLs, and the segment length of a resumable run; equal to
# vidcolor.video.STREAM_FORMATS and vidcolor.segments.DEFAULT_SEGMENT_SECONDS, repeated here
# so that parsing arguments does not load FFmpeg.
STREAM_FORMATS = ("mpegts", "matroska", "nut")
DEFAULT_SEGMENT_SECONDS = 30.0

COMMANDS = ("example", "demo", "train", "evaluate")


def _fail(message: str, code: int = 2) -> int:
    print(f"vidcolor: error: {message}", file=sys.stderr)
    return code


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"vidcolor: warning: {message}", file=sys.stderr)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="shipped model name or checkpoint path (default: the shipped model)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the model runs")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="frames per batch (default 8; fewer for frames above 720p)")
    parser.add_argument("--work-size", type=int, default=256, help="short side at which chroma is predicted (default 256)")
    parser.add_argument("--temporal", choices=["flow", "off"], default="flow", help="flow-guided chroma smoothing (default flow)")
    parser.add_argument("--full-colour", action="store_true",
                        help="keep the network's full colour where the reference matches badly (default: mute it there)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidcolor",
        description="Colour a black-and-white video or photo from a colour reference image.",
        epilog="other commands: vidcolor example | train | evaluate | demo  (see `vidcolor COMMAND --help`)",
    )
    parser.add_argument("input", help="video or photo to colourise")
    parser.add_argument(
        "-r", "--reference", required=True, action="append",
        help="colour reference image or folder of images; repeat for several (the best match is "
        "chosen per shot) or pin one to a time: --reference 0:00=a.jpg --reference 1:30=b.jpg",
    )
    parser.add_argument("-o", "--output", help="output path (default: <input stem>_color<ext>)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    parser.add_argument("--report", help="write a JSON report: shots, chosen references, scene cuts, flicker, CDC")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from its last complete segment (same command otherwise)")
    parser.add_argument("--segment", type=float, default=DEFAULT_SEGMENT_SECONDS, metavar="SECONDS",
                        help="write a file output in closed segments of about this length, which an interrupted "
                        f"run resumes from (default {DEFAULT_SEGMENT_SECONDS:g}; 0: in one piece, not resumable)")
    _add_run_options(parser)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="network precision (default: fp16 on a GPU, bf16 on a CPU with AMX, else fp32)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (faster on a GPU after a slow start)")
    stream = parser.add_argument_group("streams", "INPUT and -o may be - (stdin/stdout) or a URL (tcp://, udp://, ...)")
    stream.add_argument("--format", dest="container_format", choices=STREAM_FORMATS,
                        help="container written to stdout or a URL (needed for -o -)")
    stream.add_argument("--latency", type=int, metavar="N",
                        help="low-latency mode: at most N frames in flight (batches of N, no encoder lookahead)")
    stream.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="how long a network peer may take to connect or stay silent (default 10)")
    enc = parser.add_argument_group("encoder")
    enc.add_argument("--codec", default="libx264", help="video codec (default libx264)")
    enc.add_argument("--crf", type=int, default=18, help="constant rate factor (default 18)")
    enc.add_argument("--preset", default="medium", help="encoder preset (default medium)")
    enc.add_argument("--pix-fmt", default="yuv420p", help="output pixel format (default yuv420p)")
    return parser


def default_output(input_path: Path) -> Path:
    return input_path.with_name(f"{input_path.stem}_color{input_path.suffix}")


_TIME = re.compile(r"^\d+(:\d{1,2}){0,2}(\.\d+)?$")


def parse_time(text: str) -> float:
    """``SS``, ``MM:SS`` or ``HH:MM:SS`` (fractions allowed) -> seconds."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def parse_references(values: list[str]) -> tuple[list[Path], list[tuple[float, int]]]:
    """``--reference`` values -> image paths and ``(seconds, index)`` pins.

    A value is an image, a folder of images (all of them, sorted by name) or ``TIME=IMAGE``.
    Either every reference is pinned or none is.
    """
    from .images import IMAGE_SUFFIXES

    paths: list[Path] = []
    pins: list[tuple[float, int]] = []
    for value in values:
        time_text, sep, rest = value.partition("=")
        if sep and _TIME.match(time_text):
            pins.append((parse_time(time_text), len(paths)))
            paths.append(Path(rest))
        elif Path(value).is_dir():
            found = sorted(p for p in Path(value).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise VidcolorError(f"{value}: the reference folder holds no images")
            paths.extend(found)
        else:
            paths.append(Path(value))
    if pins and len(pins) != len(paths):
        raise VidcolorError("pin every reference to a time (TIME=IMAGE) or none of them")
    return paths, pins


def check_paths(input_path: str, output_path: str, overwrite: bool) -> None:
    """Refuse, before any work, everything that would fail late or lose data.

    ``-`` (stdin/stdout) and URLs are not files: only their format is checked, later.
    """
    from .video import is_stream_target

    input_is_file, output_is_file = not is_stream_target(input_path), not is_stream_target(output_path)
    if input_is_file:
        source = Path(input_path)
        if not source.exists():
            raise VidcolorError(f"{source}: no such file")
        if not source.is_file() or not os.access(source, os.R_OK):
            raise VidcolorError(f"{source}: not a readable file")
    if output_is_file:
        target = Path(output_path)
        if input_is_file and target.resolve() == Path(input_path).resolve():
            raise VidcolorError(f"{target}: the output would overwrite the input; choose another -o")
        if target.exists() and not overwrite:
            raise VidcolorError(f"{target}: already exists (use --overwrite to replace it)")
        if not target.parent.is_dir():
            raise VidcolorError(f"{target.parent}: output directory does not exist")


def _output_for(args: argparse.Namespace) -> str:
    from .video import is_stream_target

    if args.output:
        return args.output
    if is_stream_target(args.input):
        raise VidcolorError(f"{args.input}: name the output with -o (a file, - for stdout, or a URL)")
    return str(default_output(Path(args.input)))


def colorize_command(args: argparse.Namespace) -> int:
    from .colorizer import Colorizer
    from .images import is_image_path, read_image, write_image
    from .video import is_stream_target

    output = _output_for(args)
    check_paths(args.input, output, args.overwrite)
    if output == "-" and not args.container_format:
        raise VidcolorError("-o - writes to stdout: choose its container with --format (mpegts, matroska or nut)")
    if args.latency is not None and args.latency < 1:
        raise VidcolorError("--latency must be at least 1 frame")
    if args.segment < 0:
        raise VidcolorError("--segment must be 0 (one piece) or a length in seconds")
    segmented = args.segment > 0 and not is_stream_target(args.input) and not is_stream_target(output)
    if args.resume and not segmented:
        raise VidcolorError("--resume needs a file input and a file output written in segments (--segment > 0)")
    reference_paths, pins = parse_references(args.reference)
    references = [read_image(path) for path in reference_paths]
    if args.report and not is_stream_target(output) and Path(args.report).resolve() in (
        Path(args.input).resolve(), Path(output).resolve()
    ):
        raise VidcolorError(f"{args.report}: the report would overwrite the input or the output")
    is_photo = not is_stream_target(args.input) and is_image_path(args.input)
    if is_photo and args.report:
        raise VidcolorError("--report applies to videos, not photos")
    started = time.perf_counter()
    colorizer = Colorizer.from_pretrained(
        args.model, device=args.device, work_size=args.work_size, precision=args.precision, compile=args.compile,
        hedge=not args.full_colour,
    )
    colorizer.set_references(references)
    if is_photo:
        write_image(output, colorizer.colorize_photo(read_image(args.input)))
        if not args.quiet:
            print(f"coloured 1 photo in {time.perf_counter() - started:.1f} s -> {output}", file=sys.stderr)
        return 0

    from tqdm import tqdm

    from .pipeline import ReferencePin, colorize_video
    from .video import EncoderOptions, VideoSource

    low_delay = args.latency is not None
    batch_size = min(args.batch_size, args.latency) if low_delay else args.batch_size
    encoder = EncoderOptions(
        codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt, low_delay=low_delay
    )
    # Opened once, here: a pipe or live stream cannot be probed and then read again. With
    # -o -, stdout carries media bytes only: anything printed goes to stderr instead.
    quiet_stdout = contextlib.redirect_stdout(sys.stderr) if output == "-" else contextlib.nullcontext()
    # A segmented run copies the audio from the file when it joins the segments, not on the way.
    with quiet_stdout, VideoSource(args.input, keep_other_streams=not segmented, timeout_s=args.timeout,
                                   low_delay=low_delay) as source:
        with tqdm(total=source.info.frame_count, unit="frame", disable=args.quiet, file=sys.stderr,
                  dynamic_ncols=True, mininterval=0.5 if low_delay else 0.1) as bar:

            def on_frames(count: int, delay_s: float) -> None:
                if low_delay:  # live: how long the newest frames spent inside vidcolor
                    bar.set_postfix_str(f"delay {delay_s * 1000:.0f} ms", refresh=False)
                bar.update(count)

            report = colorize_video(
                source, output, colorizer, batch_size=batch_size, encoder=encoder,
                smooth=args.temporal == "flow", pins=[ReferencePin(sec, i) for sec, i in pins],
                measure_cdc=bool(args.report), on_frames=on_frames,
                container_format=args.container_format, timeout_s=args.timeout,
                segment_seconds=args.segment if segmented else None, resume=args.resume,
                run=describe_run(args, reference_paths, colorizer) if segmented else None,
            )
    if args.report:
        payload = report.to_dict()
        payload["references"] = [str(path) for path in reference_paths]
        write_json(Path(args.report), payload)
    seconds = time.perf_counter() - started
    if not args.quiet:
        done = report.frames - report.resumed_frames
        resumed = f", resumed after {report.resumed_frames}" if report.resumed_frames else ""
        print(
            f"coloured {done} frames{resumed} in {seconds:.1f} s ({done / max(seconds, 1e-9):.1f} fps) -> {output}",
            file=sys.stderr,
        )
    return 0


def describe_run(args: argparse.Namespace, reference_paths: list[Path], colorizer) -> dict:
    """What makes a run's output what it is; a resumed run must match the saved one."""
    source = Path(args.input).resolve()
    stat = source.stat()
    return {
        "input": [str(source), stat.st_size, stat.st_mtime_ns],
        "model": args.model or "default",
        "references": [hashlib.sha256(path.read_bytes()).hexdigest() for path in reference_paths],
        "pins": args.reference,
        "device": colorizer.device.type,
        "settings": {key: getattr(args, key) for key in (
            "work_size", "temporal", "precision", "compile", "codec", "crf", "preset", "pix_fmt", "latency")},
    }


def write_json(path: Path, payload: dict) -> None:
    """Write JSON under a temporary name, then rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)


def example_command(argv: list[str]) -> int:
    from .example import run_example

    parser = argparse.ArgumentParser(prog="vidcolor example", description="Colourise a built-in example clip.")
    parser.add_argument("--out", default="vidcolor_example", help="folder for the example files (default ./vidcolor_example)")
    _add_run_options(parser)
    args = parser.parse_args(argv)
    paths = run_example(Path(args.out), model=args.model, device=args.device, batch_size=args.batch_size,
                        work_size=args.work_size, smooth=args.temporal == "flow", hedge=not args.full_colour)
    for name, path in paths.items():
        print(f"{name:10s} {path}")
    return 0


def demo_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vidcolor demo", description="Serve the web demo: colour photos and short clips in a browser.")
    parser.add_argument("--port", type=int, default=None, help="port to serve on (default: the first free one from 7860)")
    parser.add_argument("--share", action="store_true", help="also serve it on a temporary public gradio.live address")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="longest clip accepted, in seconds (default 60)")
    _add_run_options(parser)
    args = parser.parse_args(argv)
    from .demo import launch  # after parsing: --help works without the demo extra

    launch(args.model, device=args.device, port=args.port, share=args.share, max_seconds=args.max_seconds,
           work_size=args.work_size, smooth=args.temporal == "flow", batch_size=args.batch_size,
           hedge=not args.full_colour)
    return 0


def train_command(argv: list[str]) -> int:
    from .training.train import TrainConfig, train

    defaults = TrainConfig(data=[], out="")
    parser = argparse.ArgumentParser(prog="vidcolor train", description="Train or fine-tune a colourization model.")
    parser.add_argument("--data", nargs="+", required=True, help="image folders, video files or folders of both")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, losses.csv, losses.png, samples")
    parser.add_argument("--preset", default=defaults.preset, help="model size: base or tiny")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--adv-start", type=int, default=defaults.adv_start, help="step where the GAN loss starts")
    parser.add_argument("--w-hist", type=float, default=defaults.w_hist, help="weight of the ab-histogram loss")
    parser.add_argument("--w-chroma", type=float, default=defaults.w_chroma,
                        help="weight of the one-sided chroma-deficit loss against washed-out output (default 0: off)")
    parser.add_argument("--w-adv", type=float, default=defaults.w_adv, help="weight of the adversarial loss")
    parser.add_argument("--max-frame-gap", type=int, default=defaults.pairs.max_frame_gap,
                        help="motion pairs: reference up to this many stored frames from the target")
    parser.add_argument("--motion-fraction", type=float, default=defaults.pairs.motion_fraction,
                        help="share of pairs taken from video shots (when videos are given)")
    parser.add_argument("--distant-fraction", type=float, default=defaults.pairs.distant_fraction,
                        help="share of pairs whose reference is a barely overlapping window of the same image")
    parser.add_argument("--calibration-pairs", type=int, default=defaults.calibration_pairs,
                        help="fresh pairs the chroma hedge is fitted on after training (0: keep the model's); "
                        "--steps 0 --init-from CKPT only re-fits it")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="data loader processes")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default=defaults.device)
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    parser.add_argument("--init-from", help="fine-tune: start from this checkpoint")
    parser.add_argument("--freeze", nargs="*", default=[], help="generator parts to keep fixed, e.g. encoder")
    args = parser.parse_args(argv)
    cfg = TrainConfig(
        data=args.data, out=args.out, preset=args.preset, steps=args.steps, batch_size=args.batch_size,
        lr=args.lr, adv_start=args.adv_start, w_hist=args.w_hist, w_chroma=args.w_chroma, w_adv=args.w_adv,
        calibration_pairs=args.calibration_pairs, workers=args.workers, seed=args.seed, device=args.device,
        resume=args.resume, init_from=args.init_from, freeze=args.freeze,
        pairs=dataclasses.replace(defaults.pairs, max_frame_gap=args.max_frame_gap,
                                  motion_fraction=args.motion_fraction, distant_fraction=args.distant_fraction),
    )
    print(f"final checkpoint: {train(cfg)}")
    return 0


def evaluate_command(argv: list[str]) -> int:
    from .evaluate import main as evaluate_main

    return evaluate_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    warnings.showwarning = _show_warning
    try:
        with _signals_as_interrupts():
            return _dispatch(argv)
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, _Interrupted) else signal.SIGINT
        return _fail(f"interrupted ({signal.Signals(signum).name}); no partial file is left under the output name",
                     code=128 + signum)
    except VidcolorError as exc:
        return _fail(str(exc))
    except Exception as exc:  # errors from the media layer carry a user-facing message too
        from .video import MediaError

        if isinstance(exc, MediaError):
            return _fail(str(exc))
        raise


class _Interrupted(KeyboardInterrupt):
    """A termination signal, raised like Ctrl-C so that every layer cleans up on its way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """SIGTERM stops a run like Ctrl-C; a file-size limit fails the write instead of killing us.

    Ignoring SIGXFSZ turns exceeding ``ulimit -f`` into an EFBIG write error, which is reported
    and cleaned up like a full disk. Handlers can only be set from the main thread; elsewhere
    (main() called from a worker thread) the defaults stay.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise _Interrupted(signum)

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, interrupt)}
    if hasattr(signal, "SIGXFSZ"):
        previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in COMMANDS:
        handler = {"example": example_command, "demo": demo_command, "train": train_command,
                   "evaluate": evaluate_command}[argv[0]]
        return handler(argv[1:])
    return colorize_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
