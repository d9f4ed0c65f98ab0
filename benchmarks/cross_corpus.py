"""The cross-corpus table on synthetic corpora: SCMM vs no pretraining (and EMOD) in SCMM's four directions.

Synthesizes SEED, SEED-IV and DEAP in their real layouts, ingests them, and runs
:func:`emod_train.evaluation.crosscorpus.run_cross_corpus` (the same as ``emod-train crosscorpus``) with the
paper's SCMM settings per direction. EMOD runs with a reduced backbone by default so that the
whole table fits a CPU budget (``--emod-model ""`` for the paper's). Prints the table and the
wall time of each part.

Usage::

    python benchmarks/cross_corpus.py [--subjects 3] [--duration-scale 0.1] [--scmm-epochs 200]
        [--methods scmm,scmm_scratch,emod,emod_scratch] [--seeds 2] [--out bench-cross]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from synthetic_store import make_store


def main() -> None:
    """Build the store, run the protocol, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--duration-scale", type=float, default=0.1)
    parser.add_argument("--methods", default="scmm,scmm_scratch,emod,emod_scratch")
    parser.add_argument("--directions", default=None)
    parser.add_argument("--scmm-epochs", type=int, default=200)
    parser.add_argument("--emod-epochs", type=int, default=3)
    parser.add_argument("--emod-batch-size", type=int, default=64)
    parser.add_argument("--emod-model", default="dim=32,heads=4,ffn=64,depth=1")
    parser.add_argument("--finetune-epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-cross"))
    args = parser.parse_args()

    from emod_train.evaluation.crosscorpus import CrossCorpusConfig, run_cross_corpus

    started = time.perf_counter()
    store = make_store(args.out, args.subjects, args.duration_scale, ("seed", "seed_iv", "deap"))
    data_seconds = time.perf_counter() - started
    overrides = {}
    for item in filter(None, args.emod_model.split(",")):
        key, _, value = item.partition("=")
        overrides[key.strip()] = int(value)
    started = time.perf_counter()
    result = run_cross_corpus(
        CrossCorpusConfig(
            store=str(store), out=str(args.out / "run"), methods=args.methods.split(","),
            directions=args.directions.split(",") if args.directions else None, scmm_epochs=args.scmm_epochs,
            emod_epochs=args.emod_epochs, emod_batch_size=args.emod_batch_size, emod_model=overrides,
            finetune_epochs=args.finetune_epochs, seeds=args.seeds, cache_dir=str(args.out / "cache"),
        )
    )  # fmt: skip
    print(result.table)
    print(f"data {data_seconds:.0f} s, protocol {time.perf_counter() - started:.0f} s")
    print(result.summary.to_string(index=False))


if __name__ == "__main__":
    main()
