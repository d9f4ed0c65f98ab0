"""Loader speed: windows per second from the store vs indexing the same windows in memory.

Prints, for random batches of 5 s, 62-channel windows drawn across all recordings of a synthetic
SEED store (one run, contenders interleaved, medians of the repetitions):

- ``numpy in memory``: every window pre-extracted into one float32 array, a batch is
  ``array[indices]`` (the reference of the target ratio);
- ``window cache, 1 process``: :class:`emod_train.data.dataset.WindowDataset` over the memory-mapped
  window cache (the default for non-overlapping windows), ``__getitems__`` per batch;
- ``window cache, 2 threads``: :class:`emod_train.data.dataset.WindowLoader` with 2 reader threads (the
  loader of the training loops);
- ``window cache, 2 processes``: a torch ``DataLoader`` with 2 spawned workers (batches travel
  through shared memory);
- ``recording cache, 1 process / 2 threads``: the same over the recording-layout cache (used for
  overlapping windows; one strided copy per window);
- ``zarr, 1 process``: reading each window through ``Store.read`` (no cache), on fewer batches;

and the one-off cost of building the cache. Target: loader / numpy >= 0.5 with 2 workers. For
scale: TorchEEG serves about 7,600 five-second 62-channel float64 windows per second from its
LMDB cache in a single process on the reference machines.

Usage::

    python benchmarks/train_loader.py [--subjects 1] [--duration-scale 0.2] [--batch 64] [--out bench-loader]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from synthetic_store import make_store


def rate(fn, batches: list[list[int]]) -> float:
    """Windows per second of ``fn(batch)`` over the batches."""
    started = time.perf_counter()
    count = 0
    for batch in batches:
        fn(batch)
        count += len(batch)
    return count / (time.perf_counter() - started)


def loader_rate(loader, sampler, epochs: int) -> float:
    """Windows per second of iterating a loader (after its first batch, so start-up is excluded)."""
    count = 0
    iterator = iter(loader)
    next(iterator)
    started = time.perf_counter()
    for batch in iterator:
        count += len(batch)
    for epoch in range(1, epochs):
        sampler.set_epoch(epoch)
        for batch in loader:
            count += len(batch)
    return count / (time.perf_counter() - started)


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=1)
    parser.add_argument("--duration-scale", type=float, default=0.2)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-loader"))
    args = parser.parse_args()

    import torch

    from emod_data.store import open_store
    from emod_train.data.cache import SignalCache, WindowCache
    from emod_train.data.dataset import WindowDataset, WindowLoader, make_loader
    from emod_train.data.samplers import ShuffledBatchSampler
    from emod_train.data.windows import window_table
    from emod_train.engine.runtime import tune_cpu_allocator

    tune_cpu_allocator()
    args.out.mkdir(parents=True, exist_ok=True)
    store = open_store(make_store(args.out, args.subjects, args.duration_scale))
    table = window_table(store, args.window)
    cache = WindowCache.build(store, table, args.out / "cache")
    recording_cache = SignalCache.build(store, table["recording_id"].unique(), args.out / "cache")
    build_seconds, recording_build_seconds = cache.meta["build_seconds"], recording_cache.meta["build_seconds"]
    dataset = WindowDataset(table, store, cache)
    by_recording = WindowDataset(table, store, recording_cache)
    n = len(dataset)
    memory = np.stack([np.array(dataset.read(i)) for i in range(n)])  # (N, C, T) float32
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, n, args.batch).tolist() for _ in range(args.batches)]
    epochs = max(1, args.batches * args.batch // n)

    results: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        results.setdefault("numpy in memory", []).append(rate(lambda b: torch.from_numpy(memory[b]), batches))
        results.setdefault("window cache, 1 process", []).append(rate(dataset.__getitems__, batches))
        sampler = ShuffledBatchSampler(n, args.batch, seed=0)
        loader = WindowLoader(dataset, sampler, workers=2)
        results.setdefault("window cache, 2 threads", []).append(loader_rate(loader, sampler, epochs))
        results.setdefault("recording cache, 1 process", []).append(rate(by_recording.__getitems__, batches))
        sampler = ShuffledBatchSampler(n, args.batch, seed=0)
        loader = WindowLoader(by_recording, sampler, workers=2)
        results.setdefault("recording cache, 2 threads", []).append(loader_rate(loader, sampler, epochs))
    sampler = ShuffledBatchSampler(n, args.batch, seed=0)
    processes = make_loader(dataset, sampler, workers=2)
    started = time.perf_counter()
    next(iter(processes))
    spawn_seconds = time.perf_counter() - started
    results["window cache, 2 processes"] = [loader_rate(processes, sampler, epochs)]
    zarr_dataset = WindowDataset(table, store, None)
    results["zarr, 1 process"] = [rate(zarr_dataset.__getitems__, batches[: max(2, args.batches // 15)])]

    reference = statistics.median(results["numpy in memory"])
    c, t = memory.shape[1:]
    print(f"store: {store.path} ({n} windows of {c} x {t} samples, float32, {len(recording_cache)} recordings)")
    print(
        f"cache build (once per store and selection): window cache {build_seconds:.2f} s, "
        f"recording cache {recording_build_seconds:.2f} s, {cache.nbytes / 1e6:.0f} MB"
    )
    print(f"random batches of {args.batch} across all recordings; medians of {args.repeats} interleaved runs")
    print(f"{'loader':<30}{'windows/s':>12}{'MB/s':>10}{'/ numpy':>10}")
    for name, values in results.items():
        value = statistics.median(values)
        print(f"{name:<30}{value:>12,.0f}{value * c * t * 4 / 1e6:>10,.0f}{value / reference:>10.2f}")
    print(f"(DataLoader start-up with 2 spawned workers: {spawn_seconds:.1f} s, not included above)")


if __name__ == "__main__":
    main()
