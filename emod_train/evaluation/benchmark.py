"""Every registered model on every task, on identical pinned splits (``emod-train benchmark``).

For each task the train / val / test windows are split once (:meth:`emod_train.evaluation.tasks.Task.split`)
and written to ``splits/<task>.tsv`` (:mod:`emod_train.evaluation.splits`); its sha256 goes into the
leaderboard. A rerun into the same folder reads the same files, so it uses the same windows, and
a fresh folder recomputes byte-identical files from the same store. Each (task, model) cell is a
fine-tuning run (:func:`emod_train.evaluation.finetune.finetune`, seeds ``seed .. seed + seeds - 1``) in
``cells/<task>/<model>/``; a cell whose ``results.json`` holds the same settings and split hash
is finished and is skipped (resumable).

Outputs in ``out``::

    splits/<task>.tsv              the pinned split of each task
    cells/<task>/<model>/          each cell's fine-tuning run (results.json, results.md, seed-N/)
    leaderboard.json, leaderboard.md   mean +- std of balanced accuracy, kappa and weighted F1,
                                   parameter count, train time per cell and the split hashes
    leaderboard.png                balanced accuracy per task and model (mean +- std over seeds)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from emod_train.engine.runtime import environment
from emod_train.engine.settings import RunResult, Settings
from emod_train.evaluation.finetune import METRICS, FinetuneConfig, finetune
from emod_train.evaluation.metrics import table_head
from emod_train.evaluation.splits import read_split, sha256_of, write_split

CELL_FIELDS = ("epochs", "batch_size", "lr", "seeds", "seed", "model", "init", "method")
"""Settings a finished cell must match to be reused."""


@dataclass
class BenchmarkConfig(Settings):
    """Settings of a benchmark run.

    Parameters
    ----------
    store : str
        Store holding the tasks' corpora.
    out : str
        Output folder (reused by a rerun: finished cells are skipped, splits are reused).
    tasks : list of str
        Task names or task files.
    models : list of str
        Registered method names (``emod``, ``scmm``, ``eegnet``, ``braindecode:<ClassName>``, ...).
    seeds, seed : int
        Runs per cell with seeds ``seed .. seed + seeds - 1`` (the same for every cell).
    epochs, batch_size : int
        Fine-tuning epochs and batch size (every cell).
    lr : float
        Learning rate (every cell).
    options : dict
        Per model, its model options (``{"emod": {"dim": 32}}``).
    init : dict
        Per pretrainable model, a pretraining checkpoint (otherwise every model starts from scratch).
    device, workers, cache_dir
        As in :class:`~emod_train.evaluation.finetune.FinetuneConfig`.
    """

    store: str
    out: str
    tasks: list[str]
    models: list[str]
    seeds: int = 5
    seed: int = 0
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    options: dict = field(default_factory=dict)
    init: dict = field(default_factory=dict)
    device: str = "auto"
    workers: int | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        from emod_train.methods.registry import get_method

        if not self.tasks or not self.models:
            raise ValueError("give at least one task and one model")
        if self.seeds < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("seeds, epochs and batch_size must be at least 1")
        for name in self.models:
            get_method(name)  # unknown names fail before anything runs
        stray = sorted(set(self.init) - set(self.models))
        if stray:
            raise ValueError(f"init given for {stray[0]}, which is not among the models")


@dataclass
class BenchmarkResult(RunResult):
    """Outcome of a benchmark run.

    Attributes
    ----------
    cells : list of dict
        One per task and model: metrics mean and std, parameters, seconds, split hash, skipped.
    splits : dict
        Task -> ``{"file": ..., "sha256": ...}``.
    table : str
        The leaderboard in markdown.
    """

    cells: list[dict]
    splits: dict
    table: str


def _folder_name(model: str) -> str:
    return model.replace(":", "-").replace("/", "-")


def pin_split(store, task, split_file: Path) -> str:
    """Write the task's split to ``split_file`` unless it exists (then check it still fits); its sha256.

    Raises
    ------
    TaskError
        The existing file names windows the store does not have.
    """
    _, windows = task.store_windows(store)
    if split_file.exists():
        read_split(split_file, windows)
        return sha256_of(split_file)
    return write_split(task.split(windows), split_file)


def _finished(cell_dir: Path, settings: dict, sha256: str) -> dict | None:
    path = cell_dir / "results.json"
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if summary.get("split_sha256") != sha256:
        return None
    stored = summary.get("config", {})
    if any(stored.get(k) != settings.get(k) for k in CELL_FIELDS):
        return None
    return summary


def _cell_record(task: str, model: str, summary: dict, sha256: str, skipped: bool) -> dict:
    return {
        "task": task,
        "model": model,
        "mean": summary["mean"],
        "std": summary["std"],
        "per_seed": [{"seed": r["seed"], **{m: r["test"][m] for m in METRICS}} for r in summary["runs"]],
        "parameters": summary["parameters"],
        "seconds": summary["seconds"],
        "split_sha256": sha256,
        "skipped": skipped,
    }


def leaderboard_table(cells: list[dict], splits: dict, config: BenchmarkConfig) -> str:
    """The leaderboard in markdown: one table per task (in run order), models by mean balanced accuracy."""
    lines = [
        "## Leaderboard",
        "",
        f"Test metrics in % (mean ± std over {config.seeds} seed(s), {config.epochs} epochs, batch "
        f"{config.batch_size}, lr {config.lr:g}); model selected on validation kappa.",
        "",
    ]
    for task in dict.fromkeys(c["task"] for c in cells):
        rows = sorted((c for c in cells if c["task"] == task), key=lambda c: -c["mean"]["balanced_accuracy"])
        note = f"Split `splits/{Path(splits[task]['file']).name}`, sha256 `{splits[task]['sha256']}`."
        lines += table_head(task, note, ["model", "metrics", "parameters", "train time (s)"])
        for c in rows:
            values = " | ".join(f"{100 * c['mean'][m]:.2f} ± {100 * c['std'][m]:.2f}" for m in METRICS)
            lines.append(f"| {c['model']} | {values} | {c['parameters']:,} | {c['seconds']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def run_benchmark(config: BenchmarkConfig, progress: bool = True, log=None) -> BenchmarkResult:
    """Run (or resume) a benchmark and write its leaderboard.

    Parameters
    ----------
    config : BenchmarkConfig
    progress : bool
        Progress bars of the fine-tuning runs.
    log : callable, optional
        Called with one line per cell (``"task model: done in 12.3 s"`` / ``"... skipped"``).

    Returns
    -------
    BenchmarkResult

    Raises
    ------
    TaskError
        A task the store cannot serve, or a pinned split that no longer fits the store.
    """
    from emod_data.store import open_store
    from emod_train.engine.plots import plot_leaderboard
    from emod_train.evaluation.tasks import load_task

    cfg = config
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    store = open_store(cfg.store)
    tasks = {name: load_task(name) for name in cfg.tasks}
    splits = {}
    for task in tasks.values():
        split_file = out / "splits" / f"{task.name}.tsv"
        splits[task.name] = {"file": str(split_file), "sha256": pin_split(store, task, split_file)}
    cells = []
    for name, task in tasks.items():
        for model in cfg.models:
            cell_dir = out / "cells" / task.name / _folder_name(model)
            init = cfg.init.get(model)
            settings = FinetuneConfig(
                store=cfg.store, task=name, out=str(cell_dir), init=init, from_scratch=init is None,
                epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seeds=cfg.seeds, seed=cfg.seed,
                device=cfg.device, workers=cfg.workers, cache_dir=cfg.cache_dir, model=dict(cfg.options.get(model, {})),
                method=model, splits=splits[task.name]["file"],
            )  # fmt: skip
            summary = _finished(cell_dir, settings.to_dict(), splits[task.name]["sha256"])
            skipped = summary is not None
            if summary is None:
                started = time.perf_counter()
                finetune(settings, progress=progress)
                summary = json.loads((cell_dir / "results.json").read_text())
                summary["split_sha256"] = splits[task.name]["sha256"]
                (cell_dir / "results.json").write_text(json.dumps(summary, indent=1, default=str))
                if log is not None:
                    log(f"{task.name} {model}: done in {time.perf_counter() - started:.1f} s")
            elif log is not None:
                log(f"{task.name} {model}: finished before, skipped")
            cells.append(_cell_record(task.name, model, summary, splits[task.name]["sha256"], skipped))
    table = leaderboard_table(cells, splits, cfg)
    board = {"config": cfg.to_dict(), "splits": splits, "cells": cells, "environment": environment()}
    (out / "leaderboard.json").write_text(json.dumps(board, indent=1, default=str))
    (out / "leaderboard.md").write_text(table)
    plot_leaderboard(cells, out / "leaderboard.png", "Balanced accuracy per task and model")
    return BenchmarkResult(out=out, cells=cells, splits=splits, table=table)
