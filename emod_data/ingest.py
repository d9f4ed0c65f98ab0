"""``emod-data ingest``: raw corpus -> harmonized store, in parallel and resumable.

The coordinator resolves the manifest, lexicon, labels and channel plan once,
lists the files in stable order, skips files already complete in the store,
and hands one task per file to the workers. Workers write arrays only; the
coordinator writes the corpus' tables after every finished file (atomically),
so an interrupted run loses nothing already recorded and a rerun completes the
store. One bad file never stops the others: it lands in the failures table with
a one-line reason.
"""

from __future__ import annotations

import fcntl
import os
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emod_data.blas import one_blas_thread
from emod_data.channels import ChannelPlan, plan_channels
from emod_data.cluster import CLUSTER_TIMEOUT, connect
from emod_data.cluster import run_tasks as run_on_cluster
from emod_data.config import ProcessingConfig
from emod_data.discovery import SourceFile, discover, natural_key
from emod_data.errors import EmodDataError, LabelError, ReaderError, SignalError, SkippedInput, StoreError, first_line
from emod_data.labels import LabelResolver, unrated
from emod_data.lease import corpus_lease
from emod_data.lexicon import load_lexicon
from emod_data.manifest import Manifest, load_manifest
from emod_data.memory import map_large_blocks
from emod_data.preprocess import harmonize, prepare
from emod_data.progress import progress_bar
from emod_data.readers import read_trials
from emod_data.sessions import SIGNAL_KEY, finish_sessions, session_stage
from emod_data.storage import is_url, local_path, remove_tree
from emod_data.store import (
    create_or_check_root,
    read_root,
    read_table,
    segment_complete,
    store_exists,
    write_segment,
    write_table,
)
from emod_data.workers import run_in_processes

FAILURE_COLUMNS = ["file", "subject", "session", "trial", "stage", "error"]


CHECKSUM_WINDOW_BYTES = 1 << 23
"""The file checksum hashes the file through memory maps of this size, one at a time (bounded memory)."""


