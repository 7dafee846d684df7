"""Issue 24: the ``vidcolor`` GStreamer element, in this process (appsrc/appsink) and through gst-launch-1.0.

Skipped only where GStreamer or its Python bindings are absent (.ci/run installs them). The
gst-launch tests set the environment up as a user does: ``vidcolor gst-path`` for
GST_PLUGIN_PATH, the virtual environment on PATH, and a registry of their own (a cached one
could hide the element).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from media import make_clip, packets, pattern_rgb
from vidcolor.colorizer import Colorizer
from vidcolor.gst.frames import VIDEO_LEVELS, default_layout, rgb_to_yuv420
from vidcolor.gstenv import PLUGIN_FOLDER, import_gi

try:
    gi = import_gi()
    gi.require_version("Gst", "1.0")
    gi.require_version("GstVideo", "1.0")
    from gi.repository import Gst, GstVideo
except (ImportError, ValueError) as exc:
    pytest.skip(f"GStreamer's Python bindings are not installed: {exc}", allow_module_level=True)

from vidcolor.gst import register  # noqa: E402

Gst.init(None)
register()
HAVE_GST_LAUNCH = shutil.which("gst-launch-1.0") is not None and Gst.ElementFactory.find("x264enc") is not None
needs_gst_launch = pytest.mark.skipif(not HAVE_GST_LAUNCH, reason="gst-launch-1.0 or GStreamer's plugins are not installed")
SECOND = Gst.SECOND


def read_image_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def expected_stream(checkpoint: Path, reference: Path | None, frames, batch_size: int,
                    **options) -> list[np.ndarray]:
    """What ``Colorizer.stream`` gives, with its defaults unless ``options`` (e.g. keyframes) say otherwise."""
    colorizer = Colorizer.from_pretrained(checkpoint, device="cpu", work_size=32, precision="fp32")
    colorizer.set_reference(read_image_rgb(reference) if reference else None)
    return list(colorizer.stream(frames, batch_size=batch_size, **options))


def element(checkpoint: Path, reference, latency: int, extra: str = "") -> str:
    return (f"vidcolor name=v reference=\"{reference}\" model={checkpoint} device=cpu work-size=32 precision=fp32 "
            f"latency={latency} {extra}")


def raw_frame(image: np.ndarray, format: str) -> bytes:
    """A frame in GStreamer's default layout: gray (h, w) as GRAY8 or I420 (neutral chroma), RGB (h, w, 3) as RGB."""
    height, width = image.shape[:2]
    layout = default_layout(format, width, height)
    data = np.zeros(layout.size, np.uint8)
    rows = np.lib.stride_tricks.as_strided(data, (height, width * image.itemsize * (3 if format == "RGB" else 1)),
                                           (layout.strides[0], 1))
    rows[:] = image.reshape(height, -1)
    if format == "I420":
        data[layout.offsets[1]:] = 128
    return data.tobytes()


def to_rgb(buffer: Gst.Buffer, caps: Gst.Caps) -> np.ndarray:
    """An RGB/RGBx buffer -> (h, w, 3), GRAY8 -> (h, w), through the strides GStreamer gives; I420 -> its bytes."""
    info = GstVideo.VideoInfo.new_from_caps(caps)
    data = np.frombuffer(buffer.extract_dup(0, buffer.get_size()), np.uint8)
    if info.finfo.name == "I420":
        return data
    pixel = {"GRAY8": 1, "RGB": 3}.get(info.finfo.name, 4)
    rows = np.lib.stride_tricks.as_strided(data, (info.height, info.width * pixel), (info.stride[0], 1))
    if pixel == 1:
        return rows.copy()
    return rows.reshape(info.height, info.width, pixel)[..., :3].copy()


