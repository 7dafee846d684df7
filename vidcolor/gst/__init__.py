"""vidcolor as a GStreamer element: ``... ! vidcolor reference=still.jpg ! ...``.

    export GST_PLUGIN_PATH=$(vidcolor gst-path)
    gst-inspect-1.0 vidcolor
    gst-launch-1.0 videotestsrc ! vidcolor reference=still.jpg ! videoconvert ! autovideosink

GStreamer's Python plugin loader reads ``python/vidcolor_gst.py`` in this folder, which registers
:class:`~vidcolor.gst.element.VidcolorElement`. In a Python program, :func:`register` makes the
element available to ``Gst.parse_launch`` without GST_PLUGIN_PATH. The element needs PyGObject
(``gi``) with GStreamer's overrides; in a virtual environment without them, the system's are
used (see :mod:`vidcolor.gstenv`). See docs/gstreamer.md.
"""

from __future__ import annotations

import importlib

__all__ = ["VidcolorElement", "register"]


def __getattr__(name: str):
    # On first use: the byte layouts (vidcolor.gst.frames) import without GStreamer installed.
    if name not in __all__:
        raise AttributeError(f"module 'vidcolor.gst' has no attribute {name!r}")
    return getattr(importlib.import_module(".element", __name__), name)
