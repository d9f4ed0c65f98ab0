"""Split making and the leakage audit, on recordings tables built in memory (no store needed)."""

from __future__ import annotations

import pandas as pd
import pytest

from emod_data.inspect import audit_split, make_split


def recordings_table(subjects: int = 10, sessions: int = 3, trials: int = 15, baseline: bool = False) -> pd.DataFrame:
    """A SEED-like recordings table: the same 15 clips in every session of every subject."""
    rows = []
    for corpus in ("seed", "deap"):
        for s in range(1, subjects + 1):
            for n in range(1, sessions + 1):
                for t in range(1, trials + 1):
                    for segment in ("baseline", "stimulus") if baseline else ("stimulus",):
                        suffix = "-baseline" if segment == "baseline" else ""
                        rows.append(
                            {
                                "recording_id": f"{corpus}/sub-{s}/ses-{n}/trial-{t:02d}{suffix}",
                                "corpus": corpus,
                                "subject": str(s),
                                "session": n,
                                "trial": t,
                                "segment": segment,
                                "stimulus": f"{corpus}/clip{t:02d}",
                                "duration_s": 60.0,
                            }
                        )
    return pd.DataFrame(rows)


def test_make_split_is_deterministic_and_keeps_units_whole():
    recs = recordings_table()
    split = make_split(recs, by="subject", fractions=(0.6, 0.2, 0.2), seed=3)
    assert split.index.tolist() == recs["recording_id"].tolist()
    again = make_split(recs.sample(frac=1.0, random_state=1), by="subject", fractions=(0.6, 0.2, 0.2), seed=3)
    pd.testing.assert_series_equal(split, again.loc[split.index])  # table order does not matter
    assert not split.equals(make_split(recs, by="subject", fractions=(0.6, 0.2, 0.2), seed=4))
    parts = recs.assign(split=split.to_numpy())
    assert (parts.groupby(["corpus", "subject"])["split"].nunique() == 1).all()
    per_corpus = parts.drop_duplicates(["corpus", "subject"]).groupby(["corpus", "split"]).size()
    assert per_corpus.loc["seed"].to_dict() == {"test": 2, "train": 6, "val": 2}
    audit = audit_split(recs, split, by="subject")
    assert not audit.leaks
    levels = set(audit.findings["check"])
    assert "split_subject_overlap" not in levels and "split_trial_overlap" not in levels
    assert audit.sizes.set_index("split").loc["train", "subjects"] == 12  # 6 per corpus
    # the same clips are shown to every subject: stimulus overlap is flagged, as a warning
    stimulus = audit.findings[audit.findings["check"] == "split_stimulus_overlap"]
    assert len(stimulus) == 3 and (stimulus["severity"] == "warning").all()


def test_small_corpora_still_fill_every_part():
    recs = recordings_table(subjects=3)
    split = make_split(recs, by="subject")
    parts = recs.assign(split=split.to_numpy()).drop_duplicates(["corpus", "subject"])
    assert sorted(parts[parts["corpus"] == "seed"]["split"]) == ["test", "train", "val"]


def test_split_by_session_and_trial():
    recs = recordings_table(subjects=2, baseline=True)
    by_session = make_split(recs, by="session", seed=1)
    audit = audit_split(recs, by_session, by="session")
    assert not audit.leaks
    subject = audit.findings[audit.findings["check"] == "split_subject_overlap"]
    assert len(subject) and (subject["severity"] == "info").all()  # expected in a split by session
    by_trial = make_split(recs, by="trial", seed=1)
    parts = recs.assign(split=by_trial.to_numpy())
    assert (parts.groupby(["corpus", "subject", "session", "trial"])["split"].nunique() == 1).all()  # with baseline
    assert not audit_split(recs, by_trial, by="trial").leaks


def test_leaky_splits_are_errors():
    recs = recordings_table(subjects=4, baseline=True)
    # session 3 of every subject for test: subjects leak in a split meant to be by subject
    split = dict(zip(recs["recording_id"], recs["session"].map({1: "train", 2: "train", 3: "test"}), strict=True))
    audit = audit_split(recs, split, by="subject")
    assert audit.leaks
    errors = audit.findings[audit.findings["severity"] == "error"]
    assert set(errors["check"]) == {"split_subject_overlap"}
    assert errors.iloc[0]["where"] == "train / test" and errors.iloc[0]["value"] == 8  # 4 subjects x 2 corpora
    # a baseline in train and its stimulus in test: a trial leaks in a split by trial
    leak = recs.assign(split=recs["segment"].map({"baseline": "train", "stimulus": "test"}))
    audit = audit_split(recs, leak[["recording_id", "split"]], by="trial")
    trial = audit.findings[audit.findings["check"] == "split_trial_overlap"]
    assert trial["severity"].tolist() == ["error"] and trial["value"].iloc[0] == len(recs) / 2
    overlaps = audit.overlaps.set_index("level")
    assert overlaps.loc["trial", "shared"] == len(recs) / 2
    assert overlaps.loc["subject", "shared"] == 8


def test_duplicates_unknown_and_unassigned_recordings():
    recs = recordings_table(subjects=2)
    ids = recs["recording_id"].tolist()
    proposed = {"train": ids[:100], "test": [*ids[99:150], "seed/sub-9/ses-1/trial-01"]}
    audit = audit_split(recs, proposed, by="trial")
    found = audit.findings.set_index("check")
    assert found.loc["split_duplicate", "where"] == ids[99]
    assert "1 recording id(s) not in the store" in found.loc["split_unknown_recording", "message"]
    assert found.loc["split_unassigned", "severity"] == "info"
    assert found.loc["split_unassigned", "value"] == len(ids) - 150


def test_bad_split_arguments():
    recs = recordings_table(subjects=2)
    with pytest.raises(ValueError, match="split level"):
        make_split(recs, by="stimulus")
    with pytest.raises(ValueError, match="fractions"):
        make_split(recs, fractions=(0.5, 0.5))
    with pytest.raises(ValueError, match="non-negative"):
        make_split(recs, fractions=(1.0, -0.5, 0.5))
    with pytest.raises(ValueError, match="a split must be"):
        audit_split(recs, ["train"])
    with pytest.raises(ValueError, match="stimulus_severity"):
        audit_split(recs, {}, stimulus_severity="fatal")