def file_checksum(path: Path) -> str:
    """xxHash3-128 hex digest of a file's bytes (fast enough to run on every ingested file).

    The file is hashed in place through memory maps of :data:`CHECKSUM_WINDOW_BYTES`, one at a time,
    without copying it into a buffer.
    """
    import mmap

    import xxhash

    digest = xxhash.xxh3_128()
    with open(path, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        for start in range(0, size, CHECKSUM_WINDOW_BYTES):
            length = min(CHECKSUM_WINDOW_BYTES, size - start)
            with mmap.mmap(handle.fileno(), length, access=mmap.ACCESS_READ, offset=start) as window:
                digest.update(window)
    return digest.hexdigest()


def recording_id(corpus: str, subject: str, session: int, trial: int, segment: str) -> str:
    """Stable id of a stored segment, also its array path below ``data/``."""
    suffix = "-baseline" if segment == "baseline" else ""
    return f"{corpus}/sub-{subject}/ses-{session}/trial-{trial:02d}{suffix}"


@dataclass
class FileTask:
    """Everything a worker needs to ingest one file (picklable)."""

    source: SourceFile
    manifest: Manifest
    plan: ChannelPlan
    labels: LabelResolver
    config: ProcessingConfig
    store: str
    subjects: frozenset[str] | None = None
    threads: int = 1
    storage_options: dict | None = None


@dataclass
class FileResult:
    """What a worker reports for one file."""

    relpath: str
    rows: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    skipped_inputs: list[dict] = field(default_factory=list)  # {file, reason}: not inputs by design


def split_segments(data: np.ndarray, manifest: Manifest, sfreq: float) -> list[tuple[str, np.ndarray]]:
    """Split a trial into its pre-trial baseline and stimulus (baseline dropped or kept per manifest)."""
    n_base = round(manifest.segments.baseline_seconds * sfreq)
    if n_base == 0:
        return [("stimulus", data)]
    if data.shape[-1] <= n_base:
        raise SignalError(
            f"trial of {data.shape[-1]} samples is not longer than its {manifest.segments.baseline_seconds} s baseline"
        )
    parts = [("stimulus", data[:, n_base:])]
    if manifest.segments.baseline == "keep":
        parts.insert(0, ("baseline", data[:, :n_base]))
    return parts


def _store_trial(
    task: FileTask,
    raw,
    subject: str,
    session: int,
    plan: ChannelPlan,
    labels: dict,
    provenance: dict,
    where: str,
    written: list[str],
) -> list[dict]:
    """Harmonize and write every segment of one trial; return its table rows.

    With a session-level stage the segments are only filtered and come back in their rows
    (under ``SIGNAL_KEY``), to be finished and written by :func:`finish_sessions`.
    """
    manifest, config = task.manifest, task.config
    sfreq = raw.sfreq or manifest.format.sfreq
    scale = raw.unit_scale if raw.unit_scale is not None else manifest.unit_scale
    data = raw.data[plan.source_index]
    raw.data = None  # the copy above is all that is needed: drop the reader's pages (a mapped file) early
    parts = [("baseline", data)] if raw.segment == "baseline" else split_segments(data, manifest, sfreq)
    rows = []
    held = session_stage(config)
    for segment, part in parts:
        rid = recording_id(manifest.name, subject, session, raw.trial, segment)
        if held:
            signal = prepare(part, sfreq, scale, config, where).astype(np.float32)
            provenance = _with_checksum(provenance)
        else:
            signal = harmonize(part, sfreq, scale, config, where)
            provenance = _with_checksum(provenance)
            attrs = {"channel_names": plan.names, "recording_id": rid, **provenance}
            written.append(f"data/{rid}")
            write_segment(task.store, f"data/{rid}", signal, attrs, config, task.storage_options)
        rows.append(
            {
                "recording_id": rid,
                "corpus": manifest.name,
                "subject": subject,
                "session": session,
                "trial": raw.trial,
                "segment": segment,
                "stimulus": task.labels.stimulus(subject, session, raw.trial, raw.stimulus),
                "path": f"data/{rid}",
                "n_channels": signal.shape[0],
                "n_samples": signal.shape[1],
                "sfreq": config.sfreq,
                "duration_s": signal.shape[1] / config.sfreq,
                "channel_names": list(plan.names),
                "channel_ids": plan.ids.tolist(),
                **(labels if segment == "stimulus" else unrated(labels)),
                **provenance,
            }
        )
        if held:
            rows[-1][SIGNAL_KEY] = signal
    return rows


def _with_checksum(provenance: dict) -> dict:
    """The provenance with the file's checksum, waited for if it is still being computed (a future)."""
    checksum = provenance["source_checksum"]
    return provenance if isinstance(checksum, str) else {**provenance, "source_checksum": checksum.result()}


class FileRun:
    """One file's ingest in two steps, so that a serial ingest can overlap them across files.

    :meth:`read` reads the file and harmonizes its trials on ``task.threads`` threads: with the plain
    recipe every segment is written there; with a session-level stage
    (:func:`emod_data.sessions.session_stage`) the filtered segments are held in the rows. :meth:`finish`
    runs the session-level stage on them (detection, repair, writing). Trial-level problems
    (non-finite samples, implausible amplitude, missing labels) fail that trial only; file-level problems
    (unreadable file, wrong shapes, missing variables) fail the whole file in either step and none of
    its rows is kept.

    Parameters
    ----------
    task : FileTask
    """

    def __init__(self, task: FileTask) -> None:
        self.task = task
        self.result = FileResult(task.source.relpath)
        self.provenance: dict = {}
        self.failed = False

    def fail(self, stage: str, error: str, session=None, trial=None, subject=None) -> None:
        """Record one failure row (``subject`` defaults to the file's)."""
        source = self.task.source
        self.result.failures.append(
            {
                "file": source.relpath,
                "subject": source.subject if subject is None else subject,  # the reader's, for multi-subject files
                "session": session,
                "trial": trial,
                "stage": stage,
                "error": error,
            }
        )

    @contextmanager
    def _file_errors(self) -> Iterator[None]:
        """Turn a file-level error into one failure row and remove what the file wrote."""
        relpath = self.task.source.relpath
        try:
            yield
            return
        except SkippedInput as exc:  # e.g. a MAHNOB-HCI session without felt ratings: counted, not failed
            self.result.skipped_inputs.append({"file": relpath, "reason": first_line(exc)})
        except ReaderError as exc:
            self.fail("read", first_line(exc))
        except EmodDataError as exc:
            self.fail("ingest", first_line(exc))
        except Exception as exc:
            self.fail("internal", f"{relpath}: {first_line(exc, with_type=True)}")
            self.result.failures[-1]["traceback"] = traceback.format_exc()
        self.failed = True
        for path in self.result.written:  # no orphan array is left behind
            remove_tree(self.task.store, path, self.task.storage_options)
        self.result.rows.clear()

    def read(self) -> FileRun:
        """Read the file and harmonize (plain recipe: and write) every segment of every trial; returns self."""
        task, source = self.task, self.task.source
        map_large_blocks()  # peak memory: the trials in flight, not what fragmented heaps keep of earlier ones
        stat = source.path.stat()
        self.provenance = {
            "source_file": source.relpath,
            "source_size": stat.st_size,
            "source_mtime_ns": stat.st_mtime_ns,
            "manifest_sha256": task.manifest.sha256,
            "lexicon_sha256": task.labels.lexicon.sha256,
            "processing_hash": task.config.hash,
        }
        with self._file_errors():
            channels = task.manifest.channels
            renames = channels.rename_for(source.relpath)
            plans = {None: task.plan}
            if renames != channels.rename:  # per-file renames ([channels.rename_files])
                plans[None] = plan_channels(channels.names, renames, channels.exclude, source.relpath)
            with ThreadPoolExecutor(max_workers=task.threads) as pool:
                # hashed alongside the first trials, which wait for it only before they write
                self.provenance["source_checksum"] = pool.submit(file_checksum, source.path)
                pending: deque = deque()
                for raw in read_trials(source.path, source.relpath, task.manifest):
                    names = tuple(raw.channel_names) if raw.channel_names is not None else None
                    if names not in plans:
                        plans[names] = plan_channels(list(names), renames, channels.exclude, source.relpath)
                    entry = self._submit(pool, raw, plans[names])
                    pending.extend([entry] if entry else [])
                    while len(pending) > 2 * task.threads:  # bounded memory: few trials in flight
                        self._collect(*pending.popleft())
                while pending:
                    self._collect(*pending.popleft())
                self.provenance = _with_checksum(self.provenance)
        return self

    def _submit(self, pool: ThreadPoolExecutor, raw, plan: ChannelPlan) -> tuple | None:
        """Submit one trial read from the file; None when it is skipped or failed at once."""
        task, source = self.task, self.task.source
        subject = raw.subject if raw.subject is not None else source.subject
        if task.subjects and raw.subject is not None and subject not in task.subjects:
            return None
        session = raw.session or source.session or task.labels.position(None, raw.trial)[0]
        if session is None:
            raise ReaderError(f"{source.relpath}: the reader gives no session for trial {raw.trial}")
        where = f"{source.relpath} trial {raw.trial}"
        if raw.subject is not None:  # one file, several subjects (DREAMER): name the subject too
            where = f"{source.relpath} subject {subject} trial {raw.trial}"
        if task.labels.excluded(session, raw.trial, raw.code):  # labels.exclude_codes (MPED's rest)
            return None
        if raw.error is not None:  # the reader found this trial unusable (an empty cell)
            self.fail("read", f"{where}: {raw.error}", session, raw.trial, raw.subject)
            return None
        try:
            labels = task.labels.labels(session, raw.trial, raw.ratings, raw.code)
        except LabelError as exc:
            self.fail("labels", f"{where}: {first_line(exc)}", session, raw.trial, raw.subject)
            return None
        args = (task, raw, subject, session, plan, labels, self.provenance, where, self.result.written)
        return session, raw.trial, where, pool.submit(_store_trial, *args), raw.subject

    def _collect(self, session: int, trial: int, where: str, job, subject) -> None:
        try:
            self.result.rows.extend(job.result())
        except SignalError as exc:
            message = first_line(exc)
            message = message if message.startswith(where) else f"{where}: {message}"
            self.fail("signal", message, session, trial, subject)

    def finish(self) -> FileResult:
        """Run the session-level stage on the held segments (if any) and write them; returns the result."""
        task = self.task
        if session_stage(task.config) and not self.failed:
            with self._file_errors():
                self.result.rows = finish_sessions(
                    self.result.rows,
                    task.config,
                    task.store,
                    task.source.relpath,
                    self.provenance,
                    self.result.written,
                    self.fail,
                    task.threads,
                    task.storage_options,
                )
        return self.result


def process_file(task: FileTask) -> FileResult:
    """Ingest one raw file: read, harmonize and write every segment of every trial (what a worker runs).

    Trial-level problems (non-finite samples, implausible amplitude, missing
    labels) fail that trial only; file-level problems (unreadable file, wrong
    shapes, missing variables) fail the whole file and none of its rows is kept.

    Parameters
    ----------
    task : FileTask

    Returns
    -------
    FileResult
        Table rows of the stored segments and failure rows.
    """
    with one_blas_thread():
        return FileRun(task).read().finish()


def run_serial(tasks: list[FileTask]) -> Iterator[FileResult]:
    """Ingest files one after the other in this process, yielding each file's result in order.

    With a session-level stage, a file's stage (detection, repair and writing, see
    :meth:`FileRun.finish`) runs on a background thread while the next file is read, so at most
    two files are in memory: the one being finished and the one being read.

    Parameters
    ----------
    tasks : list of FileTask

    Yields
    ------
    FileResult
    """
    with ThreadPoolExecutor(max_workers=1) as finisher:
        finishing = None
        for task in tasks:
            run = FileRun(task).read()
            if finishing is not None:
                yield finishing.result()
                finishing = None
            if session_stage(task.config):
                finishing = finisher.submit(run.finish)
            else:
                yield run.finish()
        if finishing is not None:
            yield finishing.result()


@dataclass
class IngestReport:
    """Outcome of one ingest run.

    Attributes
    ----------
    corpus : str
    store : pathlib.Path or str
        The store folder, or its URL.
    files : int
        Files matched by the manifest (after the subject filter).
    skipped : int
        Files already complete in the store and left as they were.
    processed : int
        Files ingested in this run.
    ignored : list of str
        Files found by the glob that do not match the manifest's pattern.
    recordings : pandas.DataFrame
        The corpus' recordings table after the run.
    failures : pandas.DataFrame
        The corpus' failures table after the run.
    tracebacks : list of str
        Tracebacks of unexpected errors in this run (shown by ``--verbose``).
    skipped_inputs : list of dict
        Files the reader skipped in this run because they are not inputs by design (``file``, ``reason``),
        e.g. MAHNOB-HCI sessions without felt ratings; neither failures nor recordings.
    """

    corpus: str
    store: Path | str
    files: int
    skipped: int
    processed: int
    ignored: list[str]
    recordings: pd.DataFrame
    failures: pd.DataFrame
    tracebacks: list[str] = field(default_factory=list)
    skipped_inputs: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return len(self.failures) == 0

    def summary(self) -> pd.DataFrame:
        """One row per corpus: subjects, sessions, trials, hours, channels, Hz."""
        return summarize(self.recordings)


def summarize(recordings: pd.DataFrame) -> pd.DataFrame:
    """Summary per corpus of a recordings table (stimulus segments only).

    Returns
    -------
    pandas.DataFrame
        Columns corpus, subjects, sessions (subject-sessions), trials, hours, channels, hz.
    """
    columns = ["corpus", "subjects", "sessions", "trials", "hours", "channels", "hz"]
    if not len(recordings):
        return pd.DataFrame(columns=columns)
    rows = []
    for corpus, recs in recordings[recordings["segment"] == "stimulus"].groupby("corpus", sort=True):
        lo, hi = int(recs["n_channels"].min()), int(recs["n_channels"].max())
        rows.append(
            [
                corpus,
                recs["subject"].nunique(),
                len(recs[["subject", "session"]].drop_duplicates()),
                len(recs),
                round(float(recs["duration_s"].sum()) / 3600, 3),
                str(lo) if lo == hi else f"{lo}-{hi}",
                float(recs["sfreq"].iloc[0]),
            ]
        )
    return pd.DataFrame(rows, columns=columns)


@contextmanager
def corpus_lock(store: Path | str, corpus: str, storage_options: dict | None = None) -> Iterator[Callable[[], None]]:
    """Hold the single-writer right on one corpus of a store.

    A local store is locked with ``flock`` on ``tables/.ingest-<corpus>.lock`` (released even on
    kill -9); a store on object storage, which has no locks, with a lease object (see :mod:`emod_data.lease`).
    Yields a callable that renews the lease (a no-op for local stores); call it after each finished file.

    Raises
    ------
    StoreError
        Another ingest of this corpus holds it, or the lock file cannot be written (read-only store).
    """
    if is_url(store):
        with corpus_lease(store, corpus, storage_options) as lease:
            yield lease.renew
        return
    lock_path = Path(store) / "tables" / f".ingest-{corpus}.lock"
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "w")
    except OSError as exc:
        raise StoreError(f"{lock_path}: cannot write the ingest lock ({exc.strerror or exc})") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"{store}: another ingest of corpus '{corpus}' is running on this store") from None
        try:
            yield lambda: None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sorted_rows(table: pd.DataFrame) -> pd.DataFrame:
    if not len(table):
        return table
    key = table.apply(
        lambda r: (natural_key(str(r["subject"])), r["session"], r["trial"], r["segment"] != "baseline"), axis=1
    )
    return table.iloc[sorted(range(len(table)), key=key.iloc.__getitem__)].reset_index(drop=True)


