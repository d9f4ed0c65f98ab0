"""EMOD pretraining: structured cross-corpus batches, soft-weighted contrastive loss.

:func:`pretrain` runs the whole loop: window table and signal cache, structured sampler, EMOD
backbone and projection head, AdamW with a per-step cosine schedule, gradient clipping, float16
autocast with gradient scaling on CUDA, a checkpoint at every epoch end (and every
``checkpoint_every`` steps), exact mid-epoch resume, a JSON-lines metrics log and a loss plot.

Outputs in ``out``::

    config.json              the run's configuration, model configuration and environment
    metrics.jsonl            one record per step (kind "step") and per epoch (kind "epoch")
    last.pt                  full state (model, head, optimiser, scaler, position); --resume reads it
    checkpoints/epoch-NNN.pt backbone and head weights after each epoch (use one as --init)
    loss.png                 loss curves
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from emod_train.data.cache import build_cache
from emod_train.data.dataset import WindowDataset, WindowLoader
from emod_train.data.samplers import ShardedBatchSampler
from emod_train.data.windows import channel_ids_of, window_table
from emod_train.engine.checkpoints import RunFolder
from emod_train.engine.distributed import DistributedContext, context_from_environment
from emod_train.engine.log import progress_bar
from emod_train.engine.memory import checkpoint_for_budget
from emod_train.engine.optim import optimizer_step, set_learning_rate
from emod_train.engine.runtime import (
    autocast,
    derive_seed,
    environment,
    grad_scaler,
    loader_workers,
    prepare_device,
    resolve_device,
)
from emod_train.engine.settings import PretrainingResult, Settings
from emod_train.errors import DataError
from emod_train.methods.emod.augment import augment
from emod_train.methods.emod.loss import D_MAX_PAPER, HARD_POSITIVES, LOSS_MODES, TEMPERATURE, emod_loss
from emod_train.methods.emod.model import EMODBackbone, EMODConfig, ProjectionHead, count_parameters
from emod_train.methods.emod.sampler import SAMPLER_MODES, StructuredBatchSampler

# fields that must match to resume a run (others, such as epochs or workers, may change)
RESUME_FIELDS = (
    "corpora", "sessions", "channels", "window", "stride", "rounds", "batch_size", "loss", "d_max", "seed", "model",
    "augment",
)  # fmt: skip


@dataclass
class PretrainConfig(Settings):
    """Settings of a pretraining run (defaults: the paper's).

    Parameters
    ----------
    store : str
        Store path.
    out : str
        Output folder.
    corpora : list of str, optional
        Pretraining corpora (all corpora of the store by default).
    sessions : list of int, optional
        Keep only these sessions (all by default; the cross-corpus protocol pretrains on session 1).
    channels : list of str, optional
        Feed only these channels (canonical names; every recording must hold them), e.g. the
        channels shared by a source and a target corpus. All of each recording's channels by default.
    window, stride : float
        Window length and step in seconds (stride None: non-overlapping).
    epochs : int
        Epochs (100).
    batch_size : int
        Target batch size (288); the sampler takes m = round(batch_size / non-empty
        (corpus, region) cells) rounds, unless ``rounds`` is given.
    rounds : int, optional
        m, rounds per corpus and batch.
    head_norm : {"batch", "corpus"}
        Projection-head BatchNorm over the whole batch (default), or per corpus sub-batch (the
        released code).
    sampler : {"skip", "released"}
        Structured sampler mode (:class:`~emod_train.methods.emod.sampler.StructuredBatchSampler`): skip regions a
        corpus lacks (default), or the released code's (an empty region is filled from the next
        one; with ``rounds`` unset, 4 rounds: 36 windows per corpus and batch).
    steps_per_epoch : int, optional
        Batches per epoch; default about one pass over the windows.
    lr, min_lr, weight_decay, grad_clip, warmup_steps : float / int
        AdamW learning rate 5e-4 with a cosine schedule down to 1e-7, weight decay 1e-4,
        gradient clipping at norm 3.0, no warm-up.
    loss : {"soft", "hard", "instance"}
        Soft-weighted SupCon (EMOD), hard-label SupCon, or instance-only contrast.
    d_max, temperature, floor : float
        Loss parameters (5.0, 0.07, None; see :mod:`emod_train.methods.emod.loss`).
    hard_positives : {"exact", "cells"}
        Positives of the ``"hard"`` loss: the same V-A point (default) or the same integer V-A
        cell (the released code).
    augment : bool
        Apply EMOD's augmentations.
    seed : int
        Seed of the model initialisation, the sampler, augmentations and dropout.
    device : str
        ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ...
    amp : bool, optional
        Autocast (:func:`~emod_train.engine.runtime.amp_dtype`): None (default) on CUDA only (bfloat16,
        else float16 with gradient scaling); True also bfloat16 on a CPU with native bfloat16; False never.
    workers : int, optional
        Loader threads; default 0 on the CPU (reading is far faster than training there) and 4 on CUDA.
    cache : bool
        Read windows from a decoded signal cache (fast); False reads zarr directly.
    cache_dir : str, optional
        Cache root (default ``$EMOD_TRAIN_CACHE`` or ``~/.cache/emod_train``).
    checkpoint_every : int
        Also write ``last.pt`` every this many steps (0: at epoch ends only).
    resume : bool
        Continue the run in ``out`` from its ``last.pt``.
    stop_after : int, optional
        Stop this call after so many optimiser steps, writing ``last.pt`` (a time budget; a later
        call with ``resume`` continues exactly where it stopped).
    model : dict
        Overrides of :class:`~emod_train.methods.emod.model.EMODConfig` fields (e.g. ``{"depth": 2}``).
    max_memory : float, optional
        Memory budget of a training step in GB (GiB): the transformer layers are checkpointed
        when the batch's activations would not fit (:mod:`emod_train.engine.memory`); None: the device's
        free memory.
    """

    store: str
    out: str
    corpora: list[str] | None = None
    sessions: list[int] | None = None
    channels: list[str] | None = None
    window: float = 10.0
    stride: float | None = None
    epochs: int = 100
    batch_size: int = 288
    rounds: int | None = None
    sampler: str = "skip"
    head_norm: str = "batch"
    steps_per_epoch: int | None = None
    lr: float = 5e-4
    min_lr: float = 1e-7
    weight_decay: float = 1e-4
    grad_clip: float = 3.0
    warmup_steps: int = 0
    loss: str = "soft"
    d_max: float = D_MAX_PAPER
    temperature: float = TEMPERATURE
    floor: float | None = None
    hard_positives: str = "exact"
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None
    workers: int | None = None
    cache: bool = True
    cache_dir: str | None = None
    checkpoint_every: int = 0
    resume: bool = False
    stop_after: int | None = None
    model: dict = field(default_factory=dict)
    max_memory: float | None = None

    def __post_init__(self) -> None:
        if self.loss not in LOSS_MODES:
            raise ValueError(f"loss must be one of {', '.join(LOSS_MODES)} (got {self.loss!r})")
        if self.head_norm not in ("batch", "corpus"):
            raise ValueError(f"head_norm must be 'batch' or 'corpus' (got {self.head_norm!r})")
        if self.sampler not in SAMPLER_MODES:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLER_MODES)} (got {self.sampler!r})")
        if self.hard_positives not in HARD_POSITIVES:
            raise ValueError(f"hard_positives must be one of {', '.join(HARD_POSITIVES)} (got {self.hard_positives!r})")
        if self.loss == "instance" and not self.augment:
            raise ValueError("instance-only contrast needs augmentations (two identical views teach nothing)")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2")
        if self.window <= 0:
            raise ValueError(f"window must be positive (got {self.window})")


@dataclass
class PretrainResult(PretrainingResult):
    """What a pretraining run produced.

    Attributes
    ----------
    steps : int
        Optimiser steps taken in total.
    samples_per_second : float
        Training throughput of this call (windows per second, data loading included).
    parameters : int
        Backbone parameters without the channel embedding.
    """

    steps: int
    samples_per_second: float
    parameters: int

    def summary(self) -> str:
        """One line: steps, throughput, the last epoch losses and their change since the first epoch."""
        losses = ", ".join(f"{v:.3f}" for v in self.epoch_losses[-5:])
        trend = loss_trend(self.epoch_losses)
        change = f"; change since epoch 1: {100 * trend:+.1f} %" if trend == trend else ""
        return (
            f"pretrained {self.steps} steps, {self.samples_per_second:.1f} windows/s; "
            f"epoch losses (last 5): {losses}{change}"
        )


def model_config_for(store, overrides: dict | None = None) -> EMODConfig:
    """The backbone configuration for a store: paper defaults, a vocabulary covering its channel ids, overrides."""
    recordings = store.recordings
    top = max((int(max(ids)) for ids in recordings["channel_ids"] if len(ids)), default=0)
    values = {**(overrides or {})}
    values["vocab_size"] = max(int(values.get("vocab_size", EMODConfig.vocab_size)), top + 1)
    try:
        return EMODConfig(**values)
    except TypeError as exc:
        raise ValueError(f"unknown model setting ({exc})") from None


def _forward(
    backbone,
    head,
    batch,
    sfreq: float,
    cfg: PretrainConfig,
    generator,
    keep: torch.Tensor | None = None,
    context: DistributedContext | None = None,
    corpus_codes: torch.Tensor | None = None,
):
    """Embeddings of a batch (sub-batches forwarded separately), the instance ids and the V-A targets.

    In a data-parallel run ``batch`` is this rank's share; the pooled features, ids and targets
    of all ranks are gathered before the projection head, so the head and the loss see the whole batch.
    """
    context = context or DistributedContext()
    pooled, ids = [], []
    for part in batch.parts:
        if keep is not None:
            part = part.select(keep)
        views = 2 if cfg.loss == "instance" else 1
        for _ in range(views):
            x, channel_ids = part.x, part.channel_ids
            if generator is not None:
                x, channel_ids = augment(x, channel_ids, generator)
            pooled.append(head.pool_tokens(backbone(x, channel_ids, sfreq), channel_ids))
            ids.append(part.index)
    pooled = context.gather(torch.cat(pooled))
    ids = context.gather(torch.cat(ids))
    z = head.project(pooled, None if corpus_codes is None else corpus_codes[ids])
    return z, ids, context.gather(_targets(batch, cfg))


def _targets(batch, cfg: PretrainConfig) -> torch.Tensor:
    """V-A points in the order of :func:`_forward`'s embeddings."""
    if cfg.loss != "instance":
        return batch.va
    chunks, start = [], 0
    for part in batch.parts:
        n = part.x.shape[0]
        chunks += [batch.va[start : start + n]] * 2
        start += n
    return torch.cat(chunks)


