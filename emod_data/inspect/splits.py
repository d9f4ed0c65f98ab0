"""Train / validation / test splits made on subjects, sessions or trials, and their leakage audit.

A split assigns each recording to a named part. :func:`make_split` draws one
deterministically per corpus (units ordered by a hash of the seed and the
unit's key, never by table order); :func:`audit_split` checks any proposed
split for subjects, sessions, trials and stimuli shared between parts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from emod_data.inspect.checks import finding, findings_frame
from emod_data.inspect.registry import check

SPLIT_LEVELS = ("subject", "session", "trial")
"""Units a split can be made on, coarsest first."""

LEVEL_KEYS = {
    "subject": ["corpus", "subject"],
    "session": ["corpus", "subject", "session"],
    "trial": ["corpus", "subject", "session", "trial"],
    "stimulus": ["stimulus"],
}
"""Columns identifying a subject, a session, a trial (all its segments) and a stimulus."""

DEFAULT_NAMES = ("train", "val", "test")

PLURALS = {"subject": "subjects", "session": "sessions", "trial": "trials", "stimulus": "stimuli"}


def _check_level(by: str) -> None:
    if by not in SPLIT_LEVELS:
        raise ValueError(f"split level must be one of {', '.join(SPLIT_LEVELS)} (got {by!r})")


def _unit_key(values: tuple) -> str:
    return "/".join(str(v) for v in values)


def _allocate(n_units: int, fractions: tuple[float, ...]) -> np.ndarray:
    """Units per part: largest remainders, and one unit at least for every part with a positive
    fraction when there are enough units."""
    share = np.asarray(fractions, dtype=float) / sum(fractions)
    raw = share * n_units
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n_units - counts.sum()]] += 1
    positive = share > 0
    if n_units >= positive.sum():
        for empty in np.flatnonzero(positive & (counts == 0)):
            donor = int(np.argmax(counts))
            counts[donor] -= 1
            counts[empty] += 1
    return counts


def make_split(
    recordings: pd.DataFrame,
    by: str = "subject",
    fractions: tuple[float, ...] = (0.8, 0.1, 0.1),
    seed: int = 0,
    names: tuple[str, ...] = DEFAULT_NAMES,
) -> pd.Series:
    """Split recordings into parts on subjects, sessions or trials, per corpus, deterministically.

    Parameters
    ----------
    recordings : pandas.DataFrame
        A recordings table (``Store.recordings``).
    by : {"subject", "session", "trial"}
        The unit kept whole: every recording of a unit lands in the same part.
    fractions : tuple of float
        Share of each corpus' units per part (normalised to sum to 1). Counts are rounded by largest
        remainder, and every part with a positive fraction gets at least one unit when the corpus
        has as many units as parts.
    seed : int
        Seed of the order of units; the same seed gives the same split whatever the table order.
    names : tuple of str
        Part names, one per fraction.

    Returns
    -------
    pandas.Series
        Part name per recording, indexed by ``recording_id``.

    Raises
    ------
    ValueError
        An unknown level, negative fractions, or as many names as fractions not given.
    """
    _check_level(by)
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != len(names):
        raise ValueError(f"{len(fractions)} fractions for {len(names)} split names")
    if any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"split fractions must be non-negative with a positive sum (got {fractions})")
    keys = LEVEL_KEYS[by]
    parts = pd.Series(index=pd.Index(recordings["recording_id"], name="recording_id"), dtype=object, name="split")
    for _, recs in recordings.groupby("corpus", sort=True):
        units = recs[keys].drop_duplicates().itertuples(index=False, name=None)
        ordered = sorted(units, key=lambda u: hashlib.sha256(f"{seed}:{_unit_key(u)}".encode()).hexdigest())
        cut = np.cumsum(_allocate(len(ordered), fractions))
        assignment = {}
        start = 0
        for name, stop in zip(names, cut, strict=True):
            for unit in ordered[start:stop]:
                assignment[unit] = name
            start = stop
        unit_of = recs[keys].itertuples(index=False, name=None)
        parts.loc[recs["recording_id"].to_numpy()] = [assignment[u] for u in unit_of]
    return parts


def as_assignment(split) -> pd.DataFrame:
    """Normalise a proposed split to a table of (recording_id, split).

    Parameters
    ----------
    split : pandas.DataFrame, pandas.Series or mapping
        A table with ``recording_id`` and ``split`` columns, a Series of part names indexed by
        recording id, a mapping recording id -> part, or a mapping part -> list of recording ids.

    Returns
    -------
    pandas.DataFrame
        Columns ``recording_id`` and ``split`` (strings).

    Raises
    ------
    ValueError
        Any other form.
    """
    if isinstance(split, pd.DataFrame):
        if not {"recording_id", "split"} <= set(split.columns):
            raise ValueError("a split table needs columns 'recording_id' and 'split'")
        return split[["recording_id", "split"]].astype({"recording_id": str, "split": str}).reset_index(drop=True)
    if isinstance(split, pd.Series):
        return pd.DataFrame({"recording_id": split.index.astype(str), "split": split.astype(str).to_numpy()})
    if isinstance(split, Mapping):
        values = list(split.values())
        if values and all(not isinstance(v, str) for v in values):
            rows = [(str(rid), str(name)) for name, ids in split.items() for rid in ids]
        else:
            rows = [(str(rid), str(name)) for rid, name in split.items()]
        return pd.DataFrame(rows, columns=["recording_id", "split"])
    raise ValueError("a split must be a DataFrame (recording_id, split), a Series or a mapping")


@dataclass
class SplitAudit:
    """Outcome of :func:`audit_split`.

    Attributes
    ----------
    by : str
        The level the split was meant to keep whole.
    assignment : pandas.DataFrame
        ``recording_id``, ``split`` as audited.
    sizes : pandas.DataFrame
        Per part: recordings, subjects, sessions, trials, stimuli, hours.
    overlaps : pandas.DataFrame
        Per pair of parts and level (subject, session, trial, stimulus): ``shared`` count and ``examples``.
    findings : pandas.DataFrame
        Findings (``split_*`` checks) in the format of the inspection findings.
    """

    by: str
    assignment: pd.DataFrame
    sizes: pd.DataFrame
    overlaps: pd.DataFrame
    findings: pd.DataFrame

    @property
    def leaks(self) -> bool:
        """True when an error-level overlap was found."""
        return bool((self.findings["severity"] == "error").any()) if len(self.findings) else False


def audit_split(
    recordings: pd.DataFrame,
    split,
    by: str = "subject",
    stimulus_severity: str = "warning",
) -> SplitAudit:
    """Check a proposed split for subject, session, trial and stimulus overlap between its parts.

    Parameters
    ----------
    recordings : pandas.DataFrame
        The store's recordings table (``Store.recordings``).
    split : pandas.DataFrame, pandas.Series or mapping
        The proposed split: a table with ``recording_id`` and ``split`` columns, a Series of part
        names indexed by recording id, a mapping recording id -> part, or part -> list of ids.
    by : {"subject", "session", "trial"}
        The unit the split means to keep whole. Overlap at this level or a finer one is an error
        (leakage); overlap at a coarser level is expected and reported as info.
    stimulus_severity : {"error", "warning", "info"}
        Severity of a stimulus shown in two parts (the same film clip in train and test).

    Returns
    -------
    SplitAudit

    Raises
    ------
    ValueError
        An unknown level or severity, or a split in none of the accepted forms.
    """
    _check_level(by)
    if stimulus_severity not in ("error", "warning", "info"):
        raise ValueError(f"stimulus_severity must be error, warning or info (got {stimulus_severity!r})")
    assignment = as_assignment(split)
    rows = _assignment_findings(assignment, recordings)
    table = assignment.drop_duplicates().merge(recordings, on="recording_id", how="inner")
    parts = sorted(table["split"].unique(), key=lambda p: (DEFAULT_NAMES.index(p) if p in DEFAULT_NAMES else 9, p))
    overlaps, found = _overlap_findings(table, parts, by, stimulus_severity)
    return SplitAudit(
        by=by,
        assignment=assignment,
        sizes=_sizes(table, parts),
        overlaps=overlaps,
        findings=findings_frame(rows + found),
    )


def _sizes(table: pd.DataFrame, parts: list[str]) -> pd.DataFrame:
    """Per part: recordings, subjects, sessions, trials, stimuli and hours."""
    sizes = []
    for name in parts:
        part = table[table["split"] == name]
        sizes.append(
            {
                "split": name,
                "recordings": len(part),
                "subjects": len(part[LEVEL_KEYS["subject"]].drop_duplicates()),
                "sessions": len(part[LEVEL_KEYS["session"]].drop_duplicates()),
                "trials": len(part[LEVEL_KEYS["trial"]].drop_duplicates()),
                "stimuli": part["stimulus"].nunique(),
                "hours": round(float(part["duration_s"].sum()) / 3600, 3),
            }
        )
    return pd.DataFrame(sizes, columns=["split", "recordings", "subjects", "sessions", "trials", "stimuli", "hours"])


@check(
    "split_duplicate",
    "error",
    "split",
    "a recording assigned to two splits",
    doc="A recording assigned to two parts.",
    meaning="The same data would be trained and tested on; fix the split.",
)
@check(
    "split_unknown_recording",
    "error",
    "split",
    "a split names a recording the store does not hold",
    doc="A split names recording ids the store does not hold (`where` is `split`).",
    meaning="The split was made for another store or corpus selection.",
)
@check(
    "split_unassigned",
    "info",
    "split",
    "recordings of the audited corpora in no split",
    doc="Recordings of the audited corpora in no part (`where` is `split`).",
    meaning="Data left out of every part; intended or not, worth knowing.",
)
def _assignment_findings(assignment: pd.DataFrame, recordings: pd.DataFrame) -> list[dict]:
    """Recordings in two parts, ids the store does not hold, recordings of the audited corpora in no part."""
    rows = []
    duplicated = assignment.groupby("recording_id")["split"].nunique()
    for rid in duplicated[duplicated > 1].index:
        parts = sorted(assignment.loc[assignment["recording_id"] == rid, "split"].unique())
        message = f"{rid} is in {len(parts)} splits: {', '.join(parts)}"
        rows.append(finding("split_duplicate", "error", "", rid, "", len(parts), message))
    unknown = sorted(set(assignment["recording_id"]) - set(recordings["recording_id"]))
    if unknown:
        message = f"{len(unknown)} recording id(s) not in the store, e.g. {', '.join(unknown[:3])}"
        rows.append(finding("split_unknown_recording", "error", "", "split", "", len(unknown), message))
    table = assignment.drop_duplicates().merge(recordings, on="recording_id", how="inner")
    audited = recordings[recordings["corpus"].isin(table["corpus"].unique())]
    unassigned = sorted(set(audited["recording_id"]) - set(assignment["recording_id"]))
    if unassigned:
        message = f"{len(unassigned)} recording(s) of the audited corpora are in no split, e.g. {unassigned[0]}"
        rows.append(finding("split_unassigned", "info", "", "split", "", len(unassigned), message))
    return rows


_LEVEL_DOC = "Overlap at the split's own level or a finer one is an error (leakage), at a coarser level info."


@check(
    "split_subject_overlap",
    "error / info",
    "split",
    "a subject in two splits",
    doc=f"A subject (corpus, subject) in two parts. {_LEVEL_DOC}",
    meaning="In a split by subject the model meets its test subjects in training.",
)
@check(
    "split_session_overlap",
    "error / info",
    "split",
    "a session in two splits",
    doc=f"A session (corpus, subject, session) in two parts. {_LEVEL_DOC}",
    meaning="Within-session correlations leak from training into the test.",
)
@check(
    "split_trial_overlap",
    "error / info",
    "split",
    "a trial (its segments) in two splits",
    doc=f"A trial (corpus, subject, session, trial: e.g. a DEAP baseline in train, its stimulus in test). {_LEVEL_DOC}",
    meaning="Windows of one trial on both sides: the test measures memorisation.",
)
@check(
    "split_stimulus_overlap",
    "warning",
    "split",
    "a stimulus shown in two splits",
    doc="A stimulus id (`seed/clip03`) shown in two parts; the severity is `stimulus_severity` (warning by default).",
    meaning="A model can learn the clip rather than the emotion (SEED shows the same 15 clips in every session).",
)
def _overlap_findings(
    table: pd.DataFrame, parts: list[str], by: str, stimulus_severity: str
) -> tuple[pd.DataFrame, list[dict]]:
    """Per pair of parts and level: the shared units (overlaps table) and a finding where any are shared."""
    keys = {}
    for level, columns in LEVEL_KEYS.items():
        units = table[columns].astype(str).agg("/".join, axis=1) if len(table) else pd.Series(dtype=str)
        keys[level] = {name: set(units[table["split"] == name]) for name in parts}
    rank = {level: i for i, level in enumerate(SPLIT_LEVELS)}
    overlaps, rows = [], []
    for a, b in combinations(parts, 2):
        for level in (*SPLIT_LEVELS, "stimulus"):
            shared = sorted(keys[level][a] & keys[level][b])
            overlaps.append(
                {"split_a": a, "split_b": b, "level": level, "shared": len(shared), "examples": ", ".join(shared[:5])}
            )
            if not shared:
                continue
            if level == "stimulus":
                severity = stimulus_severity
            else:
                severity = "error" if rank[level] >= rank[by] else "info"
            verdict = "leakage" if severity == "error" else ("expected" if severity == "info" else "check")
            message = (
                f"{a} and {b} share {len(shared)} {PLURALS[level] if len(shared) != 1 else level} "
                f"in a split by {by} ({verdict}), e.g. {', '.join(shared[:3])}"
            )
            rows.append(finding(f"split_{level}_overlap", severity, "", f"{a} / {b}", "", len(shared), message))
    columns = ["split_a", "split_b", "level", "shared", "examples"]
    return pd.DataFrame(overlaps, columns=columns), rows
