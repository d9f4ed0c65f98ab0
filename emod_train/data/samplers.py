"""Batch samplers: deterministic under ``(seed, epoch)`` and resumable mid-epoch (``start_batch``).

- :class:`ResumableSampler`: the base (``set_epoch``, ``start_batch``, ``num_batches``).
- :class:`ShuffledBatchSampler` and :class:`SequentialBatchSampler`: plain batches for fine-tuning
  and evaluation.
- :class:`ShardedBatchSampler`: one rank's share of every batch of another sampler (data-parallel runs).

EMOD's structured cross-corpus sampler is :class:`emod_train.methods.emod.sampler.StructuredBatchSampler`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class ResumableSampler(Sampler[list[int]]):
    """Base of the batch samplers: ``set_epoch`` and ``start_batch`` for deterministic, resumable epochs."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch (its random order) and the first batch to yield (to resume mid-epoch)."""
        self.epoch, self.start_batch = int(epoch), int(start_batch)

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch])

    def batches(self) -> list[list[int]]:
        """All batches of the current epoch (including those before ``start_batch``)."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()[self.start_batch :]

    def __len__(self) -> int:
        return max(0, self.num_batches - self.start_batch)

    @property
    def num_batches(self) -> int:
        """Batches in a full epoch."""
        raise NotImplementedError


class ShuffledBatchSampler(ResumableSampler):
    """Random batches over all windows, a new order each epoch.

    Parameters
    ----------
    n : int
        Dataset size.
    batch_size : int
        Windows per batch.
    seed : int
        Seed; the order depends only on ``(seed, epoch)``.
    drop_last : bool
        Drop a last incomplete batch (keeps BatchNorm away from a batch of one).
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0, drop_last: bool = False) -> None:
        super().__init__(seed)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 (got {batch_size})")
        self.n, self.batch_size, self.drop_last = int(n), int(batch_size), drop_last

    @property
    def num_batches(self) -> int:
        """Batches in a full epoch."""
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def batches(self) -> list[list[int]]:
        """All batches of the current epoch."""
        order = self._rng().permutation(self.n)
        return [order[i * self.batch_size : (i + 1) * self.batch_size].tolist() for i in range(self.num_batches)]


class SequentialBatchSampler(ResumableSampler):
    """Batches in dataset order (evaluation)."""

    def __init__(self, n: int, batch_size: int) -> None:
        super().__init__(0)
        self.n, self.batch_size = int(n), int(batch_size)

    @property
    def num_batches(self) -> int:
        """Batches in a full pass."""
        return math.ceil(self.n / self.batch_size)

    def batches(self) -> list[list[int]]:
        """All batches."""
        return [list(range(i, min(i + self.batch_size, self.n))) for i in range(0, self.n, self.batch_size)]


class ShardedBatchSampler:
    """This rank's share of every batch of a batch sampler: ``batch[rank::world_size]``.

    ``set_epoch``, ``start_batch``, ``num_batches`` and ``batch_size`` are those of the wrapped
    sampler, so resuming mid-epoch works as in a single process.

    Parameters
    ----------
    sampler : ResumableSampler
        Identical on every rank (same data and seed).
    rank, world_size : int
    """

    def __init__(self, sampler, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}) (got {rank})")
        self.sampler, self.rank, self.world_size = sampler, rank, world_size

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch and the first batch, as the wrapped sampler does."""
        self.sampler.set_epoch(epoch, start_batch)

    @property
    def start_batch(self) -> int:
        """First batch yielded in the current epoch."""
        return self.sampler.start_batch

    @property
    def num_batches(self) -> int:
        """Batches in a full epoch."""
        return self.sampler.num_batches

    @property
    def batch_size(self) -> int:
        """Size of the global batch."""
        return self.sampler.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.sampler:
            yield list(batch)[self.rank :: self.world_size]

    def __len__(self) -> int:
        return len(self.sampler)
