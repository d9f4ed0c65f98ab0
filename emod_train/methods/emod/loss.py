"""EMOD's soft-weighted supervised contrastive loss and its ablations.

For unit-norm embeddings z and a weight w_ij >= 0 between every pair of samples,

    L = mean over anchors i of  - (1 / sum_{j != i} w_ij) * sum_{j != i} w_ij * log p_ij,
    p_ij = exp(z_i . z_j / t) / sum_{k != i} exp(z_i . z_k / t).

The weights decide the variant:

- ``"soft"`` (EMOD): ``w_ij = max(0, 1 - d_ij / d_max)`` with d_ij the Euclidean distance of the two
  samples' valence-arousal points; ``d_max = 5`` by default (:data:`D_MAX_PAPER`), the released
  code's ``sqrt(182) ~ 13.49`` as an option (:data:`D_MAX_CODE`);
- ``"hard"`` (SupCon): ``w_ij = 1`` for the same label, else 0; without labels, the same V-A point
  (``hard_positives="exact"``, the default) or the same integer V-A cell (``"cells"``: both
  coordinates floored, as EMOD's released code floors its labels; with continuous ratings such as
  DEAP's, exact equality leaves almost no positive pair);
- ``"instance"``: ``w_ij = 1`` only between two views of the same sample (SimCLR's NT-Xent).

Anchors whose weights sum to (about) zero have nothing to pull towards: they are skipped
(``floor=None``, the paper's formula), or, as in the released code, a weight sum below
:data:`FLOOR_BELOW` (1e-6) is replaced by ``floor`` (1.0 there) and the anchor counts as zero;
every other sum is used as it is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

D_MAX_PAPER = 5.0
"""Default distance at which the soft weight reaches 0 (the paper)."""

D_MAX_CODE = math.sqrt(182.0)
"""The released code's d_max, sqrt(182) ~ 13.49."""

TEMPERATURE = 0.07
"""Default temperature t."""

FLOOR_BELOW = 1e-6
"""Weight sums below this are replaced by ``floor`` (the released code's rule)."""

HARD_POSITIVES = ("exact", "cells")
"""Hard-label positives without labels: the same V-A point, or the same integer V-A cell."""

LOSS_MODES = ("soft", "hard", "instance")
"""Weighting schemes: EMOD's soft weights, hard-label SupCon, instance-only contrast."""

_EPS = 1e-8


def soft_weights(va: torch.Tensor, d_max: float = D_MAX_PAPER) -> torch.Tensor:
    """Soft positive weights from valence-arousal distances.

    Parameters
    ----------
    va : torch.Tensor
        (B, 2) valence and arousal.
    d_max : float
        Distance at which the weight reaches 0.

    Returns
    -------
    torch.Tensor
        (B, B) ``max(0, 1 - d_ij / d_max)`` with a zero diagonal; pairs with a missing (NaN)
        coordinate get 0.
    """
    if d_max <= 0:
        raise ValueError(f"d_max must be positive (got {d_max})")
    va = va.float()
    distance = torch.cdist(va.nan_to_num(0.0).unsqueeze(0), va.nan_to_num(0.0).unsqueeze(0)).squeeze(0)
    weights = (1.0 - distance / d_max).clamp(min=0.0)
    known = torch.isfinite(va).all(dim=1)
    weights = weights * (known[:, None] & known[None, :])
    return weights.fill_diagonal_(0.0)


def label_weights(labels: torch.Tensor) -> torch.Tensor:
    """Hard weights: 1 between samples with the same label, 0 otherwise and on the diagonal.

    Parameters
    ----------
    labels : torch.Tensor
        (B,) integer labels (instance ids for instance-only contrast); negative labels match nothing.
    """
    same = (labels[:, None] == labels[None, :]) & (labels[:, None] >= 0)
    return same.float().fill_diagonal_(0.0)


