"""Per-corpus summary tables: contents, windows, labels and ingest failures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emod_data.store import read_table

SUMMARY_COLUMNS = [
    "corpus",
    "subjects",
    "sessions",
    "trials",
    "baselines",
    "hours",
    "channels",
    "hz",
    "source_hz",
    "windows",
    "classes",
    "valence",
    "arousal",
    "failures",
]


def window_counts(recordings: pd.DataFrame, seconds: float, sfreq: float) -> pd.Series:
    """Non-overlapping windows per recording, as ``Store.windows(seconds)`` cuts them (incomplete tail dropped).

    Parameters
    ----------
    recordings : pandas.DataFrame
        Recordings table rows.
    seconds : float
        Window length in seconds.
    sfreq : float
        Store rate in Hz.

    Returns
    -------
    pandas.Series
        Window count per row (same index).
    """
    length = max(1, round(seconds * sfreq))
    return recordings["n_samples"].astype(np.int64) // length


def store_failures(store_path, corpora: list[str] | None = None, storage_options: dict | None = None) -> pd.DataFrame:
    """The ingest failures of every corpus, with a ``corpus`` column (from ``tables/failures/<corpus>.parquet``).

    Parameters
    ----------
    store_path : path-like or str
        Store folder or fsspec URL.
    corpora : list of str, optional
        Keep only these corpora.
    storage_options : dict, optional
        fsspec options of a store URL.

    Returns
    -------
    pandas.DataFrame
        Columns ``corpus``, ``file``, ``subject``, ``session``, ``trial``, ``stage``, ``error``.
    """
    from emod_data.storage import filesystem

    columns = ["corpus", "file", "subject", "session", "trial", "stage", "error"]
    fs, root = filesystem(store_path, storage_options)
    parts = []
    for path in sorted(fs.glob(f"{root}/tables/failures/*.parquet")):
        corpus = path.rsplit("/", 1)[-1][: -len(".parquet")]
        if corpora is not None and corpus not in corpora:
            continue
        table = read_table(store_path, "failures", corpus, storage_options)
        if len(table):
            parts.append(table.assign(corpus=corpus).reindex(columns=columns))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _mean_sd(values: pd.Series) -> str:
    values = values.dropna().astype(float)
    if not len(values):
        return "-"
    return f"{values.mean():+.2f} ± {values.std(ddof=0):.2f}"


def summarize_store(
    recordings: pd.DataFrame,
    failures: pd.DataFrame,
    window_seconds: float,
    sfreq: float,
    manifests: dict,
) -> pd.DataFrame:
    """One row per corpus: contents, rate, windows, labels and failures.

    Parameters
    ----------
    recordings : pandas.DataFrame
        Recordings table rows of the inspected corpora.
    failures : pandas.DataFrame
        Ingest failures with a ``corpus`` column.
    window_seconds : float
        Window length for the ``windows`` column.
    sfreq : float
        Store rate.
    manifests : dict
        Corpus -> Manifest or None (for the source rate).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`: subjects, sessions (subject-sessions), trials (stimulus
        segments), baselines (other segments), hours (stimulus), channels (count or range), hz (store
        rate), source_hz (manifest), windows (non-overlapping, stimulus segments), classes (count of
        distinct classes), valence and arousal (mean ± SD over trials), failures (ingest failures).
    """
    rows = []
    for corpus in sorted(set(recordings["corpus"]) | set(failures["corpus"])):
        recs = recordings[recordings["corpus"] == corpus]
        stim = recs[recs["segment"] == "stimulus"]
        manifest = manifests.get(corpus)
        if len(recs):
            lo, hi = int(recs["n_channels"].min()), int(recs["n_channels"].max())
            channels = str(lo) if lo == hi else f"{lo}-{hi}"
        else:
            channels = "-"
        rows.append(
            {
                "corpus": corpus,
                "subjects": stim["subject"].nunique(),
                "sessions": len(stim[["subject", "session"]].drop_duplicates()),
                "trials": len(stim),
                "baselines": len(recs) - len(stim),
                "hours": round(float(stim["duration_s"].sum()) / 3600, 3),
                "channels": channels,
                "hz": float(sfreq),
                "source_hz": float(manifest.format.sfreq) if manifest is not None else float("nan"),
                "windows": int(window_counts(stim, window_seconds, sfreq).sum()),
                "classes": int(stim["class_name"].dropna().nunique()),
                "valence": _mean_sd(stim["valence"]),
                "arousal": _mean_sd(stim["arousal"]),
                "failures": int((failures["corpus"] == corpus).sum()),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


BAD_CHANNEL_COLUMNS = ["corpus", "channel", "sessions_bad", "sessions", "share", "reasons", "action"]
"""Columns of :func:`bad_channel_summary`."""


def bad_channel_summary(recordings: pd.DataFrame) -> pd.DataFrame:
    """Per corpus and electrode, in how many subject-sessions the ingest found it bad and why.

    Parameters
    ----------
    recordings : pandas.DataFrame
        Recordings table rows (``bad_channels``, ``bad_reasons``, ``bad_action`` set by the
        session-level bad-channel stage; stores ingested without it give an empty table).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`BAD_CHANNEL_COLUMNS`: ``sessions_bad`` (subject-sessions where the electrode
        was bad), ``sessions`` (subject-sessions that record it), ``share``, ``reasons``
        (``reason count`` pairs, most frequent first) and ``action`` (interpolated / dropped); only
        electrodes bad at least once, most often bad first.
    """
    if not len(recordings) or "bad_channels" not in recordings.columns:
        return pd.DataFrame(columns=BAD_CHANNEL_COLUMNS)
    rows = []
    checked = recordings[recordings["bad_action"].notna()]
    sessions = checked.drop_duplicates(["corpus", "subject", "session"])
    for corpus, recs in sessions.groupby("corpus", sort=True):
        reasons: dict[str, dict[str, int]] = {}
        actions: dict[str, set[str]] = {}
        recorded: dict[str, int] = {}
        for row in recs.itertuples(index=False):
            names = list(row.bad_channels)
            for name in set(row.channel_names) | set(names):  # dropped channels are not in channel_names
                recorded[name] = recorded.get(name, 0) + 1
            for name, reason in zip(names, list(row.bad_reasons), strict=True):
                counts = reasons.setdefault(name, {})
                for part in reason.split("+"):
                    counts[part] = counts.get(part, 0) + 1
                actions.setdefault(name, set()).add(row.bad_action)
        for name, counts in reasons.items():
            bad = sum(1 for row in recs.itertuples(index=False) if name in list(row.bad_channels))
            text = ", ".join(f"{r} {n}" for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
            rows.append([corpus, name, bad, recorded[name], round(bad / recorded[name], 3), text,
                         "/".join(sorted(actions[name]))])  # fmt: skip
    table = pd.DataFrame(rows, columns=BAD_CHANNEL_COLUMNS)
    return table.sort_values(["corpus", "sessions_bad", "channel"], ascending=[True, False, True]).reset_index(
        drop=True
    )


def label_distribution(recordings: pd.DataFrame) -> pd.DataFrame:
    """Trials per corpus and class with their mean valence and arousal, plus the V-A quadrant counts.

    Parameters
    ----------
    recordings : pandas.DataFrame
        Recordings table rows.

    Returns
    -------
    pandas.DataFrame
        Columns ``corpus``, ``label`` (a class name, ``(no class)``, or a quadrant ``HVHA`` / ``HVLA`` /
        ``LVHA`` / ``LVLA`` / ``on an axis``), ``kind`` (``class`` or ``quadrant``), ``trials``,
        ``share``, ``valence``, ``arousal`` (means).
    """
    stim = recordings[recordings["segment"] == "stimulus"]
    rows = []
    for corpus, recs in stim.groupby("corpus", sort=True):
        classes = recs["class_name"].astype(object).where(recs["class_name"].notna(), "(no class)")
        v = recs["valence"].astype(float)
        a = recs["arousal"].astype(float)
        quadrant = np.select(
            [(v > 0) & (a > 0), (v > 0) & (a < 0), (v < 0) & (a > 0), (v < 0) & (a < 0), v.isna() | a.isna()],
            ["HVHA", "HVLA", "LVHA", "LVLA", "(no V-A)"],
            default="on an axis",
        )
        for kind, labels in (("class", classes), ("quadrant", pd.Series(quadrant, index=recs.index))):
            for label, group in recs.groupby(labels, sort=True):
                rows.append(
                    {
                        "corpus": corpus,
                        "label": label,
                        "kind": kind,
                        "trials": len(group),
                        "share": round(len(group) / len(recs), 3),
                        "valence": round(float(group["valence"].mean()), 2),
                        "arousal": round(float(group["arousal"].mean()), 2),
                    }
                )
    return pd.DataFrame(rows, columns=["corpus", "label", "kind", "trials", "share", "valence", "arousal"])
