"""``inspect_store``: statistics in one parallel streaming pass, checks, summary, optional split audit and report."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emod_data.cluster import CLUSTER_TIMEOUT, connect
from emod_data.cluster import run_tasks as run_on_cluster
from emod_data.errors import EmodDataError, StoreError
from emod_data.inspect.catalog import check_table
from emod_data.inspect.checks import (
    SEVERITIES,
    Thresholds,
    bad_channel_checks,
    count_checks,
    failure_checks,
    findings_frame,
    label_checks,
    length_checks,
    signal_checks,
)
from emod_data.inspect.splits import SPLIT_LEVELS, SplitAudit, as_assignment, audit_split, make_split
from emod_data.inspect.stats import HIST_EDGES, StatsParams, plan_batches, stats_batch
from emod_data.inspect.summary import bad_channel_summary, label_distribution, store_failures, summarize_store
from emod_data.progress import progress_bar as _progress_bar
from emod_data.store import open_store
from emod_data.workers import run_in_processes

CHANNEL_FIELDS = (
    "count",
    "nonfinite",
    "first_nonfinite",
    "mean",
    "sd",
    "min",
    "max",
    "at_min",
    "at_max",
    "line_share",
    "line_frequency",
)
"""Per-channel statistics kept in :attr:`InspectReport.channel_stats`."""

RECORDING_COLUMNS = [
    "recording_id",
    "corpus",
    "subject",
    "session",
    "trial",
    "segment",
    "stimulus",
    "path",
    "n_channels",
    "n_samples",
    "sfreq",
    "duration_s",
    "channel_names",
    "channel_ids",
    "class_name",
    "class_index",
    "valence",
    "arousal",
    "dominance",
]
"""Columns of the recordings table that inspect uses (the columns of an empty store's table)."""

SMALL_STORE_BYTES = 256 << 20
"""With ``workers=None``, stores with fewer array bytes than this are inspected in the calling process
(starting worker processes costs more than it saves there)."""


@dataclass
class StoreStats:
    """Result of the streaming pass.

    Attributes
    ----------
    recordings : pandas.DataFrame
        Per recording: ``recording_id``, ``corpus``, ``error``, ``complete``, ``shape``,
        ``samples_read``, ``median_sd`` (µV), ``psd_segments`` (Welch segments averaged).
    channels : pandas.DataFrame
        Per recording and channel: ``recording_id``, ``channel`` and :data:`CHANNEL_FIELDS`.
    spectra : pandas.DataFrame
        Mean over channels of each recording's power spectral density (µV²/Hz), indexed by
        ``recording_id``, one column per frequency in Hz.
    amplitude : pandas.DataFrame
        Per recording, counts of ``|sample|`` in the bins of :data:`~emod_data.inspect.stats.HIST_EDGES`
        (columns: lower edges in log10 µV) plus a ``zero`` column.
    bytes_read : int
        Float32 bytes of the arrays read.
    seconds : float
        Wall time of the pass.
    """

    recordings: pd.DataFrame
    channels: pd.DataFrame
    spectra: pd.DataFrame
    amplitude: pd.DataFrame
    bytes_read: int
    seconds: float


def compute_stats(
    store: str | Path,
    recordings: pd.DataFrame,
    params: StatsParams,
    workers: int = 1,
    progress: bool | Callable[[int, int], None] = False,
    storage_options: dict | None = None,
    client=None,
    cluster_timeout: float = CLUSTER_TIMEOUT,
) -> StoreStats:
    """Read every listed array once, in parallel, and summarise it.

    Parameters
    ----------
    store : path-like
        Store folder.
    recordings : pandas.DataFrame
        Rows of the recordings table whose arrays are read (``recording_id``, ``corpus``, ``path``,
        ``n_channels``, ``n_samples``, ``channel_names``).
    params : StatsParams
        What the pass computes.
    workers : int
        Worker processes (spawned); 1 reads in the calling process, with a reader thread.
    progress : bool or callable
        True shows a rich progress bar on standard error; a callable is called as
        ``progress(done, total)`` after each finished batch.
    storage_options : dict, optional
        fsspec options of a store URL.
    client : distributed.Client, optional
        Run the batches on this Dask cluster instead of local processes (``workers`` then sets the batching).
    cluster_timeout : float
        With ``client``: seconds the cluster may be without workers before a ``ClusterError``.

    Returns
    -------
    StoreStats
    """
    start = time.perf_counter()
    store = str(store)
    order = recordings.reset_index(drop=True)
    paths = order["path"].tolist()
    sizes = (order["n_channels"].astype(np.int64) * order["n_samples"].astype(np.int64) * 4).tolist()
    batches = plan_batches(paths, sizes, max(1, workers))
    results: dict[str, dict] = {}
    total = len(paths)
    bar = None
    if progress is True and total:
        bar, task = _progress_bar(total, "inspect")
        bar.start()

    def advance(batch_results: list[dict]) -> None:
        for result in batch_results:
            results[result["array_path"]] = result
        if bar is not None:
            bar.update(task, completed=len(results))
        elif callable(progress):
            progress(len(results), total)

    try:
        job = functools.partial(_stats_task, store, params, storage_options)
        if client is not None:
            for batch_results in run_on_cluster(client, job, batches, cluster_timeout):
                advance(batch_results)
        elif workers <= 1 or len(batches) <= 1:
            for batch in batches:
                advance(job(batch))
        else:  # workers die with this process (see emod_data.workers)
            for batch_results in run_in_processes(job, batches, workers):
                advance(batch_results)
    finally:
        if bar is not None:
            bar.stop()
    return _assemble(order, results, params, time.perf_counter() - start)


def _stats_task(store: str, params: StatsParams, storage_options: dict | None, batch: list[str]) -> list[dict]:
    return stats_batch(store, batch, params, storage_options=storage_options)


def _assemble(order: pd.DataFrame, results: dict[str, dict], params: StatsParams, seconds: float) -> StoreStats:
    freqs = params.freqs
    rec_rows = []
    columns: dict[str, list] = {f: [] for f in CHANNEL_FIELDS}
    channel_ids: list[str] = []
    channel_names: list[str] = []
    psd = np.full((len(order), len(freqs)), np.nan, dtype=np.float32)
    hist = np.zeros((len(order), len(HIST_EDGES)), dtype=np.int64)
    bytes_read = 0
    for i, row in enumerate(order.itertuples(index=False)):
        result = results.get(row.path, {"error": f"{row.path}: not read", "shape": None, "complete": None})
        read = result.get("error") is None
        finite_sd = read and bool(np.isfinite(result["sd"]).any())
        rec_rows.append(
            {
                "recording_id": row.recording_id,
                "corpus": row.corpus,
                "error": result.get("error"),
                "complete": result.get("complete"),
                "shape": result.get("shape"),
                "samples_read": int(result.get("samples_read", 0)),
                "median_sd": float(np.nanmedian(result["sd"])) if finite_sd else np.nan,
                "psd_segments": int(np.max(result["psd_segments"])) if read and len(result["psd_segments"]) else 0,
            }
        )
        if not read:
            continue
        n_channels = len(result["sd"])
        bytes_read += n_channels * int(result["samples_read"]) * 4
        names = list(row.channel_names)
        if len(names) != n_channels:  # table and array disagree: shape_mismatch reports it
            names = [names[j] if j < len(names) else f"#{j}" for j in range(n_channels)]
        channel_ids += [row.recording_id] * n_channels
        channel_names += names
        for f in CHANNEL_FIELDS:
            columns[f].append(result[f])
        good = result["psd_segments"] > 0
        if good.any():
            psd[i] = result["psd"][good].mean(axis=0)
        hist[i] = result["hist"]
    data = {f: np.concatenate(v) if v else np.array([]) for f, v in columns.items()}
    channels = pd.DataFrame({"recording_id": channel_ids, "channel": channel_names, **data})
    ids = pd.Index(order["recording_id"], name="recording_id")
    spectra = pd.DataFrame(psd, index=ids, columns=np.round(freqs, 6))
    amplitude = pd.DataFrame(hist, index=ids, columns=[*np.round(HIST_EDGES[:-1], 6), "zero"])
    recs = pd.DataFrame(
        rec_rows,
        columns=["recording_id", "corpus", "error", "complete", "shape", "samples_read", "median_sd", "psd_segments"],
    )
    return StoreStats(recs, channels, spectra, amplitude, bytes_read, seconds)


def shipped_manifests(corpora: list[str]) -> dict:
    """The shipped manifest of each corpus name, or None where there is none (or it does not load)."""
    from emod_data.manifest import MANIFEST_DIR, load_manifest

    out = {}
    for corpus in corpora:
        path = MANIFEST_DIR / f"{corpus}.toml"
        try:
            out[corpus] = load_manifest(path) if path.is_file() else None
        except EmodDataError:
            out[corpus] = None
    return out


@dataclass
class InspectReport:
    """What :func:`inspect_store` found.

    Attributes
    ----------
    store : pathlib.Path
        The store inspected.
    processing : ProcessingConfig
        The store's processing parameters.
    corpora : list of str
        Corpora inspected.
    window_seconds : float
        Window length used for the window counts.
    thresholds : Thresholds
        Thresholds of the checks.
    summary : pandas.DataFrame
        One row per corpus (see :func:`emod_data.inspect.summary.summarize_store`).
    labels : pandas.DataFrame
        Label distribution per corpus (classes and V-A quadrants).
    failures : pandas.DataFrame
        Ingest failures with their reasons, with a ``corpus`` column.
    findings : pandas.DataFrame
        One row per check hit: ``check``, ``severity``, ``corpus``, ``where``, ``channels``, ``value``,
        ``message``; most severe first.
    stats : StoreStats
        The streaming statistics (per recording, per channel, spectra, amplitude histograms).
    recordings : pandas.DataFrame
        The recordings table rows inspected.
    vocabulary : pandas.DataFrame
        The store's channel vocabulary.
    split : SplitAudit or None
        The split audit, when a split was given.
    bad_channels : pandas.DataFrame
        Per corpus and electrode, the subject-sessions in which the ingest found it bad
        (:func:`emod_data.inspect.summary.bad_channel_summary`).
    report_path : pathlib.Path or None
        The HTML report, once written.
    """

    store: Path
    processing: object
    corpora: list[str]
    window_seconds: float
    thresholds: Thresholds
    summary: pd.DataFrame
    labels: pd.DataFrame
    failures: pd.DataFrame
    findings: pd.DataFrame
    stats: StoreStats
    recordings: pd.DataFrame
    vocabulary: pd.DataFrame
    split: SplitAudit | None = None
    bad_channels: pd.DataFrame = field(default_factory=pd.DataFrame)
    report_path: Path | None = None
    figures: dict[str, Path] = field(default_factory=dict)

    def count(self, severity: str) -> int:
        """Number of findings of one severity (``"error"``, ``"warning"`` or ``"info"``)."""
        return int((self.findings["severity"] == severity).sum()) if len(self.findings) else 0

    @property
    def errors(self) -> pd.DataFrame:
        """Findings of severity error."""
        return self.findings[self.findings["severity"] == "error"].reset_index(drop=True)

    @property
    def warnings(self) -> pd.DataFrame:
        """Findings of severity warning."""
        return self.findings[self.findings["severity"] == "warning"].reset_index(drop=True)

    @property
    def ok(self) -> bool:
        """True when nothing of severity error or warning was found."""
        return not self.failed("warning")

    def failed(self, level: str | None) -> bool:
        """Whether the store fails a gate.

        Parameters
        ----------
        level : {"error", "warning", "none"} or None
            ``"error"``: any error; ``"warning"``: any error or warning; ``"none"`` or None: never.

        Returns
        -------
        bool
        """
        if level in (None, "none"):
            return False
        if level not in ("error", "warning"):
            raise ValueError(f"fail level must be error, warning or none (got {level!r})")
        gate = SEVERITIES[: SEVERITIES.index(level) + 1]
        return bool(self.findings["severity"].isin(gate).any()) if len(self.findings) else False

    def hits(self, check: str) -> list[str]:
        """The places (``where``) one check hit, in order."""
        return self.findings.loc[self.findings["check"] == check, "where"].tolist() if len(self.findings) else []

    def check_counts(self) -> pd.DataFrame:
        """Every check with its severity, rule and number of hits (errors, warnings, infos)."""
        rows = []
        for check in check_table(self.thresholds):
            if check.name.startswith("split_") and self.split is None:
                continue
            hits = self.findings[self.findings["check"] == check.name] if len(self.findings) else self.findings
            rows.append(
                {
                    "check": check.name,
                    "severity": check.severity,
                    "rule": check.rule,
                    "errors": int((hits["severity"] == "error").sum()),
                    "warnings": int((hits["severity"] == "warning").sum()),
                    "infos": int((hits["severity"] == "info").sum()),
                }
            )
        return pd.DataFrame(rows, columns=["check", "severity", "rule", "errors", "warnings", "infos"])

    def write(self, report_dir: str | Path) -> Path:
        """Write the HTML report, its figures (PNG) and the tables (CSV) into a folder.

        Parameters
        ----------
        report_dir : path-like
            Folder (created).

        Returns
        -------
        pathlib.Path
            The ``report.html`` file.
        """
        from emod_data.inspect.report import write_report

        self.report_path = write_report(self, report_dir)
        return self.report_path


def inspect_store(
    store: str | Path,
    corpora: list[str] | None = None,
    report_dir: str | Path | None = None,
    window_seconds: float = 5.0,
    workers: int | None = None,
    thresholds: Thresholds | None = None,
    split=None,
    split_by: str = "subject",
    split_fractions: tuple[float, ...] = (0.8, 0.1, 0.1),
    split_seed: int = 0,
    progress: bool | Callable[[int, int], None] = False,
    storage_options: dict | None = None,
    scheduler: str | None = None,
    cluster_timeout: float = CLUSTER_TIMEOUT,
) -> InspectReport:
    """Inspect a store: summary, per-recording checks, optional split audit and HTML report.

    Every array is read exactly once, block by block along time, by ``workers``
    spawned processes; only per-channel summaries come back, so memory stays
    bounded whatever the store's size.

    Parameters
    ----------
    store : path-like
        The store folder.
    corpora : list of str, optional
        Inspect only these corpora (default: all).
    report_dir : path-like, optional
        Write ``report.html``, ``figures/*.png`` and the tables as CSV here.
    window_seconds : float
        Window length for the window counts (non-overlapping, as ``Store.windows``).
    workers : int, optional
        Worker processes. None: one per CPU (at most 8), or the calling process alone for a store
        under 256 MiB of arrays.
    thresholds : Thresholds, optional
        Check thresholds (defaults in ``docs/inspect.md``).
    split : str, DataFrame, Series or mapping, optional
        A split to audit for leakage: a proposed assignment (see :func:`audit_split`), or
        ``"subject"``, ``"session"`` or ``"trial"`` to draw one with :func:`make_split`.
    split_by : {"subject", "session", "trial"}
        The unit a proposed split means to keep whole (ignored when ``split`` is a level name).
    split_fractions : tuple of float
        Fractions of a drawn split (train, val, test).
    split_seed : int
        Seed of a drawn split.
    progress : bool or callable
        True shows a rich progress bar; a callable gets ``(done, total)``.
    storage_options : dict, optional
        fsspec options of a store URL (endpoint, credentials).
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``) whose workers read the arrays; the store
        must be reachable under the same path or URL there.
    cluster_timeout : float
        Seconds to wait for the scheduler and a first worker, and that the cluster may be without
        workers during the pass, before a one-line ``ClusterError``.

    Returns
    -------
    InspectReport

    Raises
    ------
    StoreError
        No store at ``store``, another store version, or a corpus the store does not hold.
    ValueError
        A bad window length, worker count or split argument.
    """
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be positive (got {window_seconds})")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1 (got {workers})")
    level = split if isinstance(split, str) else split_by
    if level not in SPLIT_LEVELS:
        raise ValueError(f"split level must be one of {', '.join(SPLIT_LEVELS)} (got {level!r})")
    thresholds = thresholds or Thresholds()
    handle = open_store(store, storage_options)
    client = connect(scheduler, cluster_timeout) if scheduler else None
    try:
        return _inspect(
            handle, corpora, report_dir, window_seconds, workers, thresholds, split, split_by, split_fractions,
            split_seed, progress, storage_options, client, cluster_timeout,
        )  # fmt: skip
    finally:
        if client is not None:
            client.close()


