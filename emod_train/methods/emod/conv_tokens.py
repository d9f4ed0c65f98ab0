"""Exact, memory-light form of the encoder's convolution block (conv -> GroupNorm -> GELU -> pooling).

The Triple-Domain Encoder applies, to every channel of a segment, ``Conv2d(1 -> d, 1 x K, same)``,
``GroupNorm(G, d)``, GELU and adaptive average pooling to N tokens. Written with library layers,
this materialises several ``d x C x L`` tensors per sample (the convolution output, the normalised
values, the GELU output and their gradients: 63 MB each for a 10 s, 62-channel window at 200 Hz),
and the single-input-channel convolution runs far below the CPU's matrix-multiply rate.

:func:`conv_norm_gelu_pool` computes the same function differently:

- the convolution is one matrix multiply of the (zero-padded, "same") patches ``P`` (rows C x L,
  K columns, centred on their per-sample mean, plus a column of ones for the offset) with the weights;
- GroupNorm's statistics follow exactly from the patches' per-sample mean and K x K covariance
  (the mean of output channel o is ``w_o . mean(p) + b_o``, its variance ``w_o^T cov w_o``; a group's
  variance adds the spread of its channels' means), so normalisation and the affine transform fold
  into per-sample weights and offsets of that same multiply;
- GELU runs in place and the pooling reads its output block by block (blocks of channels), so only
  one block of full-resolution values exists at a time;
- the backward pass recomputes a block's pre-activation with the same multiply, forms its gradient
  with one fused GELU-backward kernel written over the recomputed block, and reduces it at once to
  ``P^T dZ`` ((K + 1) x d per sample, the last row being the per-channel sums). Every parameter
  gradient is a function of that small tensor: it is obtained by differentiating
  ``sum(W_eff * P^T dZ)`` with autograd, which is exact because the per-sample effective weights
  ``W_eff`` are the only way the parameters enter.

Nothing of full resolution is kept for the backward pass (the saved state is the input and K x K
statistics per sample), so the block needs no activation checkpointing. The input itself receives
no gradient (it is data); :class:`emod_train.methods.emod.model.ConvBlock` uses the layer-by-layer form when it does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK_VALUES = 1 << 19
"""Full-resolution values (rows x d) computed at once on the CPU: 2^19 float32 values are 2 MB, so
that a block's multiply, GELU and pooling (or GELU backward and reduction) stay in the caches. The
K-deep multiply that forms a block is bound by memory writes on large blocks; on the 2-core reference
machine the block ran up to 1.4x faster than with 16 MB blocks, though the gain varies with the
machine's state (``benchmarks/conv_block.py``, docs/training.md)."""

DEVICE_BLOCK_VALUES = 1 << 25
"""The same on a GPU (2^25 float32 values are 128 MB: two 10 s, 62-channel windows at 200 Hz): larger
blocks, of whole samples where they fit, so that the loop launches fewer kernels, while the transient
memory stays small beside a training step's."""


