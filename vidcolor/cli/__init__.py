"""The ``vidcolor`` command line. It only parses arguments, calls the library and reports.

    vidcolor INPUT --reference REF [-o OUTPUT] [options]   colourise a video or a photo
    vidcolor example [--out DIR]                           colourise a built-in example clip
    vidcolor train --data DIR [DIR ...] --out RUN_DIR      train or fine-tune a model
    vidcolor evaluate SOURCE [SOURCE ...]                  quality metrics against baselines
    vidcolor demo [--port N] [--share]                     the Gradio web demo
    vidcolor gst-path                                      the folder to put on GST_PLUGIN_PATH
    vidcolor shots VIDEO --out FOLDER                      one still per shot to colour, and shots.json
    vidcolor batch INPUT [INPUT ...] -o DIR -r REF         many films on Ray (the ray extra)

Modules: :mod:`.colorize` (the main command: its options, checks and summary), :mod:`.progress`,
:mod:`.commands` (the other commands), :mod:`.batch`, :mod:`.shots`.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import warnings
from collections.abc import Iterator

from ..allocator import keep_large_blocks_on_heap
from ..errors import VidcolorError
from ..openmp import prefer_passive_waiting
from .colorize import build_parser, colorize_command
from .commands import COMMANDS


def _fail(message: str, code: int = 2) -> int:
    print(f"vidcolor: error: {message}", file=sys.stderr)
    return code


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"vidcolor: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    warnings.showwarning = _show_warning
    prefer_passive_waiting()  # before torch loads: the network shares the cores with the encoder
    keep_large_blocks_on_heap()  # frame-sized blocks reused, not faulted in afresh (vidcolor/allocator.py)
    try:
        with _signals_as_interrupts():
            return _dispatch(argv)
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, _Interrupted) else signal.SIGINT
        return _fail(f"interrupted ({signal.Signals(signum).name}); no partial file is left under the output name",
                     code=128 + signum)
    except VidcolorError as exc:
        return _fail(str(exc))
    except Exception as exc:  # errors from the media layer carry a user-facing message too
        from ..media import MediaError

        if isinstance(exc, MediaError):
            return _fail(str(exc))
        raise


class _Interrupted(KeyboardInterrupt):
    """A termination signal, raised like Ctrl-C so that every layer cleans up on its way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """SIGTERM stops a run like Ctrl-C; a file-size limit fails the write instead of killing us.

    Ignoring SIGXFSZ turns exceeding ``ulimit -f`` into an EFBIG write error, which is reported
    and cleaned up like a full disk. Handlers can only be set from the main thread; elsewhere
    (main() called from a worker thread) the defaults stay.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise _Interrupted(signum)

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, interrupt)}
    if hasattr(signal, "SIGXFSZ"):
        previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    return colorize_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
