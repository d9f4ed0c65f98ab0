"""Decoded float32 copies of store signals in memory-mapped files: the training loader's source.

Random window reads through zarr cost a decode of a whole 10 s chunk plus per-call overhead
(about 250 five-second windows per second per process). Training reads random windows across
recordings many times per epoch, so the loader copies what it needs, once, into flat float32
files that are then read through ``numpy.memmap`` (served from the page cache):

- :class:`WindowCache` (default for non-overlapping windows): one ``(windows, channels, samples)``
  array per channel count, so a batch of windows is one NumPy fancy-indexing call, as fast as
  indexing an in-memory array;
- :class:`SignalCache` (overlapping windows, where cutting would duplicate samples): each
  recording a ``(channels, samples)`` block; a window is a slice of it.

:func:`build_cache` picks one.

The cache folder is named by a fingerprint of everything that shapes its content: the cache
format, the store's processing hash, and per recording its id, shape, source checksum and
manifest hash. Re-ingesting a corpus changes the fingerprint, so a stale cache is never read.
A cache is complete only when its ``meta.json`` exists (written last, after an atomic rename of
the data file); concurrent builders of the same cache serialise on a file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emod_train.errors import DataError

CACHE_VERSION = 1
"""Version of the cache layout; part of every fingerprint."""

FINGERPRINT_COLUMNS = ("recording_id", "n_channels", "n_samples", "source_checksum", "manifest_sha256", "path")


def default_cache_dir() -> Path:
    """Root folder of signal caches.

    ``$EMOD_TRAIN_CACHE`` when set, else ``$XDG_CACHE_HOME/emod_train``, else ``~/.cache/emod_train``.
    """
    if os.environ.get("EMOD_TRAIN_CACHE"):
        return Path(os.environ["EMOD_TRAIN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "emod_train"


def fingerprint(processing_hash: str, recordings: pd.DataFrame, windows: pd.DataFrame | None = None) -> str:
    """Fingerprint of a cache: SHA-256 (first 20 hex digits) of the processing hash and the recordings' identity.

    Parameters
    ----------
    processing_hash : str
        The store's processing hash (root attribute).
    recordings : pandas.DataFrame
        Rows of the store's recordings table, in cache order.
    windows : pandas.DataFrame, optional
        For a window cache: its windows (``recording_id``, ``start``, ``stop``), in cache order.

    Returns
    -------
    str
    """
    digest = hashlib.sha256(f"emod-train-cache/{CACHE_VERSION}/{processing_hash}".encode())
    columns = [c for c in FINGERPRINT_COLUMNS if c in recordings.columns]
    for row in recordings[columns].itertuples(index=False):
        digest.update(("\x1f".join(str(v) for v in row) + "\x1e").encode())
    if windows is not None:
        digest.update(b"windows")
        digest.update(pd.util.hash_pandas_object(windows[["recording_id", "start", "stop"]], index=False).values)
    return digest.hexdigest()[:20]


def locked_build(folder: Path, meta_name: str, write) -> None:
    """Run ``write()`` under an exclusive lock unless the cache is complete (another process may build it).

    Parameters
    ----------
    folder : pathlib.Path
        The cache folder (created when missing; its ``.lock`` file is the lock).
    meta_name : str
        The file ``write()`` writes last: its presence marks the cache complete.
    write : callable
        Builds the cache.
    """
    if (folder / meta_name).exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (folder / meta_name).exists():
                write()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_meta(folder: Path, meta: dict) -> None:
    """Write ``meta.json`` atomically (temporary file, then rename): the last file of a complete cache."""
    (folder / ".meta.json.tmp").write_text(json.dumps(meta, indent=1))
    os.replace(folder / ".meta.json.tmp", folder / "meta.json")


def read_meta(folder: Path, kind: str) -> dict:
    """The ``meta.json`` of a complete cache.

    Raises
    ------
    DataError
        No ``meta.json`` (the cache is incomplete), naming the folder and the cache ``kind``.
    """
    path = folder / "meta.json"
    if not path.exists():
        raise DataError(f"{folder}: not a complete {kind} cache (meta.json missing)")
    return json.loads(path.read_text())


def recording_rows(store, recording_ids) -> pd.DataFrame:
    """The store's recordings-table rows of ``recording_ids`` (first occurrence order, duplicates dropped).

    Raises
    ------
    DataError
        A recording that is not in the store.
    """
    ids = list(dict.fromkeys(recording_ids))
    table = store.recordings.set_index("recording_id", drop=False)
    missing = [r for r in ids if r not in table.index]
    if missing:
        raise DataError(f"{store.path}: recording '{missing[0]}' is not in the store ({len(missing)} missing)")
    return table.loc[ids].reset_index(drop=True)


def _read_checked(store, row) -> np.ndarray:
    data = store.read(row.recording_id)
    if data.shape != (row.n_channels, row.n_samples):
        raise DataError(
            f"{store.path}: recording '{row.recording_id}' has shape {data.shape}, "
            f"its table row says ({row.n_channels}, {row.n_samples})"
        )
    return np.ascontiguousarray(data, dtype=np.float32)


class SignalCache:
    """Memory-mapped float32 copy of a set of recordings.

    Create it with :meth:`build`. The object pickles without its memory map, which is reopened
    lazily in each process (safe under fork and spawn).

    Attributes
    ----------
    folder : pathlib.Path
        The cache folder (``<root>/<fingerprint>``).
    recording_ids : list of str
        Cached recordings, in cache order (position = index used by :meth:`window`).
    offsets, n_channels, n_samples : numpy.ndarray
        Element offset, channel count and sample count of each recording.
    """

    DATA = "signals.f32"
    INDEX = "index.parquet"
    META = "meta.json"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.meta = read_meta(self.folder, "signal")
        index = pd.read_parquet(self.folder / self.INDEX)
        self.recording_ids = index["recording_id"].tolist()
        self.offsets = index["offset"].to_numpy(np.int64)
        self.n_channels = index["n_channels"].to_numpy(np.int64)
        self.n_samples = index["n_samples"].to_numpy(np.int64)
        self.total = int(self.meta["elements"])
        size = (self.folder / self.DATA).stat().st_size
        if size != 4 * self.total:
            raise DataError(f"{self.folder / self.DATA}: {size} bytes, expected {4 * self.total}; delete the folder")
        self._map: np.ndarray | None = None
        self._pid: int | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_map"], state["_pid"] = None, None
        return state

    def __len__(self) -> int:
        return len(self.recording_ids)

    @property
    def nbytes(self) -> int:
        """Size of the data file in bytes."""
        return 4 * self.total

    def _data(self) -> np.ndarray:
        if self._map is None or self._pid != os.getpid():
            mapped = np.memmap(self.folder / self.DATA, dtype=np.float32, mode="r", shape=(max(self.total, 1),))
            self._map = mapped.view(np.ndarray)  # plain views: slicing a np.memmap is several times slower
            self._pid = os.getpid()
        return self._map

    def recording(self, position: int) -> np.ndarray:
        """A read-only ``(channels, samples)`` view of the recording at ``position``."""
        offset, c, n = self.offsets[position], self.n_channels[position], self.n_samples[position]
        return self._data()[offset : offset + c * n].reshape(c, n)

    def window(self, position: int, start: int, stop: int) -> np.ndarray:
        """A read-only ``(channels, stop - start)`` view of one window (no copy)."""
        return self.recording(position)[:, start:stop]

    @classmethod
    def build(
        cls,
        store,
        recording_ids: Sequence[str],
        root: str | Path | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> SignalCache:
        """Open the cache of these recordings, building it first when absent.

        Parameters
        ----------
        store : emod_data.store.Store
            The open store.
        recording_ids : sequence of str
            Recordings to cache, in the order wanted (duplicates are dropped).
        root : path-like, optional
            Cache root; :func:`default_cache_dir` by default.
        progress : callable, optional
            Called as ``progress(done, total)`` after each recording copied.

        Returns
        -------
        SignalCache

        Raises
        ------
        DataError
            An unknown recording id, or a recording whose stored shape differs from its table row.
        """
        rows = recording_rows(store, recording_ids)
        key = fingerprint(store.processing.hash, rows)
        folder = (Path(root) if root is not None else default_cache_dir()) / key
        locked_build(folder, cls.META, lambda: cls._write(store, rows, folder, key, progress))
        return cls(folder)

    @classmethod
    def _write(cls, store, rows: pd.DataFrame, folder: Path, key: str, progress) -> None:
        sizes = rows["n_channels"].to_numpy(np.int64) * rows["n_samples"].to_numpy(np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        total = int(sizes.sum())
        temporary = folder / f".{cls.DATA}.{os.getpid()}.tmp"
        started = time.perf_counter()
        with open(temporary, "wb") as handle:
            for done, row in enumerate(rows.itertuples(index=False), start=1):
                try:
                    handle.write(_read_checked(store, row).tobytes())
                except DataError:
                    temporary.unlink(missing_ok=True)
                    raise
                if progress is not None:
                    progress(done, len(rows))
        os.replace(temporary, folder / cls.DATA)
        index = pd.DataFrame(
            {
                "recording_id": rows["recording_id"].to_numpy(),
                "offset": offsets,
                "n_channels": rows["n_channels"].to_numpy(np.int64),
                "n_samples": rows["n_samples"].to_numpy(np.int64),
            }
        )
        index.to_parquet(folder / cls.INDEX, index=False)
        meta = {
            "cache_version": CACHE_VERSION,
            "layout": "recordings",
            "fingerprint": key,
            "store": str(store.path),
            "processing_hash": store.processing.hash,
            "recordings": len(rows),
            "elements": total,
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        write_meta(folder, meta)


class WindowCache:
    """Memory-mapped float32 copy of a set of windows, one ``(N_c, c, T)`` array per channel count c.

    Create it with :meth:`build` (or :func:`build_cache`). Like :class:`SignalCache` it pickles
    without its memory maps, which are reopened lazily in each process.

    Attributes
    ----------
    folder : pathlib.Path
    length : int
        Samples per window (T).
    index : pandas.DataFrame
        One row per cached window: ``recording_id``, ``start``, ``stop``, ``n_channels``, ``row``
        (its position in the array of its channel count).
    """

    INDEX = "index.parquet"
    META = "meta.json"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.meta = read_meta(self.folder, "window")
        if self.meta.get("layout") != "windows":
            raise DataError(f"{self.folder}: not a window cache (layout {self.meta.get('layout')!r})")
        self.length = int(self.meta["length"])
        self.counts = {int(c): int(n) for c, n in self.meta["groups"].items()}
        self.index = pd.read_parquet(self.folder / self.INDEX)
        for c, n in self.counts.items():
            path = self._path(c)
            expected = 4 * n * c * self.length
            if not path.exists() or path.stat().st_size != expected:
                size = path.stat().st_size if path.exists() else 0
                raise DataError(f"{path}: {size} bytes, expected {expected}; delete the folder {self.folder}")
        self._maps: dict[int, np.ndarray] = {}
        self._pid: int | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_maps"], state["_pid"] = {}, None
        return state

    def __len__(self) -> int:
        return len(self.index)

    @property
    def nbytes(self) -> int:
        """Size of the data files in bytes."""
        return sum(4 * n * c * self.length for c, n in self.counts.items())

    def _path(self, channels: int) -> Path:
        return self.folder / f"windows-{channels}ch.f32"

    def group(self, channels: int) -> np.ndarray:
        """The read-only ``(N_c, channels, T)`` array of all cached windows with this channel count."""
        if self._pid != os.getpid():
            self._maps, self._pid = {}, os.getpid()
        if channels not in self._maps:
            shape = (self.counts[channels], channels, self.length)
            self._maps[channels] = np.memmap(self._path(channels), dtype=np.float32, mode="r", shape=shape).view(
                np.ndarray
            )
        return self._maps[channels]

    def rows_of(self, windows: pd.DataFrame) -> np.ndarray:
        """Row (within its channel-count array) of each window of ``windows``.

        Raises
        ------
        DataError
            A window that is not in this cache.
        """
        keys = pd.MultiIndex.from_frame(self.index[["recording_id", "start"]])
        position = keys.get_indexer(pd.MultiIndex.from_frame(windows[["recording_id", "start"]]))
        if (position < 0).any():
            row = windows.iloc[int(np.flatnonzero(position < 0)[0])]
            raise DataError(f"{self.folder}: window {row['recording_id']} @ {row['start']} is not in this cache")
        return self.index["row"].to_numpy(np.int64)[position]

    @classmethod
    def build(
        cls,
        store,
        windows: pd.DataFrame,
        root: str | Path | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> WindowCache:
        """Open the cache of these windows, building it first when absent.

        Parameters
        ----------
        store : emod_data.store.Store
        windows : pandas.DataFrame
            Windows of one length (``recording_id``, ``start``, ``stop``), e.g. from
            :func:`emod_train.data.windows.window_table`.
        root : path-like, optional
            Cache root; :func:`default_cache_dir` by default.
        progress : callable, optional
            Called as ``progress(done, total)`` after each recording.

        Returns
        -------
        WindowCache
        """
        windows = windows[["recording_id", "start", "stop"]].drop_duplicates(["recording_id", "start"])
        windows = windows.sort_values(["recording_id", "start"], kind="stable").reset_index(drop=True)
        lengths = np.unique(windows["stop"] - windows["start"])
        if len(lengths) != 1:
            raise DataError(f"a window cache needs windows of one length (got {lengths.tolist()} samples)")
        rows = recording_rows(store, windows["recording_id"].unique())
        key = fingerprint(store.processing.hash, rows, windows)
        folder = (Path(root) if root is not None else default_cache_dir()) / key
        length = int(lengths[0])
        locked_build(folder, cls.META, lambda: cls._write(store, rows, windows, length, folder, key, progress))
        return cls(folder)

    @classmethod
    def _write(cls, store, rows, windows, length, folder, key, progress) -> None:
        started = time.perf_counter()
        channels = rows.set_index("recording_id")["n_channels"]
        windows = windows.assign(n_channels=windows["recording_id"].map(channels).to_numpy(np.int64))
        windows["row"] = windows.groupby("n_channels").cumcount().to_numpy(np.int64)
        counts = windows["n_channels"].value_counts().to_dict()
        temporary = {c: folder / f".windows-{c}ch.{os.getpid()}.tmp" for c in counts}
        handles = {c: open(path, "wb") for c, path in temporary.items()}  # closed below
        try:
            by_recording = dict(tuple(windows.groupby("recording_id", sort=False)))
            for done, row in enumerate(rows.itertuples(index=False), start=1):
                data = _read_checked(store, row)
                cut = by_recording[row.recording_id]
                for start in cut["start"].to_numpy():
                    handles[row.n_channels].write(data[:, start : start + length].tobytes())
                if progress is not None:
                    progress(done, len(rows))
        except BaseException:
            for c, handle in handles.items():
                handle.close()
                temporary[c].unlink(missing_ok=True)
            raise
        for c, handle in handles.items():
            handle.close()
            os.replace(temporary[c], folder / f"windows-{c}ch.f32")
        windows.to_parquet(folder / cls.INDEX, index=False)
        meta = {
            "cache_version": CACHE_VERSION,
            "layout": "windows",
            "fingerprint": key,
            "store": str(store.path),
            "processing_hash": store.processing.hash,
            "length": length,
            "groups": {str(c): int(n) for c, n in sorted(counts.items())},
            "recordings": len(rows),
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        write_meta(folder, meta)


def build_cache(
    store, windows: pd.DataFrame, root: str | Path | None = None, layout: str = "auto", progress=None
) -> WindowCache | SignalCache:
    """The cache a loader of these windows should read from, built when absent.

    Parameters
    ----------
    store : emod_data.store.Store
    windows : pandas.DataFrame
        The windows the loader will serve.
    root : path-like, optional
        Cache root; :func:`default_cache_dir` by default.
    layout : {"auto", "windows", "recordings"}
        ``auto`` picks a :class:`WindowCache` when no two windows of a recording overlap (no
        sample is stored twice) and a :class:`SignalCache` otherwise.
    progress : callable, optional
        ``progress(done, total)`` per recording copied.

    Returns
    -------
    WindowCache or SignalCache
    """
    if layout not in ("auto", "windows", "recordings"):
        raise ValueError(f"layout must be 'auto', 'windows' or 'recordings' (got {layout!r})")
    if layout == "auto":
        ordered = windows.sort_values(["recording_id", "start"])
        same = ordered["recording_id"].to_numpy()[1:] == ordered["recording_id"].to_numpy()[:-1]
        overlap = same & (ordered["start"].to_numpy()[1:] < ordered["stop"].to_numpy()[:-1])
        layout = "recordings" if overlap.any() else "windows"
    if layout == "windows":
        return WindowCache.build(store, windows, root, progress)
    return SignalCache.build(store, windows["recording_id"].unique(), root, progress)
