"""SCMM: soft contrastive masked modelling of differential-entropy features (Liu et al., ACM MM 2025).

The input is a batch x of differential-entropy (DE) features, shape (B, C, F): C channels, F
frequency bands (5), min-max scaled to [0, 1]. One pre-training step:

1. mask: x~ = :func:`hybrid_mask` (x) (random elements, or now and then whole channels);
2. encode the batch X = [x ; x~] of N = 2B samples: h = :class:`SCMMEncoder` (X), z = :class:`SCMMProjector` (h);
3. contrast (:func:`soft_contrastive_loss`): every pair (i, j) is a soft positive with a weight
   w_ij from the similarity of the *inputs* (:func:`input_soft_weights`); the twins (i, i + B) weigh 1;
4. reconstruct: the similarity s of the normalised z mixes the representations,
   h'_i = sum_{j != i} softmax_j(s_ij / t) h_j (:func:`aggregate`), and a linear decoder maps h' back to
   (C, F); the reconstruction loss is the MSE against [x ; x];
5. balance the two losses with learnable uncertainties (:class:`AutomaticWeightedLoss`).

After pre-training, :class:`SCMMClassifier` puts a linear head on the encoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MASK_RATIO = 0.5
"""Default masking ratio r (fraction of elements, or probability of a whole channel, zeroed)."""

MASK_THRESHOLD = 0.1
"""Default threshold: a (sample, channel) row is channel-masked when its draw u <= threshold."""

N_BANDS = 5
"""Number of DE frequency bands (delta, theta, alpha, beta, gamma)."""


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive (got {value})")


def hybrid_mask(
    x: torch.Tensor,
    ratio: float = MASK_RATIO,
    threshold: float = MASK_THRESHOLD,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Hybrid random-element / whole-channel masking of DE features.

    For every (sample b, channel c) draw u_bc ~ U(0, 1), then

    - u_bc > threshold (random masking, probability 1 - threshold): each element x_bcf is kept
      with probability 1 - ratio, i.e. zeroed where e_bcf < ratio, e_bcf ~ U(0, 1);
    - u_bc <= threshold (channel masking, probability threshold): the whole row x_bc is zeroed
      where v_bc < ratio (probability ratio), v_bc ~ U(0, 1), and kept whole otherwise.

    Either way an element is zeroed with probability ``ratio``. The draws are made in this order,
    each over its full shape whatever the branch: u (B, C), e (B, C, F), v (B, C), so a given
    generator state always gives the same mask.

    Parameters
    ----------
    x : torch.Tensor
        (B, C, F) features.
    ratio : float
        Masking ratio r in [0, 1].
    threshold : float
        Probability of the channel branch, in [0, 1].
    generator : torch.Generator, optional
        Source of the draws (on ``x``'s device); the global one when None.

    Returns
    -------
    torch.Tensor
        A copy of ``x`` with zeros where masked.
    """
    if x.dim() != 3:
        raise ValueError(f"x must be (B, C, F) (got shape {tuple(x.shape)})")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1] (got {ratio})")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1] (got {threshold})")
    b, c, f = x.shape
    u = torch.rand(b, c, generator=generator, device=x.device)
    element = torch.rand(b, c, f, generator=generator, device=x.device)
    channel = torch.rand(b, c, generator=generator, device=x.device)
    random_branch = (u > threshold).unsqueeze(-1)
    masked = torch.where(random_branch, element < ratio, (channel < ratio).unsqueeze(-1).expand(b, c, f))
    return x.masked_fill(masked, 0.0)