def pretrain(config: PretrainConfig, progress: bool = True) -> PretrainResult:
    """Pretrain EMOD on a store.

    Parameters
    ----------
    config : PretrainConfig
        Run settings.
    progress : bool
        Show rich progress bars on standard error.

    Returns
    -------
    PretrainResult

    Raises
    ------
    DataError
        No usable window (unknown corpus, windows longer than every recording, no V-A labels).
    CheckpointError
        ``resume`` without a checkpoint, a checkpoint of another run, or an existing run without ``resume``.

    Notes
    -----
    Under ``torchrun`` (``WORLD_SIZE`` > 1) the run is data-parallel: each process forwards a
    disjoint share of every batch and the loss is computed over the whole batch
    (:mod:`emod_train.engine.distributed`); only rank 0 writes the outputs and shows progress.
    """
    cfg = config
    context = context_from_environment()
    run = RunFolder(cfg.out, cfg.resume, RESUME_FIELDS, main=context.is_main)
    device = context.device(resolve_device(cfg.device))
    started_group = context.start(device)
    try:
        return _pretrain(cfg, run, device, context, progress and context.is_main)
    finally:
        if started_group:
            context.stop()


@dataclass
class _Setup:
    """Everything the training loop of one rank works with."""

    store: object
    sfreq: float
    windows: pd.DataFrame
    keep: torch.Tensor | None
    sampler: StructuredBatchSampler
    model_config: EMODConfig
    backbone: EMODBackbone
    head: ProjectionHead
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    reduce: object
    corpus_codes: torch.Tensor | None = None