def run(description: str, buffers=(), timeout_s: float = 60) -> tuple[list, list[Gst.Message]]:
    """Play a pipeline ending in ``appsink name=sink``; push ``buffers`` into ``appsrc name=src`` if there is one.

    Returns the output samples as (rgb, pts, dts, duration, offset, flags) and the bus's error messages.
    """
    pipeline = Gst.parse_launch(description)
    source, sink = pipeline.get_by_name("src"), pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    if source is not None:
        for buffer in buffers:
            source.emit("push-buffer", buffer)
        source.emit("end-of-stream")
    samples = pull_all(sink, timeout_s)
    errors = bus_errors(pipeline)
    pipeline.set_state(Gst.State.NULL)
    return samples, errors


def pull_all(sink, timeout_s: float) -> list:
    samples = []
    while (sample := sink.emit("try-pull-sample", int(timeout_s * SECOND))) is not None:
        buffer = sample.get_buffer()
        samples.append((to_rgb(buffer, sample.get_caps()), buffer.pts, buffer.dts, buffer.duration, buffer.offset,
                        buffer.get_flags()))
    return samples


def bus_errors(pipeline) -> list[Gst.Message]:
    bus, errors = pipeline.get_bus(), []
    while (message := bus.pop_filtered(Gst.MessageType.ERROR)) is not None:
        errors.append(message)
    return errors


def buffers_of(frames, format: str, fps: int = 10, discont_at=()) -> list[Gst.Buffer]:
    out = []
    for index, frame in enumerate(frames):
        buffer = Gst.Buffer.new_wrapped(raw_frame(frame, format))
        buffer.pts, buffer.duration = index * SECOND // fps, SECOND // fps
        buffer.dts, buffer.offset = buffer.pts, index
        if index in discont_at:
            buffer.set_flags(Gst.BufferFlags.DISCONT)
        out.append(buffer)
    return out


def through_element(frames, format: str, width: int, height: int, element_text: str) -> tuple[list, list]:
    """Push ``frames`` through appsrc ! ``element_text`` ! RGB appsink: the samples and the bus errors."""
    caps = f"video/x-raw,format={format},width={width},height={height},framerate=10/1"
    return run(f"appsrc name=src format=time caps={caps} ! {element_text} ! "
               "video/x-raw,format=RGB ! appsink name=sink sync=false", buffers_of(frames, format))


def clip_frames(width: int, height: int, count: int = 8, cut_at: int = 5) -> list[np.ndarray]:
    """Gray frames of a moving pattern, with a scene cut (a different picture) at ``cut_at``."""
    frames = []
    for index in range(count):
        rgb = pattern_rgb(index, width, height, color=False)
        if index >= cut_at:
            rgb = 255 - rgb[::-1]
        frames.append(rgb[..., 0].copy())
    return frames


@pytest.mark.parametrize("format, width, height", [("GRAY8", 65, 37), ("I420", 67, 35), ("RGB", 33, 21)])
def test_element_gives_the_frames_of_colorizer_stream(format, width, height, tiny_checkpoint, reference):
    """Odd widths (padded rows), a cut inside a batch and a short last batch, bit-exact in fp32 on the CPU."""
    gray = clip_frames(width, height)
    frames = [np.repeat(frame[..., None], 3, axis=2) * np.uint8(1) for frame in gray] if format == "RGB" else gray
    if format == "RGB":  # colour input: the element, like stream(), colours from its luma
        frames = [pattern_rgb(i, width, height) for i in range(len(gray))]
    samples, errors = through_element(frames, format, width, height, element(tiny_checkpoint, reference, 3))
    assert not errors
    stream_input = [VIDEO_LEVELS[frame] for frame in frames] if format == "I420" else frames  # I420: video levels
    expected = expected_stream(tiny_checkpoint, reference, stream_input, batch_size=3)
    assert len(samples) == len(expected) == 8
    for (rgb, *_), want in zip(samples, expected):
        np.testing.assert_array_equal(rgb, want)


