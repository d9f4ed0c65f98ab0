"""The EMOD backbone and its heads.

The backbone maps one EEG segment (channels C, samples T, rate ``sfreq``) plus the global
vocabulary id of each channel to a grid of tokens (C channels x N time tokens x 128):

1. Triple-Domain Encoder (:class:`TripleDomainEncoder`)

   - temporal branch: per channel ``Conv2d(1 -> 128, 1 x 25, same)`` -> GroupNorm(4) -> GELU, then
     adaptive average pooling over time to 5 tokens per second;
   - spectral branch: the same block along the real part of the segment's rFFT, pooled to the same
     number of tokens;
   - fusion: concatenate (256) -> Linear(256 -> 128) -> GELU, plus a learnable embedding of each
     channel's global id (the spatial domain; id 0 marks a padded or masked channel).

2. Spatial-Temporal Transformer (:class:`SpatialTemporalTransformer`): 3 pre-norm layers of
   spatial attention (across channels), temporal attention (across time tokens, with a learned
   relative-position bias: one scalar per head and distance, clipped at 50 tokens, as EMOD's released
   code; Shaw et al.'s key/value vectors with ``relative_position="shaw"``) and a GELU feed-forward network.

Because tokens are pooled per second, segments of any length and sampling rate work; one batch
shares C and T. Heads: :class:`ProjectionHead` (contrastive pretraining) and
:class:`ClassifierHead` (fine-tuning). Both pool with attention, first over channels, then over time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from emod_train.methods.emod.conv_tokens import conv_norm_gelu_pool

INPUT_NORMS = ("zscore", "scale", "none")
"""Input normalisations: per-window per-channel z-score, division by 100 µV, or none."""

RELATIVE_POSITIONS = ("bias", "shaw")
"""Relative-position forms of temporal attention: a per-head scalar bias, or Shaw et al.'s key/value vectors."""


@dataclass(frozen=True)
class EMODConfig:
    """Hyper-parameters of the EMOD backbone (defaults: the paper's).

    Parameters
    ----------
    vocab_size : int
        Number of channel ids including the reserved id 0 (the store's vocabulary size + 1).
    dim : int
        Token width d.
    depth : int
        Transformer layers.
    heads : int
        Attention heads.
    ffn : int
        Hidden width of the feed-forward network.
    kernel : int
        Length of the temporal and spectral convolution kernels (odd, "same" padding).
    groups : int
        Groups of the GroupNorm after each convolution.
    tokens_per_second : float
        Time tokens per second of signal (5: one token per 0.2 s).
    max_relative : int
        Relative positions of the temporal bias are clipped to ``[-(max_relative - 1), max_relative - 1]``.
    dropout : float
        Dropout inside attention outputs and the feed-forward network.
    input_norm : {"zscore", "scale", "none"}
        Applied to the raw µV input inside :meth:`EMODBackbone.forward`: per-window, per-channel
        z-score (default), division by 100 µV, or nothing.
    relative_position : {"bias", "shaw"}
        Relative positions in temporal attention: ``"bias"`` (default, as EMOD's released code) a
        learned scalar added to the logits per head and clipped distance (:class:`RelativePositionBias`);
        ``"shaw"`` Shaw et al.'s (2018) learned key and value vectors per clipped distance, shared
        across heads (:class:`ShawRelativePosition`).
    """

    vocab_size: int = 342
    dim: int = 128
    depth: int = 3
    heads: int = 16
    ffn: int = 512
    kernel: int = 25
    groups: int = 4
    tokens_per_second: float = 5.0
    max_relative: int = 50
    dropout: float = 0.0
    input_norm: str = "zscore"
    relative_position: str = "bias"

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd for 'same' padding (got {self.kernel})")
        if self.input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm must be one of {INPUT_NORMS} (got {self.input_norm!r})")
        if self.relative_position not in RELATIVE_POSITIONS:
            raise ValueError(f"relative_position must be one of {RELATIVE_POSITIONS} (got {self.relative_position!r})")
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2 (got {self.vocab_size})")

    def to_dict(self) -> dict:
        """The configuration as a plain dict (stored in checkpoints)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EMODConfig:
        """Rebuild a configuration from :meth:`to_dict` output."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def n_tokens(n_samples: int, sfreq: float, tokens_per_second: float = 5.0) -> int:
    """Number of time tokens of a segment: ``round(seconds * tokens_per_second)``, at least 1."""
    return max(1, round(n_samples / sfreq * tokens_per_second))