def va_labels(va: torch.Tensor, cells: bool = False) -> torch.Tensor:
    """Integer ids of the distinct valence-arousal points of a batch (-1 where unknown).

    Parameters
    ----------
    va : torch.Tensor
        (B, 2) valence and arousal.
    cells : bool
        Floor both coordinates first, so points in the same integer cell share an id.
    """
    known = torch.isfinite(va).all(dim=1)
    points = va.nan_to_num(0.0)
    if cells:
        points = torch.floor(points)
    _, ids = torch.unique(points, dim=0, return_inverse=True)
    return torch.where(known, ids, torch.full_like(ids, -1))


def weighted_contrastive_loss(
    z: torch.Tensor, weights: torch.Tensor, temperature: float = TEMPERATURE, floor: float | None = None
) -> torch.Tensor:
    """The weighted contrastive loss for given pair weights (see the module docstring).

    Parameters
    ----------
    z : torch.Tensor
        (B, D) embeddings, L2-normalised.
    weights : torch.Tensor
        (B, B) non-negative pair weights; the diagonal is ignored.
    temperature : float
        t.
    floor : float, optional
        None skips anchors whose weights sum to ~0; a number replaces weight sums below
        :data:`FLOOR_BELOW` by it (the released code's rule) and keeps all anchors in the mean.

    Returns
    -------
    torch.Tensor
        Scalar loss; 0 (still attached to ``z``) when no anchor counts, e.g. a single sample.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive (got {temperature})")
    n = z.shape[0]
    if n < 2:
        return z.sum() * 0.0
    z = z.float()
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    log_prob = F.log_softmax(logits, dim=1).masked_fill(eye, 0.0)
    weights = weights.float().masked_fill(eye, 0.0)
    total = weights.sum(dim=1)
    numerator = -(weights * log_prob).sum(dim=1)
    if floor is None:
        valid = total > _EPS
        if not bool(valid.any()):
            return z.sum() * 0.0
        return (numerator[valid] / total[valid]).mean()
    return (numerator / torch.where(total < FLOOR_BELOW, torch.full_like(total, floor), total)).mean()


def emod_loss(
    z: torch.Tensor,
    va: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    mode: str = "soft",
    d_max: float = D_MAX_PAPER,
    temperature: float = TEMPERATURE,
    floor: float | None = None,
    hard_positives: str = "exact",
) -> torch.Tensor:
    """EMOD's contrastive loss or one of its ablations.

    Parameters
    ----------
    z : torch.Tensor
        (B, D) L2-normalised embeddings.
    va : torch.Tensor, optional
        (B, 2) valence-arousal points; needed for ``"soft"`` (and for ``"hard"`` without labels).
    labels : torch.Tensor, optional
        (B,) labels for ``"hard"``; instance ids (two views share one id) for ``"instance"``.
    mode : {"soft", "hard", "instance"}
        Weighting scheme.
    d_max : float
        Soft-weight range (5.0; :data:`D_MAX_CODE` for the released code's).
    temperature : float
        Temperature t (0.07).
    floor : float, optional
        See :func:`weighted_contrastive_loss`.
    hard_positives : {"exact", "cells"}
        ``"hard"`` without labels: positives share the exact V-A point, or its integer cell.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    if mode == "soft":
        if va is None:
            raise ValueError("the soft loss needs valence-arousal points (va)")
        weights = soft_weights(va, d_max)
    elif mode == "hard":
        if labels is None:
            if va is None:
                raise ValueError("the hard-label loss needs labels or valence-arousal points")
            if hard_positives not in HARD_POSITIVES:
                raise ValueError(f"hard_positives must be one of {HARD_POSITIVES} (got {hard_positives!r})")
            labels = va_labels(va, cells=hard_positives == "cells")
        weights = label_weights(labels)
    elif mode == "instance":
        if labels is None:
            raise ValueError("the instance loss needs instance ids (labels): two views share an id")
        weights = label_weights(labels)
    else:
        raise ValueError(f"mode must be one of {LOSS_MODES} (got {mode!r})")
    return weighted_contrastive_loss(z, weights.to(z.device), temperature, floor)
