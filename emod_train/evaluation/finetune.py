"""Fine-tuning and evaluation on a task (EMOD's Table 2 protocol).

For each seed: build the task's train / val / test windows (or read them from a pinned split
file), build the classifier of the chosen method (:mod:`emod_train.methods`: EMOD by default, SCMM
or a braindecode model), initialise its backbone from a pretraining checkpoint (``init``) or at
random (``from_scratch``; always for methods without pretraining), add a classification head,
train with cross-entropy (label smoothing 0.1), Adam (lr 1e-3, backbone x 0.5, weight decay
1e-4), batch 64, cosine schedule, gradient clipping at 1.0 and head dropout 0.25; after every
epoch evaluate on the validation part and keep the weights of the best validation Cohen's kappa
(the test part is never looked at for selection); finally evaluate those weights on the test
part: balanced accuracy, Cohen's kappa, weighted F1.

Outputs in ``out``::

    results.json, results.md     per-seed and mean +- std test metrics, the task and settings
    confusion.png                test confusion matrix summed over seeds (row-normalised)
    curves.png                   training loss and validation kappa per epoch and seed
    seed-<s>/metrics.jsonl       one record per epoch
    seed-<s>/best.pt             the selected weights (backbone + head)
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from emod_train.data.windows import (
    SequentialBatchSampler,
    ShuffledBatchSampler,
    WindowLoader,
    channel_ids_of,
    shared_channels,
    window_table,
)
from emod_train.engine.memory import checkpoint_for_budget
from emod_train.engine.plots import plot_confusion, plot_finetune_curves
from emod_train.engine.runtime import (
    JsonlLog,
    autocast,
    derive_seed,
    environment,
    grad_scaler,
    load_checkpoint,
    loader_workers,
    optimizer_step,
    progress_bar,
    resolve_device,
    save_checkpoint,
    set_learning_rate,
    tune_cpu_allocator,
)
from emod_train.errors import CheckpointError, TaskError
from emod_train.evaluation.metrics import classification_metrics
from emod_train.evaluation.splits import read_split
from emod_train.evaluation.tasks import Task, load_task
from emod_train.methods import TaskShape, get_method
from emod_train.methods.emod.model import EMODBackbone, EMODClassifier, count_parameters
from emod_train.methods.inputs import task_datasets

METRICS = ("balanced_accuracy", "kappa", "weighted_f1")
"""Test metrics reported, in table order."""


@dataclass
class FinetuneConfig:
    """Settings of a fine-tuning run (defaults: the paper's).

    Parameters
    ----------
    store : str
        Store path.
    task : str
        Shipped task name (``faced``, ``seed_v``, ``seed``) or task file path.
    out : str
        Output folder.
    init : str, optional
        Pretraining checkpoint whose backbone initialises the model.
    from_scratch : bool
        Random initialisation (the no-pretraining baseline); exclusive with ``init``.
    epochs, batch_size, eval_batch_size : int
        100, 64, 128.
    lr, backbone_lr_scale, min_lr, weight_decay, grad_clip : float
        Adam at 1e-3 (backbone 0.5 x), cosine to 1e-7, weight decay 1e-4, clipping at 1.0.
    label_smoothing, dropout : float
        0.1 and 0.25.
    head : {"mlp", "linear"}
        Classification head.
    seeds : int
        Runs with seeds ``seed, seed + 1, ...``; mean and std over them are reported.
    seed : int
        First seed.
    device, amp, workers, cache, cache_dir
        As in :class:`~emod_train.methods.emod.pretrain.PretrainConfig`.
    model : dict
        Model options of the method: for EMOD overrides of :class:`~emod_train.methods.emod.model.EMODConfig`
        (with ``init`` the checkpoint's configuration is used and only ``dropout`` may change);
        for SCMM :class:`~emod_train.methods.native.SCMMOptions`; for braindecode models
        constructor arguments.
    method : str
        Registered method (``emod_train.methods``): ``emod`` (default), ``scmm``, ``eegnet``,
        ``braindecode:<ClassName>``, ... Methods without pretraining always start from scratch.
    splits : str, optional
        A split file (:mod:`emod_train.evaluation.splits`) pinning the train / val / test windows and labels.
    max_memory : float, optional
        Memory budget of a training step in GB (GiB) for EMOD backbones; see
        :class:`~emod_train.methods.emod.pretrain.PretrainConfig`.
    """

    store: str
    task: str
    out: str
    init: str | None = None
    from_scratch: bool = False
    epochs: int = 100
    batch_size: int = 64
    eval_batch_size: int = 128
    lr: float = 1e-3
    backbone_lr_scale: float = 0.5
    min_lr: float = 1e-7
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    label_smoothing: float = 0.1
    dropout: float = 0.25
    head: str = "mlp"
    seeds: int = 1
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    workers: int | None = None
    cache: bool = True
    cache_dir: str | None = None
    model: dict = field(default_factory=dict)
    method: str = "emod"
    splits: str | None = None
    max_memory: float | None = None

    def __post_init__(self) -> None:
        from emod_train.methods import get_method

        if not get_method(self.method).pretrainable:
            if self.init is not None:
                raise ValueError(f"{self.method} has no pretraining; it trains from scratch (give no init)")
            self.from_scratch = True
        if (self.init is None) == (not self.from_scratch):
            raise ValueError("give exactly one of init (a pretraining checkpoint) and from_scratch")
        if self.seeds < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("seeds, epochs and batch_size must be at least 1")
        if self.head not in ("mlp", "linear"):
            raise ValueError(f"head must be 'mlp' or 'linear' (got {self.head!r})")

    def to_dict(self) -> dict:
        """Plain-value form (written to results.json)."""
        return dataclasses.asdict(self)


@dataclass
class FinetuneResult:
    """Outcome of a fine-tuning run over all seeds.

    Attributes
    ----------
    out : pathlib.Path
    task : Task
    runs : list of dict
        Per seed: ``seed``, ``best_epoch``, ``val`` and ``test`` metric dicts.
    mean, std : dict
        Mean and standard deviation (ddof 0) of each test metric over seeds.
    table : str
        The results table in markdown.
    """

    out: Path
    task: Task
    runs: list[dict]
    mean: dict
    std: dict
    table: str


def _batches_to_logits(model, loader, device, sfreq: float, amp: bool) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    predictions, labels = [], []
    with torch.no_grad():
        for batch in loader:
            batch = batch.to(device, non_blocking=True)
            with autocast(device, amp):
                logits = torch.cat([model(p.x, p.channel_ids, sfreq) for p in batch.parts])
            predictions.append(logits.argmax(dim=1).cpu().numpy())
            labels.append(batch.labels.cpu().numpy())
    return np.concatenate(labels), np.concatenate(predictions)


def evaluate(model, loader, device, sfreq: float, n_classes: int, amp: bool = True) -> dict:
    """Metrics of a model on a loader's windows (see :func:`emod_train.evaluation.metrics.classification_metrics`)."""
    y_true, y_pred = _batches_to_logits(model, loader, device, sfreq, amp)
    return classification_metrics(y_true, y_pred, n_classes)


def load_backbone(model: EMODClassifier, path: str | Path) -> dict:
    """Copy a pretraining checkpoint's backbone weights into ``model`` (strict).

    Raises
    ------
    CheckpointError
        The checkpoint's backbone does not match the model.
    """
    state = load_checkpoint(path)
    try:
        model.backbone.load_state_dict(state["backbone"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: backbone does not fit the model ({first})") from None
    return state


def results_table(task: Task, runs: list[dict], mean: dict, std: dict, label: str) -> str:
    """Markdown table of test metrics (percent) per seed and mean +- std."""
    lines = [
        f"### {task.title}",
        "",
        f"{label}; test metrics in %, model selected on validation kappa.",
        "",
        "| seed | best epoch | balanced accuracy | Cohen's kappa | weighted F1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        values = " | ".join(f"{100 * run['test'][m]:.2f}" for m in METRICS)
        lines.append(f"| {run['seed']} | {run['best_epoch']} | {values} |")
    if len(runs) > 1:
        values = " | ".join(f"**{100 * mean[m]:.2f} ± {100 * std[m]:.2f}**" for m in METRICS)
        lines.append(f"| mean ± std | | {values} |")
    lines.append("")
    lines.append(f"Chance balanced accuracy: {100 / task.n_classes:.2f} % ({task.n_classes} classes).")
    return "\n".join(lines) + "\n"


def task_shape(store, corpus: str, parts: dict[str, pd.DataFrame], n_classes: int) -> TaskShape:
    """The :class:`~emod_train.methods.TaskShape` of a task on a store.

    Channels are those every recording of ``corpus`` holds (fixed-channel models read these), the
    window length comes from the parts' windows and the rate from the store.
    """
    channels = shared_channels(store, [corpus])
    lengths = pd.concat([p["stop"] - p["start"] for p in parts.values()]).unique()
    return TaskShape(
        channels=tuple(channels),
        channel_ids=tuple(int(i) for i in channel_ids_of(store, channels)),
        n_times=int(lengths[0]),
        sfreq=float(store.processing.sfreq),
        n_classes=n_classes,
    )


def finetune(config: FinetuneConfig, progress: bool = True) -> FinetuneResult:
    """Fine-tune and evaluate on a task, over one or more seeds.

    Parameters
    ----------
    config : FinetuneConfig
        Run settings.
    progress : bool
        Show rich progress bars on standard error.

    Returns
    -------
    FinetuneResult

    Raises
    ------
    TaskError
        Invalid task file, or a store that cannot serve it (corpus missing, an empty part).
    CheckpointError
        Unreadable ``init`` checkpoint or one that does not fit.
    """
    from emod_data.store import open_store

    cfg = config
    task = load_task(cfg.task)
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        tune_cpu_allocator()
    store = open_store(cfg.store)
    sfreq = float(store.processing.sfreq)
    present = store.recordings["corpus"].unique() if len(store.recordings) else []
    corpus = task.select_corpus(present)
    try:
        windows = window_table(store, task.window, task.stride, [corpus])
    except Exception as exc:
        raise TaskError(f"{task.path}: {exc}") from None
    parts = read_split(cfg.splits, windows) if cfg.splits else task.split(windows)
    method = get_method(cfg.method)
    built = method.prepare(store, task_shape(store, corpus, parts, task.n_classes), cfg.model, cfg.init,
                           {"dropout": cfg.dropout, "kind": cfg.head})  # fmt: skip
    channels = built.config.get("channels") or shared_channels(store, [corpus])
    datasets = task_datasets(method.inputs, store, parts, channels, cfg.cache, cfg.cache_dir)
    backbone_lr_scale = cfg.backbone_lr_scale if built.backbone_lr_scale is None else built.backbone_lr_scale
    workers = loader_workers(cfg.workers, device)
    pin = device.type == "cuda"
    eval_loaders = {
        k: WindowLoader(
            datasets[k], SequentialBatchSampler(len(datasets[k]), cfg.eval_batch_size), workers, pin_memory=pin
        )
        for k in ("val", "test")
    }
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    label = f"init from {cfg.init}" if cfg.init else "from scratch (no pretraining)"
    if cfg.method != "emod":
        label = f"{cfg.method}, {label}"
    runs, histories = [], {}
    started = time.perf_counter()
    with progress_bar(progress) as bar:
        for run_index in range(cfg.seeds):
            seed = cfg.seed + run_index
            run_dir = out / f"seed-{seed}"
            log = JsonlLog(run_dir / "metrics.jsonl", truncate=True)
            torch.manual_seed(seed)
            model = built.make()
            model.to(device)
            plan = None
            if isinstance(model.backbone, EMODBackbone):  # activation checkpointing is the EMOD backbone's
                plan = checkpoint_for_budget(
                    model.backbone, cfg.batch_size, int(windows["n_channels"].max()), round(task.window * sfreq),
                    sfreq, cfg.max_memory, count_parameters(model.head),
                )  # fmt: skip
            groups = [
                {"params": list(model.backbone.parameters()), "base_lr": cfg.lr * backbone_lr_scale},
                {"params": list(model.head.parameters()), "base_lr": cfg.lr},
            ]
            groups = [g for g in groups if g["params"]]
            reset_head = getattr(model.head, "reset_batch_statistics", None)
            optimizer = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
            scaler = grad_scaler(device, cfg.amp)
            n_train = len(datasets["train"])
            # drop a last batch only when it would hold a single window (BatchNorm needs two)
            sampler = ShuffledBatchSampler(n_train, cfg.batch_size, seed, drop_last=n_train % cfg.batch_size == 1)
            loader = WindowLoader(datasets["train"], sampler, workers, pin_memory=pin)
            total_steps = cfg.epochs * sampler.num_batches
            best = {"kappa": -np.inf, "epoch": 0, "state": None, "val": None}
            history, step = [], 0
            task_bar = None
            if bar is not None:
                task_bar = bar.add_task(f"{task.name} seed {seed}", total=cfg.epochs, info="")
            for epoch in range(cfg.epochs):
                sampler.set_epoch(epoch)
                model.train()
                if reset_head is not None:
                    reset_head()  # evaluation uses this epoch's batch statistics
                losses = []
                for batch in loader:
                    batch = batch.to(device, non_blocking=True)
                    set_learning_rate(optimizer, step, total_steps, cfg.min_lr)
                    torch.manual_seed(derive_seed(seed, step))
                    with autocast(device, cfg.amp):
                        logits = torch.cat([model(p.x, p.channel_ids, sfreq) for p in batch.parts])
                    loss = F.cross_entropy(logits.float(), batch.labels, label_smoothing=cfg.label_smoothing)
                    optimizer_step(loss, optimizer, scaler, model.parameters(), cfg.grad_clip)
                    losses.append(float(loss.detach()))
                    step += 1
                val = evaluate(model, eval_loaders["val"], device, sfreq, task.n_classes, cfg.amp)
                record = {
                    "epoch": epoch + 1,
                    "train_loss": float(np.mean(losses)) if losses else float("nan"),
                    "val_kappa": val["kappa"],
                    "val_balanced_accuracy": val["balanced_accuracy"],
                    "val_weighted_f1": val["weighted_f1"],
                    "lr": optimizer.param_groups[-1]["lr"],
                }
                log.write(kind="epoch", **record)
                history.append(record)
                if val["kappa"] > best["kappa"]:
                    best = {
                        "kappa": val["kappa"],
                        "epoch": epoch + 1,
                        "state": copy.deepcopy(model.state_dict()),
                        "val": val,
                    }
                if bar is not None:
                    bar.update(
                        task_bar, advance=1,
                        info=f"loss {record['train_loss']:.3f} val kappa {val['kappa']:.3f} (best {best['kappa']:.3f})",
                    )  # fmt: skip
            model.load_state_dict(best["state"])
            test = evaluate(model, eval_loaders["test"], device, sfreq, task.n_classes, cfg.amp)
            log.write(kind="test", best_epoch=best["epoch"], **{k: v for k, v in test.items() if k != "confusion"})
            save_checkpoint(
                run_dir / "best.pt",
                {
                    "kind": "finetune",
                    "method": cfg.method,
                    "model_config": built.config,
                    "backbone": model.backbone.state_dict(),
                    "head": model.head.state_dict(),
                    "task": task.to_dict(),
                    "epoch": best["epoch"],
                    "sfreq": sfreq,
                    "head_kind": cfg.head,
                },
            )
            runs.append({"seed": seed, "best_epoch": best["epoch"], "val": best["val"], "test": test})
            histories[seed] = history
    mean = {m: float(np.mean([r["test"][m] for r in runs])) for m in METRICS}
    std = {m: float(np.std([r["test"][m] for r in runs])) for m in METRICS}
    table = results_table(task, runs, mean, std, label)
    confusion = np.sum([np.asarray(r["test"]["confusion"]) for r in runs], axis=0)
    summary = {
        "task": task.to_dict(),
        "corpus": corpus,
        "init": cfg.init,
        "from_scratch": cfg.from_scratch,
        "config": cfg.to_dict(),
        "method": cfg.method,
        "model_config": built.config,
        "parameters": count_parameters(model),
        "parameters_backbone_without_embedding": count_parameters(model.backbone, exclude_embedding=True),
        "windows": {k: len(parts[k]) for k in parts},
        "subjects": {k: sorted(map(str, parts[k]["subject"].unique())) for k in parts},
        "runs": runs,
        "mean": mean,
        "std": std,
        "confusion_sum": confusion.tolist(),
        "memory_plan": plan.describe() if plan is not None else None,
        "seconds": round(time.perf_counter() - started, 1),
        "device": str(device),
        "environment": environment(),
    }
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=str))
    (out / "results.md").write_text(table)
    plot_confusion(confusion, list(task.classes), out / "confusion.png", f"{task.name}: test, {len(runs)} seed(s)")
    plot_finetune_curves(histories, out / "curves.png", f"{task.name}: {label}")
    return FinetuneResult(out=out, task=task, runs=runs, mean=mean, std=std, table=table)
