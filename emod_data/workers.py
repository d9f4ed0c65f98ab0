"""Local worker processes that never outlive the process that started them.

:func:`run_in_processes` runs tasks in a spawned ``ProcessPoolExecutor`` (zarr runs an event-loop
thread, so worker processes are never forked). Each worker asks the kernel to kill it when its
parent dies (Linux ``PR_SET_PDEATHSIG``; elsewhere a watchdog thread polls the parent), so a
``kill -9`` of an ingest or inspect leaves no worker writing into the store outside the corpus
lock. The multiprocessing resource tracker exits by itself once all of them are gone.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

PR_SET_PDEATHSIG = 1


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.5)


def die_with_parent(parent: int) -> None:
    """Worker initializer: end this process when the process ``parent`` dies (also if it already has)."""
    armed = False
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), name="emod-parent-watchdog", daemon=True).start()


def run_in_processes(function: Callable, items: list, workers: int) -> Iterator[Any]:
    """Run ``function(item)`` for every item in ``workers`` spawned processes; yield results as they finish.

    Parameters
    ----------
    function : callable
        A picklable, module-level function.
    items : list
        One task per item (picklable).
    workers : int
        Worker processes.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # zarr runs an event-loop thread: never fork it
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        for future in as_completed([pool.submit(function, item) for item in items]):
            yield future.result()
