#!/usr/bin/env bash
# Throughput on a GPU, both --keyframes modes, with nothing from outside the tree:
#
#     bash benchmarks/gpu.sh                 # CUDA, fp16, the default batches; 480p and 1080p
#     bash benchmarks/gpu.sh --device cpu --frames 48 --skip-1080p   # the same check on a CPU
#
# Writes a synthetic 480p clip (a colour texture panning and zooming, with a cut halfway) into a
# temporary folder (../shared is not copied to a device machine), then runs
# benchmarks/throughput.py on it for `every` and `auto` in one run and prints its tables
# (end-to-end fps over the decode+encode-only rate, network frames, per-stage time). The 1080p
# input is the same clip scaled up by the benchmark. Extra arguments go to throughput.py and
# override the defaults here (--device cuda --precision fp16 --runs 1). PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

PYTHONPATH=. "$PYTHON" - "$work/synthetic_480p.mp4" <<'PY'
import sys
from fractions import Fraction

import cv2
import numpy as np

from vidcolor.media import EncoderOptions, write_clip

FRAMES, CUT, SIZE = 240, 120, (854, 480)


def texture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = (rng.random((27, 48, 3)) * 255).astype(np.uint8)
    detail = (rng.random((270, 480, 1)) * 60 - 30).astype(np.int16)
    big = cv2.resize(small, (1920, 1080), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    return np.clip(big + cv2.resize(detail, (1920, 1080))[..., None], 0, 255).astype(np.uint8)


def frames():
    for index in range(FRAMES):
        picture, t = texture(0 if index < CUT else 1), index % CUT
        scale = 1.0 + 0.002 * t  # a slow zoom on a pan: motion everywhere, some of it uncovered
        x, y = 6 * t, 2 * t
        crop = picture[y : y + int(600 / scale), x : x + int(1068 / scale)]
        yield cv2.resize(crop, SIZE, interpolation=cv2.INTER_AREA)


write_clip(sys.argv[1], frames(), Fraction(24), options=EncoderOptions(preset="veryfast"))
print(f"wrote {sys.argv[1]}: {FRAMES} frames {SIZE[0]}x{SIZE[1]}, a cut at frame {CUT}")
PY

PYTHONPATH=. "$PYTHON" benchmarks/throughput.py --clip "$work/synthetic_480p.mp4" --device cuda --precision fp16 \
    --runs 1 --keyframes every,auto "$@"
