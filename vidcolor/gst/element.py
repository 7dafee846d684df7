"""The ``vidcolor`` GStreamer element: black-and-white video in, colour video out.

A ``GstBase.BaseTransform`` that holds buffers: ``submit_input_buffer`` keeps each frame and
``generate_output`` hands finished frames out one per call (BaseTransform's chain function calls
it until it gives no buffer), so up to ``latency`` frames are coloured in one batch. Chosen over
a plain ``Gst.Element`` with a chain function because BaseTransform already answers the caps,
accept-caps, allocation and latency queries and handles flushing and renegotiation, and both
virtual methods work from Python with GStreamer 1.22's bindings (PyGObject 3.42).

The frames held are coloured and pushed before the event that ends what they belong to (EOS, a
new segment, new caps, a new stream) and before a discontinuous buffer; a flush drops them.
The temporal state (cut detection, flow smoothing) goes on from buffer to buffer and is reset
by a flush, a new segment (a seek), a discontinuity and new frame sizes. Timestamps,
durations, offsets and buffer flags are copied from each input buffer to its output buffer.

Only GObject introspection and light modules are imported here, so GStreamer's plugin scanner
registers the element without numpy or torch; the colourizer is loaded when the element starts.
"""

from __future__ import annotations

import sys
import traceback

from .. import defaults
from ..errors import VidcolorError
from ..gstenv import import_gi
from .formats import INPUT_FORMATS, OUTPUT_FORMATS

gi = import_gi()
gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, GObject, Gst, GstBase, GstVideo  # noqa: E402

if not Gst.is_initialized():
    Gst.init(None)


def _caps(formats) -> Gst.Caps:
    return Gst.Caps.from_string(
        f"video/x-raw, format=(string){{ {', '.join(formats)} }}, width=(int)[1, 32768], height=(int)[1, 32768], "
        "framerate=(fraction)[0/1, 2147483647/1]"
    )


SINK_CAPS = _caps(INPUT_FORMATS)
SRC_CAPS = _caps(OUTPUT_FORMATS)

_READY = GObject.ParamFlags.READWRITE | Gst.PARAM_MUTABLE_READY
PROPERTIES = {
    "reference": (str, "Reference images", "Colour reference: an image, a folder of images, or several separated by "
                  "commas or semicolons; TIME=IMAGE pins an image to a stream time (e.g. 0:00=a.jpg,1:30=b.jpg); "
                  "empty: automatic colours from the model's learned prior",
                  "", _READY),
    "model": (str, "Model", "Shipped model name or checkpoint path (empty: the shipped default model)", "", _READY),
    "device": (str, "Device", "Where the model runs: auto (the GPU when there is one), cpu or cuda", "auto", _READY),
    "work-size": (int, "Work size", "Short side, in pixels, at which colour is predicted (the output keeps the input size)",
                  defaults.MIN_WORK_SIZE, 8192, defaults.WORK_SIZE, _READY),
    "precision": (str, "Precision", f"Network precision: {', '.join(defaults.PRECISIONS)} (auto: fp16 on a GPU, bf16 "
                  "on a CPU with AMX or AVX512-BF16, else fp32)", defaults.PRECISION, _READY),
    "temporal": (str, "Temporal smoothing", "flow: colours steadied along optical flow and reset at scene cuts; off: "
                 "each frame on its own", defaults.TEMPORAL, _READY),
    "full-colour": (bool, "Full colour", "Keep the network's full colour where the reference matches the frame badly "
                    "(default: mute it there)", False, _READY),
    "keyframes": (str, "Keyframes", "every: the network on every frame; auto: on adaptive keyframes (shot starts, "
                  "where the motion uncovers too much, at most 4 frames apart) with colour carried along the motion "
                  "between them (faster)", defaults.KEYFRAMES, _READY),
    "latency": (int, "Latency", "Frames coloured together in one batch: the element holds up to this many frames "
                "(1: each frame goes out before the next comes in)", 1, 1024, defaults.BATCH_SIZE,
                GObject.ParamFlags.READWRITE | Gst.PARAM_MUTABLE_PLAYING),
}

