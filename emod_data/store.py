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
import time
from pathlib import Path

import numpy as np
import pandas as pd

from emod_data.channels import load_vocabulary
from emod_data.config import ProcessingConfig, check_same
from emod_data.errors import StoreError, first_line
from emod_data.shards import encode_shard, shard_layout
from emod_data.storage import filesystem, is_url, local_path, location_errors, write_file, zarr_store

STORE_VERSION = 1
"""Version of the store layout; a store of another version is refused on open."""

READ_ATTEMPTS = 5
"""Attempts of :meth:`Store.read` on an array that fails to read (it may be being swapped by a re-ingest)."""

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
    """zarr ``compressors`` for stored arrays: Blosc with bit-shuffle, then a CRC32C checksum per chunk.

    Both codecs are part of the zarr v3 spec; the checksum is verified by zarr on every read, so a
    damaged chunk raises instead of decoding to wrong values.
    """
    from zarr.codecs import BloscCodec, Crc32cCodec

    codec = BloscCodec(cname=config.compressor, clevel=config.compression_level, shuffle="bitshuffle", typesize=4)
    return {"compressors": [codec, Crc32cCodec()]}


def _root_attributes(config: ProcessingConfig) -> dict:
    return {"emod_store_version": STORE_VERSION, "processing": config.to_dict(), "processing_hash": config.hash}


def _write_root(path: str | Path, config: ProcessingConfig, storage_options: dict | None) -> None:
    """Write the channels table, then the root ``zarr.json`` with its attributes in one write (last)."""
    write_table(path, "channels", None, load_vocabulary(), storage_options)
    store = zarr_store(path, storage_options, read_only=False)
    _zarr().create_group(store, attributes=_root_attributes(config), zarr_format=3)


