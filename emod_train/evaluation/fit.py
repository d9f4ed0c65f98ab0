"""The supervised fit loop: train, select the epoch on validation, restore the selected weights.

One loop serves every supervised run of the toolkit: fine-tuning on a task
(:func:`emod_train.evaluation.finetune.finetune`, and so the benchmark) and the per-subject
fine-tuning of the cross-corpus protocol (:func:`emod_train.evaluation.crosscorpus.run_cross_corpus`).
What differs between them (how batches are drawn, the loss, the validation metric, the
learning-rate schedule) is passed in; the order of operations, and so every result for a given
seed, is the one both loops had before they shared this one. The test part is never seen here:
the caller evaluates the returned model on it once.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from emod_train.engine.optim import optimizer_step
from emod_train.engine.runtime import grad_scaler


@dataclass
class Fitted:
    """What :func:`fit` selected.

    Attributes
    ----------
    best_epoch : int
        1-based epoch whose weights the model holds now (the last epoch when nothing was validated).
    best_val : dict or None
        Validation metrics of that epoch (None when nothing was validated).
    train_losses : list of float
        Mean training loss of each epoch (NaN for an epoch without a batch).
    """

    best_epoch: int
    best_val: dict | None
    train_losses: list[float] = field(default_factory=list)


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Callable[[int], Iterable],
    loss_of: Callable[[torch.nn.Module, object], torch.Tensor],
    validate: Callable[[torch.nn.Module], dict | None],
    *,
    epochs: int,
    score: str,
    scaler: torch.amp.GradScaler | None = None,
    grad_clip: float | None = None,
    schedule: Callable[[torch.optim.Optimizer, int], object] | None = None,
    step_seed: Callable[[int], int] | None = None,
    on_epoch: Callable[[int, float, dict | None, dict | None], None] | None = None,
) -> Fitted:
    """Train ``model`` for ``epochs`` epochs and keep the weights of its best validation epoch.

    Every epoch: the model goes to training mode, the head's batch statistics are reset when it
    has ``reset_batch_statistics`` (evaluation then uses this epoch's statistics), every batch of
    ``batches(epoch)`` takes one optimiser step, then ``validate(model)`` scores the epoch. The
    epoch with the highest ``score`` wins (the earliest on ties); its weights are loaded back at
    the end.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier, already on its device.
    optimizer : torch.optim.Optimizer
    batches : callable
        ``batches(epoch)`` -> the training batches of that epoch (0-based).
    loss_of : callable
        ``loss_of(model, batch)`` -> the scalar loss of a batch.
    validate : callable
        ``validate(model)`` -> validation metrics (a dict holding ``score``), or None when there
        is no validation data (then the last epoch is kept).
    epochs : int
        Epochs to train.
    score : str
        Key of the validation metrics that selects the epoch (higher is better).
    scaler : torch.amp.GradScaler, optional
        From :func:`emod_train.engine.runtime.grad_scaler` (default: an inactive one).
    grad_clip : float, optional
        Gradient norm clipping (None: off).
    schedule : callable, optional
        ``schedule(optimizer, step)`` sets the learning rates before a step (None: constant).
    step_seed : callable, optional
        ``step_seed(step)`` -> the torch seed set before a step, so dropout draws do not depend on
        what ran before (None: not reseeded).
    on_epoch : callable, optional
        ``on_epoch(epoch, train_loss, val, best_val)`` after every epoch (logs, progress bars);
        ``epoch`` is 1-based.

    Returns
    -------
    Fitted
    """
    scaler = scaler if scaler is not None else grad_scaler(torch.device("cpu"), False)
    reset_head = getattr(getattr(model, "head", None), "reset_batch_statistics", None)
    best = {"score": -math.inf, "epoch": epochs, "state": None, "val": None}
    train_losses: list[float] = []
    step = 0
    for epoch in range(epochs):
        model.train()
        if reset_head is not None:
            reset_head()
        losses = []
        for batch in batches(epoch):
            if schedule is not None:
                schedule(optimizer, step)
            if step_seed is not None:
                torch.manual_seed(step_seed(step))
            loss = loss_of(model, batch)
            optimizer_step(loss, optimizer, scaler, model.parameters(), grad_clip)
            losses.append(float(loss.detach()))
            step += 1
        train_losses.append(float(np.mean(losses)) if losses else float("nan"))
        val = validate(model)
        if val is not None and val[score] > best["score"]:
            best = {"score": val[score], "epoch": epoch + 1, "state": copy.deepcopy(model.state_dict()), "val": val}
        if on_epoch is not None:
            on_epoch(epoch + 1, train_losses[-1], val, best["val"])
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return Fitted(best_epoch=best["epoch"], best_val=best["val"], train_losses=train_losses)