def _inspect(
    handle, corpora, report_dir, window_seconds, workers, thresholds, split, split_by, split_fractions,
    split_seed, progress, storage_options, client, cluster_timeout,
) -> InspectReport:  # fmt: skip
    """The body of :func:`inspect_store` once the store is open (and the cluster connected)."""
    recordings = handle.recordings if len(handle.recordings) else pd.DataFrame(columns=RECORDING_COLUMNS)
    failures = store_failures(handle.path, storage_options=storage_options)
    present = sorted(set(recordings["corpus"]))
    if corpora:
        missing = sorted(set(corpora) - set(present) - set(failures["corpus"]))
        if missing:
            raise StoreError(
                f"{handle.path}: no corpus {', '.join(repr(m) for m in missing)} in this store "
                f"(it holds: {', '.join(present) or 'nothing'})"
            )
        recordings = recordings[recordings["corpus"].isin(corpora)].reset_index(drop=True)
        failures = failures[failures["corpus"].isin(corpora)].reset_index(drop=True)
    names = sorted(set(recordings["corpus"]) | set(failures["corpus"]))
    sfreq = handle.processing.sfreq
    params = StatsParams(
        sfreq=sfreq, chunk_samples=handle.processing.chunk_samples, line_frequencies=thresholds.line_frequencies
    )
    if len(recordings):
        total_bytes = int((recordings["n_channels"] * recordings["n_samples"]).sum()) * 4
        if client is not None and workers is None:
            workers = max(1, sum(client.nthreads().values()))
        if workers is None:
            workers = 1 if total_bytes < SMALL_STORE_BYTES else min(os.cpu_count() or 1, 8)
        stats = compute_stats(
            handle.path, recordings, params, workers, progress, storage_options, client, cluster_timeout
        )
    else:
        stats = _assemble(recordings, {}, params, 0.0)
    manifests = shipped_manifests(names)
    rows: list[dict] = []
    if len(recordings):
        rows += signal_checks(recordings, stats.recordings, stats.channels, sfreq, thresholds)
        rows += length_checks(recordings, max(1, round(window_seconds * sfreq)), thresholds)
        rows += label_checks(recordings, manifests, thresholds)
        rows += count_checks(recordings, manifests, thresholds)
        rows += bad_channel_checks(recordings)
    rows += failure_checks(failures, thresholds)
    audit = None
    if split is not None:
        if isinstance(split, str):
            audit = audit_split(recordings, make_split(recordings, split, split_fractions, split_seed), by=split)
        else:
            proposed = as_assignment(split)
            if corpora:  # ids of the store's other corpora are left out, ids in no corpus stay (and are reported)
                everything = handle.recordings["recording_id"] if len(handle.recordings) else []
                others = set(everything) - set(recordings["recording_id"])
                proposed = proposed[~proposed["recording_id"].isin(others)]
            audit = audit_split(recordings, proposed, by=split_by)
        rows += audit.findings.to_dict("records")
    report = InspectReport(
        store=handle.path,
        processing=handle.processing,
        corpora=names,
        window_seconds=float(window_seconds),
        thresholds=thresholds,
        summary=summarize_store(recordings, failures, window_seconds, sfreq, manifests),
        labels=label_distribution(recordings),
        bad_channels=bad_channel_summary(recordings),
        failures=failures,
        findings=findings_frame(rows),
        stats=stats,
        recordings=recordings,
        vocabulary=handle.vocabulary,
        split=audit,
    )
    if report_dir is not None:
        report.write(report_dir)
    return report