def _remove_stale_builds(parent: Path, name: str) -> None:
    """Remove half-built roots (``.<name>.creating-<pid>-*``) left by killed processes."""
    import shutil

    for folder in parent.glob(f".{name}.creating-*"):
        try:
            pid = int(folder.name.split(".creating-")[1].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            continue


def _create_local_root(path: Path, config: ProcessingConfig) -> None:
    """Build the root in a hidden sibling folder and rename it into place (atomic under kill -9)."""
    import shutil
    import uuid

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds(path.parent, path.name)
        building = path.parent / f".{path.name}.creating-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            _write_root(building, config, None)
            (path / ".emod-root.lock").unlink(missing_ok=True)  # left by earlier versions
            try:
                os.rename(building, path)  # replaces a missing or empty folder, never a filled one
            except OSError as exc:
                if not (path / "zarr.json").exists():  # not a concurrent creator that won the race
                    raise exc
        finally:
            shutil.rmtree(building, ignore_errors=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the store ({exc.strerror or type(exc).__name__})") from None


def _empty_or_half_made(fs, root: str, half_made: bool) -> bool:
    """True when a location holds nothing, or (object storage) only the channels table of a half-made root."""
    names = {entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(root, detail=False)} - {".emod-root.lock"}
    if not half_made or names - {"tables"}:
        return not names
    return not names or set(fs.find(f"{root}/tables")) <= {f"{root}/tables/channels.parquet"}


def create_or_check_root(
    path: str | Path, config: ProcessingConfig, storage_options: dict | None = None
) -> ProcessingConfig:
    """Create a store, or check that an existing one was made with ``config``.

    A local root is built in a hidden sibling folder and renamed into place, so a
    process killed while creating it leaves no half-made store; on object storage the
    channels table is written first and the root ``zarr.json`` last, in one write, and a
    location holding only that table is taken as a half-made root and completed.

    Parameters
    ----------
    path : str or path-like
        Store folder or fsspec URL.
    config : ProcessingConfig
        Requested processing parameters.
    storage_options : dict, optional
        fsspec options of a URL.

    Returns
    -------
    ProcessingConfig
        The store's configuration (equal to ``config``).

    Raises
    ------
    StoreError
        When the location holds another store version, something that is not an
        emod store, or a store made with other processing parameters, or cannot be written.
    """
    fs, root = filesystem(path, storage_options)
    if not is_url(path):
        path = local_path(path)
        if path.exists() and not path.is_dir():
            raise StoreError(f"{path}: exists and is not a folder")
    with location_errors(path, "reach the store"):
        missing = not fs.exists(f"{root}/zarr.json")
        refused = missing and fs.isdir(root) and not _empty_or_half_made(fs, root, half_made=is_url(path))
    if missing:
        if refused:
            raise StoreError(f"{path}: folder exists and is not a zarr store; choose an empty or new folder")
        if is_url(path):
            with location_errors(path, "create the store"):
                _write_root(path, config, storage_options)
        else:
            _create_local_root(path, config)
    stored = read_root(path, storage_options)
    check_same(stored, config, str(path))
    return stored


def store_exists(path: str | Path, storage_options: dict | None = None) -> bool:
    """True when a store root (``zarr.json``) exists at a folder or URL."""
    fs, root = filesystem(path, storage_options)
    with location_errors(path, "reach the store"):
        return bool(fs.exists(f"{root}/zarr.json"))


def read_root(path: str | Path, storage_options: dict | None = None) -> ProcessingConfig:
    """Read and check a store's root attributes; return its processing configuration.

    Parameters
    ----------
    path : str or path-like
        A local store folder or an fsspec URL (``s3://bucket/emod.zarr``, ``file:///...``).
    storage_options : dict, optional
        fsspec options of a URL (endpoint, credentials).

    Raises
    ------
    StoreError
        Missing store, not an emod store, unreadable root metadata, or another store version.
    """
    import json

    fs, root = filesystem(path, storage_options)
    try:
        with location_errors(path, "read zarr.json", pass_missing=True):
            text = fs.cat_file(f"{root}/zarr.json")
    except FileNotFoundError:
        raise StoreError(f"{path}: no store here (zarr.json missing)") from None
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"{path}: zarr.json is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("zarr_format") != 3:
        raise StoreError(f"{path}: zarr.json is not zarr v3 metadata")
    if meta.get("node_type") != "group":
        raise StoreError(f"{path}: a zarr {meta.get('node_type')}, not a store root (open the store's top folder)")
    attrs = meta.get("attributes") or {}
    version = attrs.get("emod_store_version")
    if version is None:
        raise StoreError(f"{path}: a zarr group but not an emod store (no emod_store_version attribute)")
    if version != STORE_VERSION:
        raise StoreError(f"{path}: store version {version}; this emod_data reads version {STORE_VERSION}")
    try:
        return ProcessingConfig.from_dict(attrs["processing"])
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"{path}: invalid processing attribute in zarr.json ({exc})") from None


def table_path(path: str | Path, kind: str, corpus: str | None) -> Path:
    """Where a table lives: ``tables/<kind>/<corpus>.parquet`` or ``tables/<kind>.parquet``."""
    base = Path(path) / "tables"
    return base / f"{kind}.parquet" if corpus is None else base / kind / f"{corpus}.parquet"


def _table_key(kind: str, corpus: str | None) -> str:
    return f"tables/{kind}.parquet" if corpus is None else f"tables/{kind}/{corpus}.parquet"


def write_table(
    path: str | Path, kind: str, corpus: str | None, table: pd.DataFrame, storage_options: dict | None = None
) -> None:
    """Write a parquet table atomically (temporary file, then rename; one PUT on object storage).

    ``recordings`` and ``failures`` tables are written with their fixed schema
    (:func:`table_schema`), so the tables of all corpora read as one with
    ``pd.read_parquet("store.zarr/tables/recordings")``.

    Raises
    ------
    StoreError
        The table cannot be written (read-only store, disk full); the previous table is left as it was.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if kind in ("recordings", "failures"):
        schema = table_schema(kind)
        frame = table.reindex(columns=schema.names)
        frame = frame.astype(object).where(frame.notna(), None)
        arrow = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    else:
        arrow = pa.Table.from_pandas(table, preserve_index=False)
    if is_url(path):
        fs, root = filesystem(path, storage_options)
        target = f"{root}/{_table_key(kind, corpus)}"
        with location_errors(f"{path}/{_table_key(kind, corpus)}", "write the table"), fs.open(target, "wb") as handle:
            pq.write_table(arrow, handle)
        return
    target = table_path(local_path(path), kind, corpus)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(arrow, temporary)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"{target}: cannot write the table ({exc.strerror or exc})") from None


def read_table(
    path: str | Path, kind: str, corpus: str | None = None, storage_options: dict | None = None
) -> pd.DataFrame:
    """Read one corpus' table, all corpora's concatenated (``corpus=None``), or a global table.

    Works on local stores and fsspec URLs; returns an empty frame when the table is absent.
    """
    fs, root = filesystem(path, storage_options)
    with location_errors(path, f"read the {kind} table"):
        if corpus is not None or kind == "channels":
            target = f"{root}/{_table_key(kind, corpus)}"
            targets = [target] if fs.exists(target) else []
        else:
            targets = sorted(fs.glob(f"{root}/tables/{kind}/*.parquet"))
        parts = [pd.read_parquet(target, filesystem=fs) for target in targets]
    parts = [part for part in parts if len(part)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def write_segment(
    path: str | Path,
    array_path: str,
    data: np.ndarray,
    attrs: dict,
    config: ProcessingConfig,
    storage_options: dict | None = None,
) -> None:
    """Write one segment array; its completion mark is written last.

    In a local store the array is written aside (a hidden sibling) and swapped into
    place, so a reader never sees a half-written array; on object storage it is written
    in place with ``complete: false`` until its data are in (readers refuse it meanwhile).

    Parameters
    ----------
    path : str or path-like
        Store folder or fsspec URL.
    array_path : str
        Array path inside the store (``data/seed/sub-1/ses-1/trial-01``).
    data : numpy.ndarray
        float32 (channels, samples).
    attrs : dict
        Array attributes (channel names, source file, checksum, manifest hash).
    config : ProcessingConfig
        Chunking and compression parameters.
    storage_options : dict, optional
        fsspec options of a URL.
    """
    url = is_url(path)
    parent, _, leaf = array_path.rpartition("/")
    name = array_path if url else f"{parent}/.{leaf}.new-{os.getpid()}".lstrip("/")
    if not url:  # versions left aside by a killed writer (one writer per corpus holds the lock)
        _remove_aside(local_path(path) / array_path)
    try:
        _fill_array(path, storage_options, name, data, attrs, config)
    except BaseException:
        if not url:  # the stored version, if any, is untouched: drop the half-written one
            _remove_aside(local_path(path) / array_path)
        raise
    if not url:
        _swap_into_place(local_path(path), name, array_path)


def _fill_array(
    path: str | Path, storage_options: dict | None, name: str, data: np.ndarray, attrs: dict, config: ProcessingConfig
) -> None:
    """Create the array (metadata marked incomplete), write its data, then mark it complete.

    The data go in as one whole-shard write (:mod:`emod_data.shards`, the same bytes zarr writes)
    when the array has the store's usual layout, otherwise through zarr.
    """
    store = zarr_store(path, storage_options, read_only=False)
    n_channels, n_samples = data.shape
    chunk = min(config.chunk_samples, max(1, n_samples))
    shard = math.ceil(n_samples / chunk) * chunk
    array = _zarr().create_array(
        store=store,
        name=name,
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
    layout = shard_layout(array.metadata)
    if layout is None:
        array[:] = data
    else:
        write_file(path, f"{name}/{layout.key}", encode_shard(data, layout), storage_options)
    array.update_attributes({"complete": True})


def _remove_aside(target: Path) -> None:
    import shutil

    for folder in target.parent.glob(f".{target.name}.*"):
        if folder.name.startswith((f".{target.name}.new-", f".{target.name}.old-")):
            shutil.rmtree(folder, ignore_errors=True)


def _swap_into_place(root: Path, written: str, array_path: str) -> None:
    """Rename a finished array folder onto its path; an older version is renamed away first, then deleted."""
    import shutil
    import uuid

    target, new = root / array_path, root / written
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
        os.rename(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, target)


def segment_complete(path: str | Path, array_path: str, storage_options: dict | None = None) -> bool:
    """True when a segment array exists and carries its completion mark."""
    import json

    fs, root = filesystem(path, storage_options)
    try:
        return bool(json.loads(fs.cat_file(f"{root}/{array_path}/zarr.json")).get("attributes", {}).get("complete"))
    except (OSError, ValueError, AttributeError):
        return False


def open_array(path: str | Path, array_path: str, storage_options: dict | None = None):
    """Open a stored array for reading through the strict store (missing chunks raise, checksums verified).

    Raises
    ------
    StoreError
        No array at ``array_path``, or its metadata cannot be read.
    """
    try:
        return _zarr().open_array(store=zarr_store(path, storage_options), path=array_path, mode="r", zarr_format=3)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"{path}/{array_path}: cannot open array ({type(exc).__name__}: {exc})") from None


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

    def __init__(self, path: str | Path, storage_options: dict | None = None) -> None:
        self.path = path if is_url(path) else Path(path).expanduser()
        self.storage_options = dict(storage_options or {})
        self.processing = read_root(self.path, self.storage_options)

    def __repr__(self) -> str:
        recs = self.recordings
        corpora = ", ".join(sorted(recs["corpus"].unique())) if len(recs) else "empty"
        return f"Store('{self.path}', {len(recs)} recordings: {corpora}, {self.processing.sfreq:g} Hz)"

    @functools.cached_property
    def recordings(self) -> pd.DataFrame:
        """One row per stored segment, all corpora (see ``docs/store.md`` for the columns)."""
        table = read_table(self.path, "recordings", storage_options=self.storage_options)
        if len(table):
            table = table.sort_values("corpus", kind="stable").reset_index(drop=True)
            table["raw_ratings"] = [dict(r) if r is not None else None for r in table["raw_ratings"]]
        return table

    @functools.cached_property
    def failures(self) -> pd.DataFrame:
        """Files or trials that could not be ingested, with stage and one-line reason."""
        return read_table(self.path, "failures", storage_options=self.storage_options)

    @functools.cached_property
    def vocabulary(self) -> pd.DataFrame:
        """The global channel vocabulary stored with the store (id, name, x, y, z)."""
        return read_table(self.path, "channels", storage_options=self.storage_options)

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
        array = open_array(self.path, array_path, self.storage_options)
        if not array.attrs.get("complete", False):
            raise StoreError(f"{self.path}/{array_path}: array is incomplete (being written, or an interrupted write)")
        return array

    def read(self, recording_id: str, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Read a recording's signal, verified.

        Every chunk read is checked against the CRC32C checksum written with it, and a
        missing or empty chunk file is an error, never fill values. An array that is being
        replaced by a re-ingest is re-opened and read again (up to :data:`READ_ATTEMPTS` times).

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

        Raises
        ------
        StoreError
            Unknown recording, or its array is missing, incomplete, damaged (checksum
            mismatch) or has a missing chunk; the message names the recording.
        """
        row = self._row(recording_id)
        for attempt in range(READ_ATTEMPTS):
            try:
                return np.asarray(self._array(row["path"])[:, start:stop], dtype=np.float32)
            except Exception as exc:  # damaged, missing, or swapped by a re-ingest: re-open and retry
                self._array.cache_clear()
                reason = f"{first_line(exc, with_type=True)}"
                if attempt + 1 < READ_ATTEMPTS:
                    time.sleep(0.02 * (attempt + 1))
        raise StoreError(f"{self.path}: cannot read recording '{recording_id}' ({reason})")

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


def open_store(path: str | Path, storage_options: dict | None = None) -> Store:
    """Open a harmonized store for reading.

    Parameters
    ----------
    path : str or path-like
        The store folder written by ``emod-data ingest``, or an fsspec URL
        (``s3://bucket/emod.zarr``; the fsspec backend for the protocol must be installed).
    storage_options : dict, optional
        fsspec options of a URL, e.g. ``{"endpoint_url": "http://127.0.0.1:9000", "key": ..., "secret": ...}``
        for S3-compatible storage.

    Returns
    -------
    Store

    Raises
    ------
    StoreError
        No store at ``path``, not an emod store, or another store version.
    """
    return Store(path, storage_options)