def patches(x: torch.Tensor, kernel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Centred, zero-padded ("same") patches of each channel, with a column of ones appended.

    Parameters
    ----------
    x : torch.Tensor
        (B, C, L) signals.
    kernel : int
        Patch length K (odd).

    Returns
    -------
    rows : torch.Tensor
        (B, C, L, K + 1): each sample's patches minus that sample's mean patch, then a 1.
    mean : torch.Tensor
        (B, K) mean patch of each sample.
    """
    b, c, length = x.shape
    half = kernel // 2
    rows = x.new_empty(b, c, length, kernel + 1)
    rows[..., :kernel] = F.pad(x, (half, half)).unfold(-1, kernel, 1)
    rows[..., kernel] = 1.0
    flat = rows.view(b, -1, kernel + 1)
    # the column sums as a matrix-vector product: a strided reduction over the rows is several times slower
    mean = torch.bmm(flat.transpose(1, 2), flat[..., kernel:]).view(b, kernel + 1)[:, :kernel] / flat.shape[1]
    rows[..., :kernel] -= mean.view(b, 1, 1, kernel)
    return rows, mean


def folded_affine(
    weight: torch.Tensor,
    bias: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    mean: torch.Tensor,
    cov: torch.Tensor,
    groups: int,
    eps: float,
) -> torch.Tensor:
    """Per-sample weights that give GroupNorm(conv(x)) from the rows of :func:`patches`.

    Parameters
    ----------
    weight : torch.Tensor
        (d, K) convolution kernels.
    bias : torch.Tensor
        (d,) convolution bias.
    gamma, beta : torch.Tensor
        (d,) GroupNorm scale and shift.
    mean, cov : torch.Tensor
        (B, K) mean patch and (B, K, K) biased patch covariance of each sample.
    groups : int
        GroupNorm groups.
    eps : float
        GroupNorm epsilon.

    Returns
    -------
    torch.Tensor
        (B, K + 1, d): ``GroupNorm(conv(x))`` at a patch is its row of :func:`patches` times these
        weights (the last row, met by the column of ones, is the offset).
    """
    b, d = mean.shape[0], weight.shape[0]
    channel_mean = mean @ weight.T + bias  # (B, d)
    channel_var = ((weight @ cov) * weight).sum(-1)  # (B, d): w^T cov w
    grouped_mean = channel_mean.view(b, groups, -1)
    group_mean = grouped_mean.mean(-1, keepdim=True)
    group_var = (channel_var.view(b, groups, -1) + (grouped_mean - group_mean).square()).mean(-1, keepdim=True)
    scale = (gamma.view(groups, -1) * (group_var + eps).rsqrt()).reshape(b, d)
    offsets = scale * (grouped_mean - group_mean).reshape(b, d) + beta
    return torch.cat([weight.T.unsqueeze(0) * scale.unsqueeze(1), offsets.unsqueeze(1)], dim=1)


def _blocks(x: torch.Tensor, dim: int) -> tuple[int, int]:
    """(samples, channels) per block, so that a block holds about :data:`BLOCK_VALUES` values (on the CPU)
    or :data:`DEVICE_BLOCK_VALUES` (elsewhere) of full resolution: whole samples when one fits, else
    blocks of one sample's channels."""
    batch, channels, length = x.shape
    budget = BLOCK_VALUES if x.device.type == "cpu" else DEVICE_BLOCK_VALUES
    per_channel = max(1, length * dim)
    if channels * per_channel > budget:
        return 1, max(1, budget // per_channel)
    return max(1, min(batch, budget // (channels * per_channel))), channels


def _pool(h: torch.Tensor, tokens: int) -> torch.Tensor:
    """Adaptive average pooling over L of (b, c, L, d) -> (b, c, tokens, d), as ``adaptive_avg_pool2d``."""
    b, c, length, d = h.shape
    if length % tokens == 0:
        return h.view(b, c, tokens, length // tokens, d).mean(3)
    return F.adaptive_avg_pool2d(h.permute(0, 3, 1, 2), (c, tokens)).permute(0, 2, 3, 1)


def _gelu_pool_backward(grad: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Gradient at the pre-activation ``z`` (b, c, L, d) of ``_pool(gelu(z))``, given ``grad`` (b, c, N, d)."""
    b, c, length, d = z.shape
    tokens = grad.shape[2]
    if length % tokens == 0:
        width = length // tokens
        spread = (grad / width).unsqueeze(3).expand(b, c, tokens, width, d)
        view = z.view(b, c, tokens, width, d)
        return torch.ops.aten.gelu_backward.grad_input(spread, view, grad_input=view).view(b, c, length, d)
    spread = torch.ops.aten._adaptive_avg_pool2d_backward(
        grad.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last), z.permute(0, 3, 1, 2)
    ).permute(0, 2, 3, 1)
    return torch.ops.aten.gelu_backward.grad_input(spread, z, grad_input=z)


class _ConvNormGeluPool(torch.autograd.Function):
    """Autograd function behind :func:`conv_norm_gelu_pool` (see the module notes)."""

    @staticmethod
    def forward(ctx, x, weight, bias, gamma, beta, groups: int, eps: float, tokens: int):
        b, c = x.shape[:2]
        d, k = weight.shape
        samples, step = _blocks(x, d)
        out = x.new_empty(b, c, tokens, d)
        means, covs = x.new_empty(b, k), x.new_empty(b, k, k)
        for i in range(0, b, samples):
            part = slice(i, i + samples)
            rows, means[part] = patches(x[part], k)
            flat = rows.view(rows.shape[0], -1, k + 1)
            covs[part] = torch.bmm(flat.transpose(1, 2), flat)[:, :k, :k] / flat.shape[1]
            w = folded_affine(weight, bias, gamma, beta, means[part], covs[part], groups, eps)
            for start in range(0, c, step):
                block = rows[:, start : start + step]
                z = torch.bmm(block.reshape(rows.shape[0], -1, k + 1), w).view(*block.shape[:3], d)
                out[part, start : start + step] = _pool(torch.ops.aten.gelu_(z), tokens)
        ctx.save_for_backward(x, weight, bias, gamma, beta, means, covs)
        ctx.groups, ctx.eps = groups, eps
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias, gamma, beta, means, covs = ctx.saved_tensors
        b, c, length = x.shape
        d, k = weight.shape
        samples, step = _blocks(x, d)
        grad = grad.contiguous()
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_(True) for t in (weight, bias, gamma, beta)]
            folded = folded_affine(*leaves, means, covs, ctx.groups, ctx.eps)
        weights = folded.detach()
        reduced = torch.zeros_like(weights)  # per sample: rows^T dZ
        for i in range(0, b, samples):
            part = slice(i, i + samples)
            rows, _ = patches(x[part], k)
            for start in range(0, c, step):
                block = rows[:, start : start + step].reshape(rows.shape[0], -1, k + 1)
                z = torch.bmm(block, weights[part]).view(rows.shape[0], -1, length, d)
                dz = _gelu_pool_backward(grad[part, start : start + step], z).view(rows.shape[0], -1, d)
                reduced[part].baddbmm_(block.transpose(1, 2), dz)
        with torch.enable_grad():
            grads = torch.autograd.grad((folded * reduced).sum(), leaves)
        return (None, *grads, None, None, None)


def conv_norm_gelu_pool(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    groups: int,
    eps: float,
    tokens: int,
) -> torch.Tensor:
    """``adaptive_avg_pool(gelu(group_norm(conv(x))))`` per channel, computed exactly and memory-light.

    Parameters
    ----------
    x : torch.Tensor
        (B, C, L) signals; must not require a gradient.
    weight : torch.Tensor
        (d, K) kernels of ``Conv2d(1 -> d, 1 x K, padding K // 2)`` (K odd).
    bias : torch.Tensor
        (d,) convolution bias.
    gamma, beta : torch.Tensor
        (d,) GroupNorm affine parameters.
    groups : int
        GroupNorm groups.
    eps : float
        GroupNorm epsilon.
    tokens : int
        Pooled length N.

    Returns
    -------
    torch.Tensor
        (B, C, N, d), computed in float32 (float64 for float64 input; autocast is switched off inside).

    Raises
    ------
    ValueError
        ``x`` requires a gradient (use the layer-by-layer form).
    """
    if x.requires_grad:
        raise ValueError("conv_norm_gelu_pool gives no gradient to its input; use the layer-by-layer form")
    dtype = torch.promote_types(x.dtype, torch.float32)
    with torch.autocast(device_type=x.device.type, enabled=False):
        params = [t.to(dtype) for t in (weight, bias, gamma, beta)]
        return _ConvNormGeluPool.apply(x.to(dtype).contiguous(), *params, groups, eps, tokens)
