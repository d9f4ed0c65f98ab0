"""The end-to-end demo: synthetic corpora -> store -> brief pretraining -> brief fine-tuning -> results."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

PRETRAIN_CORPORA = ["seed_iv", "seed_vii", "deap"]
"""The target (SEED) is held out of pretraining, as SEED, SEED-V and FACED are in the paper."""


@dataclass
class DemoResult:
    """Outcome of :func:`run_demo`.

    Attributes
    ----------
    out : pathlib.Path
    table : str
        The fine-tuning results table (markdown).
    seconds : dict
        Wall time of each stage.
    finetune : emod_train.evaluation.finetune.FinetuneResult
    pretrain : emod_train.methods.emod.pretrain.PretrainResult
    """

    out: Path
    table: str
    seconds: dict
    finetune: object
    pretrain: object


def run_demo(
    out_dir: str | Path,
    subjects: int = 2,
    duration_scale: float = 0.05,
    pretrain_steps: int = 8,
    finetune_epochs: int = 8,
    workers: int = 2,
    seed: int = 0,
    pretrain_window: float = 2.0,
    pretrain_batch_size: int = 48,
    console: Console | None = None,
) -> DemoResult | None:
    """Run the whole chain on synthetic corpora.

    Parameters
    ----------
    out_dir : path-like
        Everything goes below it: ``raw/<corpus>``, ``store.zarr``, ``cache``, ``pretrain``, ``finetune``
        (the last two are deleted and rewritten on every run).
    subjects : int
        Subjects per synthetic corpus.
    duration_scale : float
        Scale of the real trial durations (0.05: SEED trials of 9-13 s).
    pretrain_steps : int
        Pretraining steps (one epoch of the structured sampler).
    finetune_epochs : int
        Fine-tuning epochs on SEED (one seed).
    workers : int
        Ingest worker processes.
    seed : int
        Seed of the synthetic data and of both runs.
    pretrain_window : float
        Pretraining window in seconds (short: the synthetic DEAP trials last 3 s at scale 0.05).
    pretrain_batch_size : int
        Target pretraining batch size.
    console : rich.console.Console, optional
        Where stage messages go (standard error by default).

    Returns
    -------
    DemoResult or None
        None when ingesting a corpus failed (the failures are printed).
    """
    from emod_data.demo import build_demo_store
    from emod_data.errors import EmodDataError
    from emod_data.inspect import inspect_store
    from emod_train.evaluation.finetune import FinetuneConfig, finetune
    from emod_train.methods.emod.pretrain import PretrainConfig, pretrain

    console = console or Console(stderr=True)
    out = Path(out_dir)
    store = out / "store.zarr"
    seconds = {}
    started = time.perf_counter()
    try:  # one corpus of every reader family, as `emod-data demo` builds it
        build_demo_store(
            out,
            subjects=subjects,
            duration_scale=duration_scale,
            workers=workers,
            progress=False,
            log=lambda line: console.print(line, highlight=False),
        )
        inspection = inspect_store(store, report_dir=out / "report", workers=workers)
    except EmodDataError as exc:
        console.print(f"failed  {exc}", highlight=False)
        return None
    levels = inspection.findings["severity"].value_counts() if len(inspection.findings) else {}
    console.print("inspection: " + ", ".join(f"{levels.get(k, 0)} {k}s" for k in ("error", "warning", "info")))
    seconds["synthesize + ingest + inspect"] = time.perf_counter() - started

    for stale in ("pretrain", "finetune"):  # the demo owns these folders: a rerun starts them afresh
        shutil.rmtree(out / stale, ignore_errors=True)
    started = time.perf_counter()
    pre = pretrain(
        PretrainConfig(
            store=str(store), out=str(out / "pretrain"), corpora=PRETRAIN_CORPORA, window=pretrain_window,
            epochs=1, batch_size=pretrain_batch_size, steps_per_epoch=pretrain_steps, seed=seed,
            cache_dir=str(out / "cache"),
        )
    )  # fmt: skip
    seconds["pretrain"] = time.perf_counter() - started
    console.print(
        f"pretrained {pre.steps} steps on {', '.join(PRETRAIN_CORPORA)}: loss "
        + " -> ".join(f"{v:.3f}" for v in pre.epoch_losses)
    )

    started = time.perf_counter()
    fine = finetune(
        FinetuneConfig(
            store=str(store), task="seed", out=str(out / "finetune"), init=str(pre.checkpoint),
            epochs=finetune_epochs, batch_size=32, seed=seed, cache_dir=str(out / "cache"),
        )
    )  # fmt: skip
    seconds["finetune"] = time.perf_counter() - started
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    table = fine.table + f"\nDemo stages: {timing}. Outputs in {out}.\n"
    return DemoResult(out=out, table=table, seconds=seconds, finetune=fine, pretrain=pre)
