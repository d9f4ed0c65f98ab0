"""Named quality checks with severities and thresholds.

Every check turns the recordings table, the streaming statistics
(:mod:`emod_data.inspect.stats`) and the failures table into findings: one row
per recording (or session, file, split pair) that a check hits, with the
channels involved, the measured value and a one-line message. The thresholds
live in :class:`Thresholds`. Each check is declared once, by the :func:`~emod_data.inspect.registry.check`
decorator on the function that makes its findings; ``docs/inspect.md``'s table of checks is generated from
those declarations (:func:`emod_data.inspect.catalog.checks_markdown`). Every ``*_checks`` function returns
a list of finding rows (:func:`finding`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from emod_data.inspect.registry import SEVERITIES, Check, check
from emod_data.preprocess import AMPLITUDE_RANGE_UV

__all__ = ["FINDING_COLUMNS", "SEVERITIES", "Check", "Thresholds", "finding", "findings_frame", "signal_checks"]

FINDING_COLUMNS = ["check", "severity", "corpus", "where", "channels", "value", "message"]
"""Columns of a findings table. ``where`` is a recording id, or the session, subject, file or split pair hit."""


@dataclass(frozen=True)
class Thresholds:
    """Thresholds of the checks (the defaults are documented in ``docs/inspect.md``).

    Parameters
    ----------
    amplitude_error_uv : tuple of float
        A recording's median channel SD outside this range (µV) is an error (a unit off by 1e3 or 1e6).
    amplitude_warning_uv : tuple of float
        Outside this narrower range it is a warning.
    flat_relative_sd : float
        A channel whose SD is below this fraction of the recording's median channel SD, or which is
        constant, is flat.
    clip_fraction, clip_min_samples : float, int
        A channel with at least ``max(clip_min_samples, clip_fraction * samples)`` samples exactly at
        its maximum or at its minimum is clipped.
    variance_ratio : float
        A channel whose SD is more than this factor above or below the recording's median channel SD
        is an outlier within its recording.
    corpus_variance_ratio : float
        A channel whose SD is more than this factor above or below the median SD of the same channel
        over the corpus' recordings is an outlier within its corpus.
    norm_min_recordings : int
        Fewest recordings that make a norm (a channel's corpus SD, a stimulus' length).
    line_share : float
        A channel whose excess power within 1 Hz of a mains frequency exceeds this share of its total
        power has strong line noise.
    line_frequencies : tuple of float
        The mains frequencies looked at.
    trial_length_tolerance : float
        Relative deviation from the norm length that counts as deviating.
    trial_length_robust_z : float
        Without a per-stimulus norm, a length must also lie this many robust standard deviations
        (1.4826 MAD of log length) from the corpus median.
    label_range : tuple of float
        Valid range of valence, arousal and dominance.
    expected_count_severity : {"error", "warning", "info"}
        Severity of ``expected_count`` (a session that lost trials, a subject that lost sessions).
    ingest_failure_severity : {"error", "warning", "info"}
        Severity of ``ingest_failure`` (a file or trial the ingest could not store). Both are errors by
        default, so that a store that lost data fails ``--fail-on error``.
    """

    amplitude_error_uv: tuple[float, float] = AMPLITUDE_RANGE_UV
    amplitude_warning_uv: tuple[float, float] = (1.0, 500.0)
    flat_relative_sd: float = 0.01
    clip_fraction: float = 0.001
    clip_min_samples: int = 5
    variance_ratio: float = 5.0
    corpus_variance_ratio: float = 5.0
    norm_min_recordings: int = 3
    line_share: float = 0.10
    line_frequencies: tuple[float, ...] = (50.0, 60.0)
    trial_length_tolerance: float = 0.10
    trial_length_robust_z: float = 5.0
    label_range: tuple[float, float] = (-4.0, 4.0)
    expected_count_severity: str = "error"
    ingest_failure_severity: str = "error"

    def __post_init__(self) -> None:
        for name in ("expected_count_severity", "ingest_failure_severity"):
            if getattr(self, name) not in ("error", "warning", "info"):
                raise ValueError(f"{name} must be 'error', 'warning' or 'info' (got {getattr(self, name)!r})")

    def to_dict(self) -> dict:
        """The thresholds as plain values."""
        return asdict(self)


def finding(check, severity, corpus, where, channels, value, message) -> dict:
    """One finding row (the columns of :data:`FINDING_COLUMNS`; a missing value becomes NaN)."""
    return {
        "check": check,
        "severity": severity,
        "corpus": corpus,
        "where": where,
        "channels": channels,
        "value": float(value) if value is not None else math.nan,
        "message": message,
    }


def _names(channels: list[str], limit: int = 8) -> str:
    shown = ", ".join(channels[:limit])
    return shown + (f" (+{len(channels) - limit} more)" if len(channels) > limit else "")


def findings_frame(rows: list[dict]) -> pd.DataFrame:
    """A findings table (columns :data:`FINDING_COLUMNS`), most severe first, then by check and place."""
    table = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    if not len(table):
        return table
    order = {s: i for i, s in enumerate(SEVERITIES)}
    key = table["severity"].map(order)
    return (
        table.assign(_order=key)
        .sort_values(["_order", "check", "corpus", "where"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def _by_recording(hits: pd.DataFrame):
    """Groups of flagged channel rows, one per recording, in table order."""
    return hits.groupby("recording_id", sort=False) if len(hits) else []


def signal_checks(
    recordings: pd.DataFrame, stats: pd.DataFrame, channels: pd.DataFrame, sfreq: float, thresholds: Thresholds
) -> list[dict]:
    """Checks on the arrays and their statistics.

    Parameters
    ----------
    recordings : pandas.DataFrame
        Rows of the recordings table being inspected.
    stats : pandas.DataFrame
        One row per recording (``recording_id``, ``error``, ``complete``, ``shape``, ``median_sd``),
        ``StoreStats.recordings``.
    channels : pandas.DataFrame
        One row per recording and channel (``recording_id``, ``channel``, ``count``, ``nonfinite``,
        ``first_nonfinite``, ``sd``, ``min``, ``max``, ``at_min``, ``at_max``, ``line_share``,
        ``line_frequency``), ``StoreStats.channels``.
    sfreq : float
        The store's rate.
    thresholds : Thresholds

    Returns
    -------
    list of dict
        Finding rows.
    """
    out = recording_checks(recordings, stats, sfreq, thresholds)
    if not len(channels):
        return out
    amplitude_bad = {f["where"] for f in out if f["check"] == "amplitude_scale" and f["severity"] == "error"}
    corpus_of = recordings.set_index("recording_id")["corpus"]
    found, flat_rows = channel_checks(recordings, stats, channels, thresholds)
    return out + found + _corpus_variance(channels, corpus_of, amplitude_bad, flat_rows, thresholds)


def _amplitude_rule(t: Thresholds) -> str:
    (lo_e, hi_e), (lo_w, hi_w) = t.amplitude_error_uv, t.amplitude_warning_uv
    return f"median channel SD outside {lo_e:g}-{hi_e:g} µV (error) or {lo_w:g}-{hi_w:g} µV (warning)"


@check(
    "array_unreadable",
    "error",
    "array",
    "the array is missing, cannot be opened or read, or is not 2-D",
    doc="The array is missing, cannot be opened or read, or is not 2-D.",
    meaning="The table lists a recording the store cannot deliver. Re-ingest the corpus (`--overwrite`).",
)
@check(
    "array_incomplete",
    "error",
    "array",
    "the array's completion mark is not true (interrupted write)",
    doc="The array's `complete` mark is not true.",
    meaning="An interrupted write; re-run ingest, which redoes incomplete arrays.",
)
@check(
    "shape_mismatch",
    "error",
    "array",
    "array shape differs from the table's n_channels x n_samples, or channel names and ids disagree",
    doc="Array shape differs from the table's `n_channels` x `n_samples`, or channel names and ids disagree in number.",
    meaning="Table and arrays are out of sync.",
)
@check(
    "sampling_rate",
    "error",
    "table",
    "the recording's sfreq differs from the store's rate",
    doc="The table's `sfreq` differs from the store's rate.",
    meaning="Windows would have the wrong duration.",
)
@check(
    "amplitude_scale",
    "error / warning",
    "signal",
    _amplitude_rule,
    doc=(
        "Median channel SD of the recording outside 0.1-5000 µV (error; the range ingest enforces, "
        "`emod_data.preprocess.AMPLITUDE_RANGE_UV`) or outside 1-500 µV (warning)."
    ),
    meaning="A scale off by 1e3 or 1e6 means wrong units (volts or mV stored as µV).",
)
def recording_checks(recordings: pd.DataFrame, stats: pd.DataFrame, sfreq: float, thresholds: Thresholds) -> list[dict]:
    """Per-recording checks: the array readable, complete and of the table's shape; rate; amplitude scale.

    Parameters
    ----------
    recordings, stats, sfreq, thresholds
        As for :func:`signal_checks`.
    """
    (lo_e, hi_e), (lo_w, hi_w) = thresholds.amplitude_error_uv, thresholds.amplitude_warning_uv
    out: list[dict] = []
    table = recordings[["recording_id", "corpus", "sfreq", "n_channels", "n_samples", "channel_names"]].merge(
        stats[["recording_id", "error", "complete", "shape", "median_sd"]], on="recording_id", how="left"
    )
    ids = recordings["channel_ids"] if "channel_ids" in recordings else recordings["channel_names"]
    table["n_names"] = recordings["channel_names"].map(len).to_numpy()
    table["n_ids"] = ids.map(lambda v: len(v) if v is not None else 0).to_numpy()
    for row in table.itertuples(index=False):
        rid, corpus = row.recording_id, row.corpus
        if abs(float(row.sfreq) - sfreq) > 1e-9:
            message = f"{rid}: recorded at {row.sfreq:g} Hz in the table, the store's rate is {sfreq:g} Hz"
            out.append(finding("sampling_rate", "error", corpus, rid, "", row.sfreq, message))
        if row.n_names != int(row.n_channels) or row.n_ids != row.n_names:
            message = f"{rid}: {row.n_names} channel names and {row.n_ids} ids for n_channels = {int(row.n_channels)}"
            out.append(finding("shape_mismatch", "error", corpus, rid, "", row.n_names, message))
        if isinstance(row.error, str) or row.shape is None or (isinstance(row.shape, float) and pd.isna(row.shape)):
            reason = row.error if isinstance(row.error, str) else f"{rid}: no statistics"
            out.append(finding("array_unreadable", "error", corpus, rid, "", None, reason))
            continue
        if not bool(row.complete):
            message = f"{rid}: completion mark missing or false (interrupted write); re-run ingest"
            out.append(finding("array_incomplete", "error", corpus, rid, "", None, message))
        shape = tuple(row.shape)
        expected = (int(row.n_channels), int(row.n_samples))
        if shape != expected:
            message = f"{rid}: array shape {shape[0]} x {shape[1]}, table says {expected[0]} x {expected[1]}"
            out.append(finding("shape_mismatch", "error", corpus, rid, "", None, message))
        median = row.median_sd
        if pd.isna(median):
            continue
        if not lo_e <= median <= hi_e:
            message = (
                f"{rid}: median channel SD {median:.3g} µV, outside {lo_e:g}-{hi_e:g} µV: "
                "are the units right (V or mV stored as µV)?"
            )
            out.append(finding("amplitude_scale", "error", corpus, rid, "", median, message))
        elif not lo_w <= median <= hi_w:
            message = f"{rid}: median channel SD {median:.3g} µV, outside the usual {lo_w:g}-{hi_w:g} µV"
            out.append(finding("amplitude_scale", "warning", corpus, rid, "", median, message))
    return out


def _nonfinite(group: pd.DataFrame, rid: str, rate: float) -> tuple[float, str]:
    total, first = int(group["nonfinite"].sum()), int(group["first_nonfinite"].min())
    channels = len(group)
    return (
        total,
        f"{rid}: {total} NaN/Inf samples in {channels} channel(s), first at sample {first} ({first / rate:.2f} s)",
    )


def _flat(group: pd.DataFrame, rid: str, rate: float) -> tuple[float, str]:
    low = float(group["sd"].min())
    median = group["median"].iloc[0]
    return low, f"{rid}: {len(group)} flat channel(s) (lowest SD {low:.3g} µV, recording median {median:.3g} µV)"


def _clipped(group: pd.DataFrame, rid: str, rate: float) -> tuple[float, str]:
    worst = float(group["clip_share"].max())
    return worst, (
        f"{rid}: {len(group)} channel(s) with samples stuck at their extreme value (up to {worst:.2%} of samples)"
    )


def _outlier(group: pd.DataFrame, rid: str, rate: float) -> tuple[float, str]:
    worst = group.iloc[int(np.argmax(np.abs(np.log(group["ratio"].to_numpy()))))]
    return worst["ratio"], (
        f"{rid}: {len(group)} channel(s) with outlying SD against the recording "
        f"({worst['channel']}: {worst['ratio']:.3g}x the median {worst['median']:.3g} µV)"
    )


def _noisy(group: pd.DataFrame, rid: str, rate: float) -> tuple[float, str]:
    worst = group.iloc[int(np.argmax(group["line_share"].to_numpy()))]
    return worst["line_share"], (
        f"{rid}: strong {worst['line_frequency']:g} Hz line noise in {len(group)} channel(s) "
        f"(up to {worst['line_share']:.1%} of a channel's power, in {worst['channel']})"
    )


@check(
    "nonfinite",
    "error",
    "signal",
    "any NaN or infinite sample",
    doc="Any NaN or infinite sample (channels listed, first sample given).",
    meaning="Ingest refuses them, so they come from a damaged or hand-edited array; NaN poisons every loss.",
)
@check(
    "flat_channel",
    "error",
    "channel",
    lambda t: f"constant, or SD below {t.flat_relative_sd:g} x the recording's median channel SD",
    doc="A channel that is constant, or whose SD is below 0.01 x the recording's median channel SD.",
    meaning="A dead or disconnected electrode; mask or drop it.",
)
@check(
    "clipping",
    "warning",
    "channel",
    lambda t: (
        f"at least max({t.clip_min_samples}, {t.clip_fraction:g} x samples) samples exactly at the "
        "channel's maximum or minimum"
    ),
    doc=(
        "At least max(5, 0.001 x samples) samples of a channel sit exactly at its maximum or at its minimum (flat "
        "channels excluded)."
    ),
    meaning=(
        "Amplifier saturation or clipping: a plateau at the rails. Clean EEG has one or two samples at its "
        "extremes (two "
        "with 12-bit rounding)."
    ),
)
@check(
    "channel_variance_recording",
    "warning",
    "channel",
    lambda t: f"SD more than {t.variance_ratio:g}x above or below the recording's median channel SD",
    doc="Channel SD more than 5x above or below the recording's median channel SD (flat channels excluded).",
    meaning="A bad or bridged channel within the recording. In the synthetic corpora the ratio stays within 0.45-2.4.",
)
@check(
    "line_noise",
    "warning",
    "channel",
    lambda t: (
        f"excess power within 1 Hz of {' / '.join(f'{f:g}' for f in t.line_frequencies)} Hz above "
        f"{t.line_share:.0%} of the channel's power"
    ),
    doc=(
        "Excess power within 1 Hz of 50 or 60 Hz above 10% of the channel's power. Excess = power density in the band "
        "above the background level (median density of the flanks 2-6 Hz away, away from the other mains frequency), "
        "integrated over the band. Needs a recording of at least one 2 s segment."
    ),
    meaning=(
        "Strong mains interference; notch it (`--notch`). The synthetic corpora keep a 50 Hz line of about 2 µV, which "
        "stays below 3% of a channel's power."
    ),
)
def channel_checks(
    recordings: pd.DataFrame, stats: pd.DataFrame, channels: pd.DataFrame, thresholds: Thresholds
) -> tuple[list[dict], set[tuple[str, str]]]:
    """Per-channel checks on the streaming statistics, one finding per recording and check.

    Parameters
    ----------
    recordings, stats, channels, thresholds
        As for :func:`signal_checks` (``stats`` gives each recording's median channel SD).

    Returns
    -------
    findings : list of dict
    flat : set of (str, str)
        The (recording id, channel) pairs found flat (left out of the corpus norm).
    """
    t = thresholds
    corpus_of = recordings.set_index("recording_id")["corpus"]
    rate_of = recordings.set_index("recording_id")["sfreq"]
    ch = channels.copy()
    sd = ch["sd"].to_numpy(dtype=float)
    median = ch["recording_id"].map(stats.set_index("recording_id")["median_sd"]).to_numpy(dtype=float)
    valid = np.isfinite(sd) & np.isfinite(median)
    count = ch["count"].to_numpy()
    constant = (ch["max"].to_numpy() == ch["min"].to_numpy()) & (count > 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = sd / median
    ch["ratio"], ch["median"] = ratio, median
    flat = valid & ((sd < t.flat_relative_sd * median) | constant)
    at_extreme = np.maximum(ch["at_max"].to_numpy(), ch["at_min"].to_numpy())
    ch["clip_share"] = at_extreme / np.maximum(count, 1)
    clipped = valid & ~flat & (at_extreme >= np.maximum(t.clip_min_samples, t.clip_fraction * count))
    outlier = valid & ~flat & ((ratio > t.variance_ratio) | (ratio < 1.0 / t.variance_ratio))
    share = ch["line_share"].to_numpy(dtype=float)
    noisy = np.isfinite(share) & (share > t.line_share)
    out: list[dict] = []
    for name, severity, hits, describe in (
        ("nonfinite", "error", ch["nonfinite"].to_numpy() > 0, _nonfinite),
        ("flat_channel", "error", flat, _flat),
        ("clipping", "warning", clipped, _clipped),
        ("channel_variance_recording", "warning", outlier, _outlier),
        ("line_noise", "warning", noisy, _noisy),
    ):
        for rid, group in _by_recording(ch[hits]):
            value, message = describe(group, rid, float(rate_of[rid]))
            out.append(finding(name, severity, corpus_of[rid], rid, _names(group["channel"].tolist()), value, message))
    return out, set(zip(ch.loc[flat, "recording_id"], ch.loc[flat, "channel"], strict=True))


@check(
    "channel_variance_corpus",
    "warning",
    "channel",
    lambda t: (
        f"SD more than {t.corpus_variance_ratio:g}x above or below the same channel's median SD over the "
        f"corpus (at least {t.norm_min_recordings} recordings)"
    ),
    doc=(
        "Channel SD more than 5x above or below the median SD of the same channel (by name) over the corpus, when at "
        "least 3 recordings have that channel; recordings with an `amplitude_scale` error and flat channels "
        "are left out "
        "of the norm."
    ),
    meaning="A channel, or a whole recording (another amplifier gain), unlike the rest of its corpus.",
)
def _corpus_variance(
    channels: pd.DataFrame, corpus_of: pd.Series, excluded: set[str], flat: set[tuple[str, str]], t: Thresholds
) -> list[dict]:
    """Channels whose SD is far from the same channel's median SD over the corpus."""
    table = channels[["recording_id", "channel", "sd"]].copy()
    table["corpus"] = table["recording_id"].map(corpus_of)
    keep = ~table["recording_id"].isin(excluded) & np.isfinite(table["sd"].to_numpy(dtype=float))
    if flat:
        keys = pd.MultiIndex.from_frame(table[["recording_id", "channel"]])
        keep &= ~keys.isin(list(flat))
    table = table[keep]
    if not len(table):
        return []
    grouped = table.groupby(["corpus", "channel"])["sd"]
    norm = grouped.transform("median")
    support = grouped.transform("size")
    ratio = table["sd"] / norm
    bad = (support >= t.norm_min_recordings) & (
        (ratio > t.corpus_variance_ratio) | (ratio < 1 / t.corpus_variance_ratio)
    )
    out = []
    hits = table[bad].assign(ratio=ratio[bad], norm=norm[bad])
    for rid, group in hits.groupby("recording_id", sort=True):
        worst = group.iloc[int(np.argmax(np.abs(np.log(group["ratio"].to_numpy()))))]
        out.append(
            finding(
                "channel_variance_corpus",
                "warning",
                group["corpus"].iloc[0],
                rid,
                _names(group["channel"].tolist()),
                float(worst["ratio"]),
                f"{rid}: {len(group)} channel(s) with outlying SD against the corpus "
                f"({worst['channel']}: {worst['ratio']:.3g}x the corpus median {worst['norm']:.3g} µV)",
            )
        )
    return out


@check(
    "trial_length",
    "warning",
    "recording",
    lambda t: (
        f"length off by more than {t.trial_length_tolerance:.0%} from the median of the same stimulus "
        f"(at least {t.norm_min_recordings} recordings); with two recordings of a stimulus, the shorter "
        f"more than {t.trial_length_tolerance:.0%} below the longer; a stimulus recorded once, off from the "
        f"corpus median by that much and by more than {t.trial_length_robust_z:g} robust SD of log length"
    ),
    doc=(
        "Length off by more than 10% from the median length of the recordings of the same stimulus (and segment kind), "
        "when there are at least 3; with exactly 2 recordings of a stimulus, the shorter one when it is more than 10% "
        "below the longer; for a stimulus recorded once, off by more than 10% from the corpus median for that segment "
        "kind **and** more than 5 robust SD (1.4826 x MAD of log length) from it (a corpus whose lengths are "
        "all equal, "
        "like DEAP, flags any 10% deviation)."
    ),
    meaning=(
        "A truncated or over-long trial: wrong trial boundaries or a broken file. Clips of different lengths (SEED, "
        "SEED-IV, AMIGOS' long videos) are compared with their own stimulus, never with other clips when the "
        "stimulus is "
        "recorded more than once."
    ),
)
@check(
    "short_for_window",
    "info",
    "corpus",
    "stimulus recordings shorter than the window length (they give no window), counted per corpus",
    doc="Stimulus recordings shorter than the window length, counted per corpus (`where` is the corpus).",
    meaning="They give no window at that length.",
)
def length_checks(recordings: pd.DataFrame, window_samples: int, thresholds: Thresholds) -> list[dict]:
    """Trial lengths against the norm of the same stimulus, or of the corpus; windows per recording.

    Parameters
    ----------
    recordings : pandas.DataFrame
        Rows of the recordings table being inspected.
    window_samples : int
        Window length in samples (for ``short_for_window``).
    thresholds : Thresholds

    """
    t = thresholds
    out: list[dict] = []
    if not len(recordings):
        return out
    recs = recordings[["recording_id", "corpus", "segment", "stimulus", "n_samples", "sfreq"]].reset_index(drop=True)
    n = recs["n_samples"].to_numpy(dtype=float)
    by_stimulus = recs.groupby(["corpus", "segment", "stimulus"])["n_samples"]
    stim_median = by_stimulus.transform("median").to_numpy(dtype=float)
    stim_size = by_stimulus.transform("size").to_numpy()
    log_n = pd.Series(np.log(np.maximum(n, 1.0)))
    keys = [recs["corpus"], recs["segment"]]
    corpus_median = log_n.groupby(keys).transform("median").to_numpy()
    mad = (log_n - corpus_median).abs().groupby(keys).transform("median").to_numpy() * 1.4826
    log_n = log_n.to_numpy()
    stim_max = by_stimulus.transform("max").to_numpy(dtype=float)
    use_stimulus = stim_size >= t.norm_min_recordings
    pair = stim_size == 2  # two recordings of a stimulus: the shorter is compared with the longer
    alone = stim_size == 1  # no other recording of the stimulus: the corpus is the norm
    norm = np.where(use_stimulus, stim_median, np.where(pair, stim_max, np.exp(corpus_median)))
    off = np.abs(n / norm - 1.0) > t.trial_length_tolerance
    robust = (mad == 0) | (np.abs(log_n - corpus_median) > t.trial_length_robust_z * mad)
    deviates = off & (use_stimulus | pair | (alone & robust))
    rate = recs["sfreq"].to_numpy(dtype=float)
    for i in np.flatnonzero(deviates):
        row = recs.iloc[i]
        if use_stimulus[i]:
            basis = f"median of the {int(stim_size[i])} recordings of {row['stimulus']}"
        elif pair[i]:
            basis = f"other recording of {row['stimulus']}"
        else:
            basis = f"corpus median of {row['corpus']} {row['segment']} segments"
        message = (
            f"{row['recording_id']}: {n[i] / rate[i]:.1f} s long, {n[i] / norm[i]:.2f}x the "
            f"{norm[i] / rate[i]:.1f} s {basis}"
        )
        out.append(finding("trial_length", "warning", row["corpus"], row["recording_id"], "", n[i] / norm[i], message))
    stimulus = recs["segment"].to_numpy() == "stimulus"
    short = (n < window_samples) & stimulus
    for corpus in sorted(recs.loc[short, "corpus"].unique()):
        mine = short & (recs["corpus"].to_numpy() == corpus)
        first = np.flatnonzero(mine)[0]
        total = int((stimulus & (recs["corpus"].to_numpy() == corpus)).sum())
        message = (
            f"{corpus}: {int(mine.sum())} of {total} stimulus recordings are shorter than the "
            f"{window_samples / rate[first]:g} s window and give no window, e.g. {recs['recording_id'].iloc[first]} "
            f"({n[first] / rate[first]:.2f} s)"
        )
        out.append(finding("short_for_window", "info", corpus, corpus, "", int(mine.sum()), message))
    return out


@check(
    "missing_label",
    "error",
    "labels",
    "a stimulus segment without valence or arousal, or without a class in a corpus with classes",
    doc=(
        "In a stimulus segment (baselines are unrated by design): valence or arousal missing, or no class "
        "(`class_name` "
        "null or `class_index` < 0) in a corpus whose manifest has classes (or whose other recordings do)."
    ),
    meaning="The trial cannot be used for supervised training or the V-A plane.",
)
@check(
    "label_out_of_range",
    "error",
    "labels",
    lambda t: (
        f"valence, arousal or dominance outside [{t.label_range[0]:g}, {t.label_range[1]:g}], a class the "
        "manifest does not list, or a raw rating off the manifest's scale"
    ),
    doc=(
        "Valence, arousal or dominance outside [-4, 4]; a class not among the manifest's classes (or an "
        "index past them);"
        " a raw rating off the manifest's scale (DEAP 1-9)."
    ),
    meaning="Mislabelled trials.",
)
def label_checks(recordings: pd.DataFrame, manifests: dict, thresholds: Thresholds) -> list[dict]:
    """Missing labels and label values out of range.

    Parameters
    ----------
    recordings, manifests : pandas.DataFrame, dict
        The rows of the recordings table being inspected; corpus name -> :class:`emod_data.manifest.Manifest`
        (None for a corpus without a shipped manifest).
    thresholds : Thresholds

    """
    lo, hi = thresholds.label_range
    out: list[dict] = []
    for corpus, recs in recordings.groupby("corpus", sort=True):
        manifest = manifests.get(corpus)
        labels = manifest.labels if manifest is not None else None
        classes = list(getattr(labels, "class_names", None) or []) if labels is not None else None
        has_classes = bool(classes) if classes is not None else bool((recs["class_index"].fillna(-1) >= 0).any())
        scale = getattr(labels, "scale", None) if getattr(labels, "source", None) == "ratings" else None
        raw_columns = [c for c in recs.columns if c.startswith("raw_") and c not in ("raw_code", "raw_ratings")]
        for row in recs.itertuples(index=False):
            rid = row.recording_id
            missing = [
                name for name in ("valence", "arousal") if getattr(row, name) is None or pd.isna(getattr(row, name))
            ]
            no_class = has_classes and (
                row.class_name is None or pd.isna(row.class_name) or pd.isna(row.class_index) or row.class_index < 0
            )
            if (missing or no_class) and getattr(row, "segment", "stimulus") == "stimulus":  # baselines: unrated
                what = missing + (["class"] if no_class else [])
                out.append(
                    finding("missing_label", "error", corpus, rid, "", None, f"{rid}: no {' / '.join(what)} label")
                )
            bad = []
            for name in ("valence", "arousal", "dominance"):
                value = getattr(row, name, None)
                if value is not None and not pd.isna(value) and not lo <= float(value) <= hi:
                    bad.append(f"{name} {float(value):g} outside [{lo:g}, {hi:g}]")
            if classes and not no_class:
                index = int(row.class_index)
                if index >= len(classes) or (row.class_name is not None and row.class_name not in classes):
                    bad.append(f"class {row.class_name!r} (index {index}) not among the manifest's {len(classes)}")
            if scale is not None:
                for name, value in _raw_ratings(row, raw_columns):
                    if value is not None and not pd.isna(value) and not scale[0] <= float(value) <= scale[1]:
                        bad.append(f"raw {name} {float(value):g} off the scale {scale[0]:g}-{scale[1]:g}")
            if bad:
                out.append(finding("label_out_of_range", "error", corpus, rid, "", None, f"{rid}: {'; '.join(bad)}"))
    return out


def _raw_ratings(row, raw_columns: list[str]) -> list[tuple[str, float]]:
    """(name, value) of a row's raw ratings: the ``raw_ratings`` map, or ``raw_<name>`` columns."""
    ratings = getattr(row, "raw_ratings", None)
    if isinstance(ratings, dict):
        return list(ratings.items())
    if ratings is not None and not isinstance(ratings, float) and hasattr(ratings, "__iter__"):
        return [(str(k), v) for k, v in ratings]  # a map read by pyarrow as (key, value) pairs
    return [(column[len("raw_") :], getattr(row, column, None)) for column in raw_columns]


def expected_trials(manifest) -> int | None:
    """Trials per subject-session a manifest declares, or None."""
    if manifest is None:
        return None
    if getattr(manifest.files, "session", None) == "trial_block":
        return getattr(manifest.files, "trials_per_session", None)
    return getattr(manifest.format, "trials", None)


@check(
    "expected_count",
    lambda t: t.expected_count_severity,
    "session",
    (
        "a session with another number of trials than the manifest declares (or than the corpus' usual "
        "number), or a subject with fewer sessions than most"
    ),
    doc=(
        "A subject-session whose number of stimulus trials differs from the manifest's (`files.trials_per_session` for "
        "trial blocks, else `format.trials`: SEED 15, SEED-IV 24, SEED-VII 20 per session, DEAP 40), or, without a "
        "shipped manifest, from the corpus' most common count; a subject with fewer sessions than most subjects of the "
        "corpus. `where` is `<corpus>/sub-<s>/ses-<n>` or `<corpus>/sub-<s>`."
    ),
    meaning="Missing trials (failed or not ingested) bias class balance and break published sample counts.",
)
def count_checks(recordings: pd.DataFrame, manifests: dict, thresholds: Thresholds | None = None) -> list[dict]:
    """Trials per session against the manifest (or the corpus' usual count); sessions per subject.

    Parameters
    ----------
    recordings, manifests
        As for :func:`label_checks`.
    thresholds : Thresholds, optional
        Gives the findings' severity (``expected_count_severity``, error by default).

    """
    severity = (thresholds or Thresholds()).expected_count_severity
    out: list[dict] = []
    stimulus = recordings[recordings["segment"] == "stimulus"]
    for corpus, recs in stimulus.groupby("corpus", sort=True):
        per_session = recs.groupby(["subject", "session"])["trial"].nunique()
        declared = expected_trials(manifests.get(corpus))
        expected = declared if declared is not None else int(per_session.mode().max())
        source = "the manifest declares" if declared is not None else "most sessions of the corpus have"
        for (subject, session), count in per_session.items():
            if count != expected:
                where = f"{corpus}/sub-{subject}/ses-{session}"
                message = f"{where}: {count} trials, {source} {expected}"
                out.append(finding("expected_count", severity, corpus, where, "", count, message))
        sessions = recs.groupby("subject")["session"].nunique()
        usual = int(sessions.mode().max())
        for subject, count in sessions.items():
            if count < usual:
                where = f"{corpus}/sub-{subject}"
                message = f"{where}: {count} session(s), most subjects of {corpus} have {usual}"
                out.append(finding("expected_count", severity, corpus, where, "", count, message))
    return out


@check(
    "bad_channels",
    "info",
    "recording",
    (
        "channels the ingest found bad in the recording's session (flat, deviation, hf_noise, correlation, "
        "bridged, ransac) and what it did (interpolated or dropped)"
    ),
    doc=(
        "One per recording whose subject-session had bad channels (recordings-table `bad_channels`, `bad_reasons`, "
        "`bad_action`); `channels` lists them, `value` counts them, the message gives each reason and what was done "
        "(`interpolated` / `dropped`)."
    ),
    meaning="Electrodes the ingest repaired; many in one corpus point at a montage or a manifest problem.",
)
def bad_channel_checks(recordings: pd.DataFrame) -> list[dict]:
    """One info per recording whose session had bad channels (recordings-table columns ``bad_*``).

    Parameters
    ----------
    recordings : pandas.DataFrame
        Rows of the recordings table being inspected.

    Returns
    -------
    list of dict
        Findings ``bad_channels`` with the channels, their count as value and reasons and action in the message.
    """
    if "bad_channels" not in recordings.columns:
        return []
    out = []
    for row in recordings.itertuples(index=False):
        names = row.bad_channels
        if names is None or isinstance(names, float) or not len(names):
            continue
        names = list(names)
        found = ", ".join(f"{n} ({r})" for n, r in zip(names, list(row.bad_reasons), strict=True))
        message = f"{row.recording_id}: {found}; {row.bad_action}"
        out.append(finding("bad_channels", "info", row.corpus, row.recording_id, _names(names), len(names), message))
    return out


@check(
    "ingest_failure",
    lambda t: t.ingest_failure_severity,
    "file",
    "a file or trial that ingest could not store (failures table)",
    doc="One per row of the corpus' failures table; `where` is the file (and trial).",
    meaning="The store is incomplete; fix the file or the manifest and re-ingest.",
)
def failure_checks(failures: pd.DataFrame, thresholds: Thresholds | None = None) -> list[dict]:
    """One finding per row of the ingest failures table (which must carry a ``corpus`` column).

    Its severity is ``thresholds.ingest_failure_severity`` (error by default).
    """
    severity = (thresholds or Thresholds()).ingest_failure_severity
    out = []
    for row in failures.itertuples(index=False):
        where = row.file if pd.isna(getattr(row, "trial", None)) else f"{row.file} trial {int(row.trial)}"
        out.append(finding("ingest_failure", severity, row.corpus, where, "", None, f"[{row.stage}] {row.error}"))
    return out
