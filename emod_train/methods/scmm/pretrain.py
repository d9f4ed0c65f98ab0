"""SCMM pretraining on differential-entropy features of a store (``emod-train pretrain --method scmm``).

:func:`pretrain_scmm` computes (and caches) the DE features of the chosen windows
(:func:`emod_train.data.features.de_features`), min-max scales every feature column per subject,
and trains :class:`emod_train.methods.scmm.model.SCMM` with Adam (lr 5e-4, weight decay 3e-4, batch 256,
200 epochs by default, as in the paper). Self-supervised: no label is read.

Outputs in ``out``::

    config.json              the run's configuration, channels, windows and environment
    metrics.jsonl            one record per step (kind "step") and per epoch (kind "epoch")
    last.pt                  full state (model, optimiser, epoch); --resume continues from it
    checkpoints/epoch-NNN.pt encoder weights after each epoch (use one as a fine-tuning init)
    loss.png                 loss curves

A checkpoint's ``backbone`` entry holds the :class:`~emod_train.methods.scmm.model.SCMMEncoder` weights and its
``model_config`` the method (``"scmm"``), the channel names and the bands, so a fine-tuning run
feeds the same channels in the same order.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emod_train.data.features import BANDS, de_features, min_max_scale
from emod_train.data.windows import ShuffledBatchSampler, window_table
from emod_train.engine.plots import plot_loss_curves
from emod_train.engine.runtime import (
    JsonlLog,
    checked_run_folder,
    environment,
    load_checkpoint,
    optimizer_step,
    progress_bar,
    resolve_device,
    resume_state,
    save_checkpoint,
    set_learning_rate,
    tune_cpu_allocator,
)
from emod_train.errors import CheckpointError, DataError
from emod_train.methods.emod.model import count_parameters
from emod_train.methods.scmm.model import MASK_RATIO, MASK_THRESHOLD, SCMM, SIMILARITIES, SCMMEncoder

RESUME_FIELDS = ("corpora", "sessions", "channels", "window", "batch_size", "a", "sigma", "t", "seed")


@dataclass
class SCMMPretrainConfig:
    """Settings of an SCMM pretraining run (defaults: the paper's; a, sigma, t of SEED->SEED-IV).

    Parameters
    ----------
    store : str
        Store path.
    out : str
        Output folder.
    corpora : list of str, optional
        Source corpora (all of the store by default); their windows must share ``channels``.
    sessions : list of int, optional
        Keep only these sessions (the cross-corpus protocol uses session 1).
    channels : list of str, optional
        Channels fed to the encoder, in this order (default: those every selected recording holds,
        see :func:`emod_train.data.windows.shared_channels`).
    window : float
        Seconds per DE sample (1.0: one feature vector per second, as SEED's released features).
    epochs, batch_size : int
        200 and 256.
    lr, weight_decay : float
        Adam, 5e-4 and 3e-4.
    schedule : {"constant", "cosine"}
        Constant rate (the paper's text), or a cosine decay to 0 over all steps (the released code).
    similarity : {"cosine", "dot"}
        Projection similarity: cosine (the paper) or raw dot product (the released code).
    a, sigma, t : float
        Soft-weight scale, sharpness and temperature (0.75, 0.5, 0.5).
    ratio, threshold : float
        Hybrid masking ratio and channel-masking threshold (0.5, 0.1).
    grad_clip : float, optional
        Gradient norm clipping (None: off, as in the paper).
    seed : int
        Seed of the initialisation, batches and masks.
    device : str
        ``auto``, ``cpu``, ``cuda``, ...
    cache_dir : str, optional
        Feature cache root (default ``$EMOD_TRAIN_CACHE`` or ``~/.cache/emod_train``).
    resume : bool
        Continue the run in ``out`` from its ``last.pt`` (at the last finished epoch).
    """

    store: str
    out: str
    corpora: list[str] | None = None
    sessions: list[int] | None = None
    channels: list[str] | None = None
    window: float = 1.0
    epochs: int = 200
    batch_size: int = 256
    lr: float = 5e-4
    weight_decay: float = 3e-4
    schedule: str = "constant"
    similarity: str = "cosine"
    a: float = 0.75
    sigma: float = 0.5
    t: float = 0.5
    ratio: float = MASK_RATIO
    threshold: float = MASK_THRESHOLD
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"
    cache_dir: str | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2")
        if min(self.a, self.sigma, self.t, self.window) <= 0:
            raise ValueError("a, sigma, t and window must be positive")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine' (got {self.schedule!r})")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {', '.join(SIMILARITIES)} (got {self.similarity!r})")

    def to_dict(self) -> dict:
        """Plain-value form (written to config.json and checkpoints)."""
        return dataclasses.asdict(self)


@dataclass
class SCMMPretrainResult:
    """What an SCMM pretraining run produced.

    Attributes
    ----------
    out : pathlib.Path
    checkpoint : pathlib.Path
        ``last.pt``.
    epoch_losses : list of float
        Mean total loss per epoch (resumed parts included).
    channels : list of str
        The channels fed to the encoder.
    windows : int
        DE samples trained on.
    parameters : int
        Encoder parameters.
    """

    out: Path
    checkpoint: Path
    epoch_losses: list[float]
    channels: list[str]
    windows: int
    parameters: int


def scaled_features(store, windows, channels: list[str], cache_dir=None, progress=None) -> np.ndarray:
    """DE features of ``windows`` on ``channels``, min-max scaled per subject and feature column.

    Parameters
    ----------
    store : emod_data.store.Store
    windows : pandas.DataFrame
        Window table (``corpus`` and ``subject`` columns group the scaling).
    channels : list of str
    cache_dir, progress
        As in :func:`emod_train.data.features.de_features`.

    Returns
    -------
    numpy.ndarray
        (n_windows, n_channels, 5) float32 in [0, 1].
    """
    features = de_features(store, windows, channels, cache_dir=cache_dir, progress=progress)
    groups = (windows["corpus"].astype(str) + "/" + windows["subject"].astype(str)).to_numpy()
    return min_max_scale(np.asarray(features), groups=groups)


def source_windows(store, window: float, corpora, sessions):
    """The window table of the source corpora (and sessions) of a pretraining run.

    Raises
    ------
    DataError
        No window left after the session filter.
    """
    table = window_table(store, window, None, corpora)
    if sessions is not None:
        table = table[table["session"].isin(sessions)].reset_index(drop=True)
        if not len(table):
            raise DataError(f"{store.path}: no {window:g} s window in session(s) {', '.join(map(str, sessions))}")
    return table


def encoder_from_checkpoint(path: str | Path) -> tuple[SCMMEncoder, dict]:
    """The pretrained :class:`~emod_train.methods.scmm.model.SCMMEncoder` of an SCMM checkpoint and its
    ``model_config``.

    Raises
    ------
    CheckpointError
        Not an SCMM checkpoint, or weights that do not fit.
    """
    state = load_checkpoint(path)
    config = state["model_config"]
    if config.get("method") != "scmm":
        raise CheckpointError(f"{path}: not an SCMM checkpoint (method {config.get('method', 'emod')!r})")
    encoder = SCMMEncoder(len(config["channels"]), n_bands=len(config["bands"]))
    try:
        encoder.load_state_dict(state["backbone"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: encoder weights do not fit ({str(exc).splitlines()[0]})") from None
    return encoder, config


def pretrain_scmm(config: SCMMPretrainConfig, progress: bool = True) -> SCMMPretrainResult:
    """Pretrain SCMM on the DE features of a store's windows.

    Parameters
    ----------
    config : SCMMPretrainConfig
    progress : bool
        Show rich progress bars on standard error.

    Returns
    -------
    SCMMPretrainResult

    Raises
    ------
    DataError
        No window, or recordings lacking a channel.
    CheckpointError
        ``resume`` without a checkpoint or with other settings; an existing run without ``resume``.
    """
    from emod_data.store import open_store
    from emod_train.data.windows import shared_channels

    cfg = config
    out = Path(cfg.out)
    last = checked_run_folder(out, cfg.resume)
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        tune_cpu_allocator()
    store = open_store(cfg.store)
    windows = source_windows(store, cfg.window, cfg.corpora, cfg.sessions)
    channels = list(cfg.channels) if cfg.channels else shared_channels(store, sorted(windows["corpus"].unique()))
    with progress_bar(progress) as bar:
        task = bar.add_task("DE features", total=None, info="") if bar is not None else None

        def advance(done: int, total: int) -> None:
            if bar is not None:
                bar.update(task, completed=done, total=total)

        x = torch.from_numpy(scaled_features(store, windows, channels, cfg.cache_dir, advance))
    n = len(x)
    if n < 2:
        raise DataError(f"{store.path}: {n} window(s); SCMM needs at least 2")
    model_config = {
        "method": "scmm",
        "channels": channels,
        "bands": [list(b) for b in BANDS],
        "window": cfg.window,
        "sfreq": float(store.processing.sfreq),
    }
    torch.manual_seed(cfg.seed)
    model = SCMM(len(channels)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    batch_size = min(cfg.batch_size, n)
    sampler = ShuffledBatchSampler(n, batch_size, cfg.seed, drop_last=n % batch_size == 1)
    log = JsonlLog(out / "metrics.jsonl", truncate=not cfg.resume)
    start_epoch, step, epoch_losses = 0, 0, []
    if cfg.resume:
        state = resume_state(last, cfg.to_dict(), RESUME_FIELDS, device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, step, epoch_losses = state["epoch"], state["step"], list(state["epoch_losses"])
        log.truncate_after("step", step)
    out.mkdir(parents=True, exist_ok=True)
    run_info = {
        "method": "scmm",
        "config": cfg.to_dict(),
        "model_config": model_config,
        "windows": n,
        "corpora": sorted(windows["corpus"].unique()),
        "subjects": int(windows.groupby(["corpus", "subject"]).ngroups),
        "batch_size": batch_size,
        "steps_per_epoch": sampler.num_batches,
        "parameters_encoder": count_parameters(model.encoder),
        "parameters_total": count_parameters(model),
        "store_processing_hash": store.processing.hash,
        "device": str(device),
        "environment": environment(),
    }
    (out / "config.json").write_text(json.dumps(run_info, indent=1, default=str))
    x = x.to(device)
    started = time.perf_counter()
    with progress_bar(progress) as bar:
        task = bar.add_task("pretrain scmm", total=cfg.epochs, completed=start_epoch, info="") if bar else None
        for epoch in range(start_epoch, cfg.epochs):
            sampler.set_epoch(epoch)
            model.train()
            totals = []
            for indices in sampler:
                generator = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + step)
                if cfg.schedule == "cosine":
                    set_learning_rate(optimizer, step, cfg.epochs * sampler.num_batches)
                parts = model.losses(
                    x[torch.as_tensor(indices, device=device)], cfg.a, cfg.sigma, cfg.t, cfg.ratio, cfg.threshold,
                    generator, cfg.similarity,
                )  # fmt: skip
                optimizer_step(parts["loss"], optimizer, scaler, model.parameters(), cfg.grad_clip)
                step += 1
                values = {k: float(v.detach()) for k, v in parts.items()}
                totals.append(values["loss"])
                log.write(kind="step", epoch=epoch, step=step, **values, batch=len(indices))
            mean = float(np.mean(totals))
            epoch_losses.append(mean)
            log.write(kind="epoch", epoch=epoch, step=step, loss=mean)
            save_checkpoint(
                last,
                {
                    "kind": "scmm-pretrain", "model_config": model_config, "backbone": model.encoder.state_dict(),
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                    "step": step, "epoch_losses": epoch_losses, "config": cfg.to_dict(),
                },
            )  # fmt: skip
            weights = {"kind": "scmm-weights", "model_config": model_config, "backbone": model.encoder.state_dict()}
            save_checkpoint(out / "checkpoints" / f"epoch-{epoch + 1:03d}.pt", weights)
            if bar is not None:
                bar.update(task, advance=1, info=f"loss {mean:.4f}")
    records = log.read()
    plot_loss_curves(records, out / "loss.png", title="SCMM pretraining")
    log.write(kind="summary", seconds=round(time.perf_counter() - started, 3), epochs=len(epoch_losses))
    return SCMMPretrainResult(
        out=out,
        checkpoint=last,
        epoch_losses=epoch_losses,
        channels=channels,
        windows=n,
        parameters=count_parameters(model.encoder),
    )
