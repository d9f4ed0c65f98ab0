"""EMOD's pretraining augmentations, batched.

Each sample gets one augmentation drawn uniformly among six: none (three of the six), Gaussian
noise, shuffling 50 % of its channels together with their ids, or zeroing a contiguous 20 % of
time. Everything runs as a few batched tensor operations on the batch's device; only the channel
shuffle loops over the (few) samples that draw it.

Note: the EMOD backbone is equivariant to a joint permutation of channels and ids (spatial
attention sees channels only through their embedding, and pooling is permutation-invariant), so
the channel shuffle changes the embedding only through floating-point rounding. It is kept
because the paper lists it.
"""

from __future__ import annotations

import torch

AUGMENTATIONS = ("none", "none", "none", "noise", "channel_shuffle", "time_mask")
"""The six equally likely choices."""


def augment(
    x: torch.Tensor,
    channel_ids: torch.Tensor,
    generator: torch.Generator,
    noise_std: float = 0.1,
    shuffle_fraction: float = 0.5,
    mask_fraction: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a sub-batch, one randomly chosen augmentation per sample.

    Parameters
    ----------
    x : torch.Tensor
        (B, C, T) signals (µV or normalised).
    channel_ids : torch.Tensor
        (B, C) channel ids.
    generator : torch.Generator
        Source of randomness, on the CPU (draws are moved to ``x.device``), so a seed gives the
        same augmentations on every device.
    noise_std : float
        Standard deviation of the Gaussian noise relative to each channel's standard deviation.
    shuffle_fraction : float
        Fraction of channels permuted among themselves (with their ids).
    mask_fraction : float
        Fraction of the time axis zeroed, in one contiguous block.

    Returns
    -------
    tuple of torch.Tensor
        Augmented ``x`` (a new tensor) and channel ids.
    """
    b, c, t = x.shape
    device = x.device
    choice = torch.randint(len(AUGMENTATIONS), (b,), generator=generator)
    kinds = [AUGMENTATIONS[i] for i in choice.tolist()]
    noise = torch.tensor([k == "noise" for k in kinds])
    mask = torch.tensor([k == "time_mask" for k in kinds])
    shuffle = [i for i, k in enumerate(kinds) if k == "channel_shuffle"]
    out = x.clone()
    ids = channel_ids.clone()
    if bool(noise.any()):
        rows = noise.nonzero().squeeze(1).to(device)
        chosen = out[rows]
        scale = chosen.float().std(dim=-1, keepdim=True) * noise_std
        draw = torch.randn(chosen.shape, generator=generator).to(device=device, dtype=out.dtype)
        out[rows] = chosen + draw * scale.to(out.dtype)
    if bool(mask.any()):
        width = max(1, round(mask_fraction * t))
        starts = torch.randint(0, t - width + 1, (b,), generator=generator).to(device)
        position = torch.arange(t, device=device)
        zero = (position[None, :] >= starts[:, None]) & (position[None, :] < starts[:, None] + width)
        zero = zero & mask.to(device)[:, None]
        out = out.masked_fill(zero[:, None, :], 0.0)
    k = round(shuffle_fraction * c)
    for i in shuffle:
        if k < 2:
            break
        chosen = torch.randperm(c, generator=generator)[:k]
        permuted = chosen[torch.randperm(k, generator=generator)]
        chosen, permuted = chosen.to(device), permuted.to(device)
        out[i, chosen] = out[i, permuted]
        ids[i, chosen] = ids[i, permuted]
    return out, ids
