"""Processes: workers that die with a killed ingest or inspect, and Dask clusters that go away."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from emod_data.errors import ClusterError

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _kill_once_workers_run(args: list[str], cwd: Path, workers: int = 2) -> list[int]:
    """Start ``emod-data ARGS``, SIGKILL it as soon as it has ``workers`` worker processes; return all children."""
    process = subprocess.Popen([sys.executable, "-m", "emod_data", *args], cwd=cwd, env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + 60
    children: list[psutil.Process] = []
    while time.monotonic() < deadline and process.poll() is None:
        children = parent.children(recursive=True)
        if sum("spawn_main" in " ".join(c.cmdline()) for c in children if c.is_running()) >= workers:
            break
        time.sleep(0.02)
    else:
        pytest.fail("the command ended before its workers were seen")
    pids = [c.pid for c in parent.children(recursive=True)]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return pids


def test_killed_ingest_leaves_no_worker(raw_corpora, tmp_path):
    pids = _kill_once_workers_run(
        ["ingest", "seed", str(raw_corpora["seed"]), "--store", str(tmp_path / "s.zarr"), "--workers", "2"], tmp_path
    )
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)]


def test_killed_inspect_leaves_no_worker(store_all, tmp_path):
    pids = _kill_once_workers_run(["inspect", str(store_all), "--workers", "2"], tmp_path)
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_is_one_line_exit_2_and_no_store(raw_corpora, tmp_path):
    store = tmp_path / "s.zarr"
    address = f"tcp://127.0.0.1:{_free_port()}"
    args = ["ingest", "deap", str(raw_corpora["deap"]), "--store", str(store), "--scheduler", address]
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "emod_data", *args, "--cluster-timeout", "2"],
                          env=_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and time.monotonic() - start < 30
    assert done.stderr.strip().count("\n") == 0 and "cannot reach the Dask scheduler" in done.stderr
    assert not store.exists()


def test_cluster_whose_workers_all_die_stops_within_the_timeout():
    distributed = pytest.importorskip("distributed")
    from emod_data.cluster import connect, run_tasks

    port = _free_port()
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
    )  # fmt: skip
    address = f"tcp://127.0.0.1:{port}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--no-nanny", "--nthreads", "1",
         "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
    )  # fmt: skip
    try:
        client = connect(address, timeout=30)
        try:
            results = run_tasks(client, time.sleep, [0.0, 30.0, 30.0], timeout=2.0, poll=0.2)
            assert next(results) is None  # the cluster works
            os.kill(worker.pid, signal.SIGKILL)  # every worker dies while tasks are pending
            start = time.monotonic()
            with pytest.raises(ClusterError, match="no worker for 2 s"):
                list(results)
            assert time.monotonic() - start < 15
        finally:
            client.close()
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait()
    assert distributed is not None


def test_inspect_on_a_dask_cluster_matches_a_local_inspect(store_all):
    distributed = pytest.importorskip("distributed")
    from emod_data.inspect import inspect_store

    local = inspect_store(store_all, window_seconds=1.0, workers=1, corpora=["seed_iv"])
    with distributed.LocalCluster(
        n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        remote = inspect_store(
            store_all, window_seconds=1.0, corpora=["seed_iv"], scheduler=cluster.scheduler_address, cluster_timeout=10
        )
    columns = ["check", "severity", "where"]
    assert remote.stats.recordings["error"].isna().all() and len(remote.recordings) == len(local.recordings)
    assert remote.findings[columns].equals(local.findings[columns])
    assert remote.stats.channels["sd"].round(4).tolist() == local.stats.channels["sd"].round(4).tolist()


SLOW_TASKS = """
import time

import emod_data.ingest as ingest

original = ingest.process_file


def slow(task):
    time.sleep(3)
    return original(task)


ingest.process_file = slow
"""


def test_ingest_whose_cluster_loses_every_worker_exits_2_within_the_timeout(raw_corpora, tmp_path):
    pytest.importorskip("distributed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    (tmp_path / "slow_tasks.py").write_text(SLOW_TASKS)  # the worker's file tasks take 3 s each
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--no-nanny", "--nthreads", "1",
         "--no-dashboard", "--preload", str(tmp_path / "slow_tasks.py")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
    )  # fmt: skip
    store = tmp_path / "s.zarr"
    args = ["ingest", "seed", str(raw_corpora["seed"]), "--store", str(store), "--scheduler", address]
    ingest = subprocess.Popen([sys.executable, "-m", "emod_data", *args, "--cluster-timeout", "3"], env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (store / "zarr.json").exists() and time.monotonic() < deadline and ingest.poll() is None:
            time.sleep(0.1)
        assert (store / "zarr.json").exists()  # connected to a cluster with a worker, run started
        time.sleep(0.5)
        os.kill(worker.pid, signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = ingest.communicate(timeout=60)
        assert ingest.returncode == 2 and time.monotonic() - killed < 15
        assert stderr.strip().splitlines()[-1].endswith("the Dask cluster has had no worker for 3 s; run stopped")
    finally:
        for process in (ingest, worker, scheduler):
            process.kill()
            process.wait()