_MATRICES = {GstVideo.VideoColorMatrix.BT709: "bt709", GstVideo.VideoColorMatrix.BT2020: "bt2020",
             GstVideo.VideoColorMatrix.SMPTE240M: "smpte240m", GstVideo.VideoColorMatrix.FCC: "fcc"}


def _layout(info: GstVideo.VideoInfo, buffer: Gst.Buffer | None = None):
    """The frame layout of caps ``info``, or of ``buffer`` when it carries its own (a GstVideoMeta)."""
    from .frames import Layout

    planes = info.finfo.n_planes
    strides, offsets = info.stride[:planes], info.offset[:planes]
    meta = GstVideo.buffer_get_video_meta(buffer) if buffer is not None else None
    if meta is not None:
        strides, offsets = meta.stride[:planes], meta.offset[:planes]
    return Layout(
        info.finfo.name, info.width, info.height, tuple(strides), tuple(offsets), info.size,
        full_range=info.colorimetry.range == getattr(GstVideo.VideoColorRange, "0_255"),
        matrix=_MATRICES.get(info.colorimetry.matrix, "bt601"),
    )


class VidcolorElement(GstBase.BaseTransform):
    """Colours black-and-white video from colour reference images (see the module's notes)."""

    __gtype_name__ = "GstVidcolor"
    __gstmetadata__ = (
        "vidcolor", "Filter/Effect/Video",
        "Colours black-and-white video from colour reference images with a reference-guided network",
        "vidcolor",
    )
    __gsttemplates__ = (
        Gst.PadTemplate.new("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, SINK_CAPS),
        Gst.PadTemplate.new("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, SRC_CAPS),
    )
    __gproperties__ = PROPERTIES

    def __init__(self):
        super().__init__()
        self.values = {name: spec[-2] for name, spec in PROPERTIES.items()}
        self.engine = None
        self.engine_settings = None
        self.in_info = self.out_info = None
        self.held = []  # (input buffer, frame, stream time in seconds), oldest first
        self.ready = []  # coloured output buffers not yet handed out
        self.stream_segment = Gst.Segment.new()
        self.stream_segment.init(Gst.Format.TIME)
        self.frame_ns = 0  # measured time to colour a frame: part of the latency reported
        self.srcpad.set_query_function(self._src_query)

    def do_get_property(self, spec):
        return self.values[spec.name]

    def do_set_property(self, spec, value):
        self.values[spec.name] = value

    # ---- errors: one line on the bus, no traceback on stderr

    def _post_error(self, domain, code, text: str, debug: str) -> None:
        """An error message on the bus: ``text`` is the one line gst-launch-1.0 shows, ``debug`` its details."""
        error = GLib.Error.new_literal(domain.quark(), text, code)
        self.post_message(Gst.Message.new_error(self, error, debug))  # (1.22's bindings take no None debug)

    def _fail(self, exc: BaseException, doing: str, domain=Gst.StreamError, code=Gst.StreamError.FAILED) -> Gst.FlowReturn:
        """Report an exception raised while ``doing`` something; a traceback only for what is not a user's error."""
        if isinstance(exc, VidcolorError):
            self._post_error(domain, code, str(exc), f"vidcolor: while {doing}")
        elif isinstance(exc, ImportError):
            self._post_error(Gst.CoreError, Gst.CoreError.MISSING_PLUGIN, (
                f"vidcolor cannot load its colourizer in GStreamer's Python {sys.version.split()[0]} ({sys.prefix}): "
                f"{exc}; activate the virtual environment vidcolor is installed in (or set VIRTUAL_ENV to it)"),
                f"vidcolor: while {doing}")
        else:
            self._post_error(domain, code, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        return Gst.FlowReturn.ERROR

    # ---- states

    def do_start(self):
        try:
            # torch comes with the engine: loaded when the element starts, not when it is registered.
            from .engine import Engine, Settings

            settings = Settings(
                reference=self.values["reference"], model=self.values["model"] or None, device=self.values["device"],
                work_size=self.values["work-size"], precision=self.values["precision"],
                temporal=self.values["temporal"], full_colour=self.values["full-colour"],
                keyframes=self.values["keyframes"],
            )
            if self.engine is None or settings != self.engine_settings:
                self.engine, self.engine_settings = None, None  # the old model freed before the new one loads
                self.engine, self.engine_settings = Engine(settings), settings
        except Exception as exc:  # noqa: BLE001 - every failure is reported on the bus
            self._fail(exc, "starting", Gst.ResourceError, Gst.ResourceError.SETTINGS)
            return False
        self._forget()
        return True

    def do_stop(self):
        self._forget()
        self.in_info = self.out_info = None  # the next caps time a frame again (the model may change)
        return True

    def do_change_state(self, transition):
        result = Gst.Element.do_change_state(self, transition)
        if transition == Gst.StateChange.READY_TO_NULL:
            # Kept from one start to the next (no reload when a pipeline pauses and resumes), freed
            # here: an element made by the bindings of Debian 12 is never finalized.
            self.engine = self.engine_settings = None
        return result

    def _forget(self) -> None:
        """Drop the frames held and the clip's state (a flush or a restart)."""
        self.held, self.ready = [], []
        if self.engine is not None:
            self.engine.reset()

    # ---- caps

    def do_transform_caps(self, direction, caps, filter_caps):
        other = SRC_CAPS if direction == Gst.PadDirection.SINK else SINK_CAPS
        result = Gst.Caps.new_empty()
        for i in range(caps.get_size()):
            # Same size, rate and features; any format of the other side (get_structure gives a copy).
            structure, features = caps.get_structure(i).copy(), caps.get_features(i)
            for name in ("format", "colorimetry", "chroma-site"):
                structure.remove_field(name)
            one = Gst.Caps.new_empty()
            one.append_structure_full(structure, features.copy() if features is not None else None)
            result = result.merge(one.intersect_full(other, Gst.CapsIntersectMode.FIRST))
        if filter_caps is not None:
            result = filter_caps.intersect_full(result, Gst.CapsIntersectMode.FIRST)
        return result

    def do_set_caps(self, incaps, outcaps):
        in_info, out_info = GstVideo.VideoInfo.new_from_caps(incaps), GstVideo.VideoInfo.new_from_caps(outcaps)
        if in_info is None or out_info is None:
            self._post_error(Gst.StreamError, Gst.StreamError.FORMAT, f"vidcolor cannot take the caps {incaps.to_string()}",
                             "vidcolor: while setting caps")
            return False
        resized = self.in_info is None or (in_info.width, in_info.height) != (self.in_info.width, self.in_info.height)
        self.in_info, self.out_info = in_info, out_info
        if resized:
            try:
                self._time_a_frame()
            except Exception as exc:  # noqa: BLE001
                self._fail(exc, "timing a frame of the new size")
                return False
        return True

    def _time_a_frame(self) -> None:
        """New frame size: a new clip; time a frame of it and tell the pipeline the latency changed."""
        import numpy as np

        self.engine.reset()
        frame = np.full((self.in_info.height, self.in_info.width), 128, np.uint8)
        self.frame_ns = int(self.engine.seconds_per_frame(frame) * Gst.SECOND)
        self.post_message(Gst.Message.new_latency(self))

    def _added_latency_ns(self) -> int:
        """Waiting for the rest of a batch, then colouring it."""
        batch = self.values["latency"]
        fps_n, fps_d = (self.in_info.fps_n, self.in_info.fps_d) if self.in_info is not None else (0, 1)
        waiting = (batch - 1) * Gst.SECOND * fps_d // fps_n if fps_n > 0 else 0
        return waiting + batch * self.frame_ns

    def _src_query(self, pad, parent, query) -> bool:
        """BaseTransform's answer, with this element's latency added to a latency query's.

        (A query function on the source pad rather than ``do_query``, which PyGObject cannot
        override: GstElement has a ``query`` virtual method too.)
        """
        handled = GstBase.BaseTransform.do_query(self, Gst.PadDirection.SRC, query)
        if handled and query.type == Gst.QueryType.LATENCY:
            live, min_ns, max_ns = query.parse_latency()
            added = self._added_latency_ns()
            query.set_latency(live, min_ns + added, max_ns if max_ns == Gst.CLOCK_TIME_NONE else max_ns + added)
        return handled

    # ---- events

    def do_sink_event(self, event):
        kind = event.type
        if kind == Gst.EventType.FLUSH_STOP:
            self._forget()
        elif kind in (Gst.EventType.EOS, Gst.EventType.SEGMENT, Gst.EventType.CAPS, Gst.EventType.STREAM_START):
            # The frames held belong to what this event ends: they go out before it.
            if self._drain() == Gst.FlowReturn.ERROR:
                return False
            if kind == Gst.EventType.SEGMENT:
                self.stream_segment = event.parse_segment().copy()
            if kind in (Gst.EventType.SEGMENT, Gst.EventType.STREAM_START) and self.engine is not None:
                self.engine.reset()
        return GstBase.BaseTransform.do_sink_event(self, event)

    # ---- buffers

    def do_submit_input_buffer(self, is_discont, buffer):
        from .frames import read_frame

        try:
            # The buffer's flag, not ``is_discont``: BaseTransform clears that only in its own
            # generate_output, so with this one it would stay set after the first buffer.
            if buffer.has_flags(Gst.BufferFlags.DISCONT):
                flow = self._drain()
                if flow != Gst.FlowReturn.OK:
                    return flow
                self.engine.reset()
            frame = read_frame(buffer.extract_dup(0, buffer.get_size()), _layout(self.in_info, buffer))
            self.held.append((buffer, frame, self._seconds(buffer)))
            return Gst.FlowReturn.OK
        except Exception as exc:  # noqa: BLE001
            return self._fail(exc, "reading a frame")

    def do_generate_output(self):
        try:
            if not self.ready and len(self.held) >= self.values["latency"]:
                self._colour_held(self.values["latency"])
            return Gst.FlowReturn.OK, (self.ready.pop(0) if self.ready else None)
        except Exception as exc:  # noqa: BLE001
            return self._fail(exc, "colouring frames"), None

    def _seconds(self, buffer: Gst.Buffer) -> float:
        """The buffer's stream time in seconds (where pins apply); the previous frame's when it has none."""
        if buffer.pts != Gst.CLOCK_TIME_NONE:
            stream_time = self.stream_segment.to_stream_time(Gst.Format.TIME, buffer.pts)
            if stream_time != Gst.CLOCK_TIME_NONE:
                return stream_time / Gst.SECOND
        return self.held[-1][2] if self.held else 0.0

    def _colour_held(self, count: int) -> None:
        """Colour the oldest ``count`` frames held into output buffers."""
        from .frames import write_frame

        batch, self.held = self.held[:count], self.held[count:]
        rgb = self.engine.colour([frame for _, frame, _ in batch], [seconds for _, _, seconds in batch])
        layout = _layout(self.out_info)
        for (source, _, _), image in zip(batch, rgb):
            out = Gst.Buffer.new_wrapped(write_frame(image, layout))
            out.pts, out.dts, out.duration = source.pts, source.dts, source.duration
            out.offset, out.offset_end = source.offset, source.offset_end
            out.set_flags(source.get_flags())
            self.ready.append(out)

    def _drain(self) -> Gst.FlowReturn:
        """Colour and push every frame held (before an event, a discontinuity or the end)."""
        try:
            while self.held:
                self._colour_held(min(self.values["latency"], len(self.held)))
        except Exception as exc:  # noqa: BLE001
            self.held = []
            return self._fail(exc, "colouring frames")
        flow = Gst.FlowReturn.OK
        while self.ready and flow == Gst.FlowReturn.OK:
            flow = self.srcpad.push(self.ready.pop(0))
        self.ready = []
        return flow


def register(plugin: Gst.Plugin | None = None) -> bool:
    """Register the element with GStreamer in this process (a plugin's, or the application's when None)."""
    return Gst.Element.register(plugin, "vidcolor", Gst.Rank.NONE, VidcolorElement)
