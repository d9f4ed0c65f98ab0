"""Store reliability: atomic root creation, checksummed arrays, missing chunks and reads during a re-ingest."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from emod_data.config import ProcessingConfig
from emod_data.errors import StoreError
from emod_data.ingest import ingest
from emod_data.inspect import inspect_store
from emod_data.store import create_or_check_root, open_store, read_root

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop


@pytest.fixture(scope="module")
def small_store(raw_corpora, tmp_path_factory) -> Path:
    """One DEAP subject (40 short trials, with baselines): a store that tests copy and damage."""
    store = tmp_path_factory.mktemp("integrity") / "deap.zarr"
    report = ingest("deap", raw_corpora["deap"], store, subjects=["01"])
    assert report.ok and len(report.recordings) == 80  # stimulus and baseline
    return store


@pytest.fixture
def store_copy(small_store, tmp_path) -> Path:
    import shutil

    target = tmp_path / "copy.zarr"
    shutil.copytree(small_store, target)
    return target


def _shard(store: Path, rid: str) -> Path:
    return store / "data" / rid / "c" / "0" / "0"


KILL_DURING_ROOT = """
import os, signal, sys
import emod_data.store as store
from emod_data.config import ProcessingConfig

def killed(*args, **kwargs):  # the channels table is written, the root zarr.json is next
    os.kill(os.getpid(), signal.SIGKILL)