@pytest.mark.parametrize("mode, other", [("auto", "every"), ("every", "auto")])
def test_keyframes_modes_give_the_frames_of_colorizer_stream(mode, other, tiny_checkpoint, reference):
    frames = clip_frames(40, 24, count=12, cut_at=7)
    samples, errors = through_element(frames, "GRAY8", 40, 24, element(tiny_checkpoint, reference, 4, f"keyframes={mode}"))
    assert not errors
    expected = expected_stream(tiny_checkpoint, reference, frames, batch_size=4, keyframes=mode)
    different = expected_stream(tiny_checkpoint, reference, frames, batch_size=4, keyframes=other)
    assert len(samples) == len(expected) == 12
    for (rgb, *_), want in zip(samples, expected):
        np.testing.assert_array_equal(rgb, want)
    assert any(not np.array_equal(a, b) for a, b in zip(expected, different))  # the two modes differ


def test_without_a_reference_the_element_is_automatic(tiny_checkpoint):
    frames = clip_frames(40, 24)
    samples, errors = through_element(frames, "GRAY8", 40, 24, element(tiny_checkpoint, "", 3))
    assert not errors
    expected = expected_stream(tiny_checkpoint, None, frames, batch_size=3)
    assert len(samples) == len(expected) == 8
    for (rgb, *_), want in zip(samples, expected):
        np.testing.assert_array_equal(rgb, want)


def test_timestamps_durations_offsets_and_flags_pass_through(tiny_checkpoint, reference):
    frames = clip_frames(40, 24, count=5, cut_at=5)
    buffers = buffers_of(frames, "GRAY8", fps=25)
    buffers[3].set_flags(Gst.BufferFlags.DELTA_UNIT | Gst.BufferFlags.MARKER)
    caps = "video/x-raw,format=GRAY8,width=40,height=24,framerate=25/1"
    pipeline = Gst.parse_launch(f"appsrc name=src format=time caps={caps} ! {element(tiny_checkpoint, reference, 2)} ! "
                                "appsink name=sink sync=false")
    arrived = []  # what reaches the element (appsrc marks its first buffer DISCONT)

    def probe(pad, info):
        buffer = info.get_buffer()
        arrived.append((buffer.pts, buffer.dts, buffer.duration, buffer.offset, buffer.get_flags()))
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("v").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    pipeline.set_state(Gst.State.PLAYING)
    for buffer in buffers:
        pipeline.get_by_name("src").emit("push-buffer", buffer)
    pipeline.get_by_name("src").emit("end-of-stream")
    samples = pull_all(pipeline.get_by_name("sink"), 60)
    pipeline.set_state(Gst.State.NULL)
    assert [s[1:6] for s in samples] == arrived
    assert [a[:4] for a in arrived] == [(b.pts, b.dts, b.duration, b.offset) for b in buffers]
    assert arrived[3][4] & Gst.BufferFlags.MARKER and arrived[0][4] & Gst.BufferFlags.DISCONT


def test_rgbx_and_i420_outputs_carry_the_same_colours(tiny_checkpoint, reference):
    frames = clip_frames(35, 19, count=4, cut_at=4)
    caps = "video/x-raw,format=GRAY8,width=35,height=19,framerate=10/1"
    outputs = {}
    for out in ("RGB", "RGBx", "I420"):
        samples, errors = run(f"appsrc name=src format=time caps={caps} ! {element(tiny_checkpoint, reference, 2)} ! "
                              f"video/x-raw,format={out} ! appsink name=sink sync=false", buffers_of(frames, "GRAY8"))
        assert not errors and len(samples) == 4
        outputs[out] = [s[0] for s in samples]
    for rgb, rgbx, i420 in zip(outputs["RGB"], outputs["RGBx"], outputs["I420"]):
        np.testing.assert_array_equal(rgbx, rgb)
        info = GstVideo.VideoInfo.new_from_caps(Gst.Caps.from_string("video/x-raw,format=I420,width=35,height=19"))
        for plane, want in enumerate(rgb_to_yuv420(rgb, "bt601")):
            rows, cols = want.shape
            got = np.lib.stride_tricks.as_strided(i420[info.offset[plane]:], (rows, cols), (info.stride[plane], 1))
            np.testing.assert_array_equal(got, want)


