"""Throughput and memory of the video pipeline (../shared/design/evaluation.md, speed protocol).

    python benchmarks/throughput.py                       # 480p and 1080p, prints a table
    python benchmarks/throughput.py --long --long-minutes 10   # memory on a long input only
    python benchmarks/throughput.py --keyframes every,auto     # both modes, in one run

For each resolution, in one run on the same machine:
- end to end: what `vidcolor IN --reference REF` does (decode -> colourise -> encode, audio
  copied), default settings (crf 18, preset medium), through the library call the CLI makes;
- I/O only: decode + encode of the same frames with the same encoder settings, no model, the
  luma handed to the encoder as it is (and, for comparison with earlier figures, as RGB);
- their ratio and the time spent in each stage;
- the peak resident memory of the same run as a user makes it: `vidcolor` in a fresh process
  (in this process, memory kept by the allocator from earlier runs would add to the figure);
- with ``--network-free``, also end to end with the network's output replaced by its input (the
  reference's colour carried by optical flow, which costs nothing more): the ceiling that the
  rest of the pipeline allows, whatever the network's speed.
``--long`` instead colourises a synthetic clip (720p, or ``--long-height 1080``; the first
``--keyframes`` mode) of ``--long-minutes`` minutes and prints the
peak resident memory reached after 10%, 50% and 100% of it (1, 5 and 10 minutes of a 10-minute
clip): it must not grow with the length.
Not a test: machines are shared and noisy, so quote medians of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidcolor.allocator import keep_large_blocks_on_heap
from vidcolor.openmp import prefer_passive_waiting

prefer_passive_waiting()  # as the command line does, before torch loads (vidcolor/openmp.py)
keep_large_blocks_on_heap()  # as the command line does (vidcolor/allocator.py)

from vidcolor import Colorizer
from vidcolor.images import write_image
from vidcolor.defaults import KEYFRAME_MODES, KEYFRAMES, SEGMENT_SECONDS
from vidcolor.runner import VideoOptions, colorize_video
from vidcolor.media import (YUV420_FORMATS, EncoderOptions, VideoWriter, Yuv420Planes, probe, read_gray_frames,
                            read_rgb_frames, write_clip)
from vidcolor.yuv420 import output_luma

DEFAULT_CLIP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips" / "bbb_480p_30s.mp4"


def rss_mib() -> float:
    """Current resident memory of this process (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakMemory:
    """Samples resident memory every 50 ms in a thread; ``peak`` is the highest seen since ``reset``."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mib())

    def reset(self) -> None:
        self.peak = rss_mib()

    def __enter__(self) -> PeakMemory:
        self.reset()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def make_input(source: Path, out: Path, frames: int, size: tuple[int, int] | None) -> Path:
    """The first ``frames`` frames of ``source`` (resized to ``size``), H.264 crf 18, audio copied."""
    info = probe(source)
    width, height = size or (info.width, info.height)
    target = dataclasses.replace(info, width=width, height=height)
    options = EncoderOptions(crf=18, preset="veryfast")
    with VideoWriter(out, target, options, copy_streams_from=source) as writer:
        for index, (pts, rgb) in enumerate(read_rgb_frames(source)):
            if index == frames:
                break
            if size:
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
            writer.write(rgb, pts)
    return out


def io_only(source: Path, out: Path, encoder: EncoderOptions, planes: bool = True) -> tuple[int, float]:
    """Decode the luma and encode it again (no model), same settings; returns (frames, seconds).

    ``planes``: as cheap as frames can be handed over: for a 4:2:0 output the decoded Y plane
    goes to the encoder as it is, with neutral chroma (as the pipeline writes 4:2:0 planes
    itself). Otherwise as gray RGB, converted by the encoder (the I/O limit of the earlier
    figures, when the pipeline handed RGB over).
    """
    info = probe(source)
    even = info.width % 2 == 0 and info.height % 2 == 0
    full_range = YUV420_FORMATS.get(encoder.pix_fmt) if planes and even else None
    chroma = np.full(((info.height + 1) // 2, (info.width + 1) // 2), 128, np.uint8)
    started = time.perf_counter()
    frames = 0
    with VideoWriter(out, info, encoder, copy_streams_from=source) as writer:
        for frame in read_gray_frames(source):
            if full_range is None:
                gray_uint8 = (frame.gray * 255 + 0.5).astype(np.uint8)
                writer.write(np.repeat(gray_uint8[..., None], 3, axis=2), frame.pts)
            else:
                luma = output_luma(frame.codes, frame.bits, frame.full_range, full_range)
                writer.write(Yuv420Planes(luma, chroma, chroma, full_range), frame.pts)
            frames += 1
    return frames, time.perf_counter() - started


def video_options(encoder: EncoderOptions, keyframes: str = KEYFRAMES) -> VideoOptions:
    """The command line's defaults (segmented file output) with this encoder."""
    return VideoOptions(codec=encoder.codec, crf=encoder.crf, preset=encoder.preset, pix_fmt=encoder.pix_fmt,
                        segment_seconds=SEGMENT_SECONDS, keyframes=keyframes)


class NetworkFrames:
    """Counts the frames the network colours (wraps the colourizer's ``predict_ab``).

    ``skip``: return the network's flow candidate (its input: the reference's colour carried by
    optical flow) instead of running it, so that a run pays for everything but the network.
    """

    def __init__(self, colorizer: Colorizer, skip: bool = False) -> None:
        self.count = 0
        predict = colorizer.predict_ab

        def flow_ab(lightness_work, reference=0, candidate=None):
            ab, _ = candidate if candidate is not None else colorizer.flow_candidate(lightness_work, reference)
            return ab.clone()

        def counted(lightness_work, *args, **kwargs):
            self.count += lightness_work.shape[0]
            return (flow_ab if skip else predict)(lightness_work, *args, **kwargs)

        colorizer.predict_ab = counted


def end_to_end(source: Path, out: Path, colorizer: Colorizer, encoder: EncoderOptions, memory: PeakMemory,
               keyframes: str = KEYFRAMES):
    memory.reset()
    started = time.perf_counter()
    report = colorize_video(source, out, colorizer, video_options(encoder, keyframes))
    return report, time.perf_counter() - started, memory.peak


def cli_peak_mib(source: Path, reference: Path, out: Path, extra: list[str]) -> float:
    """Peak resident memory (MiB) of one `vidcolor SOURCE --reference REF` run in a fresh process.

    Read from the child's own high-water mark (VmHWM) while it runs: Linux carries a parent's
    peak into a forked child's rusage, so ``wait4``'s ``ru_maxrss`` would report ours.
    """
    command = [sys.executable, "-m", "vidcolor", str(source), "--reference", str(reference), "-o", str(out),
               "--overwrite", "-q", *extra]
    child = subprocess.Popen(command)
    status, peak_kib = Path(f"/proc/{child.pid}/status"), 0
    while child.poll() is None:
        with contextlib.suppress(OSError):  # the child may exit between poll() and the read
            for line in status.read_text().splitlines():  # (an exited child has no VmHWM line)
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        time.sleep(0.02)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {child.returncode}")
    return peak_kib / 1024


def benchmark_resolution(label, source, workdir, colorizer, encoder, runs, memory, cli_args,
                         keyframes: str = KEYFRAMES, measure_cli: bool = True, network_free: bool = False) -> dict:
    e2e, io, io_rgb, stages, network = [], [], [], [], NetworkFrames(colorizer, skip=network_free)
    keyframes_label = f"{keyframes}, network free" if network_free else keyframes
    measure_cli = measure_cli and not network_free
    for run in range(runs):
        frames, seconds = io_only(source, workdir / f"io_{label}_{run}.mp4", encoder)
        io.append(frames / seconds)
        frames, seconds = io_only(source, workdir / f"io_rgb_{label}_{run}.mp4", encoder, planes=False)
        io_rgb.append(frames / seconds)
        network.count = 0
        report, seconds, peak = end_to_end(source, workdir / f"e2e_{label}_{run}.mp4", colorizer, encoder, memory,
                                           keyframes)
        e2e.append(report.frames / seconds)
        stages.append({k: 1000 * v / report.frames for k, v in report.stage_seconds.items()})
        print(f"  {label} {keyframes_label} run {run + 1}: end-to-end {e2e[-1]:.2f} fps, I/O only {io[-1]:.2f} fps "
              f"({io_rgb[-1]:.2f} handing RGB over), "
              f"network on {network.count}/{report.frames} frames, peak in this process {peak:.0f} MiB", flush=True)
    del colorizer.predict_ab  # the class's method again
    return {
        "label": f"{label} {keyframes_label}",
        "network_frames": network.count,
        "frames": report.frames,
        "e2e_fps": statistics.median(e2e),
        "io_fps": statistics.median(io),
        "ratio": statistics.median(a / b for a, b in zip(e2e, io)),
        "io_rgb_fps": statistics.median(io_rgb),
        "ratio_rgb": statistics.median(a / b for a, b in zip(e2e, io_rgb)),
        "cli_peak_mib": cli_peak_mib(source, workdir / "reference.png", workdir / f"cli_{label}.mp4",
                                     [*cli_args, "--keyframes", keyframes]) if measure_cli else float("nan"),
        "stage_ms": {k: statistics.median(s[k] for s in stages) for k in stages[0]},
    }


def print_tables(results: list[dict]) -> None:
    print("\n| input | frames | network frames | end-to-end fps | I/O-only fps | e2e / I/O "
          "| I/O-only fps, RGB handed over | e2e / that | peak RSS, CLI process (MiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['label']} | {r['frames']} | {r['network_frames']} | {r['e2e_fps']:.2f} | {r['io_fps']:.2f} "
              f"| {r['ratio']:.2f} | {r['io_rgb_fps']:.2f} | {r['ratio_rgb']:.2f} | {r['cli_peak_mib']:.0f} |")
    stages = list(dict.fromkeys(stage for r in results for stage in r["stage_ms"]))
    print("\nPer-stage time, ms per frame (decode and encode run in their own threads and overlap the rest):")
    print("| stage | " + " | ".join(r["label"] for r in results) + " |")
    print("| --- |" + " --- |" * len(results))
    for stage in stages:
        print(f"| {stage} | " + " | ".join(f"{r['stage_ms'].get(stage, 0.0):.1f}" for r in results) + " |")


def long_run(workdir: Path, colorizer: Colorizer, encoder: EncoderOptions, minutes: float, memory: PeakMemory,
             height: int = 720, keyframes: str = KEYFRAMES) -> None:
    """Peak memory while colourising a synthetic clip (``height`` lines, 16:9), read at 10%, 50% and 100% of it."""
    fps = 24
    total = int(minutes * 60 * fps)
    width = height * 16 // 9
    texture = cv2.resize(np.random.default_rng(0).random((90, 160)).astype(np.float32), (width + 320, height + 180))
    texture = (texture * 200 + 20).astype(np.uint8)

    def frames():
        for i in range(total):
            x, y = (7 * i) % 320, (3 * i) % 180
            gray = texture[y : y + height, x : x + width]
            yield np.repeat(gray[..., None], 3, axis=2)

    source = workdir / f"long_{height}p.mp4"
    print(f"writing a {minutes:g}-minute {height}p clip ({total} frames), keyframes {keyframes} ...")
    write_clip(source, frames(), Fraction(fps), options=EncoderOptions(preset="ultrafast"))
    marks = {max(1, int(f * total)): f * minutes for f in (0.1, 0.5, 1.0)}
    peaks: dict[float, float] = {}
    done = 0

    def on_frames(n: int, delay_s: float) -> None:
        nonlocal done
        done += n
        for frame_mark, minute in marks.items():
            if done >= frame_mark and minute not in peaks:
                peaks[minute] = memory.peak
                print(f"  after {minute:g} min of video: peak RSS {memory.peak:.0f} MiB", flush=True)

    memory.reset()
    started = time.perf_counter()
    report = colorize_video(source, workdir / "long_out.mp4", colorizer, video_options(encoder, keyframes),
                            on_frames=on_frames)
    seconds = time.perf_counter() - started
    print(f"long run: {report.frames} frames in {seconds:.0f} s ({report.frames / seconds:.2f} fps), peak {memory.peak:.0f} MiB")
    if len(peaks) >= 2:
        first, last = peaks[min(peaks)], peaks[max(peaks)]
        print(f"growth from {min(peaks):g} to {max(peaks):g} min: {100 * (last / first - 1):+.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="480p source clip (default: the shared bbb clip)")
    parser.add_argument("--frames", type=int, default=240, help="frames per input (default 240, 10 s)")
    parser.add_argument("--runs", type=int, default=3, help="runs per input; medians are reported")
    parser.add_argument("--model", default=None, help="model name or checkpoint (default: the shipped model)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--work-size", type=int, default=256)
    parser.add_argument("--skip-1080p", action="store_true")
    parser.add_argument("--long", action="store_true", help="run the long-input memory test instead")
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--long-height", type=int, default=720, help="lines of the long input (720 or 1080)")
    parser.add_argument("--keyframes", default=KEYFRAMES,
                        help="comma-separated --keyframes modes to run in turn on each input, e.g. every,auto")
    parser.add_argument("--precision", default="auto", help="network precision (auto: fp16 on a GPU)")
    parser.add_argument("--skip-cli-memory", action="store_true", help="skip the fresh-process memory measurement")
    parser.add_argument("--network-free", action="store_true",
                        help="after each mode, run it again with the network's output replaced by its flow candidate")
    args = parser.parse_args()

    encoder = EncoderOptions()  # the CLI's defaults: libx264, crf 18, preset medium, yuv420p
    modes = args.keyframes.split(",")
    unknown = set(modes) - set(KEYFRAME_MODES)
    if unknown:
        parser.error(f"--keyframes: unknown mode(s) {sorted(unknown)}; choose from {KEYFRAME_MODES}")
    colorizer = Colorizer.from_pretrained(args.model, device=args.device, work_size=args.work_size,
                                          precision=args.precision)
    print(f"device {colorizer.device}, model {args.model or 'default'}, precision {colorizer.precision}, work size {args.work_size}")
    with tempfile.TemporaryDirectory() as tmp, PeakMemory() as memory:
        workdir = Path(tmp)
        reference = next(rgb for index, (_, rgb) in enumerate(read_rgb_frames(args.clip)) if index == 48)
        colorizer.set_reference(reference)
        write_image(workdir / "reference.png", reference)
        cli_args = ["--work-size", str(args.work_size), "--device", args.device, "--precision", args.precision]
        cli_args += ["--model", args.model] if args.model else []
        if args.long:
            long_run(workdir, colorizer, encoder, args.long_minutes, memory, args.long_height, modes[0])
            return
        inputs = [("480p", make_input(args.clip, workdir / "in_480p.mp4", args.frames, None))]
        if not args.skip_1080p:
            inputs.append(("1080p", make_input(args.clip, workdir / "in_1080p.mp4", args.frames, (1920, 1080))))
        results = [
            benchmark_resolution(label, source, workdir, colorizer, encoder, args.runs, memory, cli_args, mode,
                                 not args.skip_cli_memory, network_free)
            for label, source in inputs for mode in modes for network_free in (False, True)[: 1 + args.network_free]
        ]
        print_tables(results)


if __name__ == "__main__":
    main()
