"""One BLAS thread while an ingest works: its trial threads and worker processes are its parallelism.

OpenBLAS (NumPy's and SciPy's) runs a matrix product on every core by default, and its threads keep
spinning for a while after each call. Inside an ingest, whose trial threads already keep the cores
busy, the small products of bad-channel detection (pyprep's windowed correlations) and of the repair
(the reference, interpolation) gain nothing from that and the spinning burns CPU the other threads
need: detection measured about a fifth more CPU with two BLAS threads than with one (see
docs/benchmarks.md). :func:`one_blas_thread` limits BLAS to one thread (threadpoolctl) for as long as
any caller in the process holds it, and restores the previous limits when the last one leaves.

Take it in the thread that starts the work (``ingest`` in the caller's thread, ``process_file`` in a
worker): OpenBLAS was seen to ignore a limit set from a secondary thread once an ingest had run in the
process (the library then keeps its own threads; the ingest is correct either way, only slower).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_limiter = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS libraries to one thread inside the block (re-entrant and thread-safe).

    Nested and concurrent uses (several ingest tasks in one process) share one limit, taken by the
    first to enter and lifted by the last to leave.
    """
    global _holders, _limiter
    from threadpoolctl import threadpool_limits

    with _lock:
        if _holders == 0:
            _limiter = threadpool_limits(limits=1, user_api="blas")
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                _limiter.restore_original_limits()
                _limiter = None
