"""Cost of checksum verification on reads: the same store with and without the per-chunk CRC32C codec.

Every stored chunk carries a CRC32C checksum that zarr verifies on each read, and reads go
through the strict store (a missing chunk file raises). This script builds a synthetic SEED store,
makes an unverified twin of it (the same arrays rewritten with Blosc only, read by ``Store.read`` with
plain zarr arrays, as before verification), and prints, interleaving the contenders and taking the
median of the repetitions:

- ``full recordings``: ``Store.read(rid)`` of every recording (how the training caches are built);
- ``random windows``: ``Store.read(rid, start, stop)`` of random 5 s windows (the uncached loader);

in MB/s of float32 delivered (wall time) and in MB per CPU second of the process (robust to other
load on the machine), and the verified / unverified ratios. Target: the verified read costs
at most 10% of the loader's throughput (ratio >= 0.90).

Usage::

    python benchmarks/read_checksum.py [--subjects 1] [--duration-scale 0.1] [--repeats 5] [--out bench-checksum]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
from synthetic_store import make_store


def unverified_twin(store: Path, target: Path) -> Path:
    """Copy ``store`` to ``target`` with every array rewritten without the CRC32C codec."""
    import zarr
    from zarr.codecs import BloscCodec

    from emod_data.store import open_store

    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(store, target)
    source = open_store(store)
    config = source.processing
    blosc = BloscCodec(cname=config.compressor, clevel=config.compression_level, shuffle="bitshuffle", typesize=4)
    for row in source.recordings.itertuples(index=False):
        array = zarr.open_array(store=str(store), path=row.path, mode="r", zarr_format=3)
        data = array[:]
        twin = zarr.create_array(
            store=str(target), name=row.path, shape=data.shape, dtype="float32", chunks=array.chunks,
            shards=array.shards, fill_value=0.0, attributes=dict(array.attrs), overwrite=True, zarr_format=3,
            config={"write_empty_chunks": True}, compressors=[blosc],
        )  # fmt: skip
        twin[:] = data
    return target


def plain_store(store: Path):
    """``Store.read`` as it was without verification: plain zarr arrays (no strict store, no completion check)."""
    import functools

    import zarr

    from emod_data.store import Store

    class PlainStore(Store):
        @functools.lru_cache(maxsize=256)  # noqa: B019 - one cache per Store, as in Store
        def _array(self, array_path: str):
            return zarr.open_array(store=str(self.path), path=array_path, mode="r", zarr_format=3)

    return PlainStore(store)


def throughput(read, jobs: list[tuple[str, int | None, int | None]]) -> tuple[float, float]:
    """(MB/s of wall time, MB per CPU second of this process) of float32 delivered by ``read(rid, start, stop)``.

    The CPU figure counts every thread of the process (zarr decodes in its own threads) and is far less
    sensitive than wall time to other processes sharing the machine.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    delivered = sum(read(rid, start, stop).nbytes for rid, start, stop in jobs) / 1e6
    return delivered / (time.perf_counter() - wall), delivered / max(time.process_time() - cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1)
    parser.add_argument("--duration-scale", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--windows", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("bench-checksum"))
    args = parser.parse_args()

    from emod_data.store import open_store

    store = make_store(args.out, args.subjects, args.duration_scale)
    twin = unverified_twin(store, args.out / "unverified.zarr")
    verified, plain = open_store(store), plain_store(twin)
    recs = verified.recordings
    full = [(rid, None, None) for rid in recs["recording_id"]]
    length = round(5 * verified.processing.sfreq)
    rng = np.random.default_rng(0)
    picks = recs.sample(args.windows, replace=True, random_state=0)
    windows = [
        (row.recording_id, int(s), int(s) + length)
        for row, s in zip(picks.itertuples(), rng.integers(0, picks["n_samples"].to_numpy() - length), strict=True)
    ]
    mb = recs.eval("n_channels * n_samples").sum() * 4 / 1e6
    print(f"store: {len(recs)} recordings, {mb:.0f} MB float32; {args.windows} random 5 s windows")
    for name, jobs in (("full recordings", full), ("random windows", windows)):
        throughput(verified.read, jobs[:50]), throughput(plain.read, jobs[:50])  # warm the page cache
        checked, unchecked = [], []
        for _ in range(args.repeats):
            checked.append(throughput(verified.read, jobs))
            unchecked.append(throughput(plain.read, jobs))
        for i, unit in ((0, "MB/s (wall)"), (1, "MB/CPU-s")):
            a = statistics.median(c[i] for c in checked)
            b = statistics.median(u[i] for u in unchecked)
            print(f"{name:16s} verified {a:8.1f}   unverified {b:8.1f} {unit:12s} ratio {a / b:.3f}")


if __name__ == "__main__":
    main()
