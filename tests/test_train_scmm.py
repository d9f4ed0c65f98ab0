"""SCMM's pieces against direct, slow implementations of their formulas."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from emod_train.methods.emod.model import count_parameters
from emod_train.methods.scmm.model import (
    SCMM,
    AutomaticWeightedLoss,
    SCMMClassifier,
    SCMMEncoder,
    SCMMProjector,
    aggregate,
    hybrid_mask,
    input_soft_weights,
    soft_contrastive_loss,
)

# (a, sigma, t); SEED -> DEAP is (0.5, 0.2, 0.05)
TRIPLES = [(0.5, 0.2, 0.05), (1.0, 1.0, 0.5), (0.25, 0.05, 0.1)]


def _features(b, c=6, f=5, seed=0, dtype=torch.float64):
    return torch.rand(b, c, f, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- hybrid masking --------------------------------------------------------------------------


def slow_mask(x, ratio, threshold, generator):
    """Row by row, with the same draws in the same order as the documented implementation."""
    b, c, f = x.shape
    u = torch.rand(b, c, generator=generator)
    element = torch.rand(b, c, f, generator=generator)
    channel = torch.rand(b, c, generator=generator)
    out = x.clone()
    for i in range(b):
        for k in range(c):
            if float(u[i, k]) > threshold:
                for m in range(f):
                    if float(element[i, k, m]) < ratio:
                        out[i, k, m] = 0.0
            elif float(channel[i, k]) < ratio:
                out[i, k, :] = 0.0
    return out


def test_hybrid_mask_shape_determinism_and_slow_loop():
    x = _features(4, 7) + 0.1  # no zeros of its own
    first = hybrid_mask(x, 0.4, 0.3, torch.Generator().manual_seed(5))
    again = hybrid_mask(x, 0.4, 0.3, torch.Generator().manual_seed(5))
    other = hybrid_mask(x, 0.4, 0.3, torch.Generator().manual_seed(6))
    assert first.shape == x.shape and first.dtype == x.dtype
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(first, slow_mask(x, 0.4, 0.3, torch.Generator().manual_seed(5)))
    kept = first != 0
    assert torch.equal(first[kept], x[kept])  # unmasked values untouched
    assert torch.equal(x, _features(4, 7) + 0.1)  # input not modified


@pytest.mark.parametrize("ratio", [0.5, 0.3])
def test_hybrid_mask_zeroes_a_ratio_of_elements(ratio):
    x = torch.ones(400, 62, 5)
    masked = hybrid_mask(x, ratio, 0.1, torch.Generator().manual_seed(0))
    zeroed = float((masked == 0).float().mean())  # 0.9 r + 0.1 r = r
    assert zeroed == pytest.approx(ratio, abs=0.01)


def test_hybrid_mask_zeroes_whole_channels_about_threshold_times_ratio():
    ratio, threshold = 0.3, 0.1
    x = torch.ones(400, 62, 5)
    masked = hybrid_mask(x, ratio, threshold, torch.Generator().manual_seed(1))
    rows = float((masked == 0).all(-1).float().mean())
    # channel branch: threshold * ratio = 0.03; random branch zeroes all 5 with (1 - threshold) ratio^5 ~ 0.002
    expected = threshold * ratio + (1 - threshold) * ratio**5
    assert rows == pytest.approx(expected, abs=0.004)
    # no channel masking at all with threshold 0: whole rows only by chance
    none = hybrid_mask(x, ratio, 0.0, torch.Generator().manual_seed(1))
    assert float((none == 0).all(-1).float().mean()) < 0.006
    # every row masked by channel with threshold 1 and ratio 1
    assert torch.equal(hybrid_mask(x[:3], 1.0, 1.0), torch.zeros(3, 62, 5))
    assert torch.equal(hybrid_mask(x[:3], 0.0, 0.5), x[:3])


def test_hybrid_mask_bad_arguments():
    with pytest.raises(ValueError, match="ratio"):
        hybrid_mask(torch.ones(2, 3, 5), ratio=1.5)
    with pytest.raises(ValueError, match="threshold"):
        hybrid_mask(torch.ones(2, 3, 5), threshold=-0.1)
    with pytest.raises(ValueError, match="B, C, F"):
        hybrid_mask(torch.ones(3, 5))


# --- encoder, projector, classifier ---------------------------------------------------------


@pytest.mark.parametrize("channels", [62, 32])
def test_encoder_gives_384_dimensions(channels):
    encoder = SCMMEncoder(channels)
    h = encoder(torch.rand(3, channels, 5))
    assert encoder.out_dim == 384 and h.shape == (3, 384)
    z = SCMMProjector()(h)
    assert z.shape == (3, 128)
    convolutions = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [m.out_channels for m in convolutions] == [32, 64, 128]
    assert all(m.bias is None and m.kernel_size == (8,) and m.padding == (4,) for m in convolutions)
    # conv weights + BN (2 per channel)
    expected = channels * 32 * 8 + 32 * 64 * 8 + 64 * 128 * 8 + 2 * (32 + 64 + 128)
    assert count_parameters(encoder) == expected


@pytest.mark.parametrize("bands", [1, 4, 8, 20])
def test_encoder_out_dim_follows_the_band_count(bands):
    encoder = SCMMEncoder(4, n_bands=bands)
    assert encoder(torch.rand(2, 4, bands)).shape == (2, encoder.out_dim)
    small = SCMMEncoder(4, dims=(8, 16), kernel=3, n_bands=bands)
    assert small(torch.rand(2, 4, bands)).shape == (2, small.out_dim)


def test_classifier_logits():
    encoder = SCMMEncoder(62)
    model = SCMMClassifier(encoder, n_classes=3, dropout=0.2)
    assert model.encoder is encoder
    assert model(torch.rand(5, 62, 5)).shape == (5, 3)


# --- soft weights and the contrastive loss ---------------------------------------------------


def slow_weights(x, a, sigma):
    """The formula of input_soft_weights, with loops."""
    rows = [v.flatten().tolist() for v in x]
    n = len(rows)

    def cosine(p, q):
        return sum(i * j for i, j in zip(p, q, strict=True)) / (math.hypot(*p) * math.hypot(*q))

    d = [[-cosine(rows[i], rows[j]) for j in range(n)] for i in range(n)]
    w = [[0.0] * n for _ in range(n)]
    for j in range(n):
        column = [d[i][j] for i in range(n) if i != j]
        low, high = min(column), max(column)
        for i in range(n):
            if i != j:
                scaled = 0.0 if high == low else (d[i][j] - low) / (high - low)
                w[i][j] = 2 * a / (1 + math.exp(scaled / sigma))
    return w


def slow_contrastive(z, x, a, sigma, t, normalize=True):
    """The formula of soft_contrastive_loss, with loops (x of B rows)."""
    n = len(z)
    b = n // 2
    z = [(v / v.norm() if normalize else v).tolist() for v in z]
    small = slow_weights(x, a, sigma)
    w = [[small[i % b][j % b] for j in range(n)] for i in range(n)]
    for i in range(n):
        w[i][(i + b) % n] = 1.0

    def s(i, j):
        return sum(p * q for p, q in zip(z[i], z[j], strict=True))

    total = 0.0
    for i in range(n):
        denominator = sum(math.exp(s(i, k) / t) for k in range(n) if k != i)
        for j in range(n):
            if j != i:
                total += w[i][j] * -math.log(math.exp(s(i, j) / t) / denominator)
    return total / (n * (n - 1))


@pytest.mark.parametrize(("a", "sigma", "t"), TRIPLES)
def test_input_soft_weights_match_the_formula(a, sigma, t):
    x = _features(7, seed=3) - 0.3  # some negative cosines too
    w = input_soft_weights(x, a, sigma)
    assert torch.allclose(w, torch.tensor(slow_weights(x, a, sigma), dtype=w.dtype), rtol=1e-10, atol=1e-12)
    off = ~torch.eye(7, dtype=torch.bool)
    assert torch.all(w[off] > 0) and torch.all(w[off] <= a + 1e-12) and torch.all(torch.diag(w) == 0)
    # each column reaches a at its closest input, 2a / (1 + e^(1/sigma)) at its farthest
    assert torch.allclose(w.masked_fill(~off, 0).amax(0), torch.full((7,), a, dtype=w.dtype))
    assert torch.allclose(
        w.masked_fill(~off, 9).amin(0), torch.full((7,), 2 * a / (1 + math.exp(1 / sigma)), dtype=w.dtype)
    )


def test_input_soft_weights_decrease_with_distance():
    x = _features(9, seed=4)
    d = -F.normalize(x.flatten(1), dim=1) @ F.normalize(x.flatten(1), dim=1).T
    w = input_soft_weights(x, 0.5, 0.2)
    for j in range(9):
        others = [i for i in range(9) if i != j]
        order = sorted(others, key=lambda i: float(d[i, j]))
        assert all(float(w[p, j]) >= float(w[q, j]) for p, q in itertools.pairwise(order))


def test_input_soft_weights_bad_arguments_and_tiny_batches():
    with pytest.raises(ValueError, match="sigma"):
        input_soft_weights(torch.rand(3, 4), 0.5, 0.0)
    with pytest.raises(ValueError, match="a must"):
        input_soft_weights(torch.rand(3, 4), -1.0, 0.2)
    assert torch.equal(input_soft_weights(torch.rand(2, 4), 0.5, 0.2), torch.tensor([[0.0, 0.5], [0.5, 0.0]]))
    assert torch.equal(input_soft_weights(torch.rand(1, 4), 0.5, 0.2), torch.zeros(1, 1))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("a", "sigma", "t"), TRIPLES)
def test_soft_contrastive_loss_matches_the_formula(seed, a, sigma, t):
    b = 4
    x = _features(b, seed=seed)
    z = torch.randn(2 * b, 8, generator=torch.Generator().manual_seed(seed + 10), dtype=torch.float64)
    fast = soft_contrastive_loss(z, x, a, sigma, t)
    assert float(fast) == pytest.approx(slow_contrastive(z, x, a, sigma, t), rel=1e-9)
    # the weights are tiled over the views: w[i, j + B] = w[i, j], and the twin weighs 1
    assert float(fast) != pytest.approx(float(soft_contrastive_loss(z, torch.cat([x, x]), a, sigma, t)), rel=1e-6)


def test_soft_contrastive_loss_with_raw_dot_products():
    """The released code's similarity: z_i . z_j without normalisation."""
    b = 3
    x = _features(b, seed=4)
    z = 0.3 * torch.randn(2 * b, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    dot = soft_contrastive_loss(z, x, 0.75, 0.5, 0.5, similarity="dot")
    assert float(dot) == pytest.approx(slow_contrastive(z, x, 0.75, 0.5, 0.5, normalize=False), rel=1e-9)
    assert float(dot) != pytest.approx(float(soft_contrastive_loss(z, x, 0.75, 0.5, 0.5)), rel=1e-6)
    with pytest.raises(ValueError, match="similarity"):
        soft_contrastive_loss(z, x, 0.75, 0.5, 0.5, similarity="nope")


def test_soft_contrastive_loss_with_one_sample_has_only_the_twin():
    z = torch.randn(2, 8, requires_grad=True)
    loss = soft_contrastive_loss(z, torch.rand(1, 3, 5), 0.5, 0.2, 0.05)
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-6)  # p_{i, twin} = 1
    loss.backward()
    assert torch.all(torch.isfinite(z.grad))


