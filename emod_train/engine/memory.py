"""Activation memory of the EMOD backbone, and activation checkpointing sized by a memory budget.

The encoder's convolution blocks keep nothing of full resolution for the backward pass
(:mod:`emod_train.methods.emod.conv_tokens`), so what a training step stores per window is mostly the
Spatial-Temporal Transformer's activations. :func:`saved_bytes_per_window` measures them: it runs
one window through the backbone and adds up the tensors autograd saves for the backward pass
(:func:`torch.autograd.graph.saved_tensors_hooks`), once as is and once with every transformer layer
checkpointed (recomputed in the backward pass, keeping only its input). :func:`plan_checkpointing`
turns that into a decision for a batch and a budget (``--max-memory``), and
:func:`apply_checkpointing` sets it on the model. A checkpointed transformer also runs the batch in
parts of a few windows (:attr:`emod_train.methods.emod.model.SpatialTemporalTransformer.chunk`,
:func:`recompute_chunk`), so the backward pass recomputes one part's layer at a time and the memory a
step needs grows per window only by the layer inputs it keeps. Checkpointing changes time and memory
only: a checkpointed layer is recomputed with the same random state, so results are unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from emod_train.errors import MemoryBudgetError
from emod_train.methods.emod.model import EMODBackbone

GIB = 1 << 30


def _size(n_bytes: float) -> str:
    """Bytes as GiB, or MiB below 1 GiB."""
    return f"{n_bytes / GIB:.1f} GiB" if n_bytes >= GIB else f"{n_bytes / (1 << 20):.0f} MiB"


SAFETY = 2.2
"""Factor from the saved activation bytes of a step (or of one recomputed layer) to its peak memory growth:
gradients in flight, attention temporaries of the backward pass and allocator slack come on top of what
autograd saves. Calibrated with ``benchmarks/train_step.py`` (10 s, 62-channel windows on the CPU)."""

CHECKPOINTED_SAFETY = 7.0
"""The same factor for the bytes a checkpointed step keeps per window (the layer inputs, the encoder's
saved tensors): each window's token gradients, the encoder's outputs and the loss's inputs, of about the
same size, come on top, and the C allocator's fragmentation varies from run to run. Calibrated with
``benchmarks/train_step.py --memory-only --memory-batches 6,16`` (10 s, 62-channel windows on the CPU, parts
of 5 windows: 47, 50 and 83 MB measured peak RSS growth per window in three runs, over 12 MB kept: 4.0
to 7.0; the largest is used; docs/training.md)."""

RECOMPUTE_TOKENS = 1 << 14
"""Tokens a checkpointed transformer runs at once (:func:`recompute_chunk`): 16384, five 10 s windows of
62 channels; large enough that the layers' matrix products keep their speed."""


@dataclass(frozen=True)
class ActivationMemory:
    """Bytes autograd keeps per window of one shape.

    Attributes
    ----------
    full : int
        Without checkpointing.
    checkpointed : int
        With every transformer layer checkpointed.
    layer : int
        Of one transformer layer (recomputed, for the whole batch at once, in the backward pass).
    """

    full: int
    checkpointed: int
    layer: int


@dataclass(frozen=True)
class CheckpointPlan:
    """A checkpointing decision for one batch.

    Attributes
    ----------
    checkpoint : bool
        Checkpoint the transformer layers.
    windows : int
        Windows per step (views included).
    budget : int
        Memory budget in bytes.
    estimate : int
        Estimated peak of the step in bytes (activations with margin, plus parameters and optimiser state).
    fits : bool
        ``estimate <= budget``.
    chunk : int or None
        Windows the checkpointed transformer recomputes at once (None: the whole batch).
    """

    checkpoint: bool
    windows: int
    budget: int
    estimate: int
    fits: bool
    chunk: int | None = None

    def describe(self) -> str:
        """One line for logs."""
        mode = "checkpointing transformer layers" if self.checkpoint else "no checkpointing"
        if self.checkpoint and self.chunk is not None:
            mode += f" ({self.chunk} windows recomputed at once)"
        return (
            f"{mode}: {self.windows} windows per step, estimated peak {_size(self.estimate)} "
            f"of a {_size(self.budget)} budget" + ("" if self.fits else " (does not fit)")
        )


