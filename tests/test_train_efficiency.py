"""Efficient training step: the fused encoder block and activation checkpointing leave the numbers unchanged."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from emod_train.methods.emod import conv_tokens
from emod_train.methods.emod.conv_tokens import conv_norm_gelu_pool
from emod_train.methods.emod.model import EMODBackbone, EMODConfig

TINY = EMODConfig(dim=16, heads=4, ffn=32, depth=2)


def reference_conv_block(block, x: torch.Tensor, tokens: int) -> torch.Tensor:
    """The encoder block as written before (conv layer, GroupNorm, GELU, adaptive pooling)."""
    h = F.gelu(block.norm(block.conv(x.unsqueeze(1))))
    return F.adaptive_avg_pool2d(h, (x.shape[1], tokens)).permute(0, 2, 3, 1)


def reference_attention(attention, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Multi-head attention as written before: PyTorch's scaled dot-product attention on (S, heads, L, e)."""
    s, length, dim = x.shape
    q, k, v = attention.qkv(x).view(s, length, 3, attention.heads, dim // attention.heads).permute(2, 0, 3, 1, 4)
    if mask is not None and mask.dtype != torch.bool:
        mask = mask.to(q.dtype)
    h = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return attention.out(h.transpose(1, 2).reshape(s, length, dim))


def reference_layer(layer, x: torch.Tensor, channel_mask: torch.Tensor | None) -> torch.Tensor:
    """A Spatial-Temporal layer as written before (transposed copies, SDPA, relative bias gathered per head)."""
    b, c, n, d = x.shape
    h = layer.norm_spatial(x).transpose(1, 2).reshape(b * n, c, d)
    mask = None
    if channel_mask is not None:
        mask = channel_mask[:, None, None, :].expand(b, n, 1, c).reshape(b * n, 1, 1, c)
    x = x + reference_attention(layer.spatial, h, mask).view(b, n, c, d).transpose(1, 2)
    position = torch.arange(n)
    relative = (position[None, :] - position[:, None]).clamp(-layer.bias.max_relative + 1, layer.bias.max_relative - 1)
    bias = layer.bias.table[:, relative + layer.bias.max_relative - 1].unsqueeze(0)
    x = x + reference_attention(layer.temporal, layer.norm_temporal(x).reshape(b * c, n, d), bias).view(b, c, n, d)
    return x + layer.ffn(layer.norm_ffn(x))


def reference_backbone(model: EMODBackbone, x: torch.Tensor, ids: torch.Tensor, sfreq: float) -> torch.Tensor:
    """The backbone's forward as written before, layer by layer (a copy kept here as the reference)."""
    from emod_train.methods.emod.model import channel_mask, n_tokens, normalize_input

    encoder = model.encoder
    x = normalize_input(x, model.config.input_norm)
    tokens = n_tokens(x.shape[-1], sfreq, model.config.tokens_per_second)
    spectrum = torch.fft.rfft(x.float(), dim=-1, norm="ortho").real.to(x.dtype)
    h = torch.cat(
        [reference_conv_block(encoder.temporal, x, tokens), reference_conv_block(encoder.spectral, spectrum, tokens)],
        -1,
    )
    h = F.gelu(encoder.fuse(h)) + encoder.channel_embedding(ids.unsqueeze(0).expand(x.shape[0], -1)).unsqueeze(2)
    mask = channel_mask(ids, x.shape[0])
    for layer in model.transformer.layers:
        h = reference_layer(layer, h, mask)
    return model.transformer.norm(h)


def _perturbed(model: EMODBackbone) -> EMODBackbone:
    """Non-trivial GroupNorm parameters and conv biases (the defaults are 1, 0 and small)."""
    with torch.no_grad():
        for block in (model.encoder.temporal, model.encoder.spectral):
            block.norm.weight.normal_(1.0, 0.5)
            block.norm.bias.normal_(0.0, 0.5)
            block.conv.bias.normal_(0.0, 1.0)
    return model


def _outputs_and_grads(model, forward, x, ids, sfreq, weights):
    model.zero_grad()
    out = forward(x, ids, sfreq)
    (out * weights).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(
    ("channels", "samples", "sfreq", "block_values"),
    [(5, 400, 200.0, None), (3, 250, 128.0, None), (5, 400, 200.0, 1), (5, 400, 200.0, 2 * 5 * 400 * TINY.dim)],
    ids=["even-pooling", "uneven-pooling", "channel-by-channel", "two-samples-at-once"],
)
def test_backbone_outputs_and_gradients_match_the_layer_by_layer_form(
    channels, samples, sfreq, block_values, monkeypatch
):
    if block_values is not None:
        monkeypatch.setattr(conv_tokens, "BLOCK_VALUES", block_values)
    torch.manual_seed(0)
    model = _perturbed(EMODBackbone(TINY)).double()
    x = torch.randn(3, channels, samples, dtype=torch.float64) * 20 + 5
    ids = torch.arange(1, channels + 1)
    ids[1] = 0  # one padded channel
    weights = None
    for forward in (model, lambda *a: reference_backbone(model, *a)):
        out = forward(x, ids, sfreq)
        weights = torch.randn_like(out) if weights is None else weights
    fused, fused_grads = _outputs_and_grads(model, model, x, ids, sfreq, weights)
    ref, ref_grads = _outputs_and_grads(model, lambda *a: reference_backbone(model, *a), x, ids, sfreq, weights)
    torch.testing.assert_close(fused, ref, rtol=1e-10, atol=1e-10)
    assert fused_grads.keys() == ref_grads.keys()
    for name, grad in ref_grads.items():
        torch.testing.assert_close(fused_grads[name], grad, rtol=1e-9, atol=1e-10, msg=name)


@pytest.mark.parametrize("block_values", [None, 1], ids=["one-block", "channel-by-channel"])
def test_fused_block_matches_in_float32_with_uneven_pooling(block_values, monkeypatch):
    if block_values is not None:  # blocks of one channel: the block loop and in-place GELU backward per block
        monkeypatch.setattr(conv_tokens, "BLOCK_VALUES", block_values)
    torch.manual_seed(1)
    block = _perturbed(EMODBackbone(EMODConfig(dim=32, heads=4, ffn=32, depth=1))).encoder.spectral
    x = torch.randn(2, 7, 1001)  # 1001 rFFT bins -> 50 tokens: overlapping adaptive windows
    ref = reference_conv_block(block, x, 50)
    weights = torch.randn_like(ref)
    ref_grads = torch.autograd.grad((ref * weights).sum(), list(block.parameters()))
    conv, norm = block.conv, block.norm
    out = conv_norm_gelu_pool(x, conv.weight.view(32, -1), conv.bias, norm.weight, norm.bias, 4, norm.eps, 50)
    grads = torch.autograd.grad((out * weights).sum(), list(block.parameters()))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5)


