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
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import time


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # musl has none
    except OSError:
        return None


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