def _labelled_windows(cfg: PretrainConfig, store, device: torch.device) -> tuple[pd.DataFrame, torch.Tensor | None]:
    """The V-A labelled windows of the run (sessions and channels checked) and the channel ids to keep."""
    table = window_table(store, cfg.window, cfg.stride, cfg.corpora)
    if cfg.sessions is not None:
        table = table[table["session"].isin(cfg.sessions)]
    keep = torch.from_numpy(channel_ids_of(store, cfg.channels)).to(device) if cfg.channels else None
    if keep is not None:
        lacking = table["recording_id"].map(store.recordings.set_index("recording_id")["channel_names"])
        lacking = lacking.map(lambda names: not set(cfg.channels) <= set(names))
        if lacking.any():
            raise DataError(
                f"{store.path}: recording '{table['recording_id'][lacking].iloc[0]}' lacks some of the channels"
            )
    labelled = table[table["region"] >= 0].reset_index(drop=True)
    if not len(labelled):
        raise DataError(f"{store.path}: no window has valence-arousal labels; EMOD pretraining needs them")
    return labelled, keep


def _structured_sampler(cfg: PretrainConfig, labelled: pd.DataFrame, store, context) -> StructuredBatchSampler:
    """EMOD's structured sampler over ``labelled`` (m rounds per corpus and batch)."""
    rounds = cfg.rounds or StructuredBatchSampler.rounds_for(labelled["corpus"], labelled["region"], cfg.batch_size)
    if cfg.sampler == "released" and cfg.rounds is None:
        rounds = 4  # the released code: 4 rounds of the 9 regions, 36 windows per corpus
    sampler = StructuredBatchSampler(
        labelled["corpus"].to_numpy(), labelled["region"].to_numpy(), rounds, cfg.steps_per_epoch, cfg.seed,
        cfg.sampler,
    )  # fmt: skip
    if sampler.batch_size < context.world_size:
        raise DataError(
            f"{store.path}: a batch of {sampler.batch_size} windows cannot be shared by {context.world_size} "
            "processes; raise --batch-size or --rounds"
        )
    return sampler


