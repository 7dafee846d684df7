"""Naming inputs and outputs: files, ``"-"`` for stdin/stdout, and network URLs.

Pipes and URLs are read or written once, in order (no probing pass, no temporary file),
and a network peer gets a timeout so that a silent one cannot hang a run. These helpers
decide which kind a target is, what FFmpeg is asked to open, and how messages name it.
"""

from __future__ import annotations

import os
import re

from ..defaults import NETWORK_TIMEOUT_S as DEFAULT_NETWORK_TIMEOUT_S

StrPath = str | os.PathLike

# "-" names stdin (input) or stdout (output).
STDIO = "-"
# A URL (tcp://, udp://, rtmp://, ...) rather than a file path.
URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_stream_target(target: StrPath) -> bool:
    """Whether ``target`` is stdin/stdout (``"-"``) or a URL (``tcp://...``) rather than a file path.

    Such targets are read or written once, in order: no probing pass, no temporary file.
    """
    text = os.fspath(target)
    return text == STDIO or URL_PATTERN.match(text) is not None


def display_name(target: StrPath, *, writing: bool = False) -> str:
    """How messages name ``target``: its path or URL, or stdin/stdout for ``"-"``."""
    text = os.fspath(target)
    if text == STDIO:
        return "stdout" if writing else "stdin"
    return text


def ffmpeg_url(target: StrPath, *, writing: bool = False) -> str:
    """The name FFmpeg opens: its pipe protocol for "-" (reads/writes the descriptor directly)."""
    text = os.fspath(target)
    if text == STDIO:
        return "pipe:1" if writing else "pipe:0"
    return text


def timeout_for(target: StrPath, timeout_s: float | None) -> float | None:
    """Open/read timeout for PyAV: network targets get one (a silent peer must not hang us)."""
    if timeout_s is not None:
        return timeout_s
    text = os.fspath(target)
    return DEFAULT_NETWORK_TIMEOUT_S if URL_PATTERN.match(text) and not text.startswith("file:") else None
