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

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from emod_train.data.cache import build_cache
from emod_train.data.windows import (
    SAMPLER_MODES,
    StructuredBatchSampler,
    WindowDataset,
    WindowLoader,
    channel_ids_of,
    window_table,
)
from emod_train.engine.distributed import DistributedContext, ShardedBatchSampler, context_from_environment
from emod_train.engine.memory import checkpoint_for_budget
from emod_train.engine.plots import plot_loss_curves
from emod_train.engine.runtime import (
    JsonlLog,
    autocast,
    checked_run_folder,
    derive_seed,
    environment,
    grad_scaler,
    loader_workers,
    optimizer_step,
    progress_bar,
    resolve_device,
    resume_state,
    save_checkpoint,
    set_learning_rate,
    tune_cpu_allocator,
)
from emod_train.errors import DataError
from emod_train.methods.emod.augment import augment
from emod_train.methods.emod.loss import D_MAX_PAPER, HARD_POSITIVES, LOSS_MODES, TEMPERATURE, emod_loss
from emod_train.methods.emod.model import EMODBackbone, EMODConfig, ProjectionHead, count_parameters

# fields that must match to resume a run (others, such as epochs or workers, may change)
RESUME_FIELDS = (
    "corpora", "sessions", "channels", "window", "stride", "rounds", "batch_size", "loss", "d_max", "seed", "model",
    "augment",
)  # fmt: skip


@dataclass
class PretrainConfig:
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
        Structured sampler mode (:class:`~emod_train.data.windows.StructuredBatchSampler`): skip regions a
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
    amp : bool
        float16 autocast with gradient scaling (CUDA only; ignored on the CPU).
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
    amp: bool = True
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

    def to_dict(self) -> dict:
        """Plain-value form (written to config.json and checkpoints)."""
        return dataclasses.asdict(self)


@dataclass
class PretrainResult:
    """What a pretraining run produced.

    Attributes
    ----------
    out : pathlib.Path
        Output folder.
    checkpoint : pathlib.Path
        ``last.pt``.
    epoch_losses : list of float
        Mean loss of each epoch (of the whole run, resumed parts included).
    steps : int
        Optimiser steps taken in total.
    samples_per_second : float
        Training throughput of this call (windows per second, data loading included).
    parameters : int
        Backbone parameters without the channel embedding.
    """

    out: Path
    checkpoint: Path
    epoch_losses: list[float]
    steps: int
    samples_per_second: float
    parameters: int


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
    out = Path(cfg.out)
    last = checked_run_folder(out, cfg.resume)
    context = context_from_environment()
    device = context.device(resolve_device(cfg.device))
    started_group = context.start(device)
    try:
        return _pretrain(cfg, out, last, device, context, progress and context.is_main)
    finally:
        if started_group:
            context.stop()


