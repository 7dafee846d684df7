"""vidcolor: colour black-and-white video and photos from a colour reference image.

    from vidcolor import Colorizer, VideoOptions, colorize_video, read_image
    colorizer = Colorizer.from_pretrained()
    colorizer.set_reference(read_image("still.jpg"))
    report = colorize_video("movie.mp4", "movie_color.mp4", colorizer, VideoOptions())
    rgb_uint8 = colorizer.colorize_photo(read_image("photo.jpg"))

The names are imported on first use, so ``import vidcolor.defaults`` (what the command line
reads before it parses arguments) loads neither torch nor FFmpeg.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Colorizer": "colorizer",
    "ReferencePin": "clip",
    "RunReport": "report",
    "VideoOptions": "runner",
    "colorize_video": "runner",
    "read_image": "images",
    "write_image": "images",
    "ReferenceWarning": "errors",
    "VidcolorError": "errors",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vidcolor' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