def _setup(cfg: PretrainConfig, device: torch.device, context: DistributedContext) -> tuple[_Setup, object]:
    """Windows, sampler, backbone, head, optimiser and scaler of a run; also the memory plan."""
    from emod_data.store import open_store

    store = open_store(cfg.store)
    sfreq = float(store.processing.sfreq)
    labelled, keep = _labelled_windows(cfg, store, device)
    sampler = _structured_sampler(cfg, labelled, store, context)
    model_config = model_config_for(store, cfg.model)
    torch.manual_seed(cfg.seed)
    backbone = EMODBackbone(model_config).to(device)
    head = ProjectionHead(model_config.dim).to(device)
    context.broadcast_parameters([backbone, head])
    windows = -(-sampler.batch_size // context.world_size) * (2 if cfg.loss == "instance" else 1)
    channels = len(cfg.channels) if cfg.channels else int(labelled["n_channels"].max())
    plan = checkpoint_for_budget(
        backbone, windows, channels, round(cfg.window * sfreq), sfreq, cfg.max_memory, count_parameters(head)
    )
    local_parameters = [*backbone.parameters(), *head.pool.parameters()]  # saw this rank's share: summed

    def reduce() -> None:
        context.reduce_gradients(local_parameters, head.mlp.parameters())  # the MLP saw the whole batch

    parameters = [*backbone.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW([{"params": parameters, "base_lr": cfg.lr}], lr=cfg.lr, weight_decay=cfg.weight_decay)
    corpus_codes = None  # per-window corpus ids for a per-corpus projection-head BatchNorm
    if cfg.head_norm == "corpus":
        corpus_codes = torch.as_tensor(pd.factorize(labelled["corpus"])[0], device=device)
    setup = _Setup(
        store, sfreq, labelled, keep, sampler, model_config, backbone, head, optimizer,
        grad_scaler(device, cfg.amp), reduce, corpus_codes,
    )  # fmt: skip
    return setup, plan


def _run_info(cfg: PretrainConfig, s: _Setup, plan, device, context, cache) -> dict:
    """What ``config.json`` records about a run."""
    return {
        "config": cfg.to_dict(),
        "model_config": s.model_config.to_dict(),
        "rounds": s.sampler.rounds,
        "batch_size": s.sampler.batch_size,
        "steps_per_epoch": s.sampler.num_batches,
        "windows": len(s.windows),
        "corpora": s.sampler.corpora,
        "sfreq": s.sfreq,
        "store_processing_hash": s.store.processing.hash,
        "parameters_backbone": count_parameters(s.backbone),
        "parameters_backbone_without_embedding": count_parameters(s.backbone, exclude_embedding=True),
        "parameters_projection_head": count_parameters(s.head),
        "memory_plan": plan.describe(),
        "device": str(device),
        "processes": context.world_size,
        "cache": str(cache.folder) if cache is not None else None,
        "environment": environment(),
    }


def _weights(s: _Setup, epoch: int) -> dict:
    """Backbone and head weights after ``epoch`` epochs (a fine-tuning ``--init``)."""
    return {
        "kind": "pretrain-weights", "model_config": s.model_config.to_dict(), "backbone": s.backbone.state_dict(),
        "head": s.head.state_dict(), "epoch": epoch, "sfreq": s.sfreq,
    }  # fmt: skip


def _full_state(cfg: PretrainConfig, s: _Setup, position: dict) -> dict:
    """The full state of ``last.pt`` at ``position`` (epoch, batch_in_epoch, step, epoch_losses, partial)."""
    return {
        "kind": "pretrain", "model_config": s.model_config.to_dict(), "backbone": s.backbone.state_dict(),
        "head": s.head.state_dict(), "optimizer": s.optimizer.state_dict(), "scaler": s.scaler.state_dict(),
        **position, "config": cfg.to_dict(), "sfreq": s.sfreq, "store_processing_hash": s.store.processing.hash,
    }  # fmt: skip


def _pretrain(
    cfg: PretrainConfig, run: RunFolder, device: torch.device, context: DistributedContext, progress: bool
) -> PretrainResult:
    """The body of :func:`pretrain` (this rank's part of it in a data-parallel run)."""
    prepare_device(device)
    s, plan = _setup(cfg, device, context)
    position = {"epoch": 0, "batch_in_epoch": 0, "step": 0, "epoch_losses": [], "partial": [0.0, 0]}
    state = run.open(cfg.to_dict(), device)
    if state is not None:
        s.backbone.load_state_dict(state["backbone"])
        s.head.load_state_dict(state["head"])
        s.optimizer.load_state_dict(state["optimizer"])
        s.scaler.load_state_dict(state["scaler"])
        position = {k: state[k] for k in ("epoch", "batch_in_epoch", "step")}
        position["epoch_losses"] = list(state.get("epoch_losses", []))
        position["partial"] = list(state.get("partial", [0.0, 0]))
    cache = build_cache(s.store, s.windows, cfg.cache_dir) if cfg.cache else None
    dataset = WindowDataset(s.windows, s.store, cache)
    shard = ShardedBatchSampler(s.sampler, context.rank, context.world_size) if context.enabled else s.sampler
    loader = WindowLoader(dataset, shard, workers=loader_workers(cfg.workers, device), pin_memory=device.type == "cuda")
    run.write_info(_run_info(cfg, s, plan, device, context, cache))
    started, first_step = time.perf_counter(), position["step"]
    with progress_bar(progress) as bar:
        _train(cfg, s, run, loader, position, device, context, bar)
    context.barrier()  # the checkpoints of rank 0 are written when any rank returns
    elapsed = time.perf_counter() - started
    samples = (position["step"] - first_step) * s.sampler.batch_size  # windows of the global batches
    return PretrainResult(
        out=run.out,
        checkpoint=run.last,
        epoch_losses=position["epoch_losses"],
        steps=position["step"],
        samples_per_second=samples / elapsed if elapsed > 0 else float("nan"),
        parameters=count_parameters(s.backbone, exclude_embedding=True),
    )


def _step(cfg: PretrainConfig, s: _Setup, batch, step: int, device, context) -> tuple[float, float]:
    """One optimiser step on a batch; returns the loss and the gradient norm."""
    rank = (context.rank,) if context.enabled else ()  # in a data-parallel run each rank draws its own
    total_steps = cfg.epochs * s.sampler.num_batches
    set_learning_rate(s.optimizer, step, total_steps, cfg.min_lr, cfg.warmup_steps)
    torch.manual_seed(derive_seed(cfg.seed, step, *rank))  # dropout: same draws after a resume
    generator = torch.Generator().manual_seed(derive_seed(cfg.seed, step, 1, *rank)) if cfg.augment else None
    with autocast(device, cfg.amp):
        z, ids, va = _forward(s.backbone, s.head, batch, s.sfreq, cfg, generator, s.keep, context, s.corpus_codes)
    loss = emod_loss(
        z, va=va, labels=ids if cfg.loss == "instance" else None, mode=cfg.loss, d_max=cfg.d_max,
        temperature=cfg.temperature, floor=cfg.floor, hard_positives=cfg.hard_positives,
    )  # fmt: skip
    parameters = [*s.backbone.parameters(), *s.head.parameters()]
    grad_norm = optimizer_step(loss, s.optimizer, s.scaler, parameters, cfg.grad_clip, s.reduce)
    return float(loss.detach()), grad_norm


def _train(cfg: PretrainConfig, s: _Setup, run: RunFolder, loader, position: dict, device, context, bar) -> None:
    """The epochs of a run from ``position`` on (updated in place); checkpoints as configured."""
    steps_per_epoch = s.sampler.num_batches
    task = None
    if bar is not None:
        task = bar.add_task("pretrain", total=cfg.epochs * steps_per_epoch, completed=position["step"], info="")
    first_step, stopping, mid_epoch = position["step"], False, False
    for epoch in range(position["epoch"], cfg.epochs):
        s.sampler.set_epoch(epoch, position["batch_in_epoch"] if epoch == position["epoch"] else 0)
        position.update(epoch=epoch, batch_in_epoch=s.sampler.start_batch)
        epoch_started = time.perf_counter()
        s.backbone.train()
        s.head.train()
        for batch in loader:
            value, grad_norm = _step(cfg, s, batch.to(device, non_blocking=True), position["step"], device, context)
            position["step"] += 1
            position["batch_in_epoch"] += 1
            position["partial"] = [position["partial"][0] + value, position["partial"][1] + 1]
            run.write(
                kind="step", epoch=epoch, step=position["step"], loss=value, lr=s.optimizer.param_groups[0]["lr"],
                grad_norm=float(grad_norm), batch=s.sampler.batch_size,
            )  # fmt: skip
            if bar is not None:
                bar.update(task, advance=1, info=f"epoch {epoch + 1}/{cfg.epochs} loss {value:.3f}")
            mid_epoch = position["batch_in_epoch"] < steps_per_epoch
            stopping = cfg.stop_after is not None and position["step"] - first_step >= cfg.stop_after
            if mid_epoch and (stopping or (cfg.checkpoint_every and position["step"] % cfg.checkpoint_every == 0)):
                run.save(_full_state(cfg, s, position))
            if stopping:
                break
        if stopping and mid_epoch:
            return
        mean = position["partial"][0] / max(position["partial"][1], 1)
        position["epoch_losses"].append(mean)
        position["partial"] = [0.0, 0]
        run.write(kind="epoch", epoch=epoch, step=position["step"], loss=mean,
                  seconds=round(time.perf_counter() - epoch_started, 3))  # fmt: skip
        run.save(_full_state(cfg, s, {**position, "epoch": epoch + 1, "batch_in_epoch": 0}), epoch + 1,
                 _weights(s, epoch + 1))  # fmt: skip
        run.plot()
        if stopping:
            return


def loss_trend(epoch_losses: list[float]) -> float:
    """Relative change of the mean loss from the first to the last epoch (negative: it fell)."""
    if len(epoch_losses) < 2 or not np.isfinite(epoch_losses[0]) or epoch_losses[0] == 0:
        return float("nan")
    return (epoch_losses[-1] - epoch_losses[0]) / abs(epoch_losses[0])
