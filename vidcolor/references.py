"""Reference specs (the command line's ``--reference`` values, the GStreamer element's property): images,
folders of images, images pinned to a time or a frame, keyframe folders."""

from __future__ import annotations

import re
from pathlib import Path

from . import defaults
from .errors import VidcolorError
from .pins import FramePosition

_TIME = re.compile(r"^\d+(:\d{1,2}){0,2}(\.\d+)?$")
_FRAME = re.compile(r"^#\d+$")


def parse_time(text: str) -> float:
    """``SS``, ``MM:SS`` or ``HH:MM:SS`` (fractions allowed) -> seconds."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def parse_references(values: list[str]) -> tuple[list[Path], list[tuple[float, int]]]:
    """``--reference`` values -> image paths and ``(place, index)`` pins.

    A value is an image, a folder of images (all of them, sorted by name), ``TIME=IMAGE``,
    ``#FRAME=IMAGE`` (a pin's place is then a :class:`vidcolor.pins.FramePosition`) or a
    keyframe folder written by ``vidcolor shots`` (each still pinned to its shot's first frame;
    a shot whose still is missing gets index -1: it chooses among the others). Either every
    reference is pinned or none is, and pins are placed all by time or all by frame.
    """
    paths: list[Path] = []
    pins: list[tuple[float, int]] = []
    for value in values:
        place_text, sep, rest = value.partition("=")
        if sep and _TIME.match(place_text):
            pins.append((parse_time(place_text), len(paths)))
            paths.append(Path(rest))
        elif sep and _FRAME.match(place_text):
            pins.append((FramePosition(place_text[1:]), len(paths)))
            paths.append(Path(rest))
        elif Path(value).is_dir():
            keyframes = _keyframe_pins(Path(value), len(paths))
            if keyframes is not None:
                folder_paths, folder_pins = keyframes
                paths.extend(folder_paths)
                pins.extend(folder_pins)
                continue
            found = sorted(p for p in Path(value).iterdir() if p.suffix.lower() in defaults.IMAGE_SUFFIXES)
            if not found:
                raise VidcolorError(f"{value}: the reference folder holds no images")
            paths.extend(found)
        else:
            paths.append(Path(value))
    if pins and {index for _, index in pins if index >= 0} != set(range(len(paths))):
        raise VidcolorError("pin every reference (TIME=IMAGE or #FRAME=IMAGE) or none of them")
    if len({isinstance(place, FramePosition) for place, _ in pins}) > 1:
        raise VidcolorError("pin references either all to times (TIME=IMAGE) or all to frames (#FRAME=IMAGE)")
    return paths, pins


def _keyframe_pins(folder: Path, first_index: int) -> tuple[list[Path], list[tuple[float, int]]] | None:
    """A keyframe folder's stills and their pins (by frame), or None for a plain folder of images."""
    from .shots import keyframe_pins

    shots = keyframe_pins(folder)
    if shots is None:
        return None
    paths: list[Path] = []
    pins: list[tuple[float, int]] = []
    for start, still in shots:
        pins.append((FramePosition(start), first_index + len(paths) if still else -1))
        if still:
            paths.append(still)
    return paths, pins