def test_a_discontinuity_resets_the_temporal_state(tiny_checkpoint, reference):
    frames = clip_frames(48, 32, count=8, cut_at=8)  # one shot: only the discontinuity may reset
    caps = "video/x-raw,format=GRAY8,width=48,height=32,framerate=10/1"
    samples, errors = run(f"appsrc name=src format=time caps={caps} ! {element(tiny_checkpoint, reference, 3)} ! "
                          "appsink name=sink sync=false", buffers_of(frames, "GRAY8", discont_at=(0, 4)))
    assert not errors
    fresh = expected_stream(tiny_checkpoint, reference, frames[:4], 3) + expected_stream(tiny_checkpoint, reference, frames[4:], 3)
    carried = expected_stream(tiny_checkpoint, reference, frames, 3)
    assert any((a != b).any() for a, b in zip(fresh[4:], carried[4:]))  # the reset is visible
    for (rgb, *_), want in zip(samples, fresh):
        np.testing.assert_array_equal(rgb, want)


def test_a_flushing_seek_resets_the_temporal_state(tiny_checkpoint, reference):
    """Play the first second (10 frames) of videotestsrc, seek back to the start: the same 10 frames come out."""
    source = "videotestsrc pattern=ball ! video/x-raw,format=GRAY8,width=48,height=32,framerate=10/1"
    pipeline = Gst.parse_launch(f"{source} ! {element(tiny_checkpoint, reference, 3)} ! appsink name=sink sync=false")
    sink = pipeline.get_by_name("sink")

    def play_first_second() -> list:
        assert pipeline.seek(1.0, Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.ACCURATE,
                             Gst.SeekType.SET, 0, Gst.SeekType.SET, SECOND)
        return pull_all(sink, 60)

    pipeline.set_state(Gst.State.PLAYING)
    first = play_first_second()
    again = play_first_second()
    errors = bus_errors(pipeline)
    pipeline.set_state(Gst.State.NULL)
    assert not errors and len(first) == len(again) == 10
    assert [s[1] for s in again] == [s[1] for s in first]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a[0], b[0])
    # Without the reset, the second pass would have gone on from the first one's state.
    gray, _ = run(f"{source} ! appsink name=sink sync=false caps=video/x-raw,format=GRAY8".replace(
        "videotestsrc ", "videotestsrc num-buffers=10 "))
    frames = [sample[0] for sample in gray]
    carried = expected_stream(tiny_checkpoint, reference, frames + frames, 3)
    assert any((a != b).any() for a, b in zip(carried[:10], carried[10:]))
    np.testing.assert_array_equal(first[4][0], carried[4])