def _saved_bytes(module: nn.Module, *inputs) -> int:
    """Bytes of the distinct storages autograd saves in one forward of ``module`` (its parameters excluded)."""
    parameters = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(*inputs)
    return sum(seen.values())


def saved_bytes_per_window(model: EMODBackbone, channels: int, samples: int, sfreq: float) -> ActivationMemory:
    """Measure the activation bytes a training step keeps per window of ``channels`` x ``samples``.

    Parameters
    ----------
    model : EMODBackbone
        The backbone (its device and configuration are used; its state and the random state are left as found).
    channels, samples : int
        Window shape.
    sfreq : float
        Sampling rate in Hz.

    Returns
    -------
    ActivationMemory
    """
    device = next(model.parameters()).device
    x = torch.linspace(-1.0, 1.0, channels * samples, device=device).view(1, channels, samples).sin()  # no random draw
    ids = torch.ones(channels, dtype=torch.long, device=device)
    was_training, was_checkpoint = model.training, model.transformer.checkpoint
    model.train()
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.enable_grad():  # leaves the training's random state as is
            model.transformer.checkpoint = False
            full = _saved_bytes(model, x, ids, sfreq)
            model.transformer.checkpoint = True
            checkpointed = _saved_bytes(model, x, ids, sfreq)
            tokens = model.encoder(x, ids, sfreq).detach()
            layer = _saved_bytes(model.transformer.layers[0], tokens.requires_grad_(True))
    finally:
        model.train(was_training)
        model.transformer.checkpoint = was_checkpoint
    return ActivationMemory(full=full, checkpointed=checkpointed, layer=layer)


