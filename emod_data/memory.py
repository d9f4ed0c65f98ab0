"""Process memory: hand large freed buffers back to the operating system at once.

An ingest worker allocates and frees arrays of tens of MB per trial from several threads. With
glibc's default, the threshold above which a block gets its own mapping grows to the largest block
freed so far (up to 32 MB), after which such arrays come from per-thread heaps that fragment and
keep their pages: the resident size of a worker then grows to several trials' worth above what is
live. A fixed threshold keeps every large array in its own mapping, returned when it is freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number for the mmap threshold."""

LARGE_BLOCK_BYTES = 1 << 20
"""Blocks at least this large are mapped on their own and unmapped when freed."""


@functools.cache
def map_large_blocks(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Fix the C allocator's mmap threshold so that freed large arrays leave the process at once.

    Applies once per process; a no-op where the C library has no ``mallopt`` (not glibc).

    Parameters
    ----------
    threshold : int
        Size in bytes from which an allocation gets its own mapping.

    Returns
    -------
    bool
        True when the threshold was set.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, int(threshold)))
    except (OSError, AttributeError):
        return False
