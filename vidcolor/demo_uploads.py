"""What the web demo's visitors send and see: uploads checked, the library's messages shown in the page, progress.

Part of the demo (:mod:`vidcolor.demo`); needs Gradio.
"""

from __future__ import annotations

import contextlib
import contextvars
import html
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from . import defaults
from .errors import ReferenceWarning, VidcolorError
from .media import MediaError, MediaWarning, VideoInfo

WORK_SIZE_RANGE = defaults.DEMO_WORK_SIZE_RANGE


@dataclass(frozen=True)
class Upload:
    """A file a visitor uploaded: where the server keeps it and the name the visitor gave it."""

    path: Path
    name: str


def refuse(message: str) -> gr.Error:
    # Gradio renders messages as HTML, and they quote the visitor's file names. A refused upload
    # is the visitor's mistake, not the server's: no traceback in the server log either.
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def upload_of(payload: dict | None, missing: str | None = None) -> Upload | None:
    """A file input's raw value (the handlers run with ``preprocess=False``) -> an :class:`Upload`.

    None when nothing was uploaded; with ``missing``, that message is shown instead. Only files
    in Gradio's upload folder are accepted: without Gradio's preprocessing nothing else stops an
    API caller from naming any file on the server.
    """
    if not payload or not payload.get("path"):
        if missing:
            raise refuse(missing)
        return None
    path = Path(payload["path"]).resolve()
    if not path.is_relative_to(Path(gr.utils.get_upload_folder()).resolve()):
        raise refuse("Only files uploaded to the demo can be coloured.")
    return Upload(path, Path(payload.get("orig_name") or path.name).name)


def checked_work_size(value) -> int:
    """The working-size setting, checked here because the handlers skip Gradio's own checks."""
    low, high = WORK_SIZE_RANGE
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if not low <= size <= high:
        raise refuse(f"The working size must be a whole number of pixels from {low} to {high}.")
    return size


def readable(message: str, uploads: tuple[Upload | None, ...]) -> str:
    """A library message with the server's temporary paths replaced by the visitor's file names."""
    for upload in filter(None, uploads):
        message = message.replace(str(upload.path), upload.name)
    return message


@contextlib.contextmanager
def errors_shown_in_page(*uploads: Upload | None):
    """Show the library's one-line errors (:class:`VidcolorError`, :class:`MediaError`) in the page."""
    try:
        yield
    except (VidcolorError, MediaError) as exc:
        raise refuse(readable(str(exc), uploads)) from exc


@contextlib.contextmanager
def warnings_shown_in_page(*uploads: Upload | None):
    """Show the library's user-facing warnings in the page: a :class:`ReferenceWarning` (e.g. a
    gray reference) or a :class:`MediaWarning` (e.g. a dropped stream).

    It swaps the process-wide warning hooks, so calls must not overlap: hold the app's lock.
    """
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, (ReferenceWarning, MediaWarning)):
            gr.Warning(html.escape(readable(str(message), uploads), quote=False))
        else:
            original(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        # Every visitor must see them, not only the first one (the default shows each once).
        warnings.simplefilter("always", ReferenceWarning)
        warnings.simplefilter("always", MediaWarning)
        warnings.showwarning = show
        yield


def clip_seconds(info: VideoInfo) -> float | None:
    """The clip's length in seconds: its duration, else frames / frame rate; None if unknown."""
    if info.duration is not None:
        return info.duration
    if info.frame_count and info.fps:
        return info.frame_count / float(info.fps)
    return None


def progress_reporter(progress: gr.Progress, total: int | None, check: Callable[[], None] | None = None):
    """An ``on_frames`` callback for :func:`colorize_video` that moves the page's progress bar.

    The pipeline calls it from its encoder thread, where Gradio's per-event context (which
    ``gr.Progress`` needs to find the page) is not set, so it runs in a copy of the caller's.
    ``check`` runs after each batch too: what it raises stops the run (the output is discarded).
    """
    context = contextvars.copy_context()
    done = 0

    def on_frames(count: int, delay_s: float) -> None:
        nonlocal done
        done += count
        context.run(progress, (done, total), desc="Colouring frames", unit="frames")
        if check is not None:
            check()

    return on_frames
