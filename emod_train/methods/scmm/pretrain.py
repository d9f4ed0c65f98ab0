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

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emod_train.data.features import BANDS, de_features, min_max_scale
from emod_train.data.samplers import ShuffledBatchSampler
from emod_train.data.windows import shared_channels, window_table
from emod_train.engine.checkpoints import RunFolder, load_checkpoint
from emod_train.engine.log import progress_bar
from emod_train.engine.optim import optimizer_step, set_learning_rate
from emod_train.engine.runtime import environment, grad_scaler, prepare_device
from emod_train.engine.settings import PretrainingResult, Settings
from emod_train.errors import CheckpointError, DataError
from emod_train.methods.emod.model import count_parameters
from emod_train.methods.scmm.model import MASK_RATIO, MASK_THRESHOLD, SCMM, SIMILARITIES, SCMMEncoder

RESUME_FIELDS = ("corpora", "sessions", "channels", "window", "batch_size", "a", "sigma", "t", "seed")


@dataclass
class SCMMPretrainConfig(Settings):
    """Settings of an SCMM pretraining run (defaults: the paper's; a, sigma, t of SEED->SEED-IV).

    Parameters
    ----------
    store, out : str
        The store's path and the run's output folder.
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


@dataclass
class SCMMPretrainResult(PretrainingResult):
    """What an SCMM pretraining run produced.

    Attributes
    ----------
    channels : list of str
        The channels fed to the encoder.
    windows : int
        DE samples trained on.
    parameters : int
        Encoder parameters.
    """

    channels: list[str]
    windows: int
    parameters: int

    def summary(self) -> str:
        """One line: DE samples, channels and the last epoch losses."""
        losses = ", ".join(f"{v:.4f}" for v in self.epoch_losses[-5:])
        return (
            f"pretrained SCMM on {self.windows} DE samples x {len(self.channels)} channels; "
            f"epoch losses (last 5): {losses}"
        )


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


def _features(cfg: SCMMPretrainConfig, store, windows, channels: list[str], progress: bool) -> torch.Tensor:
    """Scaled DE features of the source windows, with a progress bar while they are computed."""
    with progress_bar(progress) as bar:
        task = bar.add_task("DE features", total=None, info="") if bar is not None else None

        def advance(done: int, total: int) -> None:
            if bar is not None:
                bar.update(task, completed=done, total=total)

        return torch.from_numpy(scaled_features(store, windows, channels, cfg.cache_dir, advance))


def _step_losses(cfg: SCMMPretrainConfig, model, optimizer, scaler, x, indices, step: int, total: int) -> dict:
    """One optimiser step on the windows ``indices``; returns the loss terms as floats."""
    device = x.device
    # mask draws: a generator per step, so a resumed run draws the same masks
    generator = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + step)
    if cfg.schedule == "cosine":
        set_learning_rate(optimizer, step, total)
    parts = model.losses(
        x[torch.as_tensor(indices, device=device)], cfg.a, cfg.sigma, cfg.t, cfg.ratio, cfg.threshold, generator,
        cfg.similarity,
    )  # fmt: skip
    optimizer_step(parts["loss"], optimizer, scaler, model.parameters(), cfg.grad_clip)
    return {k: float(v.detach()) for k, v in parts.items()}


def _train(cfg: SCMMPretrainConfig, model, optimizer, scaler, sampler, x, run: RunFolder, position, model_config, bar):
    """The epochs of a run from ``position`` on (updated in place); ``last.pt`` and weights after each."""
    task = bar.add_task("pretrain scmm", total=cfg.epochs, completed=position["epoch"], info="") if bar else None
    for epoch in range(position["epoch"], cfg.epochs):
        sampler.set_epoch(epoch)
        model.train()
        totals = []
        for indices in sampler:
            values = _step_losses(cfg, model, optimizer, scaler, x, indices, position["step"],
                                  cfg.epochs * sampler.num_batches)  # fmt: skip
            position["step"] += 1
            totals.append(values["loss"])
            run.write(kind="step", epoch=epoch, step=position["step"], **values, batch=len(indices))
        mean = float(np.mean(totals))
        position["epoch_losses"].append(mean)
        run.write(kind="epoch", epoch=epoch, step=position["step"], loss=mean)
        state = {
            "kind": "scmm-pretrain", "model_config": model_config, "backbone": model.encoder.state_dict(),
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
            "step": position["step"], "epoch_losses": position["epoch_losses"], "config": cfg.to_dict(),
        }  # fmt: skip
        weights = {"kind": "scmm-weights", "model_config": model_config, "backbone": model.encoder.state_dict()}
        run.save(state, epoch + 1, weights)
        if bar is not None:
            bar.update(task, advance=1, info=f"loss {mean:.4f}")


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

    cfg = config
    run = RunFolder(cfg.out, cfg.resume, RESUME_FIELDS)
    device = prepare_device(cfg.device)
    store = open_store(cfg.store)
    windows = source_windows(store, cfg.window, cfg.corpora, cfg.sessions)
    channels = list(cfg.channels) if cfg.channels else shared_channels(store, sorted(windows["corpus"].unique()))
    x = _features(cfg, store, windows, channels, progress)
    n = len(x)
    if n < 2:
        raise DataError(f"{store.path}: {n} window(s); SCMM needs at least 2")
    model_config = {
        "method": "scmm", "channels": channels, "bands": [list(b) for b in BANDS], "window": cfg.window,
        "sfreq": float(store.processing.sfreq),
    }  # fmt: skip
    torch.manual_seed(cfg.seed)
    model = SCMM(len(channels)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = grad_scaler(device, False)  # SCMM trains in float32
    batch_size = min(cfg.batch_size, n)
    sampler = ShuffledBatchSampler(n, batch_size, cfg.seed, drop_last=n % batch_size == 1)
    position = {"epoch": 0, "step": 0, "epoch_losses": []}
    state = run.open(cfg.to_dict(), device)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        position = {"epoch": state["epoch"], "step": state["step"], "epoch_losses": list(state["epoch_losses"])}
    run.write_info({
        "method": "scmm", "config": cfg.to_dict(), "model_config": model_config, "windows": n,
        "corpora": sorted(windows["corpus"].unique()), "subjects": int(windows.groupby(["corpus", "subject"]).ngroups),
        "batch_size": batch_size, "steps_per_epoch": sampler.num_batches,
        "parameters_encoder": count_parameters(model.encoder), "parameters_total": count_parameters(model),
        "store_processing_hash": store.processing.hash, "device": str(device), "environment": environment(),
    })  # fmt: skip
    started = time.perf_counter()
    with progress_bar(progress) as bar:
        _train(cfg, model, optimizer, scaler, sampler, x.to(device), run, position, model_config, bar)
    run.plot(title="SCMM pretraining")
    run.write(kind="summary", seconds=round(time.perf_counter() - started, 3), epochs=len(position["epoch_losses"]))
    return SCMMPretrainResult(
        out=run.out,
        checkpoint=run.last,
        epoch_losses=position["epoch_losses"],
        channels=channels,
        windows=n,
        parameters=count_parameters(model.encoder),
    )
