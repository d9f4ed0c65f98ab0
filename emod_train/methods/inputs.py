"""Task inputs per method input kind: raw windows or DE features, as datasets the loaders read.

Both kinds yield :class:`emod_train.data.dataset.Batch` objects, so one fine-tuning loop serves every method:
``raw`` is :class:`emod_train.data.dataset.WindowDataset` (read through the signal cache), ``de`` is
:class:`FeatureDataset` (the differential-entropy features of the same windows, min-max scaled per
feature column with the training part's minimum and maximum only: no validation or test data).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from emod_train.data.dataset import Batch, SubBatch


class FeatureDataset:
    """Precomputed per-window features as a dataset of :class:`~emod_train.data.dataset.Batch` es.

    Parameters
    ----------
    features : numpy.ndarray
        ``(N, C, F)`` float32 features.
    channel_ids : sequence of int
        Vocabulary ids of the C channels.
    labels : numpy.ndarray
        ``(N,)`` class indices.
    """

    def __init__(self, features: np.ndarray, channel_ids: Sequence[int], labels: np.ndarray) -> None:
        self.features = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        self.channel_ids = torch.as_tensor(list(channel_ids), dtype=torch.long)
        self.labels = torch.from_numpy(np.array(labels, dtype=np.int64))
        if len(self.labels) != len(self.features):
            raise ValueError(f"labels must have one entry per window ({len(self.features)}), got {len(self.labels)}")

    def __len__(self) -> int:
        return len(self.features)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        """The windows at ``indices`` as one sub-batch."""
        index = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        x = self.features[index]
        part = SubBatch(x, self.channel_ids.expand(len(index), -1).clone(), index)
        va = torch.full((len(index), 2), float("nan"))
        return Batch([part], va, self.labels[index], index)


def task_datasets(
    inputs: str, store, parts: dict[str, pd.DataFrame], channels: Sequence[str], cache: bool, cache_dir
) -> dict:
    """Datasets of a task's parts for a method's input kind.

    Parameters
    ----------
    inputs : {"raw", "de"}
        The method's input kind.
    store : emod_data.store.Store
    parts : dict
        ``{"train": windows, "val": ..., "test": ...}`` with ``label`` columns.
    channels : sequence of str
        Channels DE features are computed on (ignored for raw windows, which keep every channel).
    cache : bool
        Read raw windows from the signal cache (and cache DE features).
    cache_dir : str or None
        Cache root.

    Returns
    -------
    dict
        ``{part: WindowDataset or FeatureDataset}``.
    """
    if inputs == "raw":
        from emod_train.data.cache import build_cache
        from emod_train.data.dataset import WindowDataset

        everything = pd.concat(list(parts.values()), ignore_index=True)
        signal_cache = build_cache(store, everything, cache_dir) if cache else None
        return {k: WindowDataset(v, store, signal_cache, labels=v["label"].to_numpy()) for k, v in parts.items()}
    if inputs != "de":
        raise ValueError(f"inputs must be 'raw' or 'de' (got {inputs!r})")
    from emod_train.data.features import de_features, scale_with_training
    from emod_train.data.windows import channel_ids_of

    names = list(parts)
    table = pd.concat([parts[k] for k in names], ignore_index=True)
    bounds = np.cumsum([0, *(len(parts[k]) for k in names)])
    features = np.asarray(de_features(store, table, channels, cache_dir=cache_dir if cache else False))
    scaled = scale_with_training(features, np.arange(bounds[names.index("train")], bounds[names.index("train") + 1]))
    ids = channel_ids_of(store, channels)
    return {
        k: FeatureDataset(scaled[bounds[i] : bounds[i + 1]], ids, parts[k]["label"].to_numpy())
        for i, k in enumerate(names)
    }
