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

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from emod_train.data.dataset import WindowLoader
from emod_train.data.samplers import SequentialBatchSampler, ShuffledBatchSampler
from emod_train.data.windows import channel_ids_of, shared_channels
from emod_train.engine.checkpoints import save_checkpoint
from emod_train.engine.log import JsonlLog, progress_bar
from emod_train.engine.memory import checkpoint_for_budget
from emod_train.engine.optim import set_learning_rate
from emod_train.engine.plots import plot_confusion, plot_finetune_curves
from emod_train.engine.runtime import autocast, derive_seed, environment, grad_scaler, loader_workers, prepare_device
from emod_train.engine.settings import RunResult, Settings
from emod_train.evaluation.fit import fit
from emod_train.evaluation.metrics import classification_metrics, table_head
from emod_train.evaluation.splits import read_split
from emod_train.evaluation.tasks import Task, load_task
from emod_train.methods import TaskShape
from emod_train.methods.emod.model import EMODBackbone, count_parameters
from emod_train.methods.inputs import task_datasets
from emod_train.methods.registry import get_method

METRICS = ("balanced_accuracy", "kappa", "weighted_f1")
"""Test metrics reported, in table order."""


@dataclass
class FinetuneConfig(Settings):
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
    amp: bool | None = None
    workers: int | None = None
    cache: bool = True
    cache_dir: str | None = None
    model: dict = field(default_factory=dict)
    method: str = "emod"
    splits: str | None = None
    max_memory: float | None = None

    def __post_init__(self) -> None:
        from emod_train.methods.registry import get_method

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


@dataclass
class FinetuneResult(RunResult):
    """Outcome of a fine-tuning run over all seeds.

    Attributes
    ----------
    task : Task
    runs : list of dict
        Per seed: ``seed``, ``best_epoch``, ``val`` and ``test`` metric dicts.
    mean, std : dict
        Mean and standard deviation (ddof 0) of each test metric over seeds.
    table : str
        The results table in markdown.
    """

    task: Task
    runs: list[dict]
    mean: dict
    std: dict
    table: str


def _batches_to_logits(model, loader, device, sfreq: float, amp: bool | None) -> tuple[np.ndarray, np.ndarray]:
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


def evaluate(model, loader, device, sfreq: float, n_classes: int, amp: bool | None = None) -> dict:
    """Metrics of a model on a loader's windows (see :func:`emod_train.evaluation.metrics.classification_metrics`)."""
    y_true, y_pred = _batches_to_logits(model, loader, device, sfreq, amp)
    return classification_metrics(y_true, y_pred, n_classes)


def results_table(task: Task, runs: list[dict], mean: dict, std: dict, label: str) -> str:
    """Markdown table of test metrics (percent) per seed and mean +- std."""
    note = f"{label}; test metrics in %, model selected on validation kappa."
    lines = table_head(task.title, note, ["seed", "best epoch", "metrics"])
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


def _task_windows(cfg: FinetuneConfig, task: Task, store) -> tuple[str, pd.DataFrame, dict[str, pd.DataFrame]]:
    """The corpus serving the task, its windows on the store and their train / val / test parts.

    Raises
    ------
    TaskError
        A store that cannot serve the task.
    """
    corpus, windows = task.store_windows(store)
    parts = read_split(cfg.splits, windows) if cfg.splits else task.split(windows)
    return corpus, windows, parts


@dataclass
class _Job:
    """What every seed of a fine-tuning run shares."""

    cfg: FinetuneConfig
    task: Task
    built: object
    datasets: dict
    eval_loaders: dict
    device: torch.device
    sfreq: float
    workers: int
    backbone_lr_scale: float
    n_channels: int


def _optimizer(job: _Job, model) -> torch.optim.Adam:
    """Adam with the backbone at ``backbone_lr_scale`` times the head's rate (empty groups left out)."""
    cfg = job.cfg
    groups = [
        {"params": list(model.backbone.parameters()), "base_lr": cfg.lr * job.backbone_lr_scale},
        {"params": list(model.head.parameters()), "base_lr": cfg.lr},
    ]
    return torch.optim.Adam([g for g in groups if g["params"]], lr=cfg.lr, weight_decay=cfg.weight_decay)


