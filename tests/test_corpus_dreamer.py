"""DREAMER: one nested-struct DREAMER.mat read once for all subjects; baselines apart; 1-5 scores."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from emod_data.ingest import ingest
from emod_data.synth.dreamer import DREAMER_CLIP_SECONDS

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

SCALE = 0.02
CHANNELS = ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4"]


CORPUS = "dreamer"
SYNTH = {"subjects": 2, "duration_scale": SCALE, "seed": 3}
"""The corpus and synthesis arguments of the shared ``raw``, ``report`` and ``copy`` fixtures (conftest.py)."""


def _subjects(path):
    return scipy.io.loadmat(path)["DREAMER"]


def test_synthetic_layout_mirrors_the_release(raw):
    assert sorted(p.name for p in raw.iterdir()) == ["DREAMER.mat"]
    assert (raw / "DREAMER.mat").read_bytes()[:19] == b"MATLAB 5.0 MAT-file"
    dreamer = _subjects(raw / "DREAMER.mat")
    assert {"Data", "EEG_SamplingRate", "ECG_SamplingRate", "EEG_Electrodes", "noOfSubjects"} <= set(
        dreamer.dtype.names
    )
    assert dreamer["EEG_SamplingRate"][0, 0][0, 0] == 128
    assert [e[0] for e in dreamer["EEG_Electrodes"][0, 0][0]] == CHANNELS
    subject = dreamer["Data"][0, 0][0, 0]
    assert {"Age", "Gender", "EEG", "ECG", "ScoreValence", "ScoreArousal", "ScoreDominance"} == set(subject.dtype.names)
    eeg = subject["EEG"][0, 0]
    assert eeg["stimuli"][0, 0].shape == (18, 1) and eeg["baseline"][0, 0].shape == (18, 1)
    first = eeg["stimuli"][0, 0][0, 0]
    assert first.shape == (round(128 * DREAMER_CLIP_SECONDS[0] * SCALE), 14)  # time first
    assert eeg["baseline"][0, 0][5, 0].shape == (61 * 128, 14)
    scores = subject["ScoreValence"][0, 0]
    assert scores.shape == (18, 1) and set(np.unique(scores)) <= {1, 2, 3, 4, 5}


def test_stimuli_baselines_channels_and_scores(report, raw):
    assert report.ok, report.failures.to_dict("records")
    assert report.files == 1
    recs = report.recordings
    stim, base = recs[recs["segment"] == "stimulus"], recs[recs["segment"] == "baseline"]
    assert len(stim) == len(base) == 2 * 18 and set(recs["subject"]) == {"1", "2"}
    assert (recs["n_channels"] == 14).all() and recs["channel_names"].iloc[0] == CHANNELS
    assert (base["duration_s"] == 61.0).all()
    assert base["recording_id"].iloc[0] == "dreamer/sub-1/ses-1/trial-01-baseline"
    durations = stim[stim["subject"] == "1"].sort_values("trial")["duration_s"].to_numpy()
    expected = [round(128 * s * SCALE) / 128 for s in DREAMER_CLIP_SECONDS]
    np.testing.assert_allclose(durations, expected, atol=0.01)  # resampled 128 -> 200 Hz
    subject = _subjects(raw / "DREAMER.mat")["Data"][0, 0][0, 1]  # subject 2
    mine = stim[stim["subject"] == "2"].sort_values("trial")
    for column, field in (("valence", "ScoreValence"), ("arousal", "ScoreArousal"), ("dominance", "ScoreDominance")):
        np.testing.assert_allclose(mine[column], (subject[field][0, 0].ravel() - 3) * 2)
    assert mine["stimulus"].tolist() == [f"dreamer/clip{k:02d}" for k in range(1, 19)]
    assert (mine["label_source"] == "rating").all() and mine["class_name"].isna().all()


def test_the_file_is_read_once_for_all_subjects(raw, tmp_path, monkeypatch):
    import scipy.io as sio

    calls = []
    original = sio.loadmat

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(sio, "loadmat", counting)
    report = ingest("dreamer", raw, tmp_path / "s.zarr", subjects=["2"])
    assert len(calls) == 1
    assert report.ok and set(report.recordings["subject"]) == {"2"} and len(report.recordings) == 36


def test_a_broken_subject_fails_alone(copy, tmp_path):
    path = copy / "DREAMER.mat"
    dreamer = _subjects(path)
    data = dreamer["Data"][0, 0]
    old = data[0, 1]
    names = [n for n in old.dtype.names if n != "ScoreArousal"]
    new = np.empty((1, 1), dtype=[(n, object) for n in names])
    for name in names:
        new[0, 0][name] = old[0, 0][name]
    data[0, 1] = new
    stimuli = data[0, 0]["EEG"][0, 0]["stimuli"][0, 0]
    stimuli[3, 0] = np.zeros((0, 0))  # an empty cell: that trial alone fails
    scipy.io.savemat(path, {"DREAMER": dreamer})
    report = ingest("dreamer", copy, tmp_path / "s.zarr")
    failures = report.failures
    assert len(failures) == 19 and (failures["file"] == "DREAMER.mat").all()
    assert all("\n" not in e for e in failures["error"])
    broken = failures[failures["subject"] == "2"]
    assert len(broken) == 18 and (broken["stage"] == "read").all()
    assert broken["error"].iloc[0] == "DREAMER.mat subject 2 trial 1: DREAMER.Data{2} has no field " + (
        "'ScoreArousal' (fields: ['Age', 'Gender', 'EEG', 'ECG', 'ScoreValence', 'ScoreDominance'])"
    )
    empty = failures[failures["subject"] == "1"]
    assert empty["error"].tolist() == ["DREAMER.mat subject 1 trial 4: DREAMER.Data{1}.EEG.stimuli{4} is empty"]
    recs = report.recordings
    assert set(recs["subject"]) == {"1"} and len(recs) == 2 * 18 - 1  # its baseline 4 is kept


def test_missing_variable_fails_the_file(copy, tmp_path):
    scipy.io.savemat(copy / "DREAMER.mat", {"Other": np.zeros(3)})
    report = ingest("dreamer", copy, tmp_path / "s.zarr")
    assert report.failures["error"].tolist() == ["DREAMER.mat: variable 'DREAMER' not found (variables: ['Other'])"]
    assert len(report.recordings) == 0
