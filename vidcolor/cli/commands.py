"""The other commands: ``example``, ``demo``, ``train``, ``evaluate``, ``batch``, ``gst-path`` and ``shots``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from .. import defaults
from ..errors import VidcolorError
from .options import add_run_options


def example_command(argv: list[str]) -> int:
    from ..example import run_example

    parser = argparse.ArgumentParser(prog="vidcolor example", description="Colourise a built-in example clip.")
    parser.add_argument("--out", default="vidcolor_example", help="folder for the example files (default ./vidcolor_example)")
    add_run_options(parser)
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
    parser.add_argument("--max-seconds", type=float, default=defaults.DEMO_MAX_SECONDS,
                        help=f"longest clip accepted, in seconds (default {defaults.DEMO_MAX_SECONDS:g})")
    add_run_options(parser)
    args = parser.parse_args(argv)
    from ..demo import launch  # after parsing: --help works without the demo extra

    launch(args.model, device=args.device, port=args.port, share=args.share, max_seconds=args.max_seconds,
           work_size=args.work_size, smooth=args.temporal == "flow", batch_size=args.batch_size,
           hedge=not args.full_colour)
    return 0


def train_command(argv: list[str]) -> int:
    from ..training.train import TrainConfig, train

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
    parser.add_argument("--semantic-fraction", type=float, default=defaults.pairs.semantic_fraction,
                        help="share of pairs whose reference is a similar-looking other image")
    parser.add_argument("--none-fraction", type=float, default=defaults.pairs.none_fraction,
                        help="share of pairs without a reference (teaches the colour prior of automatic mode)")
    parser.add_argument("--unrelated-fraction", type=float, default=defaults.pairs.unrelated_fraction,
                        help="share of pairs whose reference is a random other image")
    parser.add_argument("--unrelated-mode", choices=("palette", "prior"), default=defaults.pairs.unrelated_mode,
                        help="what an unrelated reference teaches: its palette, or to be ignored for the prior")
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
                                  motion_fraction=args.motion_fraction, distant_fraction=args.distant_fraction,
                                  semantic_fraction=args.semantic_fraction, none_fraction=args.none_fraction,
                                  unrelated_fraction=args.unrelated_fraction, unrelated_mode=args.unrelated_mode),
    )
    print(f"final checkpoint: {train(cfg)}")
    return 0


def pack_command(argv: list[str]) -> int:
    from ..training.pack import pack

    parser = argparse.ArgumentParser(
        prog="vidcolor pack", description="Decode training data once into one array file for `vidcolor train --data FILE`.")
    parser.add_argument("--data", nargs="+", required=True, help="image folders, video files or folders of both")
    parser.add_argument("--out", required=True, help="the packed file to write (.npz)")
    parser.add_argument("--short-side", type=int, default=192, help="images and frames are stored at this short side")
    parser.add_argument("--frame-step", type=int, default=2, help="keep every n-th frame of a video")
    args = parser.parse_args(argv)
    if not args.out.endswith(".npz"):
        raise VidcolorError("--out must end in .npz")
    pack(args.data, args.out, args.short_side, args.frame_step)
    return 0


def evaluate_command(argv: list[str]) -> int:
    from ..evaluate import main as evaluate_main

    return evaluate_main(argv)


def batch_command(argv: list[str]) -> int:
    from .batch import batch_command as run

    return run(argv)


def gst_path_command(argv: list[str]) -> int:
    import sys

    argparse.ArgumentParser(
        prog="vidcolor gst-path",
        description="Print the folder to put on GST_PLUGIN_PATH for the vidcolor GStreamer element: "
        "export GST_PLUGIN_PATH=$(vidcolor gst-path). In a virtual environment without PyGObject (gi) it first "
        "lets the environment import the system's, which GStreamer's Python plugin loader needs.",
    ).parse_args(argv)
    from ..gstenv import PLUGIN_FOLDER, link_system_gi

    try:
        written = link_system_gi()
    except ImportError as exc:
        print(f"vidcolor: warning: {exc}; GStreamer's Python plugin loader needs it", file=sys.stderr)
    else:
        if written is not None:
            print(f"vidcolor: this environment now imports the system's PyGObject (gi), through {written}",
                  file=sys.stderr)
    print(PLUGIN_FOLDER)
    return 0


def shots_command(argv: list[str]) -> int:
    from .shots import shots_command as run

    return run(argv)


COMMANDS = {"example": example_command, "demo": demo_command, "train": train_command, "pack": pack_command, "evaluate": evaluate_command,
            "batch": batch_command, "gst-path": gst_path_command, "shots": shots_command}
