"""The EMOD backbone and heads: size, shapes, any montage / length / rate, masking, equivariance."""

from __future__ import annotations

import pytest
import torch

from emod_train.methods.emod.model import (
    ClassifierHead,
    EMODBackbone,
    EMODClassifier,
    EMODConfig,
    ProjectionHead,
    RelativePositionBias,
    count_parameters,
    n_tokens,
    normalize_input,
)

TINY = EMODConfig(dim=16, heads=4, ffn=32, depth=1)


def test_parameter_count_matches_the_paper():
    model = EMODBackbone(EMODConfig())
    without_embedding = count_parameters(model, exclude_embedding=True)
    # the paper quotes "about 0.81 M parameters without heads"
    assert 0.77e6 <= without_embedding <= 0.85e6, without_embedding
    embedding = model.encoder.channel_embedding.weight.numel()
    assert embedding == 342 * 128  # the shipped vocabulary (341 channels) plus the padding id 0
    assert count_parameters(model) == without_embedding + embedding


def test_paper_defaults():
    config = EMODConfig()
    assert (config.dim, config.depth, config.heads, config.ffn, config.kernel) == (128, 3, 16, 512, 25)
    assert config.tokens_per_second == 5.0 and config.max_relative == 50
    model = EMODBackbone(config)
    assert model.encoder.temporal.conv.weight.shape == (128, 1, 1, 25)
    assert model.encoder.temporal.norm.num_groups == 4
    assert len(model.transformer.layers) == 3


@pytest.mark.parametrize(("channels", "seconds", "sfreq"), [(62, 5.0, 200.0), (32, 2.0, 128.0), (14, 1.0, 250.0)])
def test_any_montage_length_and_rate(channels, seconds, sfreq):
    torch.manual_seed(0)
    model = EMODBackbone(TINY).eval()
    samples = round(seconds * sfreq)
    x = torch.randn(3, channels, samples) * 20
    ids = torch.randperm(300)[:channels] + 1
    tokens = model(x, ids, sfreq)
    assert tokens.shape == (3, channels, n_tokens(samples, sfreq), TINY.dim)
    assert n_tokens(samples, sfreq) == round(seconds * 5)
    assert torch.isfinite(tokens).all()


def test_full_model_forward_and_backward():
    torch.manual_seed(0)
    model = EMODBackbone(EMODConfig())
    head = ProjectionHead()
    x = torch.randn(2, 4, 200) * 20
    ids = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    z = head(model(x, ids, 200.0), ids)
    assert z.shape == (2, 128)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(2))
    z.sum().backward()
    assert model.encoder.temporal.conv.weight.grad is not None


def test_relative_bias_is_clipped_for_long_sequences():
    bias = RelativePositionBias(heads=2, max_relative=3)
    values = bias(8)
    assert values.shape == (1, 2, 8, 8)
    # distances beyond max_relative - 1 share the clipped entry
    torch.testing.assert_close(values[0, :, 0, 5], values[0, :, 0, 7])
    torch.testing.assert_close(values[0, :, 0, 2], values[0, :, 1, 3])
    model = EMODBackbone(TINY).eval()
    tokens = model(torch.randn(1, 3, 200 * 12), torch.tensor([1, 2, 3]), 200.0)  # 60 tokens > 50
    assert tokens.shape[2] == 60


def test_joint_channel_permutation_is_equivariant():
    torch.manual_seed(1)
    model = EMODBackbone(TINY).eval()
    head = ClassifierHead(TINY.dim, 3).eval()
    x = torch.randn(2, 6, 400)
    ids = torch.tensor([10, 20, 30, 40, 50, 60])
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        a, b = model(x, ids, 200.0), model(x[:, perm], ids[perm], 200.0)
        torch.testing.assert_close(a[:, perm], b, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(head(a, ids), head(b, ids[perm]), atol=1e-4, rtol=1e-4)


def test_padded_channels_are_ignored_by_pooling_and_attention():
    torch.manual_seed(2)
    model = EMODClassifier(TINY, n_classes=2).eval()
    x = torch.randn(2, 5, 200)
    ids = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 0]])
    with torch.no_grad():
        logits = model(x, ids, 200.0)
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()


