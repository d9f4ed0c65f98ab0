"""AMIGOS: per-participant cell arrays, time-first joined_data, arousal before valence, empty and NaN cells."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.io

from emod_data.ingest import ingest
from emod_data.synth.amigos import AMIGOS_SECONDS, AMIGOS_VIDEO_IDS, amigos_layout, write_amigos
from emod_data.synth.plans import get_corpus

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

SCALE = 0.02
NAME = "Data_Preprocessed_P01"


CORPUS = "amigos"
SYNTH = {"subjects": 1, "duration_scale": SCALE, "seed": 4}
"""The corpus and synthesis arguments of the shared ``raw``, ``report`` and ``copy`` fixtures (conftest.py)."""


def _load(path):
    return {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}


def test_synthetic_layout(raw):
    path = raw / NAME / f"{NAME}.mat"
    assert [p.relative_to(raw).as_posix() for p in raw.rglob("*.mat")] == [f"{NAME}/{NAME}.mat"]
    content = _load(path)
    assert sorted(content) == ["VideoIDs", "joined_data", "labels_ext_annotation", "labels_selfassessment"]
    assert all(v.shape == (1, 20) and v.dtype == object for v in content.values())
    assert [c[0] for c in content["VideoIDs"][0]] == list(AMIGOS_VIDEO_IDS)
    first = content["joined_data"][0, 0]
    assert first.shape == (round(128 * AMIGOS_SECONDS[0] * SCALE), 17)  # time first
    assert content["labels_selfassessment"][0, 0].shape == (1, 12)


def test_channels_ratings_and_stimuli(report, raw):
    assert report.ok, report.failures.to_dict("records")
    recs = report.recordings.sort_values("trial")
    assert len(recs) == 20 and recs["trial"].tolist() == list(range(1, 21))
    assert (recs["n_channels"] == 14).all()
    assert recs["channel_names"].iloc[0] == ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6",
                                             "F4", "F8", "AF4"]  # fmt: skip
    assert recs["stimulus"].tolist() == [f"amigos/video{v}" for v in AMIGOS_VIDEO_IDS]
    rows = np.vstack(_load(raw / NAME / f"{NAME}.mat")["labels_selfassessment"][0])
    np.testing.assert_allclose(recs["arousal"], rows[:, 0] - 5)  # arousal is column 0
    np.testing.assert_allclose(recs["valence"], rows[:, 1] - 5)
    np.testing.assert_allclose(recs["dominance"], rows[:, 2] - 5)
    names = ["arousal", "valence", "dominance", "liking"]
    assert recs["raw_ratings"].iloc[0] == dict(zip(names, rows[0, :4], strict=True))
    np.testing.assert_allclose(recs["duration_s"].iloc[-1], AMIGOS_SECONDS[-1] * SCALE, atol=0.01)


def test_flattened_folder_is_read_too(copy, tmp_path):
    shutil.move(copy / NAME / f"{NAME}.mat", copy / f"{NAME}.mat")
    (copy / NAME).rmdir()
    report = ingest("amigos", copy, tmp_path / "s.zarr")
    assert report.ok and report.files == 1 and len(report.recordings) == 20
    assert set(report.recordings["subject"]) == {"01"}


def test_empty_and_nan_cells_fail_their_trials_alone(copy, tmp_path):
    path = copy / NAME / f"{NAME}.mat"
    content = _load(path)
    content["joined_data"][0, 16] = np.zeros((0, 0))  # a long video not recorded
    content["labels_selfassessment"][0, 16] = np.zeros((0, 0))
    content["labels_selfassessment"][0, 17] = np.zeros((0, 0))  # ratings missing, signal present
    content["labels_selfassessment"][0, 4][0, 1] = np.nan
    content["joined_data"][0, 2][10:20, 3] = np.nan  # NaN in an EEG column
    content["joined_data"][0, 6][:, 16] = np.nan  # NaN in the GSR column only: not read, no failure
    content["joined_data"][0, 8] = content["joined_data"][0, 8][:, :15]  # a cell of the wrong width
    scipy.io.savemat(path, content)
    report = ingest("amigos", copy, tmp_path / "s.zarr")
    failures = report.failures.sort_values("trial")
    where = f"{NAME}/{NAME}.mat trial"
    assert failures[["trial", "stage"]].values.tolist() == [
        [3, "signal"],
        [5, "labels"],
        [9, "read"],
        [17, "read"],
        [18, "labels"],
    ]
    errors = failures["error"].tolist()
    assert errors[0].startswith(f"{where} 3: 10 NaN/Inf samples")
    assert errors[1].startswith(f"{where} 5: trial 5 ratings [") and "missing or off the scale" in errors[1]
    assert errors[2].startswith(f"{where} 9: variable 'joined_data{{9}}' has shape (")
    assert errors[2].endswith(", 15); expected 17 channels on axis 1")
    assert errors[3] == f"{where} 17: joined_data{{17}} is empty"
    assert errors[4].startswith(f"{where} 18: trial 18 ratings [nan, nan, nan, nan]")
    assert all("\n" not in e for e in errors)
    assert sorted(report.recordings["trial"]) == [t for t in range(1, 21) if t not in (3, 5, 9, 17, 18)]


def test_missing_variable_fails_the_file_only(copy, tmp_path):
    other = copy / "Data_Preprocessed_P02"
    other.mkdir()
    shutil.copy(copy / NAME / f"{NAME}.mat", other / "Data_Preprocessed_P02.mat")
    content = _load(copy / NAME / f"{NAME}.mat")
    del content["labels_selfassessment"]
    scipy.io.savemat(copy / NAME / f"{NAME}.mat", content)
    report = ingest("amigos", copy, tmp_path / "s.zarr")
    assert report.failures[["file", "stage"]].values.tolist() == [[f"{NAME}/{NAME}.mat", "read"]]
    assert (
        report.failures["error"]
        .iloc[0]
        .startswith(f"{NAME}/{NAME}.mat: variable 'labels_selfassessment' not found (variables: ")
    )
    assert set(report.recordings["subject"]) == {"02"} and len(report.recordings) == 20


def test_participants_without_long_videos(tmp_path):
    corpus = get_corpus("amigos")
    plan = amigos_layout(corpus, 8, 0.01, 0)[7]  # P08 did not take part in the long-videos experiment
    write_amigos(corpus, plan, tmp_path, 0)
    content = _load(tmp_path / plan.relpath)
    assert [c.size == 0 for c in content["joined_data"][0]] == [False] * 16 + [True] * 4
    report = ingest("amigos", tmp_path, tmp_path / "s.zarr")
    assert len(report.recordings) == 16
    assert report.failures["error"].str.endswith("is empty").all() and len(report.failures) == 4
