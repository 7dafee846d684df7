"""Frame-in to frame-out latency of the ``vidcolor`` GStreamer element on a live loopback pipeline.

    python benchmarks/gst_latency.py                              # latency 1 and 8, 640x360 at 5 fps, 30 s each
    python benchmarks/gst_latency.py --latencies 1 4 8 --size 854x480 --fps 5 --seconds 60

Two pipelines in one process, joined only by 127.0.0.1: a live sender (videotestsrc is-live=true
-> x264enc tune=zerolatency -> RTP -> udpsink) and a receiver (udpsrc -> rtph264depay -> avdec_h264
-> vidcolor -> videoconvert -> fakesink sync=true). A frame's latency is the time from its arrival
at vidcolor's sink pad to its coloured buffer leaving vidcolor's source pad (pad probes, one
monotonic clock), so it counts the wait for the rest of a batch and the colouring, not the
network or the codecs. Frames that reach the element in the first ``--warmup`` seconds are left
out (model warm-up). Also printed: the latency the element reports to the pipeline.
The shipped model and default settings unless told otherwise. Not a test: machines are shared
and noisy, so quote medians and the CPU.
"""

from __future__ import annotations

import argparse
import platform
import socket
import statistics
import time

from vidcolor.gst import register
from vidcolor.gstenv import import_gi

gi = import_gi()
gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pipelines(args, latency: int, port: int) -> tuple[str, str]:
    """The sender's and the receiver's descriptions (two pipelines: as in two programs, on one machine)."""
    width, height = args.size.split("x")
    model = f"model={args.model}" if args.model else ""
    sender = (
        f"videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width={width},height={height},"
        f"framerate={args.fps}/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} ! "
        f"rtph264pay config-interval=1 ! udpsink host=127.0.0.1 port={port} sync=false"
    )
    receiver = (
        f"udpsrc port={port} caps=application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96 ! "
        "rtph264depay ! avdec_h264 ! queue max-size-buffers=0 max-size-time=0 max-size-bytes=0 ! "
        f"vidcolor name=v reference={args.reference} {model} work-size={args.work_size} latency={latency} ! "
        "videoconvert ! fakesink name=sink sync=true"
    )
    return sender, receiver


def measure(args, latency: int) -> dict:
    sender_text, receiver_text = pipelines(args, latency, free_udp_port())
    pipeline, sender = Gst.parse_launch(receiver_text), Gst.parse_launch(sender_text)
    element = pipeline.get_by_name("v")
    arrived: dict[int, float] = {}
    delays: list[tuple[float, float]] = []  # (arrival, latency) in seconds
    started = time.monotonic()

    def on_input(pad, info):
        arrived[info.get_buffer().pts] = time.monotonic()
        return Gst.PadProbeReturn.OK

    def on_output(pad, info):
        now = time.monotonic()
        came = arrived.pop(info.get_buffer().pts, None)
        if came is not None:
            delays.append((came - started, now - came))
        return Gst.PadProbeReturn.OK

    element.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_input)
    element.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_output)
    pipeline.set_state(Gst.State.PLAYING)
    sender.set_state(Gst.State.PLAYING)
    deadline = time.monotonic() + args.warmup + args.seconds
    while time.monotonic() < deadline:
        for each in (pipeline, sender):
            message = each.get_bus().timed_pop_filtered(50 * Gst.MSECOND, Gst.MessageType.ERROR)
            if message is not None:
                pipeline.set_state(Gst.State.NULL)
                sender.set_state(Gst.State.NULL)
                raise SystemExit(f"pipeline error: {message.parse_error()[0].message}")
    query = Gst.Query.new_latency()
    reported = pipeline.get_by_name("sink").get_static_pad("sink").peer_query(query) and query.parse_latency()[1]
    sender.set_state(Gst.State.NULL)
    pipeline.set_state(Gst.State.NULL)
    kept = sorted(delay for at, delay in delays if at >= args.warmup)
    if len(kept) < 10:
        raise SystemExit(f"only {len(kept)} frames came out after the warm-up: the CPU cannot keep up at {args.fps} fps")
    return {
        "latency": latency, "frames": len(kept),
        "median_ms": 1000 * statistics.median(kept), "p90_ms": 1000 * kept[int(0.9 * (len(kept) - 1))],
        "max_ms": 1000 * kept[-1], "reported_ms": reported / Gst.MSECOND if reported else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True, help="colour reference image")
    parser.add_argument("--model", help="model name or checkpoint (default: the shipped model)")
    parser.add_argument("--latencies", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT of the live source")
    parser.add_argument("--fps", type=int, default=5)
    parser.add_argument("--work-size", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time per latency setting")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds left out at the start")
    args = parser.parse_args()
    Gst.init(None)
    register()
    print(f"CPU: {cpu_name()} ({len(__import__('os').sched_getaffinity(0))} cores usable); "
          f"{args.size} at {args.fps} fps, work size {args.work_size}, {args.seconds:g} s each after {args.warmup:g} s")
    print("| latency (frames) | frames measured | median in->out (ms) | 90th percentile (ms) | max (ms) | reported to the pipeline (ms) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for latency in args.latencies:
        r = measure(args, latency)
        print(f"| {r['latency']} | {r['frames']} | {r['median_ms']:.0f} | {r['p90_ms']:.0f} | "
              f"{r['max_ms']:.0f} | {r['reported_ms']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