def _pretrain(
    cfg: PretrainConfig, out: Path, last: Path, device: torch.device, context: DistributedContext, progress: bool
) -> PretrainResult:
    """The body of :func:`pretrain` (this rank's part of it in a data-parallel run)."""
    from emod_data.store import open_store

    main = context.is_main
    if device.type == "cpu":
        tune_cpu_allocator()
    store = open_store(cfg.store)
    sfreq = float(store.processing.sfreq)
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
    rounds = cfg.rounds or StructuredBatchSampler.rounds_for(labelled["corpus"], labelled["region"], cfg.batch_size)
    if cfg.sampler == "released" and cfg.rounds is None:
        rounds = 4  # the released code: 4 rounds of the 9 regions, 36 windows per corpus
    sampler = StructuredBatchSampler(
        labelled["corpus"].to_numpy(),
        labelled["region"].to_numpy(),
        rounds,
        cfg.steps_per_epoch,
        cfg.seed,
        cfg.sampler,
    )
    if sampler.batch_size < context.world_size:
        raise DataError(
            f"{store.path}: a batch of {sampler.batch_size} windows cannot be shared by {context.world_size} "
            "processes; raise --batch-size or --rounds"
        )
    model_config = model_config_for(store, cfg.model)
    steps_per_epoch = sampler.num_batches
    total_steps = cfg.epochs * steps_per_epoch

    torch.manual_seed(cfg.seed)
    backbone = EMODBackbone(model_config).to(device)
    head = ProjectionHead(model_config.dim).to(device)
    context.broadcast_parameters([backbone, head])
    parameters = [*backbone.parameters(), *head.parameters()]
    windows = -(-sampler.batch_size // context.world_size) * (2 if cfg.loss == "instance" else 1)
    channels = len(cfg.channels) if cfg.channels else int(labelled["n_channels"].max())
    plan = checkpoint_for_budget(
        backbone, windows, channels, round(cfg.window * sfreq), sfreq, cfg.max_memory, count_parameters(head)
    )
    local_parameters = [*backbone.parameters(), *head.pool.parameters()]  # saw this rank's share: summed

    def reduce() -> None:
        context.reduce_gradients(local_parameters, head.mlp.parameters())  # the MLP saw the whole batch

    optimizer = torch.optim.AdamW([{"params": parameters, "base_lr": cfg.lr}], lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = grad_scaler(device, cfg.amp)
    log = JsonlLog(out / "metrics.jsonl", truncate=not cfg.resume and main)
    start_epoch, start_batch, step = 0, 0, 0
    epoch_losses: list[float] = []
    partial = [0.0, 0]
    if cfg.resume:
        state = resume_state(last, cfg.to_dict(), RESUME_FIELDS, device)
        backbone.load_state_dict(state["backbone"])
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, start_batch, step = state["epoch"], state["batch_in_epoch"], state["step"]
        epoch_losses = list(state.get("epoch_losses", []))
        partial = list(state.get("partial", [0.0, 0]))
        if main:
            log.truncate_after("step", step)

    cache = None
    if cfg.cache:
        cache = build_cache(store, labelled, cfg.cache_dir)
    dataset = WindowDataset(labelled, store, cache)
    corpus_codes = None  # per-window corpus ids for a per-corpus projection-head BatchNorm
    if cfg.head_norm == "corpus":
        corpus_codes = torch.as_tensor(pd.factorize(labelled["corpus"])[0], device=device)
    workers = loader_workers(cfg.workers, device)
    shard = ShardedBatchSampler(sampler, context.rank, context.world_size) if context.enabled else sampler
    loader = WindowLoader(dataset, shard, workers=workers, pin_memory=device.type == "cuda")
    out.mkdir(parents=True, exist_ok=True)
    run_info = {
        "config": cfg.to_dict(),
        "model_config": model_config.to_dict(),
        "rounds": rounds,
        "batch_size": sampler.batch_size,
        "steps_per_epoch": steps_per_epoch,
        "windows": len(labelled),
        "corpora": sampler.corpora,
        "sfreq": sfreq,
        "store_processing_hash": store.processing.hash,
        "parameters_backbone": count_parameters(backbone),
        "parameters_backbone_without_embedding": count_parameters(backbone, exclude_embedding=True),
        "parameters_projection_head": count_parameters(head),
        "memory_plan": plan.describe(),
        "device": str(device),
        "processes": context.world_size,
        "cache": str(cache.folder) if cache is not None else None,
        "environment": environment(),
    }
    if main:
        (out / "config.json").write_text(json.dumps(run_info, indent=1, default=str))

    def state_dict(epoch: int, batch_in_epoch: int) -> dict:
        return {
            "kind": "pretrain",
            "model_config": model_config.to_dict(),
            "backbone": backbone.state_dict(),
            "head": head.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "step": step,
            "config": cfg.to_dict(),
            "epoch_losses": epoch_losses,
            "partial": partial,
            "sfreq": sfreq,
            "store_processing_hash": store.processing.hash,
        }

    rank = (context.rank,) if context.enabled else ()  # in a data-parallel run each rank draws its own
    samples, started = 0, time.perf_counter()
    first_step, stopping, mid_epoch = step, False, False
    with progress_bar(progress) as bar:
        task = None
        if bar is not None:
            task = bar.add_task("pretrain", total=total_steps, completed=step, info="")
        for epoch in range(start_epoch, cfg.epochs):
            sampler.set_epoch(epoch, start_batch if epoch == start_epoch else 0)
            batch_in_epoch = sampler.start_batch
            epoch_started = time.perf_counter()
            backbone.train()
            head.train()
            for batch in loader:
                batch = batch.to(device, non_blocking=True)
                set_learning_rate(optimizer, step, total_steps, cfg.min_lr, cfg.warmup_steps)
                torch.manual_seed(derive_seed(cfg.seed, step, *rank))  # dropout: same draws after a resume
                generator = None
                if cfg.augment:
                    generator = torch.Generator().manual_seed(derive_seed(cfg.seed, step, 1, *rank))
                with autocast(device, cfg.amp):
                    z, ids, va = _forward(backbone, head, batch, sfreq, cfg, generator, keep, context, corpus_codes)
                loss = emod_loss(
                    z, va=va, labels=ids if cfg.loss == "instance" else None, mode=cfg.loss, d_max=cfg.d_max,
                    temperature=cfg.temperature, floor=cfg.floor, hard_positives=cfg.hard_positives,
                )  # fmt: skip
                grad_norm = optimizer_step(loss, optimizer, scaler, parameters, cfg.grad_clip, reduce)
                value = float(loss.detach())
                step += 1
                batch_in_epoch += 1
                samples += sampler.batch_size  # windows of the global batch (len(va) counts both views)
                partial = [partial[0] + value, partial[1] + 1]
                if main:
                    log.write(
                        kind="step", epoch=epoch, step=step, loss=value, lr=optimizer.param_groups[0]["lr"],
                        grad_norm=float(grad_norm), batch=sampler.batch_size,
                    )  # fmt: skip
                if bar is not None:
                    bar.update(task, advance=1, info=f"epoch {epoch + 1}/{cfg.epochs} loss {value:.3f}")
                mid_epoch = batch_in_epoch < steps_per_epoch
                stopping = cfg.stop_after is not None and step - first_step >= cfg.stop_after
                checkpoint_now = stopping or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0)
                if main and mid_epoch and checkpoint_now:
                    save_checkpoint(last, state_dict(epoch, batch_in_epoch))
                if stopping:
                    break
            if stopping and mid_epoch:
                break
            mean = partial[0] / max(partial[1], 1)
            epoch_losses.append(mean)
            partial = [0.0, 0]
            seconds = time.perf_counter() - epoch_started
            if main:
                log.write(kind="epoch", epoch=epoch, step=step, loss=mean, seconds=round(seconds, 3))
                save_checkpoint(last, state_dict(epoch + 1, 0))
                weights = {
                    "kind": "pretrain-weights",
                    "model_config": model_config.to_dict(),
                    "backbone": backbone.state_dict(),
                    "head": head.state_dict(),
                    "epoch": epoch + 1,
                    "sfreq": sfreq,
                }
                save_checkpoint(out / "checkpoints" / f"epoch-{epoch + 1:03d}.pt", weights)
                plot_loss_curves(log.read(), out / "loss.png")
            if stopping:
                break
    context.barrier()  # the checkpoints of rank 0 are written when any rank returns
    elapsed = time.perf_counter() - started
    return PretrainResult(
        out=out,
        checkpoint=last,
        epoch_losses=epoch_losses,
        steps=step,
        samples_per_second=samples / elapsed if elapsed > 0 else float("nan"),
        parameters=count_parameters(backbone, exclude_embedding=True),
    )


def loss_trend(epoch_losses: list[float]) -> float:
    """Relative change of the mean loss from the first to the last epoch (negative: it fell)."""
    if len(epoch_losses) < 2 or not np.isfinite(epoch_losses[0]) or epoch_losses[0] == 0:
        return float("nan")
    return (epoch_losses[-1] - epoch_losses[0]) / abs(epoch_losses[0])