def test_fused_block_refuses_an_input_that_needs_a_gradient_and_the_model_falls_back():
    torch.manual_seed(2)
    model = EMODBackbone(TINY)
    block = model.encoder.temporal
    x = torch.randn(2, 3, 100, requires_grad=True)
    with pytest.raises(ValueError, match="no gradient to its input"):
        conv_norm_gelu_pool(
            x, block.conv.weight.view(16, -1), block.conv.bias, block.norm.weight, block.norm.bias, 4, 1e-5, 5
        )
    out = block(x, 5)  # layer by layer: the input gets its gradient
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    torch.testing.assert_close(out, reference_conv_block(block, x.detach(), 5).detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("seed", "windows", "channels", "dropout", "chunk"),
    [(4, 3, [1, 2, 0, 4], 0.2, None), (7, 5, [1, 2, 3], 0.3, 2)],
    ids=["whole-batch", "in-parts"],
)
def test_checkpointed_transformer_replays_its_dropout(seed, windows, channels, dropout, chunk):
    """Checkpointed layers (of the whole batch, or in parts) give the same outputs and gradients, dropout on."""
    torch.manual_seed(seed)
    model = EMODBackbone(EMODConfig(dim=16, heads=4, ffn=32, depth=2, dropout=dropout)).train()
    x, ids = torch.randn(windows, len(channels), 200) * 10, torch.tensor(channels)
    weights = torch.randn(windows, len(channels), 5, 16)
    results = []
    for checkpoint in (False, True):
        model.transformer.checkpoint, model.transformer.chunk = checkpoint, chunk
        torch.manual_seed(9)  # the same dropout draws; checkpointing replays them in the recomputation
        results.append(_outputs_and_grads(model, model, x, ids, 200.0, weights))
    (plain, plain_grads), (recomputed, recomputed_grads) = results
    torch.testing.assert_close(recomputed, plain, rtol=0, atol=0)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(recomputed_grads[name], grad, rtol=1e-6, atol=1e-7, msg=name)