def available_memory(device: torch.device) -> int:
    """Bytes a step may use on ``device``: free CUDA memory, or the system's available memory on the CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def recompute_chunk(channels: int, samples: int, sfreq: float, config=None) -> int:
    """Windows a checkpointed transformer runs at once: :data:`RECOMPUTE_TOKENS` tokens, at least one window.

    Parameters
    ----------
    channels, samples : int
        Window shape.
    sfreq : float
        Sampling rate in Hz.
    config : EMODConfig, optional
        Backbone configuration (its tokens per second); the paper's by default.
    """
    from emod_train.methods.emod.model import EMODConfig, n_tokens

    config = config or EMODConfig()
    return max(1, RECOMPUTE_TOKENS // (channels * n_tokens(samples, sfreq, config.tokens_per_second)))


def step_estimate(
    activations: ActivationMemory, windows: int, checkpoint: bool, chunk: int | None = None, fixed: int = 0
) -> int:
    """Estimated peak memory growth (bytes) of a training step of ``windows`` windows.

    Parameters
    ----------
    activations : ActivationMemory
        From :func:`saved_bytes_per_window`.
    windows : int
        Windows per step.
    checkpoint : bool
        With transformer checkpointing.
    chunk : int, optional
        Windows recomputed at once when checkpointing (None: the whole batch).
    fixed : int
        Bytes independent of the batch (parameters, gradients, optimiser state).

    Returns
    -------
    int
        Without checkpointing ``SAFETY x windows x full``; with it ``CHECKPOINTED_SAFETY x windows x kept``
        plus ``SAFETY x chunk x layer`` (one part's layer recomputed in the backward pass); plus ``fixed``.
    """
    if not checkpoint:
        return int(SAFETY * windows * activations.full) + fixed
    part = windows if chunk is None else min(chunk, windows)
    return int(CHECKPOINTED_SAFETY * windows * activations.checkpointed + SAFETY * part * activations.layer) + fixed


def plan_checkpointing(
    model: EMODBackbone,
    windows: int,
    channels: int,
    samples: int,
    sfreq: float,
    max_memory: float | None = None,
    extra_parameters: int = 0,
) -> CheckpointPlan:
    """Decide whether a step of ``windows`` windows must checkpoint the transformer to fit a budget.

    Parameters
    ----------
    model : EMODBackbone
        The backbone to train.
    windows : int
        Windows forwarded per optimiser step (all views and sub-batches of this process).
    channels, samples : int
        The largest window shape of the run.
    sfreq : float
        Sampling rate in Hz.
    max_memory : float, optional
        Budget in GB (GiB); None: what :func:`available_memory` reports for the model's device.
    extra_parameters : int
        Parameters outside the backbone (heads), counted with their gradients and optimiser state.

    Returns
    -------
    CheckpointPlan
        Checkpointing only when the step would not fit otherwise; then recomputing
        :func:`recompute_chunk` windows at once, or one window when that does not fit either.
    """
    device = next(model.parameters()).device
    budget = int(max_memory * GIB) if max_memory is not None else available_memory(device)
    activations = saved_bytes_per_window(model, channels, samples, sfreq)
    n_parameters = sum(p.numel() for p in model.parameters()) + extra_parameters
    fixed = 4 * 4 * n_parameters  # weights, gradients and two optimiser moments in float32
    full = step_estimate(activations, windows, False, fixed=fixed)
    if full <= budget:
        return CheckpointPlan(False, windows, budget, full, True)
    chunk = min(windows, recompute_chunk(channels, samples, sfreq, model.config))
    reduced = step_estimate(activations, windows, True, chunk, fixed)
    if reduced > budget and chunk > 1:
        chunk = 1
        reduced = step_estimate(activations, windows, True, chunk, fixed)
    return CheckpointPlan(True, windows, budget, reduced, reduced <= budget, chunk)


def apply_checkpointing(model: EMODBackbone, plan: CheckpointPlan) -> None:
    """Set the plan's decision (checkpointing, windows recomputed at once) on the backbone's transformer."""
    model.transformer.checkpoint = plan.checkpoint
    model.transformer.chunk = plan.chunk if plan.checkpoint else None


def checkpoint_for_budget(
    model: EMODBackbone,
    windows: int,
    channels: int,
    samples: int,
    sfreq: float,
    max_memory: float | None,
    extra_parameters: int = 0,
) -> CheckpointPlan:
    """Plan checkpointing (:func:`plan_checkpointing`) and set it on ``model``; used by the training loops.

    Raises
    ------
    MemoryBudgetError
        An explicit ``max_memory`` that the step cannot fit even with checkpointing. (Without one,
        the plan checkpoints when needed and the step is attempted.)
    ValueError
        ``max_memory`` is not positive.
    """
    if max_memory is not None and max_memory <= 0:
        raise ValueError(f"max_memory must be positive (got {max_memory} GB)")
    plan = plan_checkpointing(model, windows, channels, samples, sfreq, max_memory, extra_parameters)
    if max_memory is not None and not plan.fits:
        raise MemoryBudgetError(
            f"a step of {windows} windows of {channels} x {samples} samples needs about {_size(plan.estimate)} "
            f"even with checkpointing; --max-memory is {max_memory:g} GB (lower the batch size or raise the budget)"
        )
    apply_checkpointing(model, plan)
    return plan


def largest_batch(
    activations: ActivationMemory, budget: int, checkpoint: bool, fixed: int = 0, chunk: int | None = None
) -> int:
    """The most windows whose estimated step (:func:`step_estimate`) fits ``budget`` bytes (0 when none does).

    Parameters
    ----------
    activations : ActivationMemory
        From :func:`saved_bytes_per_window`.
    budget : int
        Bytes.
    checkpoint : bool
        With transformer checkpointing.
    fixed : int
        Bytes independent of the batch (parameters, optimiser state).
    chunk : int, optional
        Windows recomputed at once when checkpointing (None: the whole batch).
    """
    if not checkpoint:
        return max(0, int((budget - fixed) // (SAFETY * activations.full)))
    if chunk is None:
        per_window = CHECKPOINTED_SAFETY * activations.checkpointed + SAFETY * activations.layer
        return max(0, int((budget - fixed) // per_window))
    room = budget - fixed - SAFETY * chunk * activations.layer
    return max(0, int(room // (CHECKPOINTED_SAFETY * activations.checkpointed)))


__all__ = [
    "ActivationMemory",
    "CheckpointPlan",
    "apply_checkpointing",
    "available_memory",
    "checkpoint_for_budget",
    "largest_batch",
    "plan_checkpointing",
    "recompute_chunk",
    "saved_bytes_per_window",
    "step_estimate",
]
