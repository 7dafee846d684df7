"""``--reference`` values: images, folders of images, and images pinned to a time."""

from __future__ import annotations

import re
from pathlib import Path

from .. import defaults
from ..errors import VidcolorError

_TIME = re.compile(r"^\d+(:\d{1,2}){0,2}(\.\d+)?$")


def parse_time(text: str) -> float:
    """``SS``, ``MM:SS`` or ``HH:MM:SS`` (fractions allowed) -> seconds."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def parse_references(values: list[str]) -> tuple[list[Path], list[tuple[float, int]]]:
    """``--reference`` values -> image paths and ``(seconds, index)`` pins.

    A value is an image, a folder of images (all of them, sorted by name) or ``TIME=IMAGE``.
    Either every reference is pinned or none is.
    """
    paths: list[Path] = []
    pins: list[tuple[float, int]] = []
    for value in values:
        time_text, sep, rest = value.partition("=")
        if sep and _TIME.match(time_text):
            pins.append((parse_time(time_text), len(paths)))
            paths.append(Path(rest))
        elif Path(value).is_dir():
            found = sorted(p for p in Path(value).iterdir() if p.suffix.lower() in defaults.IMAGE_SUFFIXES)
            if not found:
                raise VidcolorError(f"{value}: the reference folder holds no images")
            paths.extend(found)
        else:
            paths.append(Path(value))
    if pins and len(pins) != len(paths):
        raise VidcolorError("pin every reference to a time (TIME=IMAGE) or none of them")
    return paths, pins