def test_pinned_references_follow_the_stream_time(tmp_path, tiny_checkpoint, reference):
    """reference="0:00=A,0.5=B" at 10 fps: frames 0-4 from A, 5-7 from B (a new shot at the pin)."""
    other = tmp_path / "blue_yellow.png"
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32], image[:, 32:] = (30, 60, 220), (230, 210, 20)
    cv2.imwrite(str(other), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    frames = clip_frames(48, 32, count=8, cut_at=8)
    caps = "video/x-raw,format=GRAY8,width=48,height=32,framerate=10/1"

    def colour(references: str) -> list[np.ndarray]:
        samples, errors = run(f"appsrc name=src format=time caps={caps} ! {element(tiny_checkpoint, references, 3)} ! "
                              "appsink name=sink sync=false", buffers_of(frames, "GRAY8"))
        assert not errors and len(samples) == 8
        return [sample[0] for sample in samples]

    pinned = colour(f"0:00={reference},0.5={other}")
    only_a, b_from_the_pin = colour(str(reference)), colour(f"0:00={other};0.5={other}")
    for got, want in zip(pinned, only_a[:5] + b_from_the_pin[5:]):
        np.testing.assert_array_equal(got, want)
    assert all((a != b).any() for a, b in zip(pinned[5:], only_a[5:]))


def test_a_missing_reference_is_a_one_line_pipeline_error(tmp_path, tiny_checkpoint):
    missing = tmp_path / "nowhere.png"
    pipeline = Gst.parse_launch(f"videotestsrc num-buffers=2 ! vidcolor reference={missing} model={tiny_checkpoint} ! fakesink")
    assert pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE
    (message,) = bus_errors(pipeline)
    pipeline.set_state(Gst.State.NULL)
    error, debug = message.parse_error()
    assert error.message == f"{missing}: no such file" and "Traceback" not in debug
    assert message.src.get_name().startswith("vidcolor")


def test_an_unknown_model_is_a_pipeline_error(reference):
    pipeline = Gst.parse_launch(f"videotestsrc num-buffers=1 ! vidcolor reference={reference} model=no-such-model ! fakesink")
    assert pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE
    (message,) = bus_errors(pipeline)
    pipeline.set_state(Gst.State.NULL)
    text = message.parse_error()[0].message
    assert "no-such-model" in text and "\n" not in text


def test_the_latency_query_includes_the_batch(tiny_checkpoint, reference):
    """A live source: the element adds (latency - 1) frame durations and the time to colour a batch."""
    source = "videotestsrc is-live=true ! video/x-raw,format=GRAY8,width=48,height=32,framerate=20/1"
    for latency in (1, 4):
        pipeline = Gst.parse_launch(f"{source} ! {element(tiny_checkpoint, reference, latency)} ! fakesink name=sink")
        pipeline.set_state(Gst.State.PLAYING)
        assert pipeline.get_state(30 * SECOND)[0] == Gst.StateChangeReturn.SUCCESS
        query = Gst.Query.new_latency()
        assert pipeline.get_by_name("sink").get_static_pad("sink").peer_query(query)
        live, min_ns, _ = query.parse_latency()
        pipeline.set_state(Gst.State.NULL)
        assert live and min_ns >= (latency - 1) * SECOND // 20


def test_gst_path_lets_a_plain_venv_import_the_systems_gi_and_nothing_else(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    code = "import sys; sys.path.insert(0, sys.argv[1]); from vidcolor.gstenv import link_system_gi; print(link_system_gi())"
    checkout = str(PLUGIN_FOLDER.parents[1])
    first = subprocess.run([python, "-c", code, checkout], capture_output=True, text=True, check=True).stdout
    assert first.strip().endswith("vidcolor-system-gi.pth")
    again = subprocess.run([python, "-c", code, checkout], capture_output=True, text=True, check=True).stdout
    assert again.strip() == "None"  # gi importable now: nothing more to write
    probe = ("import importlib.util as u, gi; from gi.repository import Gst; "
             "print(gi.__file__, u.find_spec('yaml') is None, u.find_spec('apt') is None)")
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert "vidcolor-system-gi" in found[0] and found[1:] == ["True", "True"]  # the system's gi, not its yaml or apt


# ---- through GStreamer's Python plugin loader, as gst-launch-1.0 users run it


@pytest.fixture(scope="module")
def gst_env(tmp_path_factory) -> dict[str, str]:
    """The user's steps: GST_PLUGIN_PATH=$(vidcolor gst-path), the virtual environment active; a fresh registry."""
    if not HAVE_GST_LAUNCH:
        pytest.skip("gst-launch-1.0 or GStreamer's plugins are not installed")
    printed = subprocess.run([sys.executable, "-m", "vidcolor", "gst-path"], capture_output=True, text=True, check=True)
    assert Path(printed.stdout.strip()) == PLUGIN_FOLDER and (PLUGIN_FOLDER / "python" / "vidcolor_gst.py").is_file()
    environment = {**os.environ, "GST_PLUGIN_PATH": printed.stdout.strip(), "OMP_NUM_THREADS": "1",
                   "GST_REGISTRY": str(tmp_path_factory.mktemp("gst") / "registry.bin")}
    if sys.prefix != sys.base_prefix:
        environment.update(VIRTUAL_ENV=sys.prefix, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return environment


def gst_launch(pipeline: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["gst-launch-1.0", "-q", *pipeline.split()], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


@pytest.mark.slow
def test_gst_inspect_documents_the_properties(gst_env):
    result = subprocess.run(["gst-inspect-1.0", "vidcolor"], capture_output=True, text=True, env=gst_env, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("reference", "model", "device", "work-size", "temporal", "full-colour", "keyframes", "latency"):
        assert f"  {name} " in result.stdout
    assert "GRAY8" in result.stdout and "I420" in result.stdout


@pytest.mark.slow
def test_the_element_loads_in_the_system_python_too(gst_env, tmp_path):
    """The environment not active (python3 on PATH is another): the loader adds it from VIRTUAL_ENV."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent)
    env = {**gst_env, "PATH": path, "GST_REGISTRY": str(tmp_path / "registry.bin")}
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    result = gst_launch(f"videotestsrc num-buffers=2 ! vidcolor reference={broken} ! fakesink", env, tmp_path)
    # It registered, started and read the file with vidcolor's own code (torch and OpenCV imported).
    assert result.returncode != 0 and f"{broken}: not a readable image" in result.stderr


@pytest.mark.slow
def test_gst_launch_file_to_file_keeps_frames_timestamps_and_audio(gst_env, tmp_path, tiny_checkpoint, reference):
    """The README's pipeline: MP4 in, the video coloured, the AAC audio copied, MP4 out."""
    clip = make_clip(tmp_path / "in.mp4", frames=24, width=96, height=64, color=False)

    def launch(video_filter: str, out: Path) -> None:
        result = gst_launch(
            f"filesrc location={clip} ! qtdemux name=d d.video_0 ! queue ! decodebin ! {video_filter} videoconvert ! "
            f"x264enc ! mp4mux name=m ! filesink location={out} d.audio_0 ! queue max-size-time=0 "
            "max-size-buffers=0 max-size-bytes=0 ! aacparse ! m.", gst_env, tmp_path)
        assert result.returncode == 0, result.stderr

    launch(f"vidcolor reference={reference} model={tiny_checkpoint} work-size=32 !", tmp_path / "out.mp4")
    launch("", tmp_path / "remux.mp4")  # the same without vidcolor: what GStreamer itself keeps of the audio
    import av

    with av.open(str(clip)) as source, av.open(str(tmp_path / "out.mp4")) as output:
        times_in = [float(f.pts * f.time_base) for f in source.decode(video=0)]
        decoded = list(output.decode(video=0))
        times_out = [float(f.pts * f.time_base) for f in decoded]
        first = decoded[0].to_ndarray(format="rgb24").astype(int)
    assert times_out == times_in and len(times_out) == 24
    assert np.abs(first[..., 0] - first[..., 1]).mean() > 1  # coloured
    audio_out, audio_remux = packets(tmp_path / "out.mp4", "audio"), packets(tmp_path / "remux.mp4", "audio")
    assert [p[2] for p in audio_out] == [p[2] for p in audio_remux] and len(audio_out) >= 40
    in_payloads = [p[2] for p in packets(clip, "audio")]
    assert all(p[2] in in_payloads for p in audio_out)  # copied, not re-encoded


@pytest.mark.slow
def test_gst_launch_errors_are_one_line_without_traceback(gst_env, tmp_path, tiny_checkpoint, reference):
    cases = {
        f"reference={tmp_path / 'missing.jpg'}": f"{tmp_path / 'missing.jpg'}: no such file",
        f"reference={reference} model=no-such-model": "no-such-model",
    }
    for properties, expected in cases.items():
        result = gst_launch(f"videotestsrc num-buffers=3 ! vidcolor {properties} ! fakesink", gst_env, tmp_path)
        assert result.returncode != 0
        assert expected in result.stderr and "Traceback" not in result.stderr + result.stdout
    caps = gst_launch(f"videotestsrc num-buffers=3 ! video/x-raw,format=GRAY16_LE ! vidcolor reference={reference} "
                      "! fakesink", gst_env, tmp_path)
    assert caps.returncode != 0 and "vidcolor" in caps.stderr and "Traceback" not in caps.stderr
