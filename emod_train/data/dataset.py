"""Reading windows into torch batches.

- :class:`WindowDataset`: reads windows from a memory-mapped cache (:func:`~emod_train.data.cache.build_cache`)
  or straight from the zarr arrays; the source is opened lazily in each process, so the dataset is
  safe with DataLoader workers under fork and spawn. ``__getitems__`` reads a whole batch at once
  and groups it by channel count into sub-batches (:class:`Batch` of :class:`SubBatch`).
- :class:`WindowLoader`: batches in sampler order, read ahead by threads (the training loops' loader);
  :func:`make_loader`: the same with a torch DataLoader and worker processes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Sampler

from emod_train.data.cache import SignalCache, WindowCache
from emod_train.errors import DataError


@dataclass
class SubBatch:
    """Windows of one channel count, ready for one forward pass.

    Attributes
    ----------
    x : torch.Tensor
        (B, C, T) float32 µV.
    channel_ids : torch.Tensor
        (B, C) long channel ids of the global vocabulary.
    index : torch.Tensor
        (B,) long positions of the windows in the dataset.
    """

    x: torch.Tensor
    channel_ids: torch.Tensor
    index: torch.Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> SubBatch:
        """Copy to a device."""
        return SubBatch(
            self.x.to(device, non_blocking=non_blocking),
            self.channel_ids.to(device, non_blocking=non_blocking),
            self.index.to(device, non_blocking=non_blocking),
        )

    def pin_memory(self) -> SubBatch:
        """Page-locked copy (DataLoader ``pin_memory=True``)."""
        return SubBatch(self.x.pin_memory(), self.channel_ids.pin_memory(), self.index.pin_memory())

    def select(self, ids: torch.Tensor) -> SubBatch:
        """The channels with these vocabulary ids, in this order (every window must hold all of them).

        Raises
        ------
        DataError
            A window lacks one of the channels.
        """
        ids = ids.to(self.channel_ids.device)
        match = self.channel_ids.unsqueeze(-1) == ids.view(1, 1, -1)  # (B, C, K)
        if not bool(match.any(dim=1).all()):
            raise DataError("a window lacks one of the selected channels")
        positions = match.to(torch.uint8).argmax(dim=1)  # (B, K)
        x = torch.gather(self.x, 1, positions.unsqueeze(-1).expand(-1, -1, self.x.shape[-1]))
        return SubBatch(x, ids.expand(self.x.shape[0], -1).clone(), self.index)


@dataclass
class Batch:
    """A batch as sub-batches of equal channel count, plus per-window labels in the same order.

    Attributes
    ----------
    parts : list of SubBatch
        Sub-batches; concatenating their outputs gives the batch order of the label tensors.
    va : torch.Tensor
        (B, 2) float32 valence and arousal (NaN when unknown).
    labels : torch.Tensor
        (B,) long task labels (-1 when the dataset has none).
    index : torch.Tensor
        (B,) long dataset positions.
    """

    parts: list[SubBatch]
    va: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """Copy to a device."""
        return Batch(
            [p.to(device, non_blocking) for p in self.parts],
            self.va.to(device, non_blocking=non_blocking),
            self.labels.to(device, non_blocking=non_blocking),
            self.index.to(device, non_blocking=non_blocking),
        )

    def pin_memory(self) -> Batch:
        """Page-locked copy (DataLoader ``pin_memory=True``)."""
        return Batch([p.pin_memory() for p in self.parts], self.va.pin_memory(), self.labels.pin_memory(), self.index)


def _empty(shape: tuple[int, ...]) -> torch.Tensor:
    """float32 tensor, in shared memory inside a DataLoader worker (saves the copy on the way out)."""
    if torch.utils.data.get_worker_info() is not None:
        storage = torch.UntypedStorage._new_shared(math.prod(shape) * 4)
        return torch.empty(0, dtype=torch.float32).set_(storage).view(shape)
    return torch.empty(shape, dtype=torch.float32)


class WindowDataset(Dataset):
    """Windows of a store as a torch Dataset.

    Parameters
    ----------
    windows : pandas.DataFrame
        A :func:`window_table` (or any table with ``recording_id``, ``start``, ``stop``).
    store : emod_data.store.Store or path-like
        The store the windows come from.
    cache : WindowCache, SignalCache or None
        Read windows from this cache (fast; see :func:`emod_train.data.cache.build_cache`). None reads
        them from the zarr arrays (about 250 windows per second per process; for checks and
        one-off use).
    labels : array-like, optional
        (N,) integer task labels; -1 for all when omitted.

    Notes
    -----
    ``__getitem__`` returns one window as a dict; ``__getitems__`` (used by ``DataLoader`` with a
    batch sampler) reads a whole batch into one preallocated tensor per channel count and returns
    a :class:`Batch`, so use ``collate_fn=collate_batch``.
    """

    def __init__(self, windows: pd.DataFrame, store, cache: SignalCache | None = None, labels=None) -> None:
        if not len(windows):
            raise DataError("the window table is empty")
        self.store_path = store.path if hasattr(store, "path") else store
        self.cache = cache
        recordings = store.recordings if hasattr(store, "recordings") else None
        self.recording_ids = list(dict.fromkeys(windows["recording_id"]))
        position = {r: i for i, r in enumerate(self.recording_ids)}
        if isinstance(cache, WindowCache):
            self.cache_rows = cache.rows_of(windows)
        elif cache is not None:
            cache_position = {r: i for i, r in enumerate(cache.recording_ids)}
            missing = [r for r in self.recording_ids if r not in cache_position]
            if missing:
                raise DataError(f"{cache.folder}: recording '{missing[0]}' is not in this cache")
            self.source_position = np.array([cache_position[r] for r in self.recording_ids], dtype=np.int64)
        self.window_recording = windows["recording_id"].map(position).to_numpy(np.int64)
        self.start = windows["start"].to_numpy(np.int64)
        self.stop = windows["stop"].to_numpy(np.int64)
        lengths = np.unique(self.stop - self.start)
        if len(lengths) != 1:
            raise DataError(f"windows must share one length (got {lengths.tolist()} samples)")
        self.length = int(lengths[0])
        if isinstance(cache, WindowCache) and cache.length != self.length:
            raise DataError(f"{cache.folder}: windows of {cache.length} samples, the table's have {self.length}")
        if recordings is None:
            from emod_data.store import open_store

            recordings = open_store(self.store_path).recordings
        rows = recordings.set_index("recording_id").loc[self.recording_ids]
        self.channel_ids = [np.asarray(ids, dtype=np.int64) for ids in rows["channel_ids"]]
        self.recording_channels = rows["n_channels"].to_numpy(np.int64)
        self.n_channels = self.recording_channels[self.window_recording]
        valence = windows["valence"].to_numpy(float) if "valence" in windows else np.full(len(windows), np.nan)
        arousal = windows["arousal"].to_numpy(float) if "arousal" in windows else np.full(len(windows), np.nan)
        self.va = np.stack([valence, arousal], axis=1).astype(np.float32)
        self.labels = np.full(len(windows), -1, dtype=np.int64) if labels is None else np.asarray(labels, np.int64)
        if self.labels.shape != (len(windows),):
            raise DataError(f"labels must have one entry per window ({len(windows)}), got {self.labels.shape}")
        self._store = None
        self._pid: int | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_store"], state["_pid"] = None, None
        return state

    def __len__(self) -> int:
        return len(self.start)

    def _zarr_store(self):
        if self._store is None or self._pid != os.getpid():
            from emod_data.store import open_store

            self._store = open_store(self.store_path)
            self._pid = os.getpid()
        return self._store

    def read(self, i: int) -> np.ndarray:
        """Window ``i`` as float32 (channels, samples); a view into the cache when there is one."""
        r = self.window_recording[i]
        if isinstance(self.cache, WindowCache):
            return self.cache.group(int(self.n_channels[i]))[self.cache_rows[i]]
        if self.cache is not None:
            return self.cache.window(self.source_position[r], self.start[i], self.stop[i])
        return self._zarr_store().read(self.recording_ids[r], int(self.start[i]), int(self.stop[i]))

    def __getitem__(self, i: int) -> dict:
        """One window: ``x`` (C, T) float32 tensor, ``channel_ids``, ``va``, ``label``, ``index``."""
        r = self.window_recording[i]
        return {
            "x": torch.from_numpy(np.array(self.read(i), dtype=np.float32)),
            "channel_ids": torch.from_numpy(self.channel_ids[r]),
            "va": torch.from_numpy(self.va[i]),
            "label": int(self.labels[i]),
            "index": int(i),
        }

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        """Read a batch into one tensor per channel count; see :class:`Batch`."""
        indices = np.asarray(indices, dtype=np.int64)
        counts = self.n_channels[indices]
        parts, order = [], []
        for c in sorted(set(counts.tolist()), key=lambda v: -v):
            chosen = indices[counts == c]
            x = _empty((len(chosen), c, self.length))
            out = x.numpy()
            if isinstance(self.cache, WindowCache):  # one fancy-indexing call per channel count
                np.take(self.cache.group(c), self.cache_rows[chosen], axis=0, out=out, mode="clip")
            else:
                for j, i in enumerate(chosen):
                    out[j] = self.read(i)
            ids = torch.from_numpy(np.stack([self.channel_ids[self.window_recording[i]] for i in chosen]))
            parts.append(SubBatch(x, ids, torch.from_numpy(chosen)))
            order.append(chosen)
        index = np.concatenate(order)
        return Batch(
            parts, torch.from_numpy(self.va[index]), torch.from_numpy(self.labels[index]), torch.from_numpy(index)
        )


def collate_batch(batch):
    """``collate_fn`` for :class:`WindowDataset`: passes a :class:`Batch` through, collates single windows."""
    if isinstance(batch, Batch):
        return batch
    x = torch.stack([b["x"] for b in batch])
    part = SubBatch(x, torch.stack([b["channel_ids"] for b in batch]), torch.tensor([b["index"] for b in batch]))
    return Batch([part], torch.stack([b["va"] for b in batch]), torch.tensor([b["label"] for b in batch]), part.index)


class WindowLoader:
    """Batches of a :class:`WindowDataset` in sampler order, read ahead by a pool of threads.

    The default loader of training. Copying a window out of the memory-mapped cache is one
    NumPy copy that releases the GIL, so threads read in parallel without the start-up time of
    worker processes (seconds each: they import torch) and without passing every batch through
    shared memory, which on small machines costs more than reading it.

    Parameters
    ----------
    dataset : WindowDataset
    sampler : Sampler
        A batch sampler of this module.
    workers : int
        Reader threads; 0 reads each batch when it is asked for.
    prefetch : int
        Batches read ahead per thread.
    pin_memory : bool
        Return page-locked batches (faster host-to-GPU copies).
    """

    def __init__(
        self, dataset: WindowDataset, sampler: Sampler, workers: int = 2, prefetch: int = 2, pin_memory: bool = False
    ) -> None:
        self.dataset, self.sampler = dataset, sampler
        self.workers, self.prefetch, self.pin_memory = max(0, int(workers)), max(1, int(prefetch)), pin_memory

    def __len__(self) -> int:
        return len(self.sampler)

    def _read(self, indices: list[int]) -> Batch:
        batch = self.dataset.__getitems__(indices)
        return batch.pin_memory() if self.pin_memory else batch

    def __iter__(self) -> Iterator[Batch]:
        if self.workers == 0:
            for indices in self.sampler:
                yield self._read(indices)
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        pending: deque = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="emod-loader") as pool:
            try:
                for indices in self.sampler:
                    pending.append(pool.submit(self._read, indices))
                    if len(pending) >= self.workers * self.prefetch:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()


def make_loader(
    dataset: WindowDataset, sampler: Sampler, workers: int = 0, pin_memory: bool = False, seed: int = 0
) -> torch.utils.data.DataLoader:
    """A torch DataLoader (worker processes) over a :class:`WindowDataset` with a batch sampler.

    :class:`WindowLoader` (threads) is faster on a memory-mapped cache; use this one when the
    dataset reads from zarr (``cache=None``), where decoding benefits from processes. Workers are
    spawned (never forked: zarr and some BLAS builds keep threads), persist across epochs, and each
    opens the cache or the store lazily.

    Parameters
    ----------
    dataset : WindowDataset
    sampler : Sampler
        One of the batch samplers of this module.
    workers : int
        Worker processes (0 reads in the training process).
    pin_memory : bool
        Page-locked batches (for CUDA).
    seed : int
        Seed of the loader's base generator (workers draw no random numbers, this only fixes torch's bookkeeping).
    """
    generator = torch.Generator().manual_seed(int(seed))
    options = {}
    if workers > 0:
        options = {"multiprocessing_context": "spawn", "persistent_workers": True, "prefetch_factor": 4}
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_batch,
        num_workers=workers,
        pin_memory=pin_memory,
        generator=generator,
        **options,
    )
