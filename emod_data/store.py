"""The harmonized store: zarr v3 arrays plus parquet tables.

Layout of a store folder::

    zarr.json                         root group; attributes: store version, processing, hash
    data/<corpus>/sub-<s>/ses-<n>/trial-<tt>[-baseline]
                                      one float32 (channels, samples) array per segment, µV
    tables/recordings/<corpus>.parquet   one row per array
    tables/failures/<corpus>.parquet     files or trials that could not be ingested
    tables/channels.parquet              the global channel vocabulary

Each array's attributes hold its canonical channel names, source file and
checksum, manifest hash and a completion mark written last. Only the ingest
coordinator writes tables and root attributes; workers write arrays only.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from emod_data.channels import load_vocabulary
from emod_data.config import ProcessingConfig, check_same
from emod_data.errors import StoreError

STORE_VERSION = 1
"""Version of the store layout; a store of another version is refused on open."""

LABEL_COLUMNS = ["class_name", "class_index", "valence", "arousal", "dominance"]


def _schemas() -> dict:
    import pyarrow as pa

    string, integer, real = pa.string(), pa.int64(), pa.float64()
    recordings = [
        ("recording_id", string), ("corpus", string), ("subject", string), ("session", integer),
        ("trial", integer), ("segment", string), ("stimulus", string), ("path", string),
        ("n_channels", integer), ("n_samples", integer), ("sfreq", real), ("duration_s", real),
        ("channel_names", pa.list_(string)), ("channel_ids", pa.list_(pa.int16())),
        ("class_name", string), ("class_index", integer), ("valence", real), ("arousal", real),
        ("dominance", real), ("label_source", string), ("raw_code", string),
        ("raw_ratings", pa.map_(string, real)), ("source_file", string), ("source_size", integer),
        ("source_mtime_ns", integer), ("source_checksum", string), ("manifest_sha256", string),
        ("lexicon_sha256", string), ("processing_hash", string),
        ("bad_channels", pa.list_(string)), ("bad_reasons", pa.list_(string)), ("bad_action", string),
        ("ica_removed", pa.list_(string)),
    ]  # fmt: skip
    failures = [("file", string), ("subject", string), ("session", integer), ("trial", integer),
                ("stage", string), ("error", string)]  # fmt: skip
    return {"recordings": pa.schema(recordings), "failures": pa.schema(failures)}


def table_schema(kind: str):
    """The fixed pyarrow schema of the ``recordings`` or ``failures`` tables (the same for every corpus)."""
    return _schemas()[kind]


def _zarr():
    import zarr

    return zarr


def array_codecs(config: ProcessingConfig) -> dict:
    """zarr ``compressors`` for stored arrays: Blosc with bit-shuffle, part of the zarr v3 spec."""
    from zarr.codecs import BloscCodec

    codec = BloscCodec(cname=config.compressor, clevel=config.compression_level, shuffle="bitshuffle", typesize=4)
    return {"compressors": codec}


def create_or_check_root(path: str | Path, config: ProcessingConfig) -> ProcessingConfig:
    """Create a store, or check that an existing one was made with ``config``.

    Parameters
    ----------
    path : path-like
        Store folder.
    config : ProcessingConfig
        Requested processing parameters.

    Returns
    -------
    ProcessingConfig
        The store's configuration (equal to ``config``).

    Raises
    ------
    StoreError
        When the folder holds another store version, something that is not an
        emod store, or a store made with other processing parameters.
    """
    import fcntl

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path}: exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".emod-root.lock", "w") as lock:  # ingests starting together create the root once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / "zarr.json").exists():
            stored = read_root(path)
            check_same(stored, config, str(path))
            return stored
        if any(p.name != ".emod-root.lock" for p in path.iterdir()):
            raise StoreError(f"{path}: folder exists and is not a zarr store; choose an empty or new folder")
        write_table(path, "channels", None, load_vocabulary())
        root = _zarr().open_group(path, mode="a", zarr_format=3)
        root.attrs.update(
            {"emod_store_version": STORE_VERSION, "processing": config.to_dict(), "processing_hash": config.hash}
        )
        return config


def _filesystem(path: str | Path):
    """(fsspec filesystem, path inside it) of a local path or an fsspec URL."""
    import fsspec

    return fsspec.core.url_to_fs(str(path))


def read_root(path: str | Path) -> ProcessingConfig:
    """Read and check a store's root attributes; return its processing configuration.

    Parameters
    ----------
    path : str or path-like
        A local store folder or an fsspec URL (``s3://bucket/emod.zarr``, ``file:///...``).

    Raises
    ------
    StoreError
        Missing store, not an emod store, or another store version.
    """
    zarr = _zarr()
    fs, root = _filesystem(path)
    if not fs.exists(f"{root}/zarr.json"):
        raise StoreError(f"{path}: no store here (zarr.json missing)")
    attrs = dict(zarr.open_group(str(path), mode="r", zarr_format=3).attrs)
    version = attrs.get("emod_store_version")
    if version is None:
        raise StoreError(f"{path}: a zarr group but not an emod store (no emod_store_version attribute)")
    if version != STORE_VERSION:
        raise StoreError(f"{path}: store version {version}; this emod_data reads version {STORE_VERSION}")
    return ProcessingConfig.from_dict(attrs["processing"])


def table_path(path: str | Path, kind: str, corpus: str | None) -> Path:
    """Where a table lives: ``tables/<kind>/<corpus>.parquet`` or ``tables/<kind>.parquet``."""
    base = Path(path) / "tables"
    return base / f"{kind}.parquet" if corpus is None else base / kind / f"{corpus}.parquet"


def write_table(path: str | Path, kind: str, corpus: str | None, table: pd.DataFrame) -> None:
    """Write a parquet table atomically (temporary file, then rename).

    ``recordings`` and ``failures`` tables are written with their fixed schema
    (:func:`table_schema`), so the tables of all corpora read as one with
    ``pd.read_parquet("store.zarr/tables/recordings")``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = table_path(path, kind, corpus)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if kind in ("recordings", "failures"):
        schema = table_schema(kind)
        frame = table.reindex(columns=schema.names)
        frame = frame.astype(object).where(frame.notna(), None)
        arrow = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    else:
        arrow = pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(arrow, temporary)
    os.replace(temporary, target)


def read_table(path: str | Path, kind: str, corpus: str | None = None) -> pd.DataFrame:
    """Read one corpus' table, all corpora's concatenated (``corpus=None``), or a global table.

    Works on local stores and fsspec URLs; returns an empty frame when the table is absent.
    """
    fs, root = _filesystem(path)
    if corpus is not None or kind == "channels":
        target = f"{root}/tables/{kind}.parquet" if corpus is None else f"{root}/tables/{kind}/{corpus}.parquet"
        targets = [target] if fs.exists(target) else []
    else:
        targets = sorted(fs.glob(f"{root}/tables/{kind}/*.parquet"))
    parts = [pd.read_parquet(target, filesystem=fs) for target in targets]
    parts = [part for part in parts if len(part)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def write_segment(path: str | Path, array_path: str, data: np.ndarray, attrs: dict, config: ProcessingConfig) -> None:
    """Write one segment array; its completion mark is written last.

    Parameters
    ----------
    path : path-like
        Store folder.
    array_path : str
        Array path inside the store (``data/seed/sub-1/ses-1/trial-01``).
    data : numpy.ndarray
        float32 (channels, samples).
    attrs : dict
        Array attributes (channel names, source file, checksum, manifest hash).
    config : ProcessingConfig
        Chunking and compression parameters.
    """
    zarr = _zarr()
    n_channels, n_samples = data.shape
    chunk = min(config.chunk_samples, max(1, n_samples))
    shard = math.ceil(n_samples / chunk) * chunk
    array = zarr.create_array(
        store=str(path),
        name=array_path,
        shape=data.shape,
        dtype="float32",
        chunks=(n_channels, chunk),
        shards=(n_channels, shard),
        fill_value=0.0,
        attributes={**attrs, "complete": False},
        overwrite=True,
        zarr_format=3,
        config={"write_empty_chunks": True},
        **array_codecs(config),
    )
    array[:] = data
    array.update_attributes({"complete": True})


def segment_complete(path: str | Path, array_path: str) -> bool:
    """True when a segment array exists and carries its completion mark."""
    meta = Path(path) / array_path / "zarr.json"
    if not meta.exists():
        return False
    import json

    try:
        return bool(json.loads(meta.read_text()).get("attributes", {}).get("complete"))
    except (OSError, ValueError):
        return False


class Store:
    """Read access to a harmonized store.

    Open it with :func:`open_store`. Arrays are opened lazily, so a Store can be
    created inside each worker process (safe under fork and spawn). Local folders
    and fsspec URLs are both read.

    Attributes
    ----------
    path : pathlib.Path or str
        The store folder, or its URL.
    processing : ProcessingConfig
        The processing parameters every array was made with.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path if "://" in str(path) else Path(path).expanduser()
        self.processing = read_root(self.path)

    def __repr__(self) -> str:
        recs = self.recordings
        corpora = ", ".join(sorted(recs["corpus"].unique())) if len(recs) else "empty"
        return f"Store('{self.path}', {len(recs)} recordings: {corpora}, {self.processing.sfreq:g} Hz)"

    @functools.cached_property
    def recordings(self) -> pd.DataFrame:
        """One row per stored segment, all corpora (see ``docs/store.md`` for the columns)."""
        table = read_table(self.path, "recordings")
        if len(table):
            table = table.sort_values("corpus", kind="stable").reset_index(drop=True)
            table["raw_ratings"] = [dict(r) if r is not None else None for r in table["raw_ratings"]]
        return table

    @functools.cached_property
    def failures(self) -> pd.DataFrame:
        """Files or trials that could not be ingested, with stage and one-line reason."""
        return read_table(self.path, "failures")

    @functools.cached_property
    def vocabulary(self) -> pd.DataFrame:
        """The global channel vocabulary stored with the store (id, name, x, y, z)."""
        return read_table(self.path, "channels")

    @functools.cached_property
    def _rows(self) -> pd.DataFrame:
        return self.recordings.set_index("recording_id")

    def _row(self, recording_id: str) -> pd.Series:
        try:
            return self._rows.loc[recording_id]
        except KeyError:
            raise StoreError(f"{self.path}: no recording '{recording_id}'") from None

    def channels(self, recording_id: str) -> list[str]:
        """Canonical channel names of a recording, in stored order."""
        return list(self._row(recording_id)["channel_names"])

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one cache per Store, freed with it
    def _array(self, array_path: str):
        return _zarr().open_array(store=str(self.path), path=array_path, mode="r", zarr_format=3)

    def read(self, recording_id: str, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Read a recording's signal.

        Parameters
        ----------
        recording_id : str
            A ``recording_id`` of :attr:`recordings`.
        start, stop : int, optional
            Sample range along time (Python slice semantics).

        Returns
        -------
        numpy.ndarray
            float32 (channels, samples) in µV.
        """
        row = self._row(recording_id)
        return np.asarray(self._array(row["path"])[:, start:stop], dtype=np.float32)

    def windows(
        self,
        seconds: float,
        stride: float | None = None,
        corpora: list[str] | None = None,
        segments: tuple[str, ...] = ("stimulus",),
    ) -> pd.DataFrame:
        """Cut recordings into fixed-length windows (a table; no signal is read).

        Parameters
        ----------
        seconds : float
            Window length in seconds.
        stride : float, optional
            Step between window starts in seconds; None gives non-overlapping windows.
        corpora : list of str, optional
            Keep only these corpora.
        segments : tuple of str
            Segment kinds to cut (``"stimulus"`` by default; ``"baseline"`` too if wanted).

        Returns
        -------
        pandas.DataFrame
            One row per window: ``recording_id``, ``corpus``, ``subject``, ``session``,
            ``trial``, ``start``, ``stop`` (samples, stop exclusive), ``segment``, ``stimulus``
            and the label columns.
            An incomplete tail is dropped.
        """
        if seconds <= 0 or (stride is not None and stride <= 0):
            raise ValueError("window length and stride must be positive")
        recs = self.recordings
        if not len(recs):
            return pd.DataFrame(columns=["recording_id", "start", "stop"])
        recs = recs[recs["segment"].isin(segments)]
        if corpora is not None:
            recs = recs[recs["corpus"].isin(corpora)]
        sfreq = self.processing.sfreq
        length = round(seconds * sfreq)
        step = length if stride is None else round(stride * sfreq)
        n_samples = recs["n_samples"].to_numpy()
        counts = np.where(n_samples >= length, (n_samples - length) // step + 1, 0)
        keep = ["recording_id", "corpus", "subject", "session", "trial", "segment", "stimulus", *LABEL_COLUMNS]
        table = recs[keep].loc[recs.index.repeat(counts)].reset_index(drop=True)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        table.insert(5, "start", offsets * step)
        table.insert(6, "stop", table["start"] + length)
        return table


def open_store(path: str | Path) -> Store:
    """Open a harmonized store for reading.

    Parameters
    ----------
    path : str or path-like
        The store folder written by ``emod-data ingest``, or an fsspec URL of a copy
        (``s3://bucket/emod.zarr``; the fsspec backend for the protocol must be installed).

    Returns
    -------
    Store

    Raises
    ------
    StoreError
        No store at ``path``, not an emod store, or another store version.
    """
    return Store(path)
