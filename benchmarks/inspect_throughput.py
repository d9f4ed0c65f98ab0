"""Throughput of ``emod-data inspect`` against a plain pass that only reads every array, in one run.

On a synthetic SEED store it times, each measure repeated and the median kept:

- plain read: every array read once, block by block (the same blocks of whole stored chunks that
  inspect reads), nothing computed; in one process, then in N spawned processes;
- inspect statistics: the streaming pass of ``emod_data.inspect`` (moments, extremes, Welch
  spectrum, amplitude histogram), with 1 and with N workers;
- the whole ``inspect_store`` (statistics, checks, summary) and, separately, writing the HTML report.

It prints GB/s of float32 read and the ratio inspect / plain read at equal parallelism.

Usage::

    python benchmarks/inspect_throughput.py [--subjects 1] [--duration-scale 1.0] [--workers 2]
                                            [--repeat 3] [--out bench-out]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np


def read_arrays(store: str, paths: list[str]) -> int:
    """Read every listed array once, in the blocks inspect uses; return the float32 bytes read."""
    import zarr

    from emod_data.inspect.stats import BLOCK_BYTES

    total = 0
    for path in paths:
        array = zarr.open_array(store=store, path=path, mode="r", zarr_format=3)
        n_channels, n_samples = array.shape
        chunk = int(array.chunks[1])
        per_block = max(1, BLOCK_BYTES // max(1, n_channels * chunk * 4)) * chunk
        for start in range(0, n_samples, per_block):
            total += np.asarray(array[:, start : start + per_block]).nbytes
    return total


def plain_pass(store: str, paths: list[str], sizes: list[int], workers: int) -> int:
    """Read every array once, in ``workers`` spawned processes (1: in this process)."""
    from emod_data.inspect.stats import plan_batches

    if workers <= 1:
        return read_arrays(store, paths)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    batches = plan_batches(paths, sizes, workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return sum(pool.map(read_arrays, [store] * len(batches), batches))


def median_time(function, repeat: int) -> tuple[float, object]:
    """Median wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    """Build the store if needed, run the measures and print them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=1)
    parser.add_argument("--duration-scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    args = parser.parse_args()

    from emod_data.ingest import ingest
    from emod_data.inspect import compute_stats, inspect_store
    from emod_data.inspect.stats import StatsParams
    from emod_data.store import open_store
    from emod_data.synth import synthesize

    raw = args.out / f"raw_seed_{args.subjects}_{args.duration_scale:g}"
    store_path = args.out / f"inspect_seed_{args.subjects}_{args.duration_scale:g}.zarr"
    if not (store_path / "zarr.json").exists():
        synthesize("seed", raw, subjects=args.subjects, duration_scale=args.duration_scale, seed=0)
        report = ingest("seed", raw, store_path, workers=args.workers)
        assert report.ok, report.failures
    store = open_store(store_path)
    recs = store.recordings
    paths = recs["path"].tolist()
    sizes = (recs["n_channels"] * recs["n_samples"] * 4).astype(int).tolist()
    gigabytes = sum(sizes) / 1e9
    stored = sum(p.stat().st_size for p in (store_path / "data").rglob("*") if p.is_file()) / 1e9
    params = StatsParams(sfreq=store.processing.sfreq, chunk_samples=store.processing.chunk_samples)
    root = str(store.path)

    read_arrays(root, paths)  # warm the page cache (and imports) for every contender
    rows = []
    for workers in sorted({1, max(1, args.workers)}):
        plain, nbytes = median_time(lambda w=workers: plain_pass(root, paths, sizes, w), args.repeat)
        assert nbytes == sum(sizes)
        stats, result = median_time(lambda w=workers: compute_stats(root, recs, params, workers=w), args.repeat)
        assert result.bytes_read == sum(sizes)
        rows.append((workers, plain, stats))
    full, report = median_time(
        lambda: inspect_store(store_path, workers=max(1, args.workers), window_seconds=5.0), args.repeat
    )
    report_dir = args.out / "inspect-report"
    start = time.perf_counter()
    report.write(report_dir)
    write_seconds = time.perf_counter() - start

    print(f"store: {store_path} ({len(recs)} arrays, {gigabytes:.3f} GB float32, {stored:.3f} GB on disk)")
    print(f"machine: {os.cpu_count()} CPUs; median of {args.repeat} runs; page cache warm\n")
    print(f"{'workers':>7} | {'plain read':>16} | {'inspect stats':>16} | {'inspect / plain':>15}")
    for workers, plain, stats in rows:
        print(
            f"{workers:>7} | {plain:6.2f} s {gigabytes / plain:5.2f} GB/s | {stats:6.2f} s {gigabytes / stats:5.2f} "
            f"GB/s | {stats / plain:15.2f}"
        )
    base = rows[0][1]
    print(
        f"\nwhole inspect_store ({max(1, args.workers)} workers: statistics, checks, summary): {full:.2f} s, "
        f"{gigabytes / full:.2f} GB/s, {full / base:.2f}x the one-process plain read"
    )
    print(f"writing the HTML report and figures: {write_seconds:.2f} s ({report_dir / 'report.html'})")
    print(f"findings: {report.count('error')} errors, {report.count('warning')} warnings, {report.count('info')} infos")


if __name__ == "__main__":
    main()
