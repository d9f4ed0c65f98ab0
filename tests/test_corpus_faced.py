"""FACED (processed release): synthetic layout, ingest, ratings from After_remarks.mat, bad inputs, windows."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import scipy.io

from emod_data.ingest import ingest
from emod_data.lexicon import load_lexicon
from emod_data.manifest import load_manifest
from emod_data.store import open_store
from emod_data.synth import synthesize
from emod_data.synth.faced import FACED_ITEMS

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

SCALE = 0.05  # 1.5 s clips
CLASSES = ["anger"] * 3 + ["disgust"] * 3 + ["fear"] * 3 + ["sadness"] * 3 + ["neutral"] * 4
CLASSES += ["amusement"] * 3 + ["inspiration"] * 3 + ["joy"] * 3 + ["tenderness"] * 3


CORPUS = "faced"
SYNTH = {"subjects": 2, "duration_scale": SCALE, "seed": 5}
"""The corpus and synthesis arguments of the shared ``raw``, ``report`` and ``copy`` fixtures (conftest.py)."""


def _remarks(root, subject="000"):
    return scipy.io.loadmat(root / "Data" / f"sub{subject}" / "After_remarks.mat")["After_remark"]


def test_synthetic_layout(raw):
    files = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file())
    assert files == [
        "Data/sub000/After_remarks.mat",
        "Data/sub001/After_remarks.mat",
        "Processed_Data/sub000.pkl",
        "Processed_Data/sub001.pkl",
    ]
    head = (raw / "Processed_Data" / "sub000.pkl").read_bytes()[:64]
    assert head[:2] == b"\x80\x04" and b"numpy.core.multiarray" in head  # pickle.dump under NumPy 1.x
    with open(raw / "Processed_Data" / "sub000.pkl", "rb") as handle:
        array = pickle.load(handle)
    assert array.shape == (28, 32, 375) and array.dtype == np.float64
    remarks = _remarks(raw)
    assert remarks.shape == (28, 1) and remarks.dtype.names[2] == "vid"  # public loaders read field 2 as vid
    assert sorted(int(r["vid"][0, 0]) for r in remarks[:, 0]) == list(range(1, 29))
    assert all(r["score"].shape == (1, 12) for r in remarks[:, 0])


def test_channels_classes_and_rated_va(report, raw):
    assert report.ok, report.failures.to_dict("records")
    recs = report.recordings
    assert len(recs) == 2 * 28 and set(recs["subject"]) == {"000", "001"}
    assert (recs["n_channels"] == 30).all() and (recs["sfreq"] == 200.0).all()
    names = recs["channel_names"].iloc[0]
    assert names[0] == "Fp1" and names[-1] == "O2" and "A1" not in names and "A2" not in names
    mine = recs[recs["subject"] == "000"].sort_values("trial")
    assert mine["class_name"].tolist() == CLASSES
    assert mine["class_index"].tolist() == [load_manifest("faced").labels.classes.index(c) for c in CLASSES]
    assert mine["stimulus"].tolist() == [f"faced/clip{k:02d}" for k in range(1, 29)]
    assert (mine["label_source"] == "rating").all()
    # After_remark rows are in presentation order: matched to clips by vid; scale 0-7 -> [-4, 4]
    by_vid = {int(r["vid"][0, 0]): r["score"][0] for r in _remarks(raw)[:, 0]}
    valence = np.array([by_vid[k][FACED_ITEMS.index("Valence")] for k in range(1, 29)])
    arousal = np.array([by_vid[k][FACED_ITEMS.index("Arousal")] for k in range(1, 29)])
    np.testing.assert_allclose(mine["valence"], -4 + valence * 8 / 7)
    np.testing.assert_allclose(mine["arousal"], -4 + arousal * 8 / 7)
    assert mine["raw_ratings"].iloc[5]["valence"] == valence[5]
    assert set(mine["raw_ratings"].iloc[0]) == {i.lower() for i in FACED_ITEMS}


def test_ratings_as_a_cell_array_of_structs_read_the_same(copy, tmp_path, report):
    path = copy / "Data" / "sub000" / "After_remarks.mat"
    remarks = scipy.io.loadmat(path)["After_remark"]
    cells = np.empty((28, 1), dtype=object)  # After_remark{i}.score, as the release's readme writes it
    for i in range(28):
        element = np.empty((1, 1), dtype=[("score", object), ("vid", object)])
        element[0, 0] = (remarks[i, 0]["score"], remarks[i, 0]["vid"])
        cells[i, 0] = element
    scipy.io.savemat(path, {"After_remark": cells})
    again = ingest("faced", copy, tmp_path / "s.zarr", subjects=["000"])
    assert again.ok
    before = report.recordings[report.recordings["subject"] == "000"]
    np.testing.assert_array_equal(again.recordings["valence"], before["valence"])


def test_without_ratings_file_the_lexicon_places_classes(copy, tmp_path):
    shutil.rmtree(copy / "Data")
    report = ingest("faced", copy, tmp_path / "s.zarr", subjects=["000"])
    assert report.ok and len(report.recordings) == 28
    recs = report.recordings.sort_values("trial")
    assert (recs["label_source"] == "lexicon").all()
    lexicon = load_lexicon()
    for name in ("anger", "neutral", "inspiration", "tenderness", "joy", "amusement"):
        got = recs[recs["class_name"] == name][["valence", "arousal"]].drop_duplicates().values.tolist()
        assert got == [list(lexicon.coordinates(name))], name
    assert lexicon.coordinates("inspiration") == (2.5, 1.5) and lexicon.coordinates("tenderness") == (2.5, 0.0)
    assert lexicon.source("tenderness").startswith("project default:")


def test_ratings_off_the_scale_fail_that_file_clearly(copy, tmp_path):
    path = copy / "Data" / "sub001" / "After_remarks.mat"
    remarks = scipy.io.loadmat(path)["After_remark"]
    remarks[4, 0]["score"][0, 9] = 9.0  # a 1-9 rating where 0-7 is declared
    scipy.io.savemat(path, {"After_remark": remarks})
    report = ingest("faced", copy, tmp_path / "s.zarr")
    assert len(report.failures) == 1
    failure = report.failures.iloc[0]
    assert failure["file"] == "Processed_Data/sub001.pkl" and failure["stage"] == "read"
    assert failure["error"].startswith("Data/sub001/After_remarks.mat: integer ratings span 0..9, outside labels.scale")
    assert "\n" not in failure["error"]
    assert set(report.recordings["subject"]) == {"000"} and len(report.recordings) == 28


def test_pickle_of_the_wrong_shape(copy, tmp_path):
    with open(copy / "Processed_Data" / "sub000.pkl", "rb") as handle:
        array = pickle.load(handle)
    with open(copy / "Processed_Data" / "sub000.pkl", "wb") as handle:
        pickle.dump(array[:, :30], handle)  # 30 of 32 channels
    with open(copy / "Processed_Data" / "sub001.pkl", "wb") as handle:
        pickle.dump(array[:27], handle)  # 27 of 28 clips
    (copy / "Processed_Data" / "sub002.pkl").write_bytes(b"\x80\x04not a pickle")
    shutil.copytree(copy / "Data" / "sub000", copy / "Data" / "sub003")
    synthesize("faced", tmp_path / "one", subjects=1, duration_scale=SCALE, seed=5)
    shutil.copy(tmp_path / "one" / "Processed_Data" / "sub000.pkl", copy / "Processed_Data" / "sub003.pkl")
    report = ingest("faced", copy, tmp_path / "s.zarr")
    errors = dict(zip(report.failures["file"], report.failures["error"], strict=True))
    assert errors["Processed_Data/sub000.pkl"] == (
        "Processed_Data/sub000.pkl: the pickled array has shape (28, 30, 375); expected 32 channels on axis 1"
    )
    assert errors["Processed_Data/sub001.pkl"] == "Processed_Data/sub001.pkl: missing trial(s) [28] of 28"
    assert errors["Processed_Data/sub002.pkl"].startswith("Processed_Data/sub002.pkl: cannot read pickle file")
    assert all("\n" not in e for e in errors.values())
    assert set(report.recordings["subject"]) == {"003"} and len(report.recordings) == 28


def test_real_durations_give_84_ten_second_windows_per_subject(tmp_path):
    synthesize("faced", tmp_path / "raw", subjects=1, duration_scale=1.0, seed=2)
    report = ingest("faced", tmp_path / "raw", tmp_path / "s.zarr")
    assert report.ok and len(report.recordings) == 28
    assert (report.recordings["n_samples"] == 6000).all()  # 30 s at the store's 200 Hz
    windows = open_store(tmp_path / "s.zarr").windows(10.0, corpora=["faced"])
    assert windows.groupby("subject").size().tolist() == [84]
    assert windows.groupby("trial").size().unique().tolist() == [3]
