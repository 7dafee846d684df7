"""Keep the C heap from fragmenting on long runs (glibc only; elsewhere a no-op).

glibc serves large blocks with mmap until one is freed, then raises its mmap threshold to that
block's size (up to 32 MiB), so later frame-sized buffers come from the heap, where blocks of
different sizes (keyframe batches vary in length) leave holes that are never returned. On a
5-minute 1080p input with ``--keyframes auto`` the peak resident memory kept rising (1,389 ->
1,502 MiB); with the threshold fixed at 128 KiB it stayed at 1,225-1,232 MiB
(benchmarks/throughput.py --long, docs/keyframes.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value, kept fixed


def limit_heap_fragmentation() -> bool:
    """Fix glibc's mmap threshold for this process; True when it was set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