def test_transformer_in_parts_gives_the_same_outputs_and_gradients():
    torch.manual_seed(6)
    model = EMODBackbone(EMODConfig(dim=16, heads=4, ffn=32, depth=2)).double().train()
    x, ids = torch.randn(5, 4, 200, dtype=torch.float64) * 10, torch.tensor([1, 2, 0, 4])
    weights = torch.randn(5, 4, 5, 16, dtype=torch.float64)
    results = []
    for checkpoint, chunk in ((False, None), (True, 2), (False, 3)):
        model.transformer.checkpoint, model.transformer.chunk = checkpoint, chunk
        results.append(_outputs_and_grads(model, model, x, ids, 200.0, weights))
    (whole, whole_grads), *parts = results
    for out, grads in parts:
        torch.testing.assert_close(out, whole, rtol=1e-12, atol=1e-12)
        for name, grad in whole_grads.items():
            torch.testing.assert_close(grads[name], grad, rtol=1e-10, atol=1e-12, msg=name)


def test_memory_plan_follows_the_budget():
    from emod_train.engine.memory import (
        GIB,
        checkpoint_for_budget,
        largest_batch,
        plan_checkpointing,
        recompute_chunk,
        saved_bytes_per_window,
        step_estimate,
    )
    from emod_train.errors import MemoryBudgetError

    model = EMODBackbone(TINY)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    memory = saved_bytes_per_window(model, 8, 400, 200.0)
    assert torch.equal(torch.rand(3), expected)  # the training's random state is left as it was
    assert memory.full > memory.checkpointed > 0 and 0 < memory.layer < memory.full
    # a layer saves about as much per window as the difference it makes
    assert memory.full - memory.checkpointed == pytest.approx(TINY.depth * memory.layer, rel=0.25)
    roomy = plan_checkpointing(model, 16, 8, 400, 200.0, max_memory=64.0)
    assert not roomy.checkpoint and roomy.fits and "no checkpointing" in roomy.describe()
    without = largest_batch(memory, GIB, checkpoint=False)
    assert largest_batch(memory, GIB, checkpoint=True, chunk=1) > without > 0
    fixed = roomy.estimate - step_estimate(memory, 16, False)
    assert recompute_chunk(8, 400, 200.0, TINY) == 16384 // (8 * 10)
    one = step_estimate(memory, 16, True, 1, fixed)  # checkpointed, one window recomputed at a time
    assert one < roomy.estimate
    budget = (one + roomy.estimate) / 2  # between the estimates with and without checkpointing
    whole = step_estimate(memory, 16, True, 16, fixed)  # the planned parts hold the whole batch here
    plan = checkpoint_for_budget(model, 16, 8, 400, 200.0, max_memory=budget / GIB)
    expected = 16 if whole <= budget else 1  # parts of recompute_chunk windows, else of one window
    assert plan.checkpoint and plan.fits and plan.chunk == expected and plan.estimate <= budget
    assert model.transformer.checkpoint and model.transformer.chunk == expected
    assert f"{expected} windows recomputed at once" in plan.describe()
    with pytest.raises(MemoryBudgetError, match=r"needs about .* MiB even with checkpointing; --max-memory is"):
        checkpoint_for_budget(model, 16, 8, 400, 200.0, max_memory=1e-6)
    with pytest.raises(ValueError, match="max_memory must be positive"):
        checkpoint_for_budget(model, 16, 8, 400, 200.0, max_memory=0.0)


