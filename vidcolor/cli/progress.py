"""Progress of a run: a bar on a terminal, a few plain lines in a log."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator


@contextlib.contextmanager
def progress(total: int | None, quiet: bool, low_delay: bool) -> Iterator:
    """An ``on_frames`` callback: a progress bar on a terminal, a few plain lines in a log."""
    if quiet:
        yield None
        return
    if sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True,
                  mininterval=0.5 if low_delay else 0.1) as bar:

            def on_frames(count: int, delay_s: float) -> None:
                if low_delay:  # live: how long the newest frames spent inside vidcolor
                    bar.set_postfix_str(f"delay {delay_s * 1000:.0f} ms", refresh=False)
                bar.update(count)

            yield on_frames
        return
    yield _LogProgress(total, low_delay)


class _LogProgress:
    """Progress for a log, not a terminal: a plain line at the first batch and at each tenth of
    the frames (with no known total: every 30 s, or 5 s for a live stream, with its delay)."""

    def __init__(self, total: int | None, low_delay: bool):
        self.total, self.low_delay, self.done = total, low_delay, 0
        self.started = time.monotonic()
        self.last_step, self.last_time = -1, self.started

    def __call__(self, count: int, delay_s: float) -> None:
        self.done += count
        now = time.monotonic()
        step = self.done * 10 // self.total if self.total else 0
        interval = 5 if self.low_delay else 30
        if step > self.last_step or now - self.last_time >= interval:
            self.last_step, self.last_time = step, now
            of_total = f"/{self.total} frames ({100 * self.done // self.total}%)" if self.total else " frames"
            delay = f", delay {delay_s * 1000:.0f} ms" if self.low_delay else ""
            print(f"vidcolor: {self.done}{of_total}, {now - self.started:.0f} s{delay}",
                  file=sys.stderr, flush=True)
