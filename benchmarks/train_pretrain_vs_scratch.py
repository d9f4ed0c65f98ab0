"""Does EMOD pretraining help? Pretrained initialisation vs ``--from-scratch`` at equal fine-tuning budgets.

Synthesizes the four corpora (SEED, SEED-IV, SEED-VII, DEAP), pretrains the paper's backbone on
SEED-IV, SEED-VII and DEAP only (SEED held out, as the target corpora are in the paper), then
fine-tunes on SEED with the SEED protocol (train session 1, select on session 2's kappa, test on
session 3; 5 s windows) with identical settings and seeds from the pretrained checkpoint and from
scratch, for each fine-tuning budget (epochs; the cosine schedule spans the budget). Prints one
table of test metrics per budget with the differences, and the mean validation kappa per epoch.

Usage::

    python benchmarks/train_pretrain_vs_scratch.py [--subjects 2] [--duration-scale 0.05]
        [--pretrain-steps 60] [--budgets 1,2,6] [--seeds 3] [--init CKPT] [--out bench-pvs]

``--init`` reuses a pretraining checkpoint (e.g. ``bench-pvs/pretrain/last.pt`` of an earlier run)
instead of pretraining again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from synthetic_store import make_store

METRICS = ("balanced_accuracy", "kappa", "weighted_f1")


def _validation_curve(folder: Path, seeds: list[int]) -> list[float]:
    """Mean validation kappa per epoch over seeds."""
    curves = []
    for seed in seeds:
        lines = (folder / f"seed-{seed}" / "metrics.jsonl").read_text().splitlines()
        curves.append([r["val_kappa"] for r in map(json.loads, lines) if r["kind"] == "epoch"])
    return [float(v) for v in np.mean(curves, axis=0)]


def main() -> None:
    """Run the comparison and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--duration-scale", type=float, default=0.05)
    parser.add_argument("--pretrain-window", type=float, default=2.0)
    parser.add_argument("--pretrain-batch", type=int, default=48)
    parser.add_argument("--pretrain-steps", type=int, default=60)
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--init", type=Path, default=None, help="reuse this pretraining checkpoint")
    parser.add_argument("--budgets", default="1,2,6", help="fine-tuning epochs, comma-separated")
    parser.add_argument("--finetune-batch", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-pvs"))
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",") if b.strip()]

    from emod_train.demo import PRETRAIN_CORPORA
    from emod_train.evaluation.finetune import FinetuneConfig, finetune
    from emod_train.methods.emod.pretrain import PretrainConfig, pretrain

    out = args.out
    store = out / "store.zarr"
    timings = {}
    started = time.perf_counter()
    make_store(out, args.subjects, args.duration_scale, ("seed", *PRETRAIN_CORPORA), args.workers)
    timings["data"] = time.perf_counter() - started

    if args.init is None:
        started = time.perf_counter()
        pre_dir = out / "pretrain"
        shutil.rmtree(pre_dir, ignore_errors=True)
        pretrain(
            PretrainConfig(
                store=str(store), out=str(pre_dir), corpora=PRETRAIN_CORPORA, window=args.pretrain_window,
                epochs=args.pretrain_epochs, batch_size=args.pretrain_batch, steps_per_epoch=args.pretrain_steps,
                cache_dir=str(out / "cache"),
            )
        )  # fmt: skip
        timings["pretrain"] = time.perf_counter() - started
        init = pre_dir / "last.pt"
    else:
        init, pre_dir = args.init, args.init.parent
    records = [json.loads(line) for line in (pre_dir / "metrics.jsonl").read_text().splitlines()]
    step_losses = [r["loss"] for r in records if r["kind"] == "step"]
    k = max(1, len(step_losses) // 5)
    first, last = float(np.mean(step_losses[:k])), float(np.mean(step_losses[-k:]))
    pretraining = {"checkpoint": str(init), "steps": len(step_losses), "first_loss": first, "last_loss": last}

    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "pretraining": pretraining, "budgets": {}}
    lines = [
        "| fine-tuning epochs | metric | pretrained | from scratch | difference |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    curves = []
    for budget in budgets:
        results = {}
        for name, start in (("pretrained", str(init)), ("scratch", None)):
            started = time.perf_counter()
            folder = out / f"finetune-{budget}-{name}"
            shutil.rmtree(folder, ignore_errors=True)
            results[name] = finetune(
                FinetuneConfig(
                    store=str(store), task="seed", out=str(folder), init=start, from_scratch=start is None,
                    epochs=budget, batch_size=args.finetune_batch, seeds=args.seeds, cache_dir=str(out / "cache"),
                )
            )  # fmt: skip
            timings[f"finetune {budget} epochs {name}"] = time.perf_counter() - started
            seeds = [run["seed"] for run in results[name].runs]
            curves.append((budget, name, _validation_curve(folder, seeds)))
        entry = summary["budgets"][budget] = {}
        for name, result in results.items():
            entry[name] = {"mean": result.mean, "std": result.std, "runs": [r["test"] for r in result.runs]}
        for metric in METRICS:
            a, b = results["pretrained"], results["scratch"]
            cells = [f"{100 * r.mean[metric]:.1f} ± {100 * r.std[metric]:.1f}" for r in (a, b)]
            difference = 100 * (a.mean[metric] - b.mean[metric])
            lines.append(f"| {budget} | {metric} | {cells[0]} | {cells[1]} | {difference:+.1f} |")

    print(f"pretraining: {len(step_losses)} steps; mean loss of the first {k} steps {first:.3f}, last {k} {last:.3f}")
    print(f"\nSEED protocol, test on session 3, mean ± std over {args.seeds} seeds (%):\n")
    print("\n".join(lines))
    print("\nmean validation kappa per epoch:")
    for budget, name, curve in curves:
        print(f"  {budget} epochs, {name}: " + ", ".join(f"{v:.3f}" for v in curve))
    print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    summary["validation_kappa"] = [{"budget": b, "init": n, "curve": c} for b, n, c in curves]
    summary["seconds"] = timings
    (out / "comparison.json").write_text(json.dumps(summary, indent=1))
    (out / "comparison.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
