"""Does EMOD pretraining help? Pretrained initialisation vs ``--from-scratch`` at equal fine-tuning budget.

Synthesizes the four corpora (SEED, SEED-IV, SEED-VII, DEAP), pretrains the paper's backbone on
SEED-IV, SEED-VII and DEAP only (SEED held out, as the target corpora are in the paper), then
fine-tunes on SEED with the SEED protocol (train session 1, select on session 2's kappa, test on
session 3; 5 s windows) twice with identical settings and seeds: once from the pretrained
checkpoint, once from scratch. Prints both results tables and the differences.

Usage::

    python benchmarks/train_pretrain_vs_scratch.py [--subjects 2] [--duration-scale 0.05]
        [--pretrain-steps 60] [--finetune-epochs 6] [--seeds 3] [--out bench-pvs]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from synthetic_store import make_store


def main() -> None:
    """Run the comparison and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--duration-scale", type=float, default=0.05)
    parser.add_argument("--pretrain-window", type=float, default=2.0)
    parser.add_argument("--pretrain-batch", type=int, default=48)
    parser.add_argument("--pretrain-steps", type=int, default=60)
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--finetune-epochs", type=int, default=6)
    parser.add_argument("--finetune-batch", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-pvs"))
    args = parser.parse_args()

    from emod_train.demo import PRETRAIN_CORPORA
    from emod_train.finetune import FinetuneConfig, finetune
    from emod_train.pretrain import PretrainConfig, pretrain

    out = args.out
    store = out / "store.zarr"
    timings = {}
    started = time.perf_counter()
    make_store(out, args.subjects, args.duration_scale, ("seed", *PRETRAIN_CORPORA), args.workers)
    timings["data"] = time.perf_counter() - started

    started = time.perf_counter()
    pre_dir = out / "pretrain"
    shutil.rmtree(pre_dir, ignore_errors=True)
    pre = pretrain(
        PretrainConfig(
            store=str(store), out=str(pre_dir), corpora=PRETRAIN_CORPORA, window=args.pretrain_window,
            epochs=args.pretrain_epochs, batch_size=args.pretrain_batch, steps_per_epoch=args.pretrain_steps,
            cache_dir=str(out / "cache"),
        )
    )  # fmt: skip
    losses, steps = pre.epoch_losses, pre.steps
    timings["pretrain"] = time.perf_counter() - started
    records = [json.loads(line) for line in (pre_dir / "metrics.jsonl").read_text().splitlines()]
    step_losses = [r["loss"] for r in records if r["kind"] == "step"]
    k = max(1, len(step_losses) // 5)
    first, last = sum(step_losses[:k]) / k, sum(step_losses[-k:]) / k

    results = {}
    for name, init in (("pretrained", str(pre_dir / "last.pt")), ("scratch", None)):
        started = time.perf_counter()
        shutil.rmtree(out / f"finetune-{name}", ignore_errors=True)
        results[name] = finetune(
            FinetuneConfig(
                store=str(store), task="seed", out=str(out / f"finetune-{name}"), init=init,
                from_scratch=init is None, epochs=args.finetune_epochs, batch_size=args.finetune_batch,
                seeds=args.seeds, cache_dir=str(out / "cache"),
            )
        )  # fmt: skip
        timings[f"finetune {name}"] = time.perf_counter() - started

    print(f"pretraining: {steps} steps; mean loss of the first {k} steps {first:.3f}, of the last {k} {last:.3f}")
    print(f"epoch losses: {', '.join(f'{v:.3f}' for v in losses)}")
    for name, result in results.items():
        print(f"\n## {name}\n\n{result.table}")
    print("difference pretrained - scratch (percentage points, mean over seeds):")
    for metric in ("balanced_accuracy", "kappa", "weighted_f1"):
        a, b = results["pretrained"].mean[metric], results["scratch"].mean[metric]
        print(f"  {metric}: {100 * a:.2f} vs {100 * b:.2f} -> {100 * (a - b):+.2f}")
    print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    summary = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "pretrain": {"steps": steps, "epoch_losses": losses, "first_steps_loss": first, "last_steps_loss": last},
        "pretrained": {"mean": results["pretrained"].mean, "std": results["pretrained"].std},
        "scratch": {"mean": results["scratch"].mean, "std": results["scratch"].std},
        "seconds": timings,
    }
    (out / "comparison.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
