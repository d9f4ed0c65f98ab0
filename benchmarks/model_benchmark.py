"""The model benchmark on synthetic corpora: every model on FACED, SEED-V and SEED with pinned splits.

Synthesizes FACED, SEED-V (raw CNT) and SEED in their real layouts, ingests them into one store and
runs :func:`emod_train.evaluation.benchmark.run_benchmark` (the same as ``emod-train benchmark``). EMOD runs
with a reduced backbone by default so that the table fits a CPU budget. Prints the leaderboard, the
split hashes and the wall time; run it twice into the same ``--out`` to see the cells skipped, or
into another folder to see the same hashes and numbers.

Usage::

    python benchmarks/model_benchmark.py [--subjects 3] [--seeds 2] [--epochs 5]
        [--models emod,scmm,eegnet,shallow,deep4,conformer,atcnet] [--out bench-models]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from synthetic_store import make_store

SCALES = {"faced": 0.35, "seed_v_raw": 0.02, "seed": 0.03}
"""Trial durations as fractions of the real ones: one 10 s FACED window per clip, a few 1 s SEED-V
windows per trial, one 5 s SEED window per trial."""


def main() -> None:
    """Build the store, run the benchmark, print the leaderboard."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--tasks", default="faced,seed_v,seed")
    parser.add_argument("--models", default="emod,scmm,eegnet,shallow,deep4,conformer,atcnet")
    parser.add_argument("--emod-model", default="dim=32,heads=4,ffn=64,depth=1")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("bench-models"))
    args = parser.parse_args()

    from emod_train.evaluation.benchmark import BenchmarkConfig, run_benchmark
    from emod_train.methods import parse_options

    started = time.perf_counter()
    store = make_store(args.out, args.subjects, SCALES, tuple(SCALES))
    data_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = run_benchmark(
        BenchmarkConfig(
            store=str(store), out=str(args.out / "run"), tasks=args.tasks.split(","), models=args.models.split(","),
            seeds=args.seeds, epochs=args.epochs, batch_size=args.batch_size, device="cpu",
            options={"emod": parse_options(args.emod_model)}, cache_dir=str(args.out / "cache"),
        ),
        progress=False,
        log=print,
    )  # fmt: skip
    print(result.table)
    print(f"data {data_seconds:.0f} s, benchmark {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
