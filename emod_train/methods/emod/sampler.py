"""EMOD's structured cross-corpus batch sampler (the paper's sampling grid of valence-arousal regions)."""

from __future__ import annotations

import math

import numpy as np

from emod_train.data.samplers import ResumableSampler
from emod_train.data.windows import N_REGIONS
from emod_train.errors import DataError

SAMPLER_MODES = ("skip", "released")
"""Structured sampler modes: skip empty regions (the paper), or fill them from the next region (the released code)."""


class StructuredBatchSampler(ResumableSampler):
    """EMOD's structured cross-dataset sampler.

    A batch holds, for each corpus, ``rounds`` rounds; a round takes one window from each of the
    9 valence-arousal macro regions, skipping regions the corpus has no window in. Within a
    (corpus, region) cell windows are drawn without replacement in a random order that is
    reshuffled when the cell is exhausted. Windows without V-A labels (region -1) are never drawn.

    Parameters
    ----------
    corpus : array-like
        (N,) corpus of each window.
    region : array-like
        (N,) macro region of each window (:func:`va_region`).
    rounds : int
        m, rounds per corpus and batch.
    num_batches : int, optional
        Batches per epoch; default ``ceil(N / batch size)``, i.e. about one pass over the windows.
    seed : int
        Seed; an epoch's batches depend only on ``(seed, epoch)``.
    mode : {"skip", "released"}
        ``"skip"`` (the paper's description): a round skips the regions a corpus has no window in.
        ``"released"`` (the released code): an empty region is replaced by the next non-empty one
        (cyclically, sharing its draws), so every round takes 9 windows per corpus (4 rounds: 36).
    """

    def __init__(
        self, corpus, region, rounds: int = 4, num_batches: int | None = None, seed: int = 0, mode: str = "skip"
    ) -> None:
        super().__init__(seed)
        corpus = np.asarray(corpus)
        region = np.asarray(region, dtype=np.int64)
        if rounds < 1:
            raise ValueError(f"rounds must be at least 1 (got {rounds})")
        if mode not in SAMPLER_MODES:
            raise ValueError(f"mode must be one of {', '.join(SAMPLER_MODES)} (got {mode!r})")
        self.mode = mode
        self.rounds = int(rounds)
        self.cells: list[list[np.ndarray]] = []
        self.corpora = sorted(set(corpus[region >= 0].tolist()))
        if not self.corpora:
            raise DataError("no window has valence-arousal labels: the structured sampler has nothing to draw")
        self.slots: list[list[int]] = []  # per corpus: the cell each of a round's draws comes from
        for name in self.corpora:
            cells = [np.flatnonzero((corpus == name) & (region == r)) for r in range(N_REGIONS)]
            kept = [r for r in range(N_REGIONS) if len(cells[r])]
            self.cells.append([cells[r] for r in kept])
            if mode == "skip":
                self.slots.append(list(range(len(kept))))
            else:  # region r -> the first non-empty region r, r + 1, ... (cyclically)
                after = [next(k for k in (*kept, *(v + N_REGIONS for v in kept)) if k >= r) % N_REGIONS
                         for r in range(N_REGIONS)]  # fmt: skip
                self.slots.append([kept.index(a) for a in after])
        self.batch_size = self.rounds * sum(len(s) for s in self.slots)
        labelled = int((region >= 0).sum())
        self._num_batches = int(num_batches) if num_batches is not None else math.ceil(labelled / self.batch_size)

    @classmethod
    def rounds_for(cls, corpus, region, batch_size: int) -> int:
        """m giving a batch closest to ``batch_size``: ``max(1, round(batch_size / non-empty cells))``."""
        corpus, region = np.asarray(corpus), np.asarray(region)
        cells = len({(c, r) for c, r in zip(corpus.tolist(), region.tolist(), strict=True) if r >= 0})
        return max(1, round(batch_size / max(cells, 1)))

    @property
    def num_batches(self) -> int:
        """Batches in a full epoch."""
        return self._num_batches

    def batches(self) -> list[list[int]]:
        """All batches of the current epoch."""
        rng = self._rng()
        streams = [[_Stream(cell, rng) for cell in cells] for cells in self.cells]
        out = []
        for _ in range(self._num_batches):
            batch = []
            for corpus_streams, slots in zip(streams, self.slots, strict=True):
                for _ in range(self.rounds):
                    batch.extend(corpus_streams[slot].next() for slot in slots)
            out.append(batch)
        return out


class _Stream:
    """Endless draws without replacement from one cell, reshuffled on exhaustion."""

    def __init__(self, items: np.ndarray, rng: np.random.Generator) -> None:
        self.items, self.rng = items, rng
        self.order = rng.permutation(items)
        self.position = 0

    def next(self) -> int:
        if self.position == len(self.order):
            self.order, self.position = self.rng.permutation(self.items), 0
        self.position += 1
        return int(self.order[self.position - 1])