@pytest.mark.slow
def test_pretraining_checkpoints_under_a_tight_budget_and_refuses_an_impossible_one(store_all, tmp_path):
    import json

    from typer.testing import CliRunner

    from emod_data.store import open_store
    from emod_train.cli import app
    from emod_train.data.windows import window_table
    from emod_train.engine.memory import GIB, plan_checkpointing, saved_bytes_per_window, step_estimate
    from emod_train.methods.emod.pretrain import PretrainConfig, model_config_for, pretrain
    from emod_train.methods.emod.sampler import StructuredBatchSampler

    tiny = {"dim": 16, "heads": 4, "ffn": 32, "depth": 3}
    settings = dict(corpora=["seed_iv"], window=1.0, epochs=1, rounds=2, steps_per_epoch=1, model=tiny)
    store = open_store(store_all)
    probe = PretrainConfig(store=str(store_all), out=str(tmp_path / "probe"), **settings)
    backbone = EMODBackbone(model_config_for(store, tiny))
    labelled = window_table(store, 1.0, None, ["seed_iv"]).query("region >= 0")
    windows = StructuredBatchSampler(labelled["corpus"].to_numpy(), labelled["region"].to_numpy(), 2, 1, 0).batch_size
    sfreq = float(store.processing.sfreq)
    roomy = plan_checkpointing(backbone, windows, 62, 200, sfreq, max_memory=64.0)
    memory = saved_bytes_per_window(backbone, 62, 200, sfreq)
    fixed = roomy.estimate - step_estimate(memory, windows, False)
    one = step_estimate(memory, windows, True, 1, fixed)
    assert one < roomy.estimate
    budget = (roomy.estimate + one) / 2 / GIB  # between the estimates with and without checkpointing
    config = PretrainConfig(**{**probe.to_dict(), "out": str(tmp_path / "tight"), "max_memory": budget})
    result = pretrain(config, progress=False)
    info = json.loads((result.out / "config.json").read_text())
    assert info["memory_plan"].startswith("checkpointing transformer layers"), info["memory_plan"]
    assert result.steps == 1 and torch.isfinite(torch.tensor(result.epoch_losses)).all()

    args = ["pretrain", "--store", str(store_all), "--out", str(tmp_path / "cli"), "--corpora", "seed_iv"]
    args += ["--window", "1", "--epochs", "1", "--rounds", "2", "--steps-per-epoch", "1", "--max-memory", "1e-6"]
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 2
    message = outcome.output.strip()
    assert "\n" not in message and "--max-memory is 1e-06 GB" in message, message


CUDA = pytest.mark.skipif(
    not torch.cuda.is_available() and not os.environ.get("EMOD_REQUIRE_CUDA"), reason="needs a CUDA device"
)


@CUDA
def test_cuda_backbone_matches_the_cpu():
    torch.manual_seed(10)
    model = _perturbed(EMODBackbone(TINY)).train()
    x, ids = torch.randn(3, 5, 400) * 20, torch.tensor([1, 2, 0, 4, 5])
    weights = torch.randn(3, 5, 10, TINY.dim)
    cpu, cpu_grads = _outputs_and_grads(model, model, x, ids, 200.0, weights)
    model.cuda()
    gpu, gpu_grads = _outputs_and_grads(model, model, x.cuda(), ids.cuda(), 200.0, weights.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
    for name, grad in cpu_grads.items():
        torch.testing.assert_close(gpu_grads[name].cpu(), grad, rtol=1e-3, atol=1e-4, msg=name)


@CUDA
def test_cuda_autocast_step_trains():
    from emod_train.engine.runtime import amp_dtype, autocast, grad_scaler

    device = torch.device("cuda")
    torch.manual_seed(11)
    model = EMODBackbone(TINY).to(device).train()
    model.transformer.checkpoint, model.transformer.chunk = True, 2
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = grad_scaler(device, True)
    x, ids = torch.randn(4, 5, 400, device=device) * 20, torch.arange(1, 6, device=device)
    with autocast(device, True):
        assert torch.get_autocast_dtype("cuda") == amp_dtype(device)
        tokens = model(x, ids, 200.0)
    scaler.scale(tokens.float().square().mean()).backward()
    scaler.step(optimizer)
    scaler.update()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_amp_is_cuda_only_by_default_and_bfloat16_on_a_cpu_when_asked():
    from emod_train.engine.runtime import amp_dtype, autocast, cpu_has_bfloat16, grad_scaler

    cpu = torch.device("cpu")
    assert amp_dtype(cpu) is None and amp_dtype(cpu, False) is None
    expected = torch.bfloat16 if cpu_has_bfloat16() else None
    assert amp_dtype(cpu, True) == expected
    assert not grad_scaler(cpu, True).is_enabled()
    torch.manual_seed(12)
    model = EMODBackbone(TINY).train()
    x, ids = torch.randn(2, 5, 400) * 20, torch.arange(1, 6)
    with autocast(cpu, True):
        assert torch.is_autocast_enabled("cpu") == (expected is not None)
        tokens = model(x, ids, 200.0)
    with autocast(cpu):
        assert not torch.is_autocast_enabled("cpu")
    tokens.float().square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_info_says_whether_amp_reaches_the_cpu():
    from typer.testing import CliRunner

    from emod_train.cli import app
    from emod_train.engine.runtime import cpu_has_bfloat16

    outcome = CliRunner().invoke(app, ["info"], terminal_width=200)
    assert outcome.exit_code == 0, outcome.output
    row = next(line for line in outcome.output.splitlines() if "CPU bfloat16" in line)
    assert ("native" if cpu_has_bfloat16() else "no (float32)") in row
