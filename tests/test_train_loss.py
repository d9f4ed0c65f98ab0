"""The soft-weighted contrastive loss against a direct, slow implementation of the formula."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from emod_train.methods.emod.augment import augment
from emod_train.methods.emod.loss import D_MAX_CODE, emod_loss, label_weights, soft_weights, weighted_contrastive_loss


def slow_loss(z, va=None, labels=None, mode="soft", d_max=5.0, t=0.07, floor=None):
    """The formula of method.md, written with Python loops."""
    n = len(z)
    per_anchor, counted = [], 0
    for i in range(n):
        weights = []
        for j in range(n):
            if j == i:
                weights.append(0.0)
            elif mode == "soft":
                d = math.dist(va[i].tolist(), va[j].tolist())
                weights.append(max(0.0, 1.0 - d / d_max))
            else:
                weights.append(1.0 if int(labels[i]) == int(labels[j]) else 0.0)
        total = sum(weights)
        denominator = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(n) if k != i)
        numerator = 0.0
        for j in range(n):
            if j != i and weights[j] > 0:
                numerator += weights[j] * math.log(math.exp(float(z[i] @ z[j]) / t) / denominator)
        if floor is None:
            if total > 1e-8:
                per_anchor.append(-numerator / total)
                counted += 1
        else:
            per_anchor.append(-numerator / (floor if total < 1e-6 else total))
            counted += 1
    return sum(per_anchor) / counted if counted else 0.0


def _inputs(n, seed):
    g = torch.Generator().manual_seed(seed)
    z = F.normalize(torch.randn(n, 8, generator=g, dtype=torch.float64), dim=1)
    va = torch.randint(-4, 5, (n, 2), generator=g).double()
    labels = torch.randint(0, 3, (n,), generator=g)
    return z, va, labels


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("d_max", [5.0, D_MAX_CODE])
def test_soft_loss_matches_the_formula(seed, d_max):
    z, va, _ = _inputs(7, seed)
    fast = emod_loss(z, va=va, mode="soft", d_max=d_max)
    assert float(fast) == pytest.approx(slow_loss(z, va, d_max=d_max), rel=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_hard_and_instance_losses_match_the_formula(seed):
    z, _, labels = _inputs(8, seed)
    assert float(emod_loss(z, labels=labels, mode="hard")) == pytest.approx(
        slow_loss(z, labels=labels, mode="hard"), rel=1e-5
    )
    ids = torch.arange(4).repeat(2)  # two views per sample
    assert float(emod_loss(z, labels=ids, mode="instance")) == pytest.approx(
        slow_loss(z, labels=ids, mode="hard"), rel=1e-5
    )


def test_hard_loss_defaults_to_identical_va_points():
    z, va, _ = _inputs(9, 5)
    va = va[torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4])]
    _, ids = torch.unique(va, dim=0, return_inverse=True)
    assert float(emod_loss(z, va=va, mode="hard")) == pytest.approx(slow_loss(z, labels=ids, mode="hard"), rel=1e-5)


def test_floor_variant_matches_the_code():
    z, va, _ = _inputs(6, 11)
    va[0] = torch.tensor([4.0, 4.0])  # far from everyone with d_max 2: no positive
    fast = emod_loss(z, va=va, d_max=2.0, floor=1.0)
    assert float(fast) == pytest.approx(slow_loss(z, va, d_max=2.0, floor=1.0), rel=1e-5)


def test_floor_keeps_weight_sums_below_one():
    """Released rule: only sums below 1e-6 become 1; a sum of 0.3 divides as 0.3 (not clamped to 1)."""
    z, _, _ = _inputs(4, 5)
    weights = torch.tensor([[0, 0.3, 0, 0], [0.3, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.float64)
    eye = torch.eye(4, dtype=torch.bool)
    log_prob = torch.log_softmax((z.double() @ z.double().T / 0.07).masked_fill(eye, float("-inf")), 1)
    expected = (-(0.3 * log_prob[0, 1]) / 0.3 - (0.3 * log_prob[1, 0]) / 0.3) / 4
    got = weighted_contrastive_loss(z, weights, 0.07, floor=1.0)
    assert float(got) == pytest.approx(float(expected), rel=1e-5)


def test_hard_positives_from_integer_va_cells():
    """Continuous ratings: exact equality finds no positive pair, integer cells do."""
    z, _, _ = _inputs(4, 9)
    va = torch.tensor([[1.2, 2.7], [1.9, 2.1], [-3.5, 0.4], [-3.1, 0.9]])
    assert float(emod_loss(z, va=va, mode="hard").detach()) == 0.0
    cells = emod_loss(z, va=va, mode="hard", hard_positives="cells")
    labels = torch.tensor([0, 0, 1, 1])
    assert float(cells) == pytest.approx(float(emod_loss(z, labels=labels, mode="hard")), rel=1e-6) and float(cells) > 0
    with pytest.raises(ValueError, match="hard_positives"):
        emod_loss(z, va=va, mode="hard", hard_positives="nope")


def test_no_positives_gives_zero_and_a_gradient():
    z = F.normalize(torch.randn(4, 8), dim=1).requires_grad_(True)
    va = torch.tensor([[-4.0, -4.0], [4.0, 4.0], [-4.0, 4.0], [4.0, -4.0]])  # all pairs >= 8 apart
    loss = emod_loss(z, va=va, mode="soft", d_max=5.0)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))
    # hard labels all different: same
    assert float(emod_loss(z, labels=torch.arange(4), mode="hard").detach()) == 0.0


def test_identical_labels_make_every_pair_a_positive():
    z, _, _ = _inputs(5, 3)
    va = torch.zeros(5, 2, dtype=torch.float64)
    weights = soft_weights(va)
    assert torch.equal(weights, 1 - torch.eye(5, dtype=torch.float32))
    # with every weight 1 the loss is the mean of -log p_ij over all pairs
    logits = (z @ z.T / 0.07).masked_fill(torch.eye(5, dtype=torch.bool), float("-inf"))
    expected = -(F.log_softmax(logits, 1).masked_fill(torch.eye(5, dtype=torch.bool), 0).sum(1) / 4).mean()
    assert float(emod_loss(z, va=va)) == pytest.approx(float(expected), rel=1e-6)
    # all embeddings identical: every p_ij = 1 / (n - 1)
    same = F.normalize(torch.ones(5, 8), dim=1)
    assert float(emod_loss(same, va=va)) == pytest.approx(math.log(4), rel=1e-5)


def test_single_sample_and_empty_batch():
    z = F.normalize(torch.randn(1, 8), dim=1).requires_grad_(True)
    loss = emod_loss(z, va=torch.zeros(1, 2))
    assert float(loss.detach()) == 0.0 and loss.requires_grad
    loss.backward()
    assert float(weighted_contrastive_loss(torch.zeros(0, 8), torch.zeros(0, 0))) == 0.0


def test_weights():
    va = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [float("nan"), 0.0]])
    w = soft_weights(va, d_max=5.0)
    assert w[0, 1] == 0.0  # distance 5
    assert float(w[0, 2]) == pytest.approx(0.8)
    assert w[3].sum() == 0 and w[:, 3].sum() == 0  # unknown V-A: no positive
    assert torch.equal(w, w.T) and torch.all(torch.diag(w) == 0)
    assert D_MAX_CODE == pytest.approx(13.49, abs=0.01)
    h = label_weights(torch.tensor([1, 1, 2, -1, -1]))
    assert h[0, 1] == 1 and h[0, 2] == 0 and h[3, 4] == 0 and torch.all(torch.diag(h) == 0)


def test_bad_arguments():
    z, va, _ = _inputs(3, 0)
    with pytest.raises(ValueError, match="mode"):
        emod_loss(z, va=va, mode="triplet")
    with pytest.raises(ValueError, match="valence-arousal"):
        emod_loss(z, mode="soft")
    with pytest.raises(ValueError, match="instance ids"):
        emod_loss(z, mode="instance")
    with pytest.raises(ValueError, match="temperature"):
        weighted_contrastive_loss(z, torch.ones(3, 3), temperature=0)
    with pytest.raises(ValueError, match="d_max"):
        soft_weights(va, d_max=0)


@pytest.mark.slow
def test_loss_decreases_when_positives_align():
    torch.manual_seed(0)
    va = torch.tensor([[2.0, 2.0], [2.0, 2.0], [-3.0, -3.0], [-3.0, -3.0]])
    z = torch.randn(4, 8, requires_grad=True)
    optimizer = torch.optim.SGD([z], lr=0.5)
    first = None
    for _ in range(50):
        loss = emod_loss(F.normalize(z, dim=1), va=va)
        first = float(loss.detach()) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < first


def test_augmentations_are_seeded_and_sensible():
    x = torch.randn(60, 8, 100) * 10 + 1
    ids = torch.arange(1, 9).repeat(60, 1)
    a, a_ids = augment(x, ids, torch.Generator().manual_seed(3))
    b, b_ids = augment(x, ids, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(a_ids, b_ids)
    changed = (a != x).flatten(1).any(1)
    assert 0 < int(changed.sum()) < 60  # about half of the samples keep their signal
    for i in range(60):
        if not torch.equal(a_ids[i], ids[i]):  # channel shuffle: same channels, moved with their data
            assert sorted(a_ids[i].tolist()) == ids[i].tolist()
            for c in range(8):
                assert torch.equal(a[i, c], x[i, int(a_ids[i, c]) - 1])
        masked = (a[i] == 0).all(0)
        if masked.any():  # time mask: one block of 20 %
            where = masked.nonzero().squeeze(1)
            assert len(where) == 20 and int(where[-1] - where[0]) == 19
