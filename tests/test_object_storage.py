"""Stores on object storage: ingest to fsspec URLs, an S3-compatible server (moto), storage options and leases."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emod_data.errors import StoreError
from emod_data.ingest import ingest
from emod_data.inspect import inspect_store
from emod_data.lease import Lease, corpus_lease
from emod_data.storage import parse_storage_options
from emod_data.store import open_store

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    """A moto S3 server on a free loopback port, with one bucket; skipped when it cannot start."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server", reason="moto[server] is not installed")
    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    options = {"key": "testing", "secret": "testing", "endpoint_url": f"http://127.0.0.1:{port}"}
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.skip("the moto S3 server did not start")
                time.sleep(0.2)
        import s3fs

        s3fs.S3FileSystem(**options).mkdir("emod-test")
        yield options
    finally:
        server.terminate()
        server.wait(10)


def _files(fs, root: str) -> dict[str, bytes]:
    skip = (".lock", ".lease")
    return {p[len(root) :]: fs.cat_file(p) for p in fs.find(root) if not p.endswith(skip)}


def test_ingest_to_s3_equals_a_local_ingest_byte_for_byte(s3_server, raw_corpora, tmp_path):
    import fsspec

    local = tmp_path / "local.zarr"
    ingest("deap", raw_corpora["deap"], local, subjects=["01"])
    report = ingest("deap", raw_corpora["deap"], "s3://emod-test/s.zarr", subjects=["01"], storage_options=s3_server)
    assert report.ok and len(report.recordings) == 80 and report.store == "s3://emod-test/s.zarr"
    s3 = fsspec.filesystem("s3", **s3_server)
    remote_files, local_files = _files(s3, "emod-test/s.zarr"), _files(fsspec.filesystem("file"), str(local))
    assert sorted(remote_files) == sorted(local_files) and remote_files == local_files
    store = open_store("s3://emod-test/s.zarr", storage_options=s3_server)
    rid = store.recordings["recording_id"].iloc[7]
    np.testing.assert_array_equal(store.read(rid, 5, 50), open_store(local).read(rid, 5, 50))
    rerun = ingest("deap", raw_corpora["deap"], "s3://emod-test/s.zarr", subjects=["01"], storage_options=s3_server)
    assert rerun.skipped == 1 and rerun.processed == 0  # resumable there too
    assert not s3.exists("emod-test/s.zarr/tables/.ingest-deap.lease")  # released
    found = inspect_store("s3://emod-test/s.zarr", window_seconds=1.0, workers=1, storage_options=s3_server)
    assert len(found.recordings) == 80 and found.stats.recordings["error"].isna().all()
    assert found.stats.bytes_read == int(found.recordings.eval("n_channels * n_samples").sum()) * 4


def test_cli_ingest_to_memory_url_writes_no_local_folder(raw_corpora, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    code = (
        "import sys, fsspec\nfrom emod_data.cli import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
        "fs = fsspec.filesystem('memory')\nshards = sum(p.endswith('/c/0/0') for p in fs.find('/m.zarr/data'))\n"
        "print(code, fs.exists('/m.zarr/zarr.json'), shards)\n"
    )
    args = ["ingest", "deap", str(raw_corpora["deap"]), "--store", "memory://m.zarr", "--subjects", "01"]
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.stdout.split()[-3:] == ["0", "True", "80"], done.stderr[-2000:]
    assert not (tmp_path / "memory:").exists()


def test_lease_refuses_a_second_writer_and_expires(tmp_path):
    store = "memory://leased.zarr"
    with corpus_lease(store, "seed"):
        with pytest.raises(StoreError, match="another ingest of corpus 'seed' holds the lease"):
            Lease(store, "seed", None, 60).acquire()
    stale = Lease(store, "seed", None, 0.01)  # a writer that was killed: its lease expires
    stale.acquire()
    time.sleep(0.05)
    with corpus_lease(store, "seed") as lease:
        assert lease.owner != stale.owner


def test_parse_storage_options():
    assert parse_storage_options(["anon=true", "client_kwargs.endpoint_url=http://x:1", "retries=3"]) == {
        "anon": True,
        "client_kwargs": {"endpoint_url": "http://x:1"},
        "retries": 3,
    }
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_storage_options(["novalue"])


def test_store_read_from_memory_url_matches_local(store_all):
    import fsspec

    fsspec.filesystem("memory").put(str(store_all), "/mirror.zarr", recursive=True)
    remote, local = open_store("memory://mirror.zarr"), open_store(store_all)
    pd.testing.assert_frame_equal(remote.recordings, local.recordings)


def test_storage_backend_errors_are_one_line_store_errors(s3_server):
    with pytest.raises(StoreError, match=r"^s3://emod-test/none.zarr: no store here \(zarr.json missing\)$"):
        open_store("s3://emod-test/none.zarr", storage_options=s3_server)
    with pytest.raises(
        StoreError, match=r"^s3://no-such-bucket/x.zarr/tables/channels.parquet: cannot write the table"
    ):
        from emod_data.config import ProcessingConfig
        from emod_data.store import create_or_check_root

        create_or_check_root("s3://no-such-bucket/x.zarr", ProcessingConfig(), s3_server)
