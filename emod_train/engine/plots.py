"""Figures of training runs: loss curves, fine-tuning curves, confusion matrices (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_loss_curves(records: list[dict], path: str | Path, title: str = "EMOD pretraining") -> Path:
    """Per-step loss (thin) and per-epoch mean loss (markers) of a pretraining run.

    Parameters
    ----------
    records : list of dict
        Records of the run's ``metrics.jsonl`` (``kind`` = ``step`` / ``epoch``).
    path : path-like
        PNG to write.
    title : str
        Figure title.

    Returns
    -------
    pathlib.Path
    """
    plt = _pyplot()
    steps = [r for r in records if r.get("kind") == "step"]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    fig, ax = plt.subplots(figsize=(7, 4))
    if steps:
        ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=0.8, alpha=0.6, label="step loss")
    if epochs:
        ax.plot([r["step"] for r in epochs], [r["loss"] for r in epochs], "o-", label="epoch mean")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if steps or epochs:
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_finetune_curves(histories: dict[int, list[dict]], path: str | Path, title: str) -> Path:
    """Training loss and validation kappa per epoch, one line per seed."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for seed, records in sorted(histories.items()):
        epochs = [r["epoch"] for r in records]
        left.plot(epochs, [r["train_loss"] for r in records], label=f"seed {seed}")
        right.plot(epochs, [r["val_kappa"] for r in records], label=f"seed {seed}")
    left.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="training loss")
    right.set(xlabel="epoch", ylabel="Cohen's kappa", title="validation kappa (model selection)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(confusion, classes, path: str | Path, title: str) -> Path:
    """Row-normalised confusion matrix (recall per true class) with counts in each cell."""
    plt = _pyplot()
    counts = np.asarray(confusion, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = max(4.0, 0.6 * len(classes) + 2.5)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = "white" if share[i, j] > 0.6 else "black"
            ax.text(
                j, i, f"{share[i, j]:.2f}\n({int(counts[i, j])})", ha="center", va="center", fontsize=7, color=colour
            )
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of true class")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_cross_corpus(summary, path: str | Path, title: str = "Cross-corpus transfer") -> Path:
    """Grouped bars of test accuracy (mean ± std) per direction and method.

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns ``direction``, ``method``, ``accuracy``, ``accuracy_std`` (fractions).
    path : path-like
        PNG to write.
    title : str

    Returns
    -------
    pathlib.Path
    """
    plt = _pyplot()
    directions = list(dict.fromkeys(summary["direction"]))
    methods = list(dict.fromkeys(summary["method"]))
    width = 0.8 / max(len(methods), 1)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(directions), 4))
    for k, method in enumerate(methods):
        rows = summary[summary["method"] == method].set_index("direction").reindex(directions)
        positions = [i + (k - (len(methods) - 1) / 2) * width for i in range(len(directions))]
        ax.bar(positions, 100 * rows["accuracy"], width, yerr=100 * rows["accuracy_std"], capsize=3, label=method)
    ax.set_xticks(range(len(directions)), [d.replace("_to_", " → ") for d in directions])
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_leaderboard(cells: list[dict], path: str | Path, title: str) -> Path:
    """Grouped bars of test balanced accuracy (mean ± std over seeds) per task and model.

    Parameters
    ----------
    cells : list of dict
        Benchmark cells with ``task``, ``model``, ``mean`` and ``std`` (see :mod:`emod_train.evaluation.benchmark`).
    path : path-like
        PNG to write.
    title : str
        Figure title.

    Returns
    -------
    pathlib.Path
    """
    plt = _pyplot()
    tasks = list(dict.fromkeys(c["task"] for c in cells))
    models = list(dict.fromkeys(c["model"] for c in cells))
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(tasks) * max(1, len(models)) / 2), 4))
    for j, model in enumerate(models):
        found = {c["task"]: c for c in cells if c["model"] == model}
        xs = [i + (j - (len(models) - 1) / 2) * width for i, t in enumerate(tasks) if t in found]
        means = [100 * found[t]["mean"]["balanced_accuracy"] for t in tasks if t in found]
        stds = [100 * found[t]["std"]["balanced_accuracy"] for t in tasks if t in found]
        ax.bar(xs, means, width, yerr=stds, capsize=2, label=model)
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_ylabel("test balanced accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