def test_normalize_input_modes():
    x = torch.randn(2, 3, 100) * 50 + 7
    z = normalize_input(x, "zscore")
    torch.testing.assert_close(z.mean(-1), torch.zeros(2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(-1, unbiased=False), torch.ones(2, 3), atol=1e-4, rtol=0)
    torch.testing.assert_close(normalize_input(x, "scale"), x / 100)
    assert normalize_input(torch.zeros(1, 1, 10)).abs().max() == 0  # a flat channel stays finite
    with pytest.raises(ValueError, match="input_norm"):
        normalize_input(x, "bogus")


def test_config_validation_and_round_trip():
    with pytest.raises(ValueError, match="divisible"):
        EMODConfig(dim=100, heads=16)
    with pytest.raises(ValueError, match="odd"):
        EMODConfig(kernel=24)
    with pytest.raises(ValueError, match="input_norm"):
        EMODConfig(input_norm="minmax")
    assert EMODConfig.from_dict({**TINY.to_dict(), "unknown": 1}) == TINY


def test_bad_input_shapes_raise():
    model = EMODBackbone(TINY)
    with pytest.raises(ValueError, match="batch, channels, samples"):
        model(torch.randn(3, 100), torch.tensor([1, 2, 3]), 200.0)
    with pytest.raises(ValueError, match="channel ids"):
        model(torch.randn(1, 3, 100), torch.tensor([1, 2]), 200.0)


def test_chunked_and_recomputed_encoder_matches(monkeypatch):
    from emod_train.methods.emod.model import ConvBlock

    torch.manual_seed(3)
    model = EMODBackbone(TINY)
    x, ids = torch.randn(5, 4, 200), torch.arange(1, 5)

    def run(chunk, checkpoint):
        monkeypatch.setattr(ConvBlock, "chunk_elements", chunk)
        monkeypatch.setattr(ConvBlock, "checkpoint", checkpoint)
        model.zero_grad()
        out = model(x, ids, 200.0)
        out.square().sum().backward()
        return out.detach(), model.encoder.temporal.conv.weight.grad.clone()

    whole, grad = run(1 << 26, False)
    for chunk, checkpoint in ((16 * 4 * 200 * 2, None), (16 * 4 * 200, True)):  # chunks of 2 and 1 samples
        out, chunk_grad = run(chunk, checkpoint)
        torch.testing.assert_close(out, whole, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(chunk_grad, grad, atol=1e-4, rtol=1e-4)


def test_shaw_relative_positions_match_the_paper_formula():
    from emod_train.methods.emod.model import ShawRelativePosition

    torch.manual_seed(3)
    relative = ShawRelativePosition(head_dim=4, max_relative=3).double()
    with torch.no_grad():
        relative.keys.normal_()
        relative.values.normal_()
    q, k, v = (torch.randn(2, 3, 7, 4, dtype=torch.float64) for _ in range(3))
    out = relative.attend(q, k, v)
    # the paper's form with explicit (L, L, e) tensors:
    # e_ij = q_i . (k_j + a^K_ij) / sqrt(e), z_i = sum_j w_ij (v_j + a^V_ij)
    position = torch.arange(7)
    index = (position[None, :] - position[:, None]).clamp(-2, 2) + 2
    a_k, a_v = relative.keys[index], relative.values[index]  # (L, L, e)
    logits = (torch.einsum("bhie,bhje->bhij", q, k) + torch.einsum("bhie,ije->bhij", q, a_k)) / 2.0
    weights = torch.softmax(logits, dim=-1)
    expected = weights @ v + torch.einsum("bhij,ije->bhie", weights, a_v)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_shaw_option_trains_one_step_and_bias_stays_the_default():
    assert EMODConfig().relative_position == "bias"
    legacy = {k: v for k, v in TINY.to_dict().items() if k != "relative_position"}
    assert EMODConfig.from_dict(legacy) == TINY  # configurations stored before the option read as "bias"
    shaw = EMODConfig(dim=16, heads=4, ffn=32, depth=1, relative_position="shaw")
    assert shaw.to_dict()["relative_position"] == "shaw" and EMODConfig.from_dict(shaw.to_dict()) == shaw
    with pytest.raises(ValueError, match="relative_position must be one of"):
        EMODConfig(relative_position="rope")
    torch.manual_seed(4)
    model = EMODBackbone(shaw).train()
    layer = model.transformer.layers[0]
    assert not hasattr(layer, "bias") and layer.relative.keys.shape == (2 * shaw.max_relative - 1, 4)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, ids = torch.randn(2, 3, 400) * 20, torch.tensor([1, 2, 3])
    loss = model(x, ids, 200.0).square().mean()
    loss.backward()
    assert layer.relative.keys.grad.abs().sum() > 0 and layer.relative.values.grad.abs().sum() > 0
    optimizer.step()
    assert not torch.equal(before["transformer.layers.0.relative.values"], layer.relative.values)
    assert torch.isfinite(model(x, ids, 200.0)).all()
