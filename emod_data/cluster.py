"""Running tasks on a Dask distributed cluster, with a bounded wait for a lost cluster.

:func:`connect` reaches the scheduler and waits for at least one worker, both within a timeout,
before anything is written; :func:`run_tasks` yields results as tasks finish and stops with a
one-line :class:`~emod_data.errors.ClusterError` when the scheduler goes away or no worker has
been connected for the timeout, instead of waiting forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from emod_data.errors import ClusterError

CLUSTER_TIMEOUT = 30.0
"""Default seconds to wait for a scheduler, for a first worker, and for workers to come back."""


def connect(scheduler: str, timeout: float = CLUSTER_TIMEOUT):
    """A ``distributed.Client`` on ``scheduler`` with at least one worker.

    Parameters
    ----------
    scheduler : str
        Scheduler address (``tcp://host:8786``).
    timeout : float
        Seconds to wait for the scheduler to answer and for a first worker.

    Raises
    ------
    ClusterError
        The scheduler cannot be reached, or has no worker within ``timeout``.
    """
    from distributed import Client

    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"{scheduler}: cannot reach the Dask scheduler within {timeout:g} s ({exc})") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise ClusterError(f"{scheduler}: the Dask scheduler has no worker after {timeout:g} s ({exc})") from None
    return client


def _worker_count(client) -> int:
    if client.status != "running":
        return 0
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # older distributed
        info = client.scheduler_info()
    return len(info.get("workers", {}))


def run_tasks(
    client, function: Callable, items: list, timeout: float = CLUSTER_TIMEOUT, poll: float = 0.5
) -> Iterator[Any]:
    """Submit ``function(item)`` for every item and yield the results as they finish.

    Parameters
    ----------
    client : distributed.Client
        A connected client (see :func:`connect`).
    function : callable
        The task.
    items : list
        One task per item.
    timeout : float
        Seconds the cluster may be without any worker (or its scheduler unreachable) before the run stops.
    poll : float
        Seconds between checks of the cluster.

    Raises
    ------
    ClusterError
        No worker for ``timeout`` seconds, or the scheduler is gone; pending tasks are cancelled.
    """
    from distributed import as_completed

    address = client.scheduler.address
    futures = [client.submit(function, item, pure=False) for item in items]
    pending = as_completed(futures)
    lost_since: float | None = None
    try:
        while not pending.is_empty():
            finished = pending.next_batch(block=False)
            for future in finished:
                yield future.result()
            if finished:
                continue
            try:
                workers = _worker_count(client)
            except (OSError, TimeoutError):
                workers = 0
            lost_since = None if workers else (lost_since or time.monotonic())
            if lost_since is not None and time.monotonic() - lost_since > timeout:
                raise ClusterError(f"{address}: the Dask cluster has had no worker for {timeout:g} s; run stopped")
            time.sleep(poll)
    finally:
        client.cancel([f for f in futures if not f.done()])