def _is_complete(
    source: SourceFile,
    rows: pd.DataFrame,
    manifest: Manifest,
    lexicon_sha256: str,
    config: ProcessingConfig,
    store: Path | str,
    storage_options: dict | None = None,
) -> bool:
    if not len(rows):
        return False
    stat = source.path.stat()
    first = rows.iloc[0]
    same = (
        int(first["source_size"]) == stat.st_size
        and int(first["source_mtime_ns"]) == stat.st_mtime_ns
        and first["manifest_sha256"] == manifest.sha256
        and first["lexicon_sha256"] == lexicon_sha256
        and first["processing_hash"] == config.hash
    )
    return same and all(segment_complete(store, p, storage_options) for p in rows["path"])


def _run_tasks(tasks: list[FileTask], workers: int, client, cluster_timeout: float) -> Iterator[FileResult]:
    if client is not None:
        yield from run_on_cluster(client, process_file, tasks, cluster_timeout)
    elif workers <= 1 or len(tasks) <= 1:
        yield from run_serial(tasks)
    else:
        yield from run_in_processes(process_file, tasks, workers)


def _remove_corpus(store: Path | str, corpus: str, storage_options: dict | None) -> None:
    remove_tree(store, f"data/{corpus}", storage_options)
    for kind in ("recordings", "failures"):
        remove_tree(store, f"tables/{kind}/{corpus}.parquet", storage_options)


