"""Optimiser steps and learning-rate schedules shared by every training loop."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def cosine_lr(base: float, step: int, total: int, minimum: float = 0.0, warmup: int = 0) -> float:
    """Learning rate of a cosine schedule from ``base`` down to ``minimum`` over ``total`` steps.

    Parameters
    ----------
    base : float
        Peak learning rate.
    step : int
        Current step (0-based).
    total : int
        Steps of the whole schedule.
    minimum : float
        Final learning rate.
    warmup : int
        Linear warm-up steps from 0 to ``base`` (0: none).
    """
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, max(0.0, (step - warmup) / span))
    return minimum + (base - minimum) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_learning_rate(
    optimizer: torch.optim.Optimizer, step: int, total: int, minimum: float = 0.0, warmup: int = 0
) -> float:
    """Set every parameter group's learning rate from the cosine schedule of :func:`cosine_lr`.

    A group's peak rate is its ``base_lr`` entry when present, else its ``initial_lr``, else the
    rate it was created with (remembered as ``base_lr`` on the first call).

    Returns
    -------
    float
        The rate of the last group.
    """
    rate = 0.0
    for group in optimizer.param_groups:
        group.setdefault("base_lr", group.get("initial_lr", group["lr"]))
        rate = group["lr"] = cosine_lr(group["base_lr"], step, total, minimum, warmup)
    return rate


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    parameters,
    clip: float | None,
    reduce: Callable[[], None] | None = None,
) -> float:
    """Backward pass, gradient clipping and one optimiser step (with gradient scaling on CUDA).

    Parameters
    ----------
    loss : torch.Tensor
        Scalar loss of the batch.
    optimizer : torch.optim.Optimizer
    scaler : torch.amp.GradScaler
        From :func:`grad_scaler` (inactive on the CPU).
    parameters : iterable of torch.Tensor
        Parameters whose gradient norm is clipped.
    clip : float or None
        Maximum gradient norm (None: no clipping).
    reduce : callable, optional
        Called between the backward pass and clipping (data-parallel runs all-reduce the
        gradients there, see :mod:`emod_train.engine.distributed`).

    Returns
    -------
    float
        The gradient norm before clipping (NaN when not clipped).
    """
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if reduce is not None:
        reduce()
    norm = float("nan")
    if clip is not None:
        scaler.unscale_(optimizer)
        norm = float(torch.nn.utils.clip_grad_norm_(parameters, clip))
    scaler.step(optimizer)
    scaler.update()
    return norm
