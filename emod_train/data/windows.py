"""Window tables of an emod_data store: which windows exist, their V-A region, channels and length.

- :func:`va_region`: the 3 x 3 valence-arousal macro region of each window (EMOD's sampling grid).
- :func:`window_table`: the store's window table plus what the loader needs (region, channel count).
- :func:`shared_channels`, :func:`channel_ids_of`: channels every recording of some corpora holds,
  and their vocabulary ids.

The windows are read by :mod:`emod_train.data.dataset` in the batches of :mod:`emod_train.data.samplers`
(or :mod:`emod_train.methods.emod.sampler`, EMOD's structured sampler).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from emod_train.errors import DataError

N_REGIONS = 9
"""Macro regions of the valence-arousal plane (3 x 3)."""


def va_region(valence: np.ndarray, arousal: np.ndarray) -> np.ndarray:
    """Macro region of valence-arousal points (EMOD's sampling grid).

    Each coordinate on [-4, 4] is floored to its integer level and binned in thirds,
    -4..-2 / -1..1 / 2..4; region = valence_bin + 3 * arousal_bin.

    Parameters
    ----------
    valence, arousal : array-like
        Coordinates on [-4, 4].

    Returns
    -------
    numpy.ndarray
        int64 regions 0..8; -1 where a coordinate is missing (NaN).
    """
    valence = np.asarray(valence, dtype=float)
    arousal = np.asarray(arousal, dtype=float)
    missing = ~(np.isfinite(valence) & np.isfinite(arousal))

    def bins(values: np.ndarray) -> np.ndarray:
        level = np.floor(np.clip(np.nan_to_num(values), -4, 4))
        return np.where(level <= -2, 0, np.where(level <= 1, 1, 2))

    region = bins(valence) + 3 * bins(arousal)
    return np.where(missing, -1, region).astype(np.int64)


def window_table(
    store,
    seconds: float,
    stride: float | None = None,
    corpora: Sequence[str] | None = None,
    segments: tuple[str, ...] = ("stimulus",),
) -> pd.DataFrame:
    """Windows of a store with the columns the loader needs.

    Parameters
    ----------
    store : emod_data.store.Store
        The open store.
    seconds : float
        Window length in seconds.
    stride : float, optional
        Step between window starts; None gives non-overlapping windows.
    corpora : sequence of str, optional
        Keep only these corpora (all by default). Unknown names raise.
    segments : tuple of str
        Segment kinds (``"stimulus"`` by default).

    Returns
    -------
    pandas.DataFrame
        :meth:`Store.windows` columns plus ``n_channels`` and ``region`` (-1 without V-A labels).

    Raises
    ------
    DataError
        An unknown corpus, or no window at all.
    """
    recordings = store.recordings
    if not len(recordings):
        raise DataError(f"{store.path}: the store holds no recordings")
    present = sorted(recordings["corpus"].unique())
    if corpora is not None:
        unknown = [c for c in corpora if c not in present]
        if unknown:
            raise DataError(f"{store.path}: corpus '{unknown[0]}' is not in the store (it holds {', '.join(present)})")
    table = store.windows(
        seconds, stride=stride, corpora=list(corpora) if corpora is not None else None, segments=segments
    )
    if not len(table):
        raise DataError(
            f"{store.path}: no {seconds:g} s window in {', '.join(corpora or present)} (recordings are too short)"
        )
    channels = recordings.set_index("recording_id")["n_channels"]
    table["n_channels"] = table["recording_id"].map(channels).to_numpy(np.int64)
    table["region"] = va_region(table["valence"].to_numpy(float), table["arousal"].to_numpy(float))
    return table


def shared_channels(store, corpora: Sequence[str]) -> list[str]:
    """Channels every recording of these corpora holds, in the order of their vocabulary ids.

    Parameters
    ----------
    store : emod_data.store.Store
    corpora : sequence of str
        Corpus names in the store.

    Returns
    -------
    list of str
        Canonical channel names (e.g. SEED and DEAP share DEAP's 32 channels).

    Raises
    ------
    DataError
        A corpus is not in the store, or the corpora share no channel.
    """
    recordings = store.recordings
    common: set[str] | None = None
    ids: dict[str, int] = {}
    for corpus in corpora:
        rows = recordings[recordings["corpus"] == corpus]
        if not len(rows):
            raise DataError(f"{store.path}: corpus '{corpus}' is not in the store")
        for names, numbers in zip(rows["channel_names"], rows["channel_ids"], strict=True):
            ids.update(zip(map(str, names), map(int, numbers), strict=True))
            common = set(map(str, names)) if common is None else common & set(map(str, names))
    if not common:
        raise DataError(f"{store.path}: corpora {', '.join(corpora)} share no channel")
    return sorted(common, key=lambda name: ids[name])


def channel_ids_of(store, names: Sequence[str]) -> np.ndarray:
    """Vocabulary ids of canonical channel names (as the store's recordings table records them).

    Raises
    ------
    DataError
        A name no recording of the store holds.
    """
    ids: dict[str, int] = {}
    for names_row, numbers in zip(store.recordings["channel_names"], store.recordings["channel_ids"], strict=True):
        ids.update(zip(map(str, names_row), map(int, numbers), strict=True))
    missing = [n for n in names if n not in ids]
    if missing:
        raise DataError(f"{store.path}: no recording holds channel '{missing[0]}'")
    return np.array([ids[n] for n in names], dtype=np.int64)