def normalize_input(x: torch.Tensor, mode: str = "zscore", eps: float = 1e-6) -> torch.Tensor:
    """Normalise a batch of raw µV segments (batched; no per-window Python code).

    Parameters
    ----------
    x : torch.Tensor
        (B, C, T) signals in µV.
    mode : {"zscore", "scale", "none"}
        Per-window, per-channel z-score; division by 100 µV; or unchanged.
    eps : float
        Added to the standard deviation (a flat channel stays zero).

    Returns
    -------
    torch.Tensor
        Same shape as ``x``.
    """
    if mode == "zscore":
        mean = x.mean(dim=-1, keepdim=True)
        std = x.std(dim=-1, keepdim=True, unbiased=False)
        return (x - mean) / (std + eps)
    if mode == "scale":
        return x / 100.0
    if mode == "none":
        return x
    raise ValueError(f"input_norm must be one of {INPUT_NORMS} (got {mode!r})")


class ConvBlock(nn.Module):
    """Per-channel ``Conv2d(1 -> dim, 1 x kernel, same)`` -> GroupNorm -> GELU -> pooling to N tokens.

    The block runs as :func:`emod_train.methods.emod.conv_tokens.conv_norm_gelu_pool`: the convolution as one
    matrix multiply, GroupNorm folded into it from the patches' statistics, GELU and pooling block
    by block, and a backward pass that keeps nothing of full resolution (the same function and
    gradients; time and memory figures in docs/training.md).

    When the input itself needs a gradient, the block runs layer by layer instead, whose
    full-resolution intermediate (B x dim x C x L values: 32 MB per 5 s, 62-channel window at
    200 Hz, several copies kept for the backward pass) is bounded by processing the batch in chunks
    of at most :attr:`chunk_elements` values and, on large batches, recomputing each chunk in the
    backward pass (:attr:`checkpoint`). Both change memory and time only, never the result.
    """

    chunk_elements: int = 1 << 26
    """Layer-by-layer form: largest intermediate (values) computed at once; 2^26 float32 values are 256 MB."""

    checkpoint: bool | None = None
    """Layer-by-layer form: recompute the block in the backward pass rather than keep its intermediates:
    True, False, or None (default) for "when the batch's intermediate exceeds :attr:`chunk_elements`"."""

    def __init__(self, dim: int = 128, kernel: int = 25, groups: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, dim, (1, kernel), padding=(0, kernel // 2))
        self.norm = nn.GroupNorm(groups, dim)

    def _block(self, x: torch.Tensor, tokens: int) -> torch.Tensor:
        h = F.gelu(self.norm(self.conv(x.unsqueeze(1))))  # (b, dim, C, L)
        return F.adaptive_avg_pool2d(h, (x.shape[1], tokens))  # (b, dim, C, N)

    def forward(self, x: torch.Tensor, tokens: int) -> torch.Tensor:
        """Map (B, C, L) to (B, C, tokens, dim)."""
        if x.requires_grad:
            return self.layer_by_layer(x, tokens)
        conv, norm = self.conv, self.norm
        weight = conv.weight.view(conv.out_channels, -1)
        return conv_norm_gelu_pool(x, weight, conv.bias, norm.weight, norm.bias, norm.num_groups, norm.eps, tokens)

    def layer_by_layer(self, x: torch.Tensor, tokens: int) -> torch.Tensor:
        """The same map as :meth:`forward` with library layers, chunked and checkpointed (gives ``x`` a gradient)."""
        per_sample = self.conv.out_channels * x.shape[1] * x.shape[2]
        step = max(1, self.chunk_elements // max(per_sample, 1))
        wanted = self.checkpoint if self.checkpoint is not None else x.shape[0] > step
        recompute = wanted and self.training and torch.is_grad_enabled()
        outputs = []
        for chunk in x.split(step):
            if recompute:
                outputs.append(torch.utils.checkpoint.checkpoint(self._block, chunk, tokens, use_reentrant=False))
            else:
                outputs.append(self._block(chunk, tokens))
        h = outputs[0] if len(outputs) == 1 else torch.cat(outputs)
        return h.permute(0, 2, 3, 1)


class TripleDomainEncoder(nn.Module):
    """Temporal, spectral and spatial (channel-id) embedding of a segment into tokens."""

    def __init__(self, config: EMODConfig) -> None:
        super().__init__()
        self.config = config
        self.temporal = ConvBlock(config.dim, config.kernel, config.groups)
        self.spectral = ConvBlock(config.dim, config.kernel, config.groups)
        self.fuse = nn.Linear(2 * config.dim, config.dim)
        self.channel_embedding = nn.Embedding(config.vocab_size, config.dim, padding_idx=0)

    def forward(self, x: torch.Tensor, channel_ids: torch.Tensor, sfreq: float) -> torch.Tensor:
        """Encode normalised signals.

        Parameters
        ----------
        x : torch.Tensor
            (B, C, T) normalised signals.
        channel_ids : torch.Tensor
            (B, C) or (C,) long vocabulary ids (0 = padded channel).
        sfreq : float
            Sampling rate of ``x`` in Hz.

        Returns
        -------
        torch.Tensor
            (B, C, N, dim) tokens, N = :func:`n_tokens`.
        """
        tokens = n_tokens(x.shape[-1], sfreq, self.config.tokens_per_second)
        spectrum = torch.fft.rfft(x.float(), dim=-1, norm="ortho").real.to(x.dtype)
        h = torch.cat([self.temporal(x, tokens), self.spectral(spectrum, tokens)], dim=-1)
        h = F.gelu(self.fuse(h))
        if channel_ids.dim() == 1:
            channel_ids = channel_ids.unsqueeze(0).expand(x.shape[0], -1)
        return h + self.channel_embedding(channel_ids).unsqueeze(2)


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None, dropout: float = 0.0
) -> torch.Tensor:
    """Scaled dot-product attention, on the CPU written out so that a learned bias stays cheap.

    The same function as :func:`torch.nn.functional.scaled_dot_product_attention`. With a float
    ``mask`` that needs a gradient (the temporal relative-position bias), PyTorch's CPU dispatch
    falls back to its reference path, which checks the mask for fully masked rows and copies it
    several times; with 8-wide heads its flash kernel is also slower than two batched matrix
    products. On the CPU this computes ``softmax(q k^T / sqrt(e) + mask) v`` directly: the logits
    are scaled and biased in place, and autograd keeps only q, k, v and the probabilities (the
    bias gradient is the sum of the logit gradients over the batch). On other devices it calls
    PyTorch's fused kernels.

    Parameters
    ----------
    q, k, v : torch.Tensor
        (..., L, e) queries, keys and values (any batch dimensions, strided views allowed).
    mask : torch.Tensor, optional
        Boolean keep-mask or float bias, broadcastable to (..., L, L).
    dropout : float
        Dropout probability on the attention weights (pass 0 outside training).

    Returns
    -------
    torch.Tensor
        (..., L, e).
    """
    if mask is not None and mask.dtype != torch.bool:
        mask = mask.to(q.dtype)
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
    logits = torch.matmul(q, k.transpose(-1, -2)).mul_(q.shape[-1] ** -0.5)
    if mask is not None and mask.dtype == torch.bool:
        logits = logits.masked_fill_(~mask, float("-inf"))
    elif mask is not None:
        logits = logits.add_(mask)
    weights = torch.softmax(logits, dim=-1)
    if dropout > 0.0:
        weights = F.dropout(weights, dropout)
    return torch.matmul(weights, v)


class Attention(nn.Module):
    """Multi-head self-attention: fused q/k/v projection, then :func:`attend`."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, relative: ShawRelativePosition | None = None
    ) -> torch.Tensor:
        """Attend within the middle axis of (S, L, dim).

        ``mask`` is a boolean keep-mask or a float bias (logits); ``relative`` adds Shaw et al.'s
        relative-position vectors to the keys and values instead.
        """
        s, length, dim = x.shape
        q, k, v = self.qkv(x).view(s, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        dropout = self.dropout if self.training else 0.0
        h = attend(q, k, v, mask, dropout) if relative is None else relative.attend(q, k, v, dropout)
        return self.out(h.transpose(1, 2).reshape(s, length, dim))


class RelativePositionBias(nn.Module):
    """Learned scalar bias of the attention logits per head and clipped relative distance.

    One number per (head, distance), added to the logits (as T5 and EMOD's released code do); this is
    not Shaw et al.'s (2018) form, which adds learned relative-position vectors to the keys and values.
    """

    def __init__(self, heads: int, max_relative: int = 50) -> None:
        super().__init__()
        self.max_relative = max_relative
        self.table = nn.Parameter(torch.zeros(heads, 2 * max_relative - 1))
        nn.init.trunc_normal_(self.table, std=0.02)

    def forward(self, length: int) -> torch.Tensor:
        """(1, heads, length, length) bias; entry (i, j) depends on clip(j - i)."""
        position = torch.arange(length, device=self.table.device)
        relative = (position[None, :] - position[:, None]).clamp(-self.max_relative + 1, self.max_relative - 1)
        return self.table[:, relative + self.max_relative - 1].unsqueeze(0)


class ShawRelativePosition(nn.Module):
    """Shaw et al.'s (2018) relative positions: learned key and value vectors per clipped distance.

    With ``r = clip(j - i)``, attention becomes ``softmax_j((q_i . (k_j + a^K_r)) / sqrt(e))`` and its
    output ``sum_j w_ij (v_j + a^V_r)``; the vectors (width e of a head) are shared across heads, as
    in the paper. Computed without (L, L, e) tensors: ``q a^K`` over the 2m - 1 distances, gathered
    per (i, j), and the attention weights summed per distance before meeting ``a^V``.
    """

    def __init__(self, head_dim: int, max_relative: int = 50) -> None:
        super().__init__()
        self.max_relative = max_relative
        self.keys = nn.Parameter(torch.zeros(2 * max_relative - 1, head_dim))
        self.values = nn.Parameter(torch.zeros(2 * max_relative - 1, head_dim))
        nn.init.trunc_normal_(self.keys, std=0.02)
        nn.init.trunc_normal_(self.values, std=0.02)

    def index(self, length: int) -> torch.Tensor:
        """(length, length) long: the table row of each (i, j), ``clip(j - i) + max_relative - 1``."""
        position = torch.arange(length, device=self.keys.device)
        relative = (position[None, :] - position[:, None]).clamp(-self.max_relative + 1, self.max_relative - 1)
        return relative + self.max_relative - 1

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
        """Attention of (..., L, e) queries, keys and values with the relative vectors; returns (..., L, e)."""
        length = q.shape[-2]
        index = self.index(length).expand(*q.shape[:-2], length, length)
        logits = torch.matmul(q, k.transpose(-1, -2)) + torch.gather(q @ self.keys.to(q.dtype).T, -1, index)
        weights = torch.softmax(logits * q.shape[-1] ** -0.5, dim=-1)
        if dropout > 0.0:
            weights = F.dropout(weights, dropout)
        binned = weights.new_zeros(*weights.shape[:-1], self.keys.shape[0]).scatter_add(-1, index, weights)
        return torch.matmul(weights, v) + binned @ self.values.to(weights.dtype)


class SpatialTemporalLayer(nn.Module):
    """Pre-norm spatial attention, temporal attention (relative bias) and feed-forward, each residual."""

    def __init__(self, config: EMODConfig) -> None:
        super().__init__()
        d = config.dim
        self.norm_spatial = nn.LayerNorm(d)
        self.spatial = Attention(d, config.heads, config.dropout)
        self.norm_temporal = nn.LayerNorm(d)
        self.temporal = Attention(d, config.heads, config.dropout)
        if config.relative_position == "shaw":
            self.relative = ShawRelativePosition(d // config.heads, config.max_relative)
        else:
            self.bias = RelativePositionBias(config.heads, config.max_relative)
        self.norm_ffn = nn.LayerNorm(d)
        self.ffn = nn.Sequential(
            nn.Linear(d, config.ffn), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(config.ffn, d)
        )
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, channel_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, N, dim) -> (B, C, N, dim); ``channel_mask`` (B, C) is True for real channels."""
        b, c, n, d = x.shape
        h = self.norm_spatial(x).transpose(1, 2).reshape(b * n, c, d)
        mask = None
        if channel_mask is not None:
            mask = channel_mask[:, None, None, :].expand(b, n, 1, c).reshape(b * n, 1, 1, c)
        h = self.spatial(h, mask).view(b, n, c, d).transpose(1, 2)
        x = x + self.drop(h)
        h = self.norm_temporal(x).reshape(b * c, n, d)
        if hasattr(self, "relative"):
            h = self.temporal(h, relative=self.relative)
        else:
            h = self.temporal(h, self.bias(n))
        h = h.view(b, c, n, d)
        x = x + self.drop(h)
        return x + self.drop(self.ffn(self.norm_ffn(x)))


class SpatialTemporalTransformer(nn.Module):
    """A stack of :class:`SpatialTemporalLayer` and a final LayerNorm.

    Every window goes through the layers on its own (attention runs within a window, normalisation
    per token), so the stack can run on parts of the batch (:attr:`chunk`) with the same result.
    With :attr:`checkpoint`, each layer of each part is recomputed in the backward pass instead of
    keeping its activations: the backward pass then holds one part's activations of one layer at a
    time, so the memory a step needs grows with the batch only by the layer inputs it keeps
    (:mod:`emod_train.engine.memory` sizes both from a budget).
    """

    checkpoint: bool = False
    """While training, recompute each layer in the backward pass instead of keeping its activations
    (same results, less memory, about a third more transformer time); set per model by
    :func:`emod_train.engine.memory.plan_checkpointing` from a memory budget."""

    chunk: int | None = None
    """Windows run through the layers at once (None: the whole batch). With :attr:`checkpoint` this
    bounds what one recomputation holds; results are the same up to float rounding (and, with dropout,
    the same in distribution: the masks are drawn per part)."""

    def __init__(self, config: EMODConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(SpatialTemporalLayer(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.dim)

    def _layers(self, x: torch.Tensor, channel_mask: torch.Tensor | None) -> torch.Tensor:
        recompute = self.checkpoint and self.training and torch.is_grad_enabled()
        for layer in self.layers:
            if recompute:
                x = torch.utils.checkpoint.checkpoint(layer, x, channel_mask, use_reentrant=False)
            else:
                x = layer(x, channel_mask)
        return x

    def forward(self, x: torch.Tensor, channel_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, N, dim) -> (B, C, N, dim)."""
        if self.chunk is None or self.chunk >= x.shape[0]:
            return self.norm(self._layers(x, channel_mask))
        masks = [None] * -(-x.shape[0] // self.chunk) if channel_mask is None else channel_mask.split(self.chunk)
        parts = [self._layers(part, mask) for part, mask in zip(x.split(self.chunk), masks, strict=True)]
        return self.norm(torch.cat(parts))


class EMODBackbone(nn.Module):
    """The EMOD backbone: :class:`TripleDomainEncoder` then :class:`SpatialTemporalTransformer`.

    Parameters
    ----------
    config : EMODConfig, optional
        Hyper-parameters; the paper's by default.

    Examples
    --------
    >>> model = EMODBackbone(EMODConfig())
    >>> tokens = model(torch.randn(2, 62, 1000), torch.arange(1, 63), sfreq=200.0)
    >>> tuple(tokens.shape)
    (2, 62, 25, 128)
    """

    def __init__(self, config: EMODConfig | None = None) -> None:
        super().__init__()
        self.config = config or EMODConfig()
        self.encoder = TripleDomainEncoder(self.config)
        self.transformer = SpatialTemporalTransformer(self.config)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor, channel_ids: torch.Tensor, sfreq: float) -> torch.Tensor:
        """Tokens of a batch of raw segments.

        Parameters
        ----------
        x : torch.Tensor
            (B, C, T) signals in µV (normalised here according to ``config.input_norm``).
        channel_ids : torch.Tensor
            (B, C) or (C,) long channel ids of the global vocabulary; 0 marks a padded channel,
            which no token attends to.
        sfreq : float
            Sampling rate in Hz.

        Returns
        -------
        torch.Tensor
            (B, C, N, dim) with N = 5 tokens per second.
        """
        if x.dim() != 3:
            raise ValueError(f"expected a (batch, channels, samples) tensor, got shape {tuple(x.shape)}")
        if channel_ids.shape[-1] != x.shape[1]:
            raise ValueError(f"{channel_ids.shape[-1]} channel ids for {x.shape[1]} channels")
        x = normalize_input(x, self.config.input_norm)
        mask = channel_mask(channel_ids, x.shape[0])
        return self.transformer(self.encoder(x, channel_ids, sfreq), mask)


def channel_mask(channel_ids: torch.Tensor, batch: int) -> torch.Tensor | None:
    """(B, C) True for real channels, or None when no channel is padded (id 0)."""
    if channel_ids.dim() == 1:
        channel_ids = channel_ids.unsqueeze(0).expand(batch, -1)
    mask = channel_ids != 0
    return None if bool(mask.all()) else mask


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()


class AttentionPool(nn.Module):
    """Softmax-weighted mean over one axis, scores from a linear layer; padded entries are ignored."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, dim: int, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pool ``x`` over axis ``dim``; ``mask`` (broadcastable to the scores) is True where kept."""
        scores = self.score(x).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores.float(), dim=dim).to(x.dtype)
        return (weights.unsqueeze(-1) * x).sum(dim=dim)


class TokenPool(nn.Module):
    """Attention pooling over channels, then over time: (B, C, N, d) -> (B, d)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.channels = AttentionPool(dim)
        self.time = AttentionPool(dim)

    def forward(self, tokens: torch.Tensor, channel_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Pool tokens; channels with id 0 are left out."""
        mask = None
        if channel_ids is not None:
            full = channel_mask(channel_ids, tokens.shape[0])
            mask = None if full is None else full.unsqueeze(-1)  # (B, C, 1) against scores (B, C, N)
        return self.time(self.channels(tokens, dim=1, mask=mask), dim=1)


class ProjectionHead(nn.Module):
    """Contrastive head: pooling, Linear(d -> 512, no bias) -> BatchNorm -> GELU -> Linear(512 -> 128), L2 norm."""

    def __init__(self, dim: int = 128, hidden: int = 512, out: int = 128) -> None:
        super().__init__()
        self.pool = TokenPool(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.GELU(), nn.Linear(hidden, out)
        )

    def pool_tokens(self, tokens: torch.Tensor, channel_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, N, d) tokens -> (B, d) pooled features (before the MLP)."""
        return self.pool(tokens, channel_ids)

    def project(self, pooled: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
        """(B, d) pooled features -> (B, out) unit vectors.

        BatchNorm sees the whole (multi-corpus) batch; with ``groups`` ((B,) integer ids, e.g. the
        corpus of each row) each group goes through the MLP on its own, so BatchNorm normalises per
        group (the released code normalises per corpus sub-batch).
        """
        if groups is None:
            return F.normalize(self.mlp(pooled).float(), dim=-1)
        out = None
        for group in torch.unique(groups):
            rows = torch.nonzero(groups == group).squeeze(1)
            part = self.mlp(pooled[rows]).float()
            if out is None:
                out = part.new_empty((pooled.shape[0], part.shape[1]))
            out = out.index_copy(0, rows, part)
        return F.normalize(out, dim=-1)

    def forward(self, tokens: torch.Tensor, channel_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens to unit-norm embeddings."""
        return self.project(self.pool_tokens(tokens, channel_ids))


class ClassifierHead(nn.Module):
    """Fine-tuning head: attention pooling, then a BatchNorm'd linear layer or one-hidden-layer MLP.

    ``"linear"``: BatchNorm -> Dropout -> Linear(d -> K). ``"mlp"``: Linear(d -> d) -> BatchNorm ->
    GELU -> Dropout -> Linear(d -> K). The BatchNorm matters: pooled tokens share a large common
    offset and differ between samples by small amounts, which a plain linear head is slow to pick up.
    Its running statistics are a plain average (``momentum=None``) that the fine-tuning loop resets
    at every epoch start (:meth:`reset_batch_statistics`), so evaluation uses the statistics of the
    last epoch's batches even when an epoch has a single batch.
    """

    def __init__(self, dim: int, n_classes: int, dropout: float = 0.25, kind: str = "mlp") -> None:
        super().__init__()
        if kind not in ("linear", "mlp"):
            raise ValueError(f"head must be 'linear' or 'mlp' (got {kind!r})")
        self.pool = TokenPool(dim)
        if kind == "linear":
            self.mlp = nn.Sequential(nn.BatchNorm1d(dim, momentum=None), nn.Dropout(dropout), nn.Linear(dim, n_classes))
        else:
            self.mlp = nn.Sequential(
                nn.Linear(dim, dim),
                nn.BatchNorm1d(dim, momentum=None),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(dim, n_classes),
            )

    def reset_batch_statistics(self) -> None:
        """Forget the BatchNorm running statistics (they are re-averaged over the next batches)."""
        for module in self.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.reset_running_stats()

    def forward(self, tokens: torch.Tensor, channel_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens to class logits (B, n_classes)."""
        return self.mlp(self.pool(tokens, channel_ids))


class EMODClassifier(nn.Module):
    """Backbone plus :class:`ClassifierHead`, for fine-tuning and inference.

    Parameters
    ----------
    config : EMODConfig
        Backbone hyper-parameters.
    n_classes : int
        Number of classes.
    dropout : float
        Head dropout (0.25 as in the paper's code).
    head : {"mlp", "linear"}
        Head kind.
    """

    def __init__(self, config: EMODConfig, n_classes: int, dropout: float = 0.25, head: str = "mlp") -> None:
        super().__init__()
        self.backbone = EMODBackbone(config)
        self.head = ClassifierHead(config.dim, n_classes, dropout, head)  # PyTorch's default init

    def forward(self, x: torch.Tensor, channel_ids: torch.Tensor, sfreq: float) -> torch.Tensor:
        """(B, C, T) µV -> (B, n_classes) logits."""
        return self.head(self.backbone(x, channel_ids, sfreq), channel_ids)


def count_parameters(module: nn.Module, exclude_embedding: bool = False) -> int:
    """Number of trainable parameters, optionally without the channel-embedding table.

    The channel embedding grows with the vocabulary (128 per channel id), so the backbone size
    quoted by the paper is best compared without it.
    """
    total = sum(p.numel() for p in module.parameters() if p.requires_grad)
    if exclude_embedding:
        total -= sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Embedding))
    return total


def backbone_flops(n_channels: int, n_samples: int, sfreq: float, config: EMODConfig | None = None) -> float:
    """Approximate forward multiply-adds x 2 of the backbone for one segment (for throughput reports)."""
    config = config or EMODConfig()
    tokens = n_tokens(n_samples, sfreq, config.tokens_per_second)
    d = config.dim
    conv = 2 * n_channels * (n_samples + n_samples // 2 + 1) * d * config.kernel
    per_token = 2 * (4 * d * d * 2 + 2 * d * config.ffn)
    attention = 2 * 2 * d * (n_channels * n_channels * tokens + tokens * tokens * n_channels)
    return float(conv + n_channels * tokens * (2 * 2 * d * d + per_token * config.depth) + attention * config.depth)


__all__ = [
    "INPUT_NORMS",
    "RELATIVE_POSITIONS",
    "AttentionPool",
    "ClassifierHead",
    "EMODBackbone",
    "EMODClassifier",
    "EMODConfig",
    "ProjectionHead",
    "RelativePositionBias",
    "ShawRelativePosition",
    "SpatialTemporalTransformer",
    "TokenPool",
    "TripleDomainEncoder",
    "attend",
    "backbone_flops",
    "count_parameters",
    "n_tokens",
    "normalize_input",
]
