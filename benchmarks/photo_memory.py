"""Peak memory of colouring large photos, and of refusing a decompression bomb.

    python benchmarks/photo_memory.py                      # 25, 50 and 100 Mpixel, the bomb
    python benchmarks/photo_memory.py --sizes 25 --whole   # also the whole-image path, for comparison

Each run is a child process whose peak resident memory (``ru_maxrss`` from ``wait4``) and
wall time are printed:

- ``vidcolor PHOTO -r REF -o OUT`` on a real black-and-white photo from ``../shared/data``
  upscaled to about 25, 50 and 100 Mpixel (10:7, JPEG), and on the photo at its own size (the
  fixed cost: Python, torch, the model);
- the 24000x24000 PNG of zeros (~560 KB) through the command line and ``read_image``, and a
  24000x24000 array through ``Colorizer.colorize_photo`` (a zero-strided view: no memory of its
  own), with the time the refusing call itself took;
- ``--whole``: the whole-image path the photo took before strips (``Colorizer.colorize``), at the
  given sizes, for comparison.

Needs ../shared/data (a photo) and the shipped model; not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bw" / "deoldify_photos"
PHOTO = "AnselAdamsYosemite.jpg"
ASPECT = 10 / 7  # 12000x8400 at 100 Mpixel

READ_BOMB = """
import sys, time
from vidcolor import VidcolorError, read_image
started = time.perf_counter()
try:
    read_image(sys.argv[1])
except VidcolorError as error:
    print(f"refused in {time.perf_counter() - started:.3f} s: {error}")
"""

COLORIZE_BOMB = """
import time, numpy as np
from vidcolor import Colorizer, VidcolorError
colorizer = Colorizer.from_pretrained(device="cpu")
colorizer.set_reference(np.full((64, 64, 3), (200, 120, 40), np.uint8))
started = time.perf_counter()
try:  # a zero-strided 24000x24000 view: no memory of its own, unless something copies it
    colorizer.colorize_photo(np.broadcast_to(np.uint8(0), (24000, 24000)))
except VidcolorError as error:
    print(f"refused in {time.perf_counter() - started:.3f} s: {error}")
"""

WHOLE_IMAGE = """
import sys, cv2
from vidcolor import Colorizer, read_image, write_image
colorizer = Colorizer.from_pretrained(device="cpu")
colorizer.set_reference(read_image(sys.argv[2]))
write_image(sys.argv[3], colorizer.colorize(read_image(sys.argv[1]))[0])
"""


def measure(command: list[str]) -> tuple[float, float, int, str]:
    """Run a child; its peak RSS in GB, wall seconds, exit code and last output line."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in output.splitlines() if line.strip()]
    return usage.ru_maxrss / 2**20, seconds, child.returncode, " | ".join(lines[-2:])


def cpu_name() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        name = platform.processor() or "unknown CPU"
    return f"{name}, {os.cpu_count()} cores"


def write_inputs(folder: Path, sizes: list[float]) -> dict[str, Path]:
    source = cv2.imread(str(PHOTOS / PHOTO), cv2.IMREAD_GRAYSCALE)
    if source is None:
        sys.exit(f"{PHOTOS / PHOTO} is missing: this benchmark needs ../shared/data")
    paths = {"own size": folder / "photo.jpg"}
    cv2.imwrite(str(paths["own size"]), source)
    for megapixels in sizes:
        height = round((megapixels * 1e6 / ASPECT) ** 0.5)
        width = round(height * ASPECT)
        big = cv2.resize(source, (width, height), interpolation=cv2.INTER_CUBIC)
        paths[f"{width}x{height}"] = folder / f"photo_{megapixels:g}mp.jpg"
        cv2.imwrite(str(paths[f"{width}x{height}"]), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
        del big
    from skimage import data

    cv2.imwrite(str(folder / "reference.png"), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    # The bomb: 24000x24000 zeros, maximally compressed (576 MB while it is made, 591 KB on disk).
    cv2.imwrite(str(folder / "bomb.png"), np.zeros((24000, 24000), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[25, 50, 100], help="photo sizes in Mpixel")
    parser.add_argument("--whole", action="store_true", help="also run the whole-image path at these sizes")
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}")
    vidcolor = [sys.executable, "-m", "vidcolor"]
    with tempfile.TemporaryDirectory(prefix="vidcolor-photo-memory-") as tmp:
        folder = Path(tmp)
        paths = write_inputs(folder, args.sizes)
        reference, bomb = folder / "reference.png", folder / "bomb.png"
        print(f"bomb: {bomb.stat().st_size / 1e3:.0f} KB PNG declaring 24000x24000")
        print(f"{'run':44s} {'peak GB':>8s} {'seconds':>8s}  exit  output")
        for name, path in paths.items():
            out = folder / f"out_{path.stem}.jpg"
            peak, seconds, code, line = measure([*vidcolor, str(path), "-r", str(reference), "-o", str(out), "-q"])
            print(f"{'vidcolor photo ' + name:44s} {peak:8.2f} {seconds:8.1f}  {code:4d}  {line}")
            out.unlink(missing_ok=True)
        out = folder / "bomb_out.png"
        peak, seconds, code, line = measure([*vidcolor, str(bomb), "-r", str(reference), "-o", str(out)])
        print(f"{'vidcolor bomb.png (refused)':44s} {peak:8.2f} {seconds:8.1f}  {code:4d}  {line}")
        print(f"  output written: {out.exists()}")
        peak, seconds, code, line = measure([sys.executable, "-c", READ_BOMB, str(bomb)])
        print(f"{'read_image(bomb.png) (refused)':44s} {peak:8.2f} {seconds:8.1f}  {code:4d}  {line}")
        peak, seconds, code, line = measure([sys.executable, "-c", COLORIZE_BOMB])
        print(f"{'colorize_photo(24000x24000 array) (refused)':44s} {peak:8.2f} {seconds:8.1f}  {code:4d}  {line}")
        if args.whole:
            for name, path in list(paths.items())[1:]:
                out = folder / "whole.jpg"
                peak, seconds, code, line = measure([sys.executable, "-c", WHOLE_IMAGE, str(path), str(reference), str(out)])
                print(f"{'whole-image path ' + name:44s} {peak:8.2f} {seconds:8.1f}  {code:4d}  {line}")


if __name__ == "__main__":
    main()