def _run_seed(job: _Job, seed: int, run_dir: Path, bar) -> tuple[dict, list[dict], object, torch.nn.Module]:
    """Fit, select on validation and test once with one seed.

    Returns the run (seed, best epoch, val and test metrics), its history, the memory plan and the model.
    """
    cfg, task, device, sfreq = job.cfg, job.task, job.device, job.sfreq
    log = JsonlLog(run_dir / "metrics.jsonl", truncate=True)
    torch.manual_seed(seed)
    model = job.built.make()
    model.to(device)
    plan = None
    if isinstance(model.backbone, EMODBackbone):  # activation checkpointing is the EMOD backbone's
        plan = checkpoint_for_budget(
            model.backbone, cfg.batch_size, job.n_channels, round(task.window * sfreq), sfreq, cfg.max_memory,
            count_parameters(model.head),
        )  # fmt: skip
    optimizer = _optimizer(job, model)
    n_train = len(job.datasets["train"])
    # drop a last batch only when it would hold a single window (BatchNorm needs two)
    sampler = ShuffledBatchSampler(n_train, cfg.batch_size, seed, drop_last=n_train % cfg.batch_size == 1)
    loader = WindowLoader(job.datasets["train"], sampler, job.workers, pin_memory=device.type == "cuda")
    total_steps = cfg.epochs * sampler.num_batches
    history: list[dict] = []
    task_bar = bar.add_task(f"{task.name} seed {seed}", total=cfg.epochs, info="") if bar is not None else None

    def batches(epoch: int):
        sampler.set_epoch(epoch)
        return loader

    def loss_of(model, batch) -> torch.Tensor:
        batch = batch.to(device, non_blocking=True)
        with autocast(device, cfg.amp):
            logits = torch.cat([model(p.x, p.channel_ids, sfreq) for p in batch.parts])
        return F.cross_entropy(logits.float(), batch.labels, label_smoothing=cfg.label_smoothing)

    def on_epoch(epoch: int, train_loss: float, val: dict, best: dict) -> None:
        record = {
            "epoch": epoch, "train_loss": train_loss, "val_kappa": val["kappa"],
            "val_balanced_accuracy": val["balanced_accuracy"], "val_weighted_f1": val["weighted_f1"],
            "lr": optimizer.param_groups[-1]["lr"],
        }  # fmt: skip
        log.write(kind="epoch", **record)
        history.append(record)
        if bar is not None:
            info = f"loss {train_loss:.3f} val kappa {val['kappa']:.3f} (best {best['kappa']:.3f})"
            bar.update(task_bar, advance=1, info=info)

    fitted = fit(
        model, optimizer, batches, loss_of,
        lambda m: evaluate(m, job.eval_loaders["val"], device, sfreq, task.n_classes, cfg.amp),
        epochs=cfg.epochs, score="kappa", scaler=grad_scaler(device, cfg.amp), grad_clip=cfg.grad_clip,
        schedule=lambda opt, step: set_learning_rate(opt, step, total_steps, cfg.min_lr),
        step_seed=lambda step: derive_seed(seed, step), on_epoch=on_epoch,
    )  # fmt: skip
    test = evaluate(model, job.eval_loaders["test"], device, sfreq, task.n_classes, cfg.amp)
    log.write(kind="test", best_epoch=fitted.best_epoch, **{k: v for k, v in test.items() if k != "confusion"})
    save_checkpoint(
        run_dir / "best.pt",
        {
            "kind": "finetune", "method": cfg.method, "model_config": job.built.config,
            "backbone": model.backbone.state_dict(), "head": model.head.state_dict(), "task": task.to_dict(),
            "epoch": fitted.best_epoch, "sfreq": sfreq, "head_kind": cfg.head,
        },
    )  # fmt: skip
    run = {"seed": seed, "best_epoch": fitted.best_epoch, "val": fitted.best_val, "test": test}
    return run, history, plan, model


def _prepare_job(cfg: FinetuneConfig, store, task: Task, corpus: str, windows, parts, device) -> _Job:
    """Build the method's classifier factory, the datasets and the evaluation loaders of a run."""
    method = get_method(cfg.method)
    built = method.prepare(store, task_shape(store, corpus, parts, task.n_classes), cfg.model, cfg.init,
                           {"dropout": cfg.dropout, "kind": cfg.head})  # fmt: skip
    channels = built.config.get("channels") or shared_channels(store, [corpus])
    datasets = task_datasets(method.inputs, store, parts, channels, cfg.cache, cfg.cache_dir)
    workers = loader_workers(cfg.workers, device)
    eval_loaders = {
        k: WindowLoader(datasets[k], SequentialBatchSampler(len(datasets[k]), cfg.eval_batch_size), workers,
                        pin_memory=device.type == "cuda")
        for k in ("val", "test")
    }  # fmt: skip
    scale = cfg.backbone_lr_scale if built.backbone_lr_scale is None else built.backbone_lr_scale
    return _Job(
        cfg, task, built, datasets, eval_loaders, device, float(store.processing.sfreq), workers, scale,
        int(windows["n_channels"].max()),
    )  # fmt: skip


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
    device = prepare_device(cfg.device)
    store = open_store(cfg.store)
    corpus, windows, parts = _task_windows(cfg, task, store)
    job = _prepare_job(cfg, store, task, corpus, windows, parts, device)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    label = f"init from {cfg.init}" if cfg.init else "from scratch (no pretraining)"
    if cfg.method != "emod":
        label = f"{cfg.method}, {label}"
    runs, histories = [], {}
    started = time.perf_counter()
    with progress_bar(progress) as bar:
        for seed in range(cfg.seed, cfg.seed + cfg.seeds):
            run, histories[seed], plan, model = _run_seed(job, seed, out / f"seed-{seed}", bar)
            runs.append(run)
    mean = {m: float(np.mean([r["test"][m] for r in runs])) for m in METRICS}
    std = {m: float(np.std([r["test"][m] for r in runs])) for m in METRICS}
    table = results_table(task, runs, mean, std, label)
    confusion = np.sum([np.asarray(r["test"]["confusion"]) for r in runs], axis=0)
    summary = {
        "task": task.to_dict(), "corpus": corpus, "init": cfg.init, "from_scratch": cfg.from_scratch,
        "config": cfg.to_dict(), "method": cfg.method, "model_config": job.built.config,
        "parameters": count_parameters(model),
        "parameters_backbone_without_embedding": count_parameters(model.backbone, exclude_embedding=True),
        "windows": {k: len(parts[k]) for k in parts},
        "subjects": {k: sorted(map(str, parts[k]["subject"].unique())) for k in parts},
        "runs": runs, "mean": mean, "std": std, "confusion_sum": confusion.tolist(),
        "memory_plan": plan.describe() if plan is not None else None,
        "seconds": round(time.perf_counter() - started, 1), "device": str(device), "environment": environment(),
    }  # fmt: skip
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=str))
    (out / "results.md").write_text(table)
    plot_confusion(confusion, list(task.classes), out / "confusion.png", f"{task.name}: test, {len(runs)} seed(s)")
    plot_finetune_curves(histories, out / "curves.png", f"{task.name}: {label}")
    return FinetuneResult(out=out, task=task, runs=runs, mean=mean, std=std, table=table)