def ingest(
    corpus: str | Path,
    raw_dir: str | Path,
    store: str | Path,
    *,
    workers: int = 1,
    overwrite: bool = False,
    subjects: list[str] | None = None,
    config: ProcessingConfig | None = None,
    scheduler: str | None = None,
    progress: bool | Callable[[FileResult], None] = False,
    storage_options: dict | None = None,
    cluster_timeout: float = CLUSTER_TIMEOUT,
) -> IngestReport:
    """Ingest a raw corpus into a harmonized store.

    Parameters
    ----------
    corpus : str or path-like
        A shipped corpus name (``"seed"``) or the path of a manifest.
    raw_dir : path-like
        The corpus root folder as downloaded.
    store : str or path-like
        The store folder, or an fsspec URL (``s3://bucket/emod.zarr``, ``memory://emod.zarr``);
        created when missing.
    workers : int
        Worker processes (1 runs in this process).
    overwrite : bool
        Re-ingest every file of this corpus instead of skipping complete ones.
    subjects : list of str, optional
        Ingest only these subjects.
    config : ProcessingConfig, optional
        Processing parameters. None uses the store's when it exists, otherwise
        the default (EMOD) recipe. A configuration that differs from an existing
        store's is refused.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``) to run the
        file tasks on instead of local processes.
    progress : bool or callable
        True shows a rich progress bar; a callable is called with each FileResult.
    storage_options : dict, optional
        fsspec options of a store URL (endpoint, credentials).
    cluster_timeout : float
        Seconds to wait for the Dask scheduler and a first worker (before the store is
        touched), and how long the cluster may be without workers before the run stops.

    Returns
    -------
    IngestReport

    Raises
    ------
    ManifestError, StoreError, ReaderError, ClusterError
        Problems found before any file is processed (bad manifest, refused
        processing parameters, no files, unreachable cluster), a store that cannot be
        written, or a cluster lost during the run.
    """
    manifest = load_manifest(corpus)
    store = store if is_url(store) else local_path(store)
    raw_dir = Path(raw_dir).expanduser()
    options = storage_options
    if config is None:
        config = read_root(store, options) if store_exists(store, options) else ProcessingConfig()
    lexicon = load_lexicon()
    plan = plan_channels(
        manifest.channels.names, manifest.channels.rename, manifest.channels.exclude, str(manifest.path)
    )
    files, ignored = discover(manifest, raw_dir, subjects)
    resolver = LabelResolver.from_manifest(manifest, lexicon, raw_dir)
    client = connect(scheduler, cluster_timeout) if scheduler else None  # before the store is touched
    try:
        config = create_or_check_root(store, config, options)
    except BaseException:
        _close(client)
        raise

    with _closing(client), corpus_lock(store, manifest.name, options) as renew:
        if overwrite and not subjects:
            _remove_corpus(store, manifest.name, options)
        todo, tables = _pending_files(files, store, manifest, lexicon.sha256, config, overwrite, options)
        tables.renew = renew
        wanted = frozenset(subjects) if subjects and manifest.files.subject_from == "reader" else None
        threads = 1 if client else max(1, (os.cpu_count() or 1) // max(1, min(workers, len(todo))))
        tasks = [FileTask(f, manifest, plan, resolver, config, str(store), wanted, threads, options) for f in todo]
        with _progress(progress, manifest.name, len(tasks)) as advance, one_blas_thread():
            for result in _run_tasks(tasks, workers, client, cluster_timeout):
                tables.add(result)
                advance(result)
        recordings, failed = tables.save()
    skipped_inputs = sorted(tables.skipped_inputs, key=lambda s: natural_key(s["file"]))
    done = (len(files), len(files) - len(todo), len(todo), ignored)
    return IngestReport(manifest.name, store, *done, recordings, failed, tables.tracebacks, skipped_inputs)


@dataclass
class _Tables:
    """A corpus' recordings and failures tables during a run: the kept rows plus every finished file's."""

    store: Path | str
    corpus: str
    options: dict | None
    rows: list[pd.DataFrame]
    failures: list[pd.DataFrame]
    renew: Callable[[], None] = lambda: None
    tracebacks: list[str] = field(default_factory=list)
    skipped_inputs: list[dict] = field(default_factory=list)

    def add(self, result: FileResult) -> None:
        """Take one file's result and write the tables (so that an interrupted run keeps it)."""
        self.rows.append(pd.DataFrame(result.rows))
        self.tracebacks += [f.pop("traceback") for f in result.failures if "traceback" in f]
        self.failures.append(pd.DataFrame(result.failures, columns=FAILURE_COLUMNS))
        self.skipped_inputs += result.skipped_inputs
        self.save()

    def save(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Write both tables atomically (recordings sorted) and renew the corpus lease; returns them."""
        rows, failures = [r for r in self.rows if len(r)], [f for f in self.failures if len(f)]
        recordings = _sorted_rows(pd.concat(rows, ignore_index=True) if rows else pd.DataFrame())
        failed = pd.concat(failures, ignore_index=True) if failures else pd.DataFrame(columns=FAILURE_COLUMNS)
        write_table(self.store, "recordings", self.corpus, recordings, self.options)
        write_table(self.store, "failures", self.corpus, failed, self.options)
        self.renew()
        return recordings, failed


def _pending_files(
    files: list[SourceFile],
    store: Path | str,
    manifest: Manifest,
    lexicon_sha256: str,
    config: ProcessingConfig,
    overwrite: bool,
    options: dict | None,
) -> tuple[list[SourceFile], _Tables]:
    """The files to ingest (not complete in the store, failed before, or all with ``overwrite``), and the tables
    holding the other files' rows."""
    old_rows = read_table(store, "recordings", manifest.name, options)
    old_failures = read_table(store, "failures", manifest.name, options)
    failed_before = set(old_failures["file"]) if len(old_failures) else set()
    by_file = dict(tuple(old_rows.groupby("source_file"))) if len(old_rows) else {}
    todo = [
        f
        for f in files
        if overwrite
        or f.relpath in failed_before
        or not _is_complete(f, by_file.get(f.relpath, pd.DataFrame()), manifest, lexicon_sha256, config, store, options)
    ]
    redo = {f.relpath for f in todo}
    kept = old_rows[~old_rows["source_file"].isin(redo)] if len(old_rows) else old_rows
    kept_failures = old_failures[~old_failures["file"].isin(redo)] if len(old_failures) else old_failures
    return todo, _Tables(store, manifest.name, options, [kept], [kept_failures])


def _close(client) -> None:
    if client is not None:
        client.close()


@contextmanager
def _closing(client) -> Iterator[None]:
    try:
        yield
    finally:
        _close(client)


@contextmanager
def _progress(progress: bool | Callable[[FileResult], None], corpus: str, total: int):
    if callable(progress):
        yield progress
        return
    if not progress:
        yield lambda result: None
        return
    bar, task = progress_bar(total, f"ingest {corpus}", "files  [red]{task.fields[failed]} failed", failed=0)
    with bar:
        failed = 0

        def advance(result: FileResult) -> None:
            nonlocal failed
            failed += bool(result.failures)
            bar.update(task, advance=1, failed=failed)

        yield advance
