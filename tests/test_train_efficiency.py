"""Efficient training step: the fused encoder block and activation checkpointing leave the numbers unchanged."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emod_train.conv_tokens import conv_norm_gelu_pool
from emod_train.model import EMODBackbone, EMODConfig

TINY = EMODConfig(dim=16, heads=4, ffn=32, depth=2)


def reference_conv_block(block, x: torch.Tensor, tokens: int) -> torch.Tensor:
    """The encoder block as written before (conv layer, GroupNorm, GELU, adaptive pooling)."""
    h = F.gelu(block.norm(block.conv(x.unsqueeze(1))))
    return F.adaptive_avg_pool2d(h, (x.shape[1], tokens)).permute(0, 2, 3, 1)


def reference_backbone(model: EMODBackbone, x: torch.Tensor, ids: torch.Tensor, sfreq: float) -> torch.Tensor:
    """The backbone's forward as written before, layer by layer (a copy kept here as the reference)."""
    from emod_train.model import channel_mask, n_tokens, normalize_input

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
        h = layer(h, mask)
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


@pytest.mark.parametrize(("channels", "samples", "sfreq"), [(5, 400, 200.0), (3, 250, 128.0)])
def test_backbone_outputs_and_gradients_match_the_layer_by_layer_form(channels, samples, sfreq):
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


def test_fused_block_matches_in_float32_with_uneven_pooling():
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