store._zarr = killed
store.create_or_check_root(sys.argv[1], ProcessingConfig())
"""


def test_kill_during_root_creation_then_rerun_succeeds(tmp_path):
    target = tmp_path / "new.zarr"
    child = subprocess.run([sys.executable, "-c", KILL_DURING_ROOT, str(target)], env=os.environ.copy())
    assert child.returncode == -9
    assert not (target / "zarr.json").exists()
    leftovers = list(tmp_path.glob(".new.zarr.creating-*"))
    assert leftovers and (leftovers[0] / "tables" / "channels.parquet").exists()  # killed mid-build, aside
    assert create_or_check_root(target, ProcessingConfig()) == ProcessingConfig()
    assert read_root(target) == ProcessingConfig() and len(open_store(target).vocabulary) == 341
    assert not list(tmp_path.glob(".new.zarr.creating-*"))  # the dead build is cleaned up


def test_root_creation_accepts_an_empty_folder_and_an_old_lock_file(tmp_path):
    (tmp_path / "empty.zarr").mkdir()
    (tmp_path / "locked.zarr").mkdir()
    (tmp_path / "locked.zarr" / ".emod-root.lock").touch()
    for name in ("empty.zarr", "locked.zarr"):
        create_or_check_root(tmp_path / name, ProcessingConfig())
        assert read_root(tmp_path / name) == ProcessingConfig()
        assert not (tmp_path / name / ".emod-root.lock").exists()


def test_refused_folder_is_left_untouched(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="folder exists and is not a zarr store"):
        create_or_check_root(tmp_path / "other", ProcessingConfig())
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["notes.txt"]


def test_root_metadata_errors_name_the_path(store_copy):
    rid = open_store(store_copy).recordings["recording_id"].iloc[0]
    with pytest.raises(StoreError, match=r"a zarr array, not a store root"):
        open_store(store_copy / "data" / rid)
    (store_copy / "zarr.json").write_text("{not json")
    with pytest.raises(StoreError, match=rf"{store_copy}: zarr.json is not valid JSON"):
        open_store(store_copy)


def test_flipped_bytes_raise_and_fail_inspect(store_copy):
    store = open_store(store_copy)
    rid = store.recordings["recording_id"].iloc[5]
    good = store.read(rid)
    shard = _shard(store_copy, rid)
    data = bytearray(shard.read_bytes())
    rng = np.random.default_rng(0)
    for offset in rng.choice(len(data) - 200, size=64, replace=False):  # payload bytes, not the index
        data[int(offset)] ^= 0xA5
    shard.write_bytes(bytes(data))
    fresh = open_store(store_copy)
    with pytest.raises(StoreError, match=rf"cannot read recording '{rid}'.*checksum"):
        fresh.read(rid)
    with pytest.raises(StoreError, match=rf"'{rid}'"):
        fresh.read(rid, 0, 10)
    other = store.recordings["recording_id"].iloc[6]
    assert fresh.read(other).shape[1] > 0 and good.shape[1] > 0
    report = inspect_store(store_copy, window_seconds=1.0, workers=1)
    assert report.failed("error") and rid in report.hits("array_unreadable")


@pytest.mark.parametrize("damage", ["delete", "empty"])
def test_missing_or_empty_shard_is_an_error_not_zeros(store_copy, damage):
    rid = open_store(store_copy).recordings["recording_id"].iloc[2]
    shard = _shard(store_copy, rid)
    if damage == "delete":
        shard.unlink()
    else:
        shard.write_bytes(b"")
    with pytest.raises(StoreError, match=rf"cannot read recording '{rid}'.*(missing or empty)"):
        open_store(store_copy).read(rid)
    report = inspect_store(store_copy, window_seconds=1.0, workers=1)
    assert report.failed("error") and report.hits("array_unreadable") == [rid]


def test_reader_never_sees_zeros_during_a_reingest(raw_corpora, tmp_path):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(raw_corpora["deap"], raw)
    path = tmp_path / "s.zarr"
    ingest("deap", raw, path, subjects=["01"])
    store = open_store(path)
    rids = store.recordings["recording_id"].iloc[:4].tolist()
    expected = {rid: store.read(rid) for rid in rids}
    seen, problems, stop = [0], [], threading.Event()

    def reader() -> None:
        reading = open_store(path)
        while not stop.is_set():
            for rid in rids:
                try:
                    data = reading.read(rid)
                except StoreError as exc:
                    problems.append(str(exc))
                    continue
                seen[0] += 1
                if not np.array_equal(data, expected[rid]):
                    problems.append(f"{rid}: wrong values (all zero: {not data.any()})")

    source = raw / store.recordings["source_file"].iloc[0]
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(2):
            report = ingest("deap", raw, path, subjects=["01"], overwrite=False)
            assert report.processed == 1
            os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    finally:
        stop.set()
        thread.join()
    assert seen[0] > 0 and problems == []
    assert not list((path / "data").rglob(".trial-*"))  # nothing left aside


def test_disk_full_during_the_table_write_is_one_line_exit_2(raw_corpora, tmp_path, monkeypatch):
    import errno

    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from emod_data.cli import app

    store = tmp_path / "s.zarr"
    ingest("deap", raw_corpora["deap"], store, subjects=["01"])
    table = store / "tables" / "recordings" / "deap.parquet"
    before = table.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    result = CliRunner().invoke(app, ["ingest", "deap", str(raw_corpora["deap"]), "--store", str(store)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[-1] == f"error: {table}: cannot write the table (No space left on device)"
    assert table.read_bytes() == before and not list(table.parent.glob(".*.tmp"))


def test_manifest_numbers_are_not_converted_from_strings(tmp_path):
    from emod_data.errors import ManifestError
    from emod_data.manifest import load_manifest

    text = load_manifest("seed").path.read_text()
    assert "trials = 15" in text
    bad = tmp_path / "seed.toml"
    bad.write_text(text.replace("trials = 15", 'trials = "15"'))
    with pytest.raises(ManifestError, match=r"field 'format.trials': Input should be a valid integer \(got '15'\)"):
        load_manifest(bad)


SHAPES = [(4, 6000), (5, 4501), (1, 7)]  # whole chunks; a partial last chunk; shorter than one chunk


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("codec", [("lz4", 5), ("zstd", 3)])
def test_whole_shard_write_is_byte_identical_to_zarr(tmp_path, monkeypatch, shape, codec):
    import emod_data.store as store_module
    from emod_data.store import open_array, write_segment

    rng = np.random.default_rng(1)
    data = (rng.standard_normal(shape) * 30).astype(np.float32)
    config = dataclasses.replace(ProcessingConfig.raw(), compressor=codec[0], compression_level=codec[1])
    attrs = {"channel_names": [f"E{i}" for i in range(shape[0])]}
    write_segment(tmp_path / "fast", "data/x", data, attrs, config)
    monkeypatch.setattr(store_module, "shard_layout", lambda metadata: None)  # zarr's own chunk-by-chunk write
    write_segment(tmp_path / "zarr", "data/x", data, attrs, config)
    for name in ("zarr.json", "c/0/0"):
        assert (tmp_path / "fast/data/x" / name).read_bytes() == (tmp_path / "zarr/data/x" / name).read_bytes()
    array = open_array(tmp_path / "fast", "data/x")
    assert array.attrs["complete"] and np.array_equal(array[:], data)


def test_shard_layout_accepts_only_the_store_layout():
    import zarr
    from zarr.codecs import BloscCodec, Crc32cCodec

    from emod_data.shards import shard_layout
    from emod_data.store import array_codecs

    def make(**kwargs):
        options = {"shape": (3, 10), "dtype": "float32", "chunks": (3, 4), "shards": (3, 12), "zarr_format": 3}
        options.update({"fill_value": 0.0, **array_codecs(ProcessingConfig()), **kwargs})
        return zarr.create_array(store={}, **options).metadata

    layout = shard_layout(make())
    assert (layout.key, layout.chunk_samples, layout.chunks, layout.fill_value) == ("c/0/0", 4, 3, 0.0)
    assert shard_layout(make(dtype="float64")) is None
    assert shard_layout(make(shards=(3, 4))) is None  # three shards
    assert shard_layout(make(chunks=(1, 4))) is None  # chunks that do not span the rows
    assert shard_layout(make(compressors=[BloscCodec(cname="lz4", typesize=4)])) is None  # no checksum
    assert shard_layout(make(compressors=[Crc32cCodec()])) is None  # no compression
    assert shard_layout(make(shape=(3, 0))) is None


def test_a_failed_shard_write_leaves_the_stored_array_as_it_was(tmp_path, monkeypatch):
    import errno

    import emod_data.store as store_module
    from emod_data.store import open_array, write_segment

    config = ProcessingConfig.raw()
    old = np.arange(3 * 2500, dtype=np.float32).reshape(3, 2500)
    write_segment(tmp_path, "data/x", old, {}, config)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "write_file", full)
    with pytest.raises(OSError, match="No space left"):
        write_segment(tmp_path, "data/x", old + 1, {}, config)
    assert np.array_equal(open_array(tmp_path, "data/x")[:], old)
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]  # nothing left aside


@pytest.mark.parametrize("size", [0, 1, 8191, 8192, 8193, 5 * 8192 + 17])
def test_file_checksum_hashes_every_byte_through_its_windows(tmp_path, monkeypatch, size):
    import xxhash

    import emod_data.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "CHECKSUM_WINDOW_BYTES", 8192)  # several windows on a small file
    path = tmp_path / "f.bin"
    path.write_bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes())
    assert ingest_module.file_checksum(path) == xxhash.xxh3_128(path.read_bytes()).hexdigest()
