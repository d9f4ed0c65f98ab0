"""Differential-entropy (DE) band features of store windows, computed fast and cached.

- :data:`BANDS`: the five classic EEG bands (delta to gamma).
- :func:`differential_entropy`: DE of each band of each channel of any stack of windows, one vectorised
  FFT call: ``0.5 * ln(2 * pi * e * var_band)`` (the entropy of a Gaussian of the band-limited variance).
- :func:`de_features`: DE of every window of a window table (:func:`emod_train.data.windows.window_table`),
  reading each recording once; the result is cached as one ``.npy`` under
  ``<cache root>/features/<fingerprint>/`` and memory-mapped on reuse.
- :func:`min_max_scale`: per-column [0, 1] scaling, optionally per group (e.g. per subject).
- :func:`scale_with_training`: per-column [0, 1] scaling fitted on training rows only.

See ``docs/features.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.fft

from emod_train.data.cache import default_cache_dir, fingerprint, locked_build, recording_rows, write_meta
from emod_train.errors import DataError

BANDS: tuple[tuple[str, float, float], ...] = (
    ("delta", 1.0, 4.0),
    ("theta", 4.0, 8.0),
    ("alpha", 8.0, 14.0),
    ("beta", 14.0, 31.0),
    ("gamma", 31.0, 49.0),
)
"""Frequency bands ``(name, low Hz, high Hz)``; a band holds the frequencies ``low <= f < high``."""

FEATURES_VERSION = 1
"""Version of the feature computation and cache layout; part of every feature fingerprint."""

VAR_FLOOR = 1e-20
"""Smallest band variance (µV²) fed to the logarithm (an empty or silent band gives about -22.6)."""

_CHUNK_BYTES = 128 * 2**20  # windows stacked per vectorised call: at most about this many bytes of signal


def _check_bands(bands) -> tuple[tuple[str, float, float], ...]:
    checked = []
    for band in bands:
        try:
            name, lo, hi = band
            lo, hi = float(lo), float(hi)
        except (TypeError, ValueError):
            raise ValueError(f"a band is (name, low Hz, high Hz), got {band!r}") from None
        if not (0 <= lo < hi):
            raise ValueError(f"band {name!r}: need 0 <= low < high (got {lo:g}, {hi:g} Hz)")
        checked.append((str(name), lo, hi))
    if not checked:
        raise ValueError("no band given")
    return tuple(checked)


def _band_weights(n_samples: int, sfreq: float, bands) -> np.ndarray:
    """(n_freqs, n_bands) float32 matrix mapping |rfft|² to band variances (Parseval, one-sided)."""
    freqs = np.fft.rfftfreq(n_samples, d=1.0 / sfreq)
    # one-sided spectrum: every bin but DC and (n even) Nyquist stands for itself and its mirror
    fold = np.full(len(freqs), 2.0)
    fold[0] = 1.0
    if n_samples % 2 == 0:
        fold[-1] = 1.0
    weights = np.zeros((len(freqs), len(bands)))
    for j, (name, lo, hi) in enumerate(bands):
        inside = (freqs >= lo) & (freqs < hi)
        if not inside.any():
            raise ValueError(
                f"band {name!r} ({lo:g}-{hi:g} Hz) holds no frequency bin of a {n_samples}-sample window at "
                f"{sfreq:g} Hz (bins every {sfreq / n_samples:g} Hz up to {sfreq / 2:g} Hz); use longer windows"
            )
        weights[inside, j] = fold[inside]
    return (weights / float(n_samples) ** 2).astype(np.float32)


def differential_entropy(x: np.ndarray, sfreq: float, bands=BANDS) -> np.ndarray:
    """Differential entropy of each frequency band of each channel.

    Under a Gaussian assumption the DE of a band-limited signal of variance ``v`` is
    ``0.5 * ln(2 * pi * e * v)``. The band variance is that of the ideal band-pass (FFT bins with
    ``low <= f < high``) of the mean-removed window, taken from its real FFT by Parseval's theorem:
    ``v = sum_k w_k |X_k|² / N²`` over the band's bins, ``w_k = 2`` except for DC and Nyquist (1).
    One FFT and one matrix product cover all leading axes; variances are floored at :data:`VAR_FLOOR`.

    Parameters
    ----------
    x : numpy.ndarray
        Signals of shape ``(..., channels, samples)`` (µV).
    sfreq : float
        Sampling rate in Hz.
    bands : sequence of (str, float, float)
        ``(name, low Hz, high Hz)`` per band; :data:`BANDS` by default.

    Returns
    -------
    numpy.ndarray
        float32 of shape ``(..., channels, len(bands))``.

    Raises
    ------
    ValueError
        An ill-formed band, or a band holding no FFT bin at this window length (windows too short).

    Examples
    --------
    >>> t = np.arange(200) / 200.0
    >>> de = differential_entropy(3.0 * np.sin(2 * np.pi * 10 * t)[None], 200.0)
    >>> de.shape
    (1, 5)
    >>> bool(np.isclose(de[0, 2], 0.5 * np.log(2 * np.pi * np.e * 9.0 / 2), atol=1e-5))
    True
    """
    bands = _check_bands(bands)
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x must be (..., channels, samples), got shape {x.shape}")
    if sfreq <= 0:
        raise ValueError(f"sfreq must be positive (got {sfreq})")
    n = x.shape[-1]
    weights = _band_weights(n, float(sfreq), bands)
    x = x.astype(np.float32, copy=False)
    centred = x - x.mean(axis=-1, keepdims=True, dtype=np.float64).astype(np.float32)
    spectrum = scipy.fft.rfft(centred, axis=-1)  # float32 in, complex64 out (several times numpy's speed here)
    power = spectrum.real**2 + spectrum.imag**2
    variance = np.maximum(power @ weights, VAR_FLOOR)
    return (0.5 * np.log(2 * np.pi * np.e * variance)).astype(np.float32)


def _channel_positions(rows: pd.DataFrame, channels: Sequence[str] | None) -> dict[str, np.ndarray | None]:
    """Per recording, the positions of ``channels`` among its stored channels (None: all of them)."""
    if channels is None:
        counts = rows["n_channels"].astype(int)
        if counts.nunique() > 1:
            found = ", ".join(f"{c} ({rid})" for c, rid in rows.groupby(counts)["recording_id"].first().items())
            raise DataError(
                f"the windows' recordings have different channel counts ({found}); "
                "pass channels=[...] to pick the same channels from every recording"
            )
        return dict.fromkeys(rows["recording_id"])
    positions = {}
    for rid, names in zip(rows["recording_id"], rows["channel_names"], strict=True):
        index = {name: i for i, name in enumerate(names)}
        missing = [c for c in channels if c not in index]
        if missing:
            raise DataError(
                f"recording '{rid}' has no channel '{missing[0]}' ({len(missing)} of the requested channels missing)"
            )
        positions[rid] = np.array([index[c] for c in channels], dtype=np.int64)
    return positions


def _features_key(store, rows, canonical, channels, bands) -> str:
    base = fingerprint(store.processing.hash, rows, canonical)
    spec = {
        "features": "differential_entropy",
        "version": FEATURES_VERSION,
        "base": base,
        "sfreq": float(store.processing.sfreq),
        "channels": None if channels is None else list(channels),
        "bands": [list(b) for b in bands],
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def _compute(store, rows, canonical, positions, bands, out: np.ndarray, progress) -> None:
    """Fill ``out`` (rows in ``canonical`` order) recording by recording."""
    sfreq = float(store.processing.sfreq)
    groups = canonical.groupby("recording_id", sort=False).indices
    all_starts = canonical["start"].to_numpy(np.int64)
    all_stops = canonical["stop"].to_numpy(np.int64)
    for done, row in enumerate(rows.itertuples(index=False), start=1):
        rid = row.recording_id
        where = groups[rid]
        starts, stops = all_starts[where], all_stops[where]
        first, last = int(starts.min()), int(stops.max())
        data = store.read(rid, first, last)
        if data.shape != (int(row.n_channels), last - first):
            raise DataError(
                f"{store.path}: recording '{rid}' read as shape {data.shape} over samples {first}:{last}, "
                f"its table row says {int(row.n_channels)} channels x {int(row.n_samples)} samples"
            )
        pick = positions[rid]
        n_channels = len(pick) if pick is not None else int(row.n_channels)
        if pick is not None:
            data = data[pick]
        data = np.ascontiguousarray(data, dtype=np.float32)
        for length in np.unique(stops - starts):
            same = np.flatnonzero(stops - starts == length)
            view = np.lib.stride_tricks.sliding_window_view(data, int(length), axis=-1)  # (C, spans, L), no copy
            step = max(1, _CHUNK_BYTES // (4 * n_channels * int(length)))
            for i in range(0, len(same), step):
                chunk = same[i : i + step]
                stack = view[:, starts[chunk] - first].transpose(1, 0, 2)  # (windows, C, L)
                out[where[chunk]] = differential_entropy(stack, sfreq, bands)
        if progress is not None:
            progress(done, len(rows))


def de_features(
    store,
    windows: pd.DataFrame,
    channels: Sequence[str] | None = None,
    bands=BANDS,
    cache_dir: str | Path | bool | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> np.ndarray:
    """Differential-entropy features of every window of a table, cached on disk.

    Each recording is read once (the span covering its windows) and all its windows go through
    :func:`differential_entropy` in one vectorised call (in chunks of about 128 MiB of signal).
    The features of the table's distinct windows, sorted by ``(recording_id, start, stop)``, are
    saved as one float32 ``.npy`` in ``<cache root>/features/<fingerprint>/`` (written to a
    temporary file and renamed, under the signal caches' lock; ``meta.json`` last). The fingerprint
    covers the store's processing hash, the recordings' identity, the windows, the channel list,
    the bands and the sampling rate, so any change makes a new cache, while a reordered or
    duplicated table reuses it.

    Parameters
    ----------
    store : emod_data.store.Store
        The open store.
    windows : pandas.DataFrame
        Windows with ``recording_id``, ``start``, ``stop`` (samples, stop exclusive), e.g. from
        :func:`emod_train.data.windows.window_table`. Windows may differ in length (all must hold every band).
    channels : sequence of str, optional
        Canonical channel names, picked in this order from every recording. None: each recording's
        own channels, which then must be equally many for all windows.
    bands : sequence of (str, float, float)
        ``(name, low Hz, high Hz)``; :data:`BANDS` by default.
    cache_dir : path-like or False, optional
        Cache root (features go in its ``features/`` folder); None: :func:`~emod_train.data.cache.default_cache_dir`;
        False: compute without any cache.
    progress : callable, optional
        ``progress(done, total)`` after each recording computed (not called when the cache is reused).

    Returns
    -------
    numpy.ndarray
        float32 ``(n_windows, n_channels, n_bands)``, row i for ``windows.iloc[i]``. When the table is
        already in cache order (sorted, no duplicate) this is the read-only memory map of the cache
        file; otherwise an in-memory array gathered from it.

    Raises
    ------
    DataError
        An unknown recording, a window outside its recording, a recording lacking a requested
        channel, or mixed channel counts with ``channels=None``.
    ValueError
        An ill-formed band, or a band holding no FFT bin at the window length.

    Examples
    --------
    >>> from emod_data.store import open_store
    >>> from emod_train.data.windows import window_table
    >>> store = open_store("~/emod.zarr")                                    # doctest: +SKIP
    >>> table = window_table(store, 1.0, corpora=["seed"])                   # doctest: +SKIP
    >>> x = de_features(store, table)                                        # doctest: +SKIP
    >>> x.shape                                                              # doctest: +SKIP
    (n_windows, 62, 5)
    """
    bands = _check_bands(bands)
    channels, request, canonical, rows, positions, n_channels = _checked_request(store, windows, channels, bands)
    shape = (len(canonical), n_channels, len(bands))
    if cache_dir is False:
        features = np.empty(shape, dtype=np.float32)
        _compute(store, rows, canonical, positions, bands, features, progress)
    else:
        features = _cached(store, rows, canonical, positions, channels, bands, shape, cache_dir, progress)
    index = pd.MultiIndex.from_frame(canonical).get_indexer(pd.MultiIndex.from_frame(request))
    if len(index) == len(canonical) and np.array_equal(index, np.arange(len(canonical))):
        return features
    return np.ascontiguousarray(features[index])


def _checked_request(store, windows: pd.DataFrame, channels, bands):
    """The channels (as strings), the requested windows, their sorted distinct set, its recordings, the
    channel positions and the channel count.

    Raises
    ------
    DataError, ValueError
        As :func:`de_features` (checked before any signal is read).
    """
    if channels is not None:
        channels = [str(c) for c in channels]
        if not channels:
            raise ValueError("channels is empty (pass None for each recording's own channels)")
        if len(set(channels)) != len(channels):
            raise ValueError("channels lists a name twice")
    missing = [c for c in ("recording_id", "start", "stop") if c not in windows.columns]
    if missing:
        raise DataError(f"the window table has no column '{missing[0]}'")
    request = pd.DataFrame(
        {
            "recording_id": windows["recording_id"].astype(str).to_numpy(object),
            "start": windows["start"].to_numpy(np.int64),
            "stop": windows["stop"].to_numpy(np.int64),
        }
    )
    canonical = request.drop_duplicates().sort_values(["recording_id", "start", "stop"], kind="stable")
    canonical = canonical.reset_index(drop=True)
    rows = recording_rows(store, canonical["recording_id"].unique())
    positions = _channel_positions(rows, channels)
    n_channels = len(channels) if channels is not None else (int(rows["n_channels"].iloc[0]) if len(rows) else 0)
    if len(canonical):
        limit = canonical["recording_id"].map(rows.set_index("recording_id")["n_samples"]).to_numpy(np.int64)
        bad = (canonical["start"] < 0) | (canonical["stop"] <= canonical["start"]) | (canonical["stop"] > limit)
        if bad.any():
            row = canonical[bad].iloc[0]
            raise DataError(
                f"{store.path}: window {row['recording_id']} [{row['start']}, {row['stop']}) is empty or outside "
                f"its recording ({limit[int(np.flatnonzero(bad)[0])]} samples)"
            )
        for length in np.unique(canonical["stop"] - canonical["start"]):
            _band_weights(int(length), float(store.processing.sfreq), bands)  # fail before any read
    return channels, request, canonical, rows, positions, n_channels


def _cached(store, rows, canonical, positions, channels, bands, shape, cache_dir, progress) -> np.ndarray:
    """The features of ``canonical`` from the cache, computed and saved first when it lacks them."""
    key = _features_key(store, rows, canonical, channels, bands)
    root = default_cache_dir() if not cache_dir or cache_dir is True else Path(cache_dir).expanduser()
    folder = root / "features" / key

    def write() -> None:
        started = time.perf_counter()
        temporary = folder / f".de.{os.getpid()}.tmp.npy"
        try:
            out = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32, shape=shape)
            _compute(store, rows, canonical, positions, bands, out, progress)
            out.flush()
            del out
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        os.replace(temporary, folder / "de.npy")
        meta = {
            "features": "differential_entropy",
            "version": FEATURES_VERSION,
            "fingerprint": key,
            "store": str(store.path),
            "processing_hash": store.processing.hash,
            "sfreq": float(store.processing.sfreq),
            "channels": channels,
            "bands": [list(b) for b in bands],
            "shape": list(shape),
            "recordings": len(rows),
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        write_meta(folder, meta)

    locked_build(folder, "meta.json", write)
    features = np.load(folder / "de.npy", mmap_mode="r")
    if features.shape != shape or features.dtype != np.float32:
        raise DataError(
            f"{folder / 'de.npy'}: {features.dtype} {features.shape}, expected float32 {shape}; delete the folder"
        )
    return features.view(np.ndarray)


def scale_with_training(features: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Min-max scale every feature column with the minimum and maximum of the ``train`` rows.

    Parameters
    ----------
    features : numpy.ndarray
        ``(N, ...)`` features.
    train : numpy.ndarray
        Positions (or a boolean mask) of the training rows.

    Returns
    -------
    numpy.ndarray
        float32; training rows in [0, 1], other rows may fall outside; a constant column becomes 0.
    """
    fit = features[train]
    low, high = fit.min(axis=0), fit.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return ((features - low) / span * (high > low)).astype(np.float32)


def min_max_scale(x: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Scale every feature column to [0, 1] over the rows, optionally per group.

    A column is everything but the first axis (e.g. one channel and band of ``(n, channels, bands)``
    features). Each column becomes ``(x - min) / (max - min)`` over the rows, or over the rows of each
    group separately when ``groups`` is given (e.g. per subject); a constant column becomes 0.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, ...)`` values.
    groups : numpy.ndarray, optional
        ``(n,)`` group labels.

    Returns
    -------
    numpy.ndarray
        float32, same shape as ``x``.

    Raises
    ------
    ValueError
        ``x`` without a row axis, or ``groups`` not of length n.

    Examples
    --------
    >>> min_max_scale(np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]]))
    array([[0. , 0. ],
           [1. , 0. ],
           [0.5, 0. ]], dtype=float32)
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1:
        raise ValueError("x needs a row axis")
    out = np.zeros(x.shape, dtype=np.float32)
    if not len(x):
        return out
    if groups is None:
        members = [np.arange(len(x))]
    else:
        groups = np.asarray(groups)
        if groups.shape != (len(x),):
            raise ValueError(f"groups must have shape ({len(x)},), got {groups.shape}")
        _, inverse = np.unique(groups, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        members = np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1)
    for rows in members:
        part = x[rows]
        low, high = part.min(axis=0), part.max(axis=0)
        span = high - low
        scaled = np.divide(part - low, span, out=np.zeros_like(part), where=span > 0)
        out[rows] = scaled
    return out