def _pooled_length(length: int, kernel: int, n_blocks: int) -> int:
    """Band-axis length after ``n_blocks`` x [Conv1d(k, stride 1, padding k // 2) -> MaxPool1d(2, 2, padding 1)]."""
    for _ in range(n_blocks):
        length = length + 2 * (kernel // 2) - kernel + 1  # convolution
        length = (length + 2 - 2) // 2 + 1  # max pooling
    return length


class SCMMEncoder(nn.Module):
    """Convolutional encoder over the band axis of DE features.

    ``len(dims)`` blocks of ``Conv1d(in, out, kernel, stride 1, padding kernel // 2, bias=False) ->
    BatchNorm1d -> ReLU -> MaxPool1d(2, stride 2, padding 1)``; channels C -> 32 -> 64 -> 128 are the
    convolution's input channels and the F bands its length. The length after a block is
    L_conv = L + 2 (k // 2) - k + 1, then floor(L_conv / 2) + 1; for F = 5 and k = 8: 5 -> 4 -> 3 -> 3,
    so h = flatten(128 x 3) has 384 dimensions.

    Parameters
    ----------
    n_channels : int
        Number of EEG channels C (the input channels of the first convolution).
    dims : tuple of int
        Output channels of the blocks.
    kernel : int
        Convolution kernel size.
    n_bands : int
        Number of bands F (only used for :attr:`out_dim`).

    Attributes
    ----------
    out_dim : int
        Size of h, ``dims[-1] * L_final``.
    """

    def __init__(
        self, n_channels: int, dims: tuple[int, ...] = (32, 64, 128), kernel: int = 8, n_bands: int = N_BANDS
    ) -> None:
        super().__init__()
        _check_positive(n_channels=n_channels, kernel=kernel, n_bands=n_bands)
        layers: list[nn.Module] = []
        previous = n_channels
        for dim in dims:
            layers += [
                nn.Conv1d(previous, dim, kernel_size=kernel, stride=1, padding=kernel // 2, bias=False),
                nn.BatchNorm1d(dim),
                nn.ReLU(),
                nn.MaxPool1d(kernel_size=2, stride=2, padding=1),
            ]
            previous = dim
        self.blocks = nn.Sequential(*layers)
        self.n_channels = n_channels
        self.n_bands = n_bands
        self.out_dim = previous * _pooled_length(n_bands, kernel, len(dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, F) features -> (B, out_dim) representations h."""
        return self.blocks(x).flatten(1)


class SCMMProjector(nn.Module):
    """Projection head z = W2 ReLU(BN(W1 h + b1)) + b2.

    Parameters
    ----------
    in_dim : int
        Size of h (384).
    hidden : int
        Hidden width (256).
    out : int
        Size of z (128).
    """

    def __init__(self, in_dim: int = 384, hidden: int = 256, out: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(N, in_dim) -> (N, out)."""
        return self.net(h)


def input_soft_weights(x_flat: torch.Tensor, a: float, sigma: float) -> torch.Tensor:
    """Soft positive weights from the cosine similarity of the inputs.

    With D_ij = -cos(x_i, x_j) (inputs flattened), each column j is min-max scaled over its
    off-diagonal entries i != j,

        D'_ij = (D_ij - min_{k != j} D_kj) / (max_{k != j} D_kj - min_{k != j} D_kj)

    (a constant column, e.g. N = 2, gives D'_ij = 0), and

        w_ij = 2a / (1 + exp(D'_ij / sigma)),

    computed as 2a * sigmoid(-D'_ij / sigma). Since D' is in [0, 1], w is in
    [2a / (1 + e^(1 / sigma)), a], decreasing in D. The diagonal is set to 0 (unused).

    Parameters
    ----------
    x_flat : torch.Tensor
        (N, ...) inputs; everything after the first axis is flattened.
    a : float
        Weight scale (w = a at the smallest distance).
    sigma : float
        Sharpness: the smaller, the faster w falls with distance.

    Returns
    -------
    torch.Tensor
        (N, N) weights, floating point like ``x_flat`` (at least float32).
    """
    _check_positive(a=a, sigma=sigma)
    x = x_flat.flatten(1)
    if not x.is_floating_point():
        x = x.float()
    n = x.shape[0]
    unit = F.normalize(x, dim=1)
    distance = -(unit @ unit.T)
    eye = torch.eye(n, dtype=torch.bool, device=x.device)
    low = distance.masked_fill(eye, float("inf")).amin(dim=0, keepdim=True)
    high = distance.masked_fill(eye, float("-inf")).amax(dim=0, keepdim=True)
    span = high - low
    constant = ~(span > 0)  # also catches N = 1 (inf - inf)
    scaled = torch.where(constant, torch.zeros_like(distance), (distance - low) / torch.where(constant, 1.0, span))
    weights = 2.0 * a * torch.sigmoid(-scaled / sigma)
    return weights.masked_fill(eye, 0.0)


SIMILARITIES = ("cosine", "dot")
"""Similarity of projections: cosine (the paper) or the raw dot product (the released code)."""


def soft_contrastive_loss(
    z: torch.Tensor, x: torch.Tensor, a: float, sigma: float, t: float, similarity: str = "cosine"
) -> torch.Tensor:
    """SCMM's soft contrastive loss over the batch [original ; masked].

    With N = 2B, z_i L2-normalised, s_ij = z_i . z_j and twin(i) = i + B mod N,

        log p_ij = s_ij / t - log sum_{k != i} exp(s_ik / t),
        L = 1 / (N (N - 1)) * sum_i sum_{j != i} w_ij * (-log p_ij),

    with w the weights of :func:`input_soft_weights` (x, a, sigma) of the B unmasked inputs, tiled
    over the two views (w_{i, j + B} = w_{i + B, j} = w_{i + B, j + B} = w_ij: a sample and its
    masked view share their input), and w_{i, twin(i)} = 1. Scaling D over the B distinct inputs
    keeps each column's range informative: on [x ; x] every column's minimum would be the twin's
    D = -1.

    Parameters
    ----------
    z : torch.Tensor
        (2B, d) projections: rows 0..B-1 of the original samples, rows B..2B-1 of their masked views.
    x : torch.Tensor
        The unmasked inputs, (B, ...). Given as (2B, ...), the weights are computed on all 2B
        rows as they are (no tiling).
    a, sigma : float
        See :func:`input_soft_weights`.
    t : float
        Temperature.
    similarity : {"cosine", "dot"}
        s_ij of L2-normalised projections (the paper), or of the raw projections (the released code).

    Returns
    -------
    torch.Tensor
        Scalar loss (0, still attached to ``z``, for B = 1 where p_{i, twin(i)} = 1).
    """
    _check_positive(t=t)
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES} (got {similarity!r})")
    n = z.shape[0]
    if n < 2 or n % 2:
        raise ValueError(f"z must hold 2B >= 2 rows (got {n})")
    b = n // 2
    if x.shape[0] not in (b, n):
        raise ValueError(f"x must have B = {b} or 2B = {n} rows (got {x.shape[0]})")
    if not z.is_floating_point() or z.dtype in (torch.float16, torch.bfloat16):
        z = z.float()
    if similarity == "cosine":
        z = F.normalize(z, dim=1)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    log_prob = F.log_softmax((z @ z.T / t).masked_fill(eye, float("-inf")), dim=1).masked_fill(eye, 0.0)
    weights = input_soft_weights(x.to(z.device), a, sigma).to(z.dtype)
    if x.shape[0] == b:
        weights = weights.repeat(2, 2)
    rows = torch.arange(n, device=z.device)
    weights[rows, (rows + b) % n] = 1.0
    return -(weights * log_prob).sum() / (n * (n - 1))


def aggregate(s: torch.Tensor, h: torch.Tensor, t: float) -> torch.Tensor:
    """Similarity-weighted mixing of the other samples' representations.

        R_ij = exp(s_ij / t) / sum_{k != i} exp(s_ik / t) for j != i,  R_ii = 0,
        h'_i = sum_j R_ij h_j.

    Parameters
    ----------
    s : torch.Tensor
        (N, N) similarities, N >= 2.
    h : torch.Tensor
        (N, D) representations.
    t : float
        Temperature.

    Returns
    -------
    torch.Tensor
        (N, D) aggregated representations h'.
    """
    _check_positive(t=t)
    n = s.shape[0]
    if n < 2:
        raise ValueError(f"aggregation needs at least 2 samples (got {n})")
    eye = torch.eye(n, dtype=torch.bool, device=s.device)
    weights = torch.softmax((s / t).masked_fill(eye, float("-inf")), dim=1)
    return weights.to(h.dtype) @ h


class AutomaticWeightedLoss(nn.Module):
    """Uncertainty weighting of several losses with learnable s_k (initialised to 1).

        total = sum_k 0.5 / s_k^2 * L_k + log(1 + s_k^2).

    Parameters
    ----------
    n : int
        Number of losses.
    """

    def __init__(self, n: int = 2) -> None:
        super().__init__()
        _check_positive(n=n)
        self.params = nn.Parameter(torch.ones(n))

    def forward(self, *losses: torch.Tensor) -> torch.Tensor:
        """The weighted total of ``n`` scalar losses."""
        if len(losses) != self.params.numel():
            raise ValueError(f"expected {self.params.numel()} losses (got {len(losses)})")
        square = self.params**2
        stacked = torch.stack([torch.as_tensor(loss, dtype=square.dtype).reshape(()) for loss in losses])
        return (0.5 / square * stacked + torch.log1p(square)).sum()


class SCMM(nn.Module):
    """The SCMM pre-training model: encoder, projector, linear decoder and loss weights.

    Parameters
    ----------
    n_channels : int
        Number of EEG channels C.
    n_bands : int
        Number of bands F.

    Attributes
    ----------
    encoder : SCMMEncoder
    projector : SCMMProjector
        ``encoder.out_dim -> 256 -> 128``.
    decoder : nn.Linear
        ``encoder.out_dim -> C * F``.
    loss_weights : AutomaticWeightedLoss
        Balances the contrastive and the reconstruction loss.
    """

    def __init__(self, n_channels: int, n_bands: int = N_BANDS) -> None:
        super().__init__()
        self.n_channels = n_channels
        self.n_bands = n_bands
        self.encoder = SCMMEncoder(n_channels, n_bands=n_bands)
        self.projector = SCMMProjector(self.encoder.out_dim)
        self.decoder = nn.Linear(self.encoder.out_dim, n_channels * n_bands)
        self.loss_weights = AutomaticWeightedLoss(2)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or tuple(x.shape[1:]) != (self.n_channels, self.n_bands):
            raise ValueError(f"x must be (B, {self.n_channels}, {self.n_bands}) (got shape {tuple(x.shape)})")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, F) features -> (B, encoder.out_dim) representations h."""
        self._check(x)
        return self.encoder(x)

    def losses(
        self,
        x: torch.Tensor,
        a: float,
        sigma: float,
        t: float,
        ratio: float = MASK_RATIO,
        threshold: float = MASK_THRESHOLD,
        generator: torch.Generator | None = None,
        similarity: str = "cosine",
    ) -> dict[str, torch.Tensor]:
        """The pre-training losses of a batch.

        X = [x ; hybrid_mask(x)], h = encoder(X), z = projector(h);
        contrastive = :func:`soft_contrastive_loss` (z, x, a, sigma, t);
        s = z_n z_n^T with z_n = z / ||z||, h' = :func:`aggregate` (s, h, t),
        reconstruction = MSE(decoder(h').view(2B, C, F), [x ; x]);
        loss = :class:`AutomaticWeightedLoss` (contrastive, reconstruction).

        Parameters
        ----------
        x : torch.Tensor
            (B, C, F) features, B >= 1.
        a, sigma, t : float
            Soft-weight scale, sharpness and temperature (used for the contrast and the aggregation).
        ratio, threshold : float
            See :func:`hybrid_mask`.
        generator : torch.Generator, optional
            For the mask.
        similarity : {"cosine", "dot"}
            Similarity of the contrast and the aggregation (see :func:`soft_contrastive_loss`).

        Returns
        -------
        dict of str to torch.Tensor
            Scalars ``loss`` (the weighted total), ``contrastive`` and ``reconstruction``.
        """
        self._check(x)
        b = x.shape[0]
        if b < 1:
            raise ValueError("the batch is empty")
        batch = torch.cat([x, hybrid_mask(x, ratio, threshold, generator)])
        h = self.encoder(batch)
        z = self.projector(h)
        contrastive = soft_contrastive_loss(z, x, a, sigma, t, similarity)
        unit = F.normalize(z.float(), dim=1) if similarity == "cosine" else z.float()
        h_mixed = aggregate(unit @ unit.T, h, t)
        recon = self.decoder(h_mixed).view(2 * b, self.n_channels, self.n_bands)
        reconstruction = F.mse_loss(recon, torch.cat([x, x]))
        total = self.loss_weights(contrastive, reconstruction)
        return {"loss": total, "contrastive": contrastive, "reconstruction": reconstruction}


class SCMMClassifier(nn.Module):
    """Linear classifier on a (pre-trained) SCMM encoder: logits = W dropout(encoder(x)) + b.

    Parameters
    ----------
    encoder : SCMMEncoder
        The encoder (shared, not copied).
    n_classes : int
        Number of classes.
    dropout : float
        Dropout probability before the head.
    """

    def __init__(self, encoder: SCMMEncoder, n_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.out_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, F) features -> (B, n_classes) logits."""
        return self.head(self.dropout(self.encoder(x)))
