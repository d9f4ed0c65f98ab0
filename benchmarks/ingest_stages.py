"""Where the time of ``emod-data ingest --raw`` goes: wall and CPU seconds per stage, summed over threads.

Synthesizes (once) one SEED subject at real durations, warms the page cache, runs one warm-up ingest,
then ``--repeat`` timed ingests with every processing step off, each into a fresh store, and prints
per stage the wall seconds and the CPU seconds (of the thread that ran it; summed over the trial
threads) of the fastest round:

- ``trial``: everything a trial thread does for one trial (copy out of the mapped file, harmonise, write);
- ``harmonize``: finite and amplitude checks and the float32 cast;
- ``write_segment``: array metadata, whole-shard encoding (Blosc, CRC32C) and the file write;
- ``shard file``: the shard's encoding and write alone;
- ``checksum``: the file checksum (xxHash3-128), computed alongside the first trials;
- ``tables``: the parquet tables written after each file.

The remainder of a trial (``trial`` less ``harmonize`` and ``write_segment``) is the copy out of the
mapped file. Stage wall times overlap (two trial threads), so they do not add up to the ingest's.

Usage::

    python benchmarks/ingest_stages.py [--out bench-out] [--repeat 3]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import time
from pathlib import Path

from synthetic_store import warm_seed_subject

STAGES = {
    "trial": ("emod_data.ingest", "_store_trial"),
    "harmonize": ("emod_data.ingest", "harmonize"),
    "write_segment": ("emod_data.ingest", "write_segment"),
    "shard file": ("emod_data.store", "write_file"),
    "checksum": ("emod_data.ingest", "file_checksum"),
    "tables": ("emod_data.ingest", "write_table"),
}


def _timed(function, stage: str, totals: dict):
    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            totals[stage][0] += time.perf_counter() - wall
            totals[stage][1] += time.thread_time() - cpu

    return timed


def instrument(totals: dict) -> None:
    """Wrap each stage's function in its module so that its wall and thread CPU seconds are summed."""
    import importlib

    for stage, (module_name, name) in STAGES.items():
        module = importlib.import_module(module_name)
        if hasattr(module, name):  # an older emod_data may lack a stage (its row then reads "-")
            setattr(module, name, _timed(getattr(module, name), stage, totals))


def main() -> None:
    """Run the instrumented ingests and print the stage table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from emod_data.config import ProcessingConfig
    from emod_data.ingest import ingest

    warm_seed_subject(args.out)
    raw = args.out / "raw_seed"
    store = args.out / "stages.zarr"
    shutil.rmtree(store, ignore_errors=True)
    ingest("seed", raw, store, config=ProcessingConfig.raw())
    totals: dict = collections.defaultdict(lambda: [0.0, 0.0])
    instrument(totals)
    rounds = []
    for _ in range(args.repeat):
        shutil.rmtree(store, ignore_errors=True)
        totals.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        ingest("seed", raw, store, config=ProcessingConfig.raw())
        rounds.append((time.perf_counter() - wall, time.process_time() - cpu, dict(totals)))
    shutil.rmtree(store, ignore_errors=True)
    wall, cpu, stages = min(rounds, key=lambda r: r[0])
    print(f"--raw ingest of 3 SEED files: {wall:.2f} s wall, {cpu:.2f} s CPU (all threads); fastest of {args.repeat}")
    print(f"{'stage':15s} {'wall s':>8s} {'CPU s':>8s}")
    for stage in STAGES:
        if stage in stages:
            print(f"{stage:15s} {stages[stage][0]:8.2f} {stages[stage][1]:8.2f}")
        else:
            print(f"{stage:15s} {'-':>8s} {'-':>8s}")


if __name__ == "__main__":
    main()
