"""Give the C heap's free memory back to the system now and then (glibc only; elsewhere a no-op).

glibc serves large blocks with mmap until one is freed, then raises its mmap threshold to that
block's size (up to 32 MiB), so later frame-sized buffers come from the heap, where blocks of
different sizes (keyframe batches vary in length) leave holes that it does not return by itself.
On a 5-minute 1080p input with ``--keyframes auto`` the peak resident memory kept rising (1,389
-> 1,502 MiB; benchmarks/throughput.py --long, docs/keyframes.md).

Fixing the mmap threshold low stopped that but made every large tensor a fresh mmap whose pages
fault in on first touch: the network ran at half speed (46 -> 104 ms per frame, half the CPU
time in the kernel). ``malloc_trim`` once a second instead returns the free pages inside the
heap (a few ms per call) while the allocator keeps reusing its blocks.

glibc's own adaptation does not keep every frame-sized block on the heap either: the threshold
follows the last freed block, and a freed block at the heap's top beyond twice that is given
back at once, to fault in again on the next frame. So the command line fixes both thresholds
high (:func:`keep_large_blocks_on_heap`) and leaves giving memory back to the trimmer: the
network on one 480p frame took 46-48 ms, against 50-140 ms (varying from run to run) without.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time

# mallopt parameters (malloc.h) and the values set: blocks up to glibc's largest mmap threshold
# come from the heap, and free memory at its top is kept up to TRIM_THRESHOLD between trims.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # the most glibc accepts on 64-bit systems
TRIM_THRESHOLD = 128 << 20
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # musl has none
    except OSError:
        return None


def keep_large_blocks_on_heap() -> bool:
    """Serve blocks up to 32 MiB from the heap and keep its free top for reuse (glibc only).

    Call once at the start of a process that runs the video loop (the command line, the batch
    workers, the benchmark): it changes the whole process's allocator, so the library leaves it
    to applications. Never over the user's own malloc settings (environment or GLIBC_TUNABLES).
    Returns whether the thresholds are now in force.
    """
    libc = _glibc()
    user_set = any(name in os.environ for name in _USER_SETTINGS) or "glibc.malloc" in os.environ.get(
        "GLIBC_TUNABLES", "")
    if libc is None or user_set:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


class HeapTrimmer:
    """Call after each batch: at most every ``interval_s`` seconds, glibc returns the heap's free pages."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._libc = _glibc()
        self._last = time.monotonic()
        self.trims = 0

    @property
    def active(self) -> bool:
        """Whether this C library can trim (glibc)."""
        return self._libc is not None

    def __call__(self) -> None:
        now = time.monotonic()
        if self._libc is None or now - self._last < self.interval_s:
            return
        self._libc.malloc_trim(0)
        self._last, self.trims = now, self.trims + 1