def test_soft_contrastive_loss_with_identical_inputs_weighs_every_pair_a():
    b, a, t = 3, 0.4, 0.1
    x = torch.full((b, 4, 5), 0.7, dtype=torch.float64)
    w = input_soft_weights(x, a, 0.2)
    off = ~torch.eye(b, dtype=torch.bool)
    assert torch.allclose(w[off], torch.full((b * (b - 1),), a, dtype=w.dtype))
    z = torch.randn(2 * b, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    weights = torch.full((2 * b, 2 * b), a, dtype=torch.float64)
    weights[torch.arange(2 * b), (torch.arange(2 * b) + b) % (2 * b)] = 1.0
    unit = F.normalize(z, dim=1)
    eye = torch.eye(2 * b, dtype=torch.bool)
    log_p = F.log_softmax((unit @ unit.T / t).masked_fill(eye, float("-inf")), 1).masked_fill(eye, 0)
    expected = -(weights * log_p).sum() / (2 * b * (2 * b - 1))
    assert float(soft_contrastive_loss(z, x, a, 0.2, t)) == pytest.approx(float(expected), rel=1e-10)
    assert float(soft_contrastive_loss(z, x, a, 0.2, t)) == pytest.approx(slow_contrastive(z, x, a, 0.2, t), rel=1e-9)


def test_soft_contrastive_loss_gradients_are_finite():
    x = _features(5, dtype=torch.float32)
    x[0] = 0.0  # a zero input: cosine 0, no NaN
    z = torch.randn(10, 16, requires_grad=True)
    loss = soft_contrastive_loss(z, x, 0.5, 0.2, 0.05)
    loss.backward()
    assert math.isfinite(float(loss.detach())) and torch.all(torch.isfinite(z.grad)) and z.grad.abs().sum() > 0


def test_soft_contrastive_loss_bad_arguments():
    with pytest.raises(ValueError, match="2B"):
        soft_contrastive_loss(torch.randn(3, 4), torch.rand(3, 2, 5), 0.5, 0.2, 0.05)
    with pytest.raises(ValueError, match="rows"):
        soft_contrastive_loss(torch.randn(4, 4), torch.rand(3, 2, 5), 0.5, 0.2, 0.05)
    with pytest.raises(ValueError, match="t must"):
        soft_contrastive_loss(torch.randn(4, 4), torch.rand(2, 2, 5), 0.5, 0.2, 0.0)


# --- aggregation and loss weighting ----------------------------------------------------------


@pytest.mark.parametrize("t", [0.05, 0.5])
def test_aggregate_matches_a_loop(t):
    g = torch.Generator().manual_seed(7)
    unit = F.normalize(torch.randn(6, 8, generator=g, dtype=torch.float64), dim=1)
    s = unit @ unit.T
    h = torch.randn(6, 5, generator=g, dtype=torch.float64)
    out = aggregate(s, h, t)
    for i in range(6):
        denominator = sum(math.exp(float(s[i, k]) / t) for k in range(6) if k != i)
        r = [0.0 if j == i else math.exp(float(s[i, j]) / t) / denominator for j in range(6)]
        assert r[i] == 0.0 and sum(r) == pytest.approx(1.0)
        expected = sum(r[j] * h[j] for j in range(6))
        assert torch.allclose(out[i], expected, rtol=1e-10, atol=1e-12)
    # self excluded: a huge self-similarity changes nothing
    assert torch.allclose(aggregate(s + 100 * torch.eye(6, dtype=s.dtype), h, t), out)
    with pytest.raises(ValueError, match="2 samples"):
        aggregate(torch.ones(1, 1), torch.ones(1, 3), t)


def test_automatic_weighted_loss():
    weighting = AutomaticWeightedLoss(2)
    assert torch.equal(weighting.params.detach(), torch.ones(2))
    with torch.no_grad():
        weighting.params.copy_(torch.tensor([0.5, 2.0]))
    losses = [torch.tensor(3.0), torch.tensor(0.25)]
    total = weighting(*losses)
    expected = 0.5 / 0.25 * 3.0 + math.log(1.25) + 0.5 / 4.0 * 0.25 + math.log(5.0)
    assert float(total.detach()) == pytest.approx(expected, rel=1e-6)
    total.backward()
    # d/ds (0.5 L / s^2 + log(1 + s^2)) = -L / s^3 + 2 s / (1 + s^2)
    grads = [-3.0 / 0.125 + 1.0 / 1.25, -0.25 / 8.0 + 4.0 / 5.0]
    assert torch.allclose(weighting.params.grad, torch.tensor(grads), rtol=1e-5)
    with pytest.raises(ValueError, match="expected 2 losses"):
        weighting(torch.tensor(1.0))


# --- the whole model -------------------------------------------------------------------------


def test_scmm_losses_are_finite_and_backpropagate():
    torch.manual_seed(0)
    model = SCMM(8)
    x = torch.rand(6, 8, 5)
    out = model.losses(x, 0.5, 0.2, 0.05, generator=torch.Generator().manual_seed(0))
    assert set(out) == {"loss", "contrastive", "reconstruction"}
    assert all(v.dim() == 0 and math.isfinite(float(v.detach())) for v in out.values())
    expected = model.loss_weights(out["contrastive"], out["reconstruction"])
    assert float(out["loss"].detach()) == pytest.approx(float(expected.detach()))
    out["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.all(torch.isfinite(p.grad)), name
    assert model.encode(x).shape == (6, model.encoder.out_dim) == (6, 384)
    assert model.decoder.out_features == 40 and model.projector.net[-1].out_features == 128
    with pytest.raises(ValueError, match="B, 8, 5"):
        model.losses(torch.rand(6, 7, 5), 0.5, 0.2, 0.05)


def test_scmm_training_lowers_the_loss():
    torch.manual_seed(0)
    model = SCMM(8)
    x = torch.rand(8, 8, 5, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: one thread is faster on a busy machine
    try:
        for _ in range(10):
            out = model.losses(x, 0.5, 0.2, 0.05, generator=torch.Generator().manual_seed(2))
            optimizer.zero_grad()
            out["loss"].backward()
            optimizer.step()
            history.append(float(out["loss"].detach()))
    finally:
        torch.set_num_threads(threads)
    assert all(math.isfinite(v) for v in history)
    assert max(history[-3:]) < history[0]
