"""MPED: raw_eeg1..17 in <name>_d.mat and raw_eeg18..30 in <name>_dd.mat, 62 EEG rows, rest trials excluded."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.io

from emod_data.errors import ManifestError
from emod_data.ingest import ingest
from emod_data.manifest import MANIFEST_DIR, load_manifest
from emod_data.synth.mped import MPED_LABELS, MPED_SECONDS

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

SCALE = 0.005  # 1 s trials (the minimum) at 1000 Hz
CLASSES = {1: "neutral", 2: "joy", 3: "funny", 4: "anger", 5: "fear", 6: "disgust", 7: "sadness"}


CORPUS = "mped"
SYNTH = {"subjects": 1, "duration_scale": SCALE, "seed": 6}
"""The corpus and synthesis arguments of the shared ``raw``, ``report`` and ``copy`` fixtures (conftest.py)."""


def _load(path):
    return {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}


def test_synthetic_layout(raw):
    files = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*.mat"))
    assert files == ["raw_EEG_signals/s01/s01_d.mat", "raw_EEG_signals/s01/s01_dd.mat"]
    first, second = (_load(raw / f) for f in files)
    assert sorted(first, key=lambda k: int(k[7:])) == [f"raw_eeg{k}" for k in range(1, 18)]
    assert sorted(second, key=lambda k: int(k[7:])) == [f"raw_eeg{k}" for k in range(18, 31)]
    assert first["raw_eeg1"].shape == (62, max(round(1000 * MPED_SECONDS[0] * SCALE), 1000))
    assert (raw / files[0]).read_bytes()[:60].startswith(b"MATLAB 5.0 MAT-file, Platform: PCWIN64")


def test_rest_trials_are_excluded_and_labels_follow_the_sequence(report):
    assert report.ok, report.failures.to_dict("records")
    recs = report.recordings.sort_values("trial")
    assert recs["trial"].tolist() == [t for t in range(1, 31) if t not in (1, 16)]  # 28 of 30, no failures
    assert recs["class_name"].tolist() == [CLASSES[c] for c in MPED_LABELS if c != 0]
    assert (recs["n_channels"] == 62).all() and recs["channel_names"].iloc[0][:3] == ["Fp1", "Fpz", "Fp2"]
    assert recs["channel_names"].iloc[0][-1] == "CB2" and (recs["sfreq"] == 200.0).all()
    joy = recs[recs["class_name"] == "joy"][["valence", "arousal"]].drop_duplicates().values.tolist()
    assert joy == [[3.0, 2.0]]  # joy -> happy in the lexicon
    assert recs["stimulus"].iloc[0] == "mped/clip02"


def test_missing_variable_extra_rows_and_unexpected_trials(copy, tmp_path):
    folder = copy / "raw_EEG_signals" / "s01"
    second = copy / "raw_EEG_signals" / "s02"
    second.mkdir()
    first = _load(folder / "s01_d.mat")
    del first["raw_eeg5"]
    scipy.io.savemat(folder / "s01_d.mat", first)
    rest = _load(folder / "s01_dd.mat")
    rest["raw_eeg20"] = np.vstack([rest["raw_eeg20"], np.zeros((4, rest["raw_eeg20"].shape[1]))])  # 66 rows
    scipy.io.savemat(folder / "s01_dd.mat", rest)
    shutil.copy(folder / "s01_dd.mat", second / "s02_dd.mat")
    short = _load(folder / "s01_d.mat")
    short["raw_eeg5"] = short["raw_eeg4"][:60]
    scipy.io.savemat(second / "s02_d.mat", short)
    extra = _load(folder / "s01_dd.mat")
    extra["raw_eeg31"] = extra["raw_eeg30"]
    scipy.io.savemat(second / "s02_dd.mat", extra)
    report = ingest("mped", copy, tmp_path / "s.zarr")
    errors = dict(zip(report.failures["file"], report.failures["error"], strict=True))
    assert errors == {
        "raw_EEG_signals/s01/s01_d.mat": "raw_EEG_signals/s01/s01_d.mat: missing trial(s) [5] of 1..17",
        "raw_EEG_signals/s02/s02_d.mat": "raw_EEG_signals/s02/s02_d.mat: variable 'raw_eeg5' has shape "
        f"{short['raw_eeg5'].shape}; expected at least 62 channels on axis 0",
        "raw_EEG_signals/s02/s02_dd.mat": "raw_EEG_signals/s02/s02_dd.mat: unexpected trial number(s) [31]; "
        "the manifest declares 18..30 trials",
    }
    recs = report.recordings
    assert recs["source_file"].unique().tolist() == ["raw_EEG_signals/s01/s01_dd.mat"]
    assert sorted(recs["trial"]) == list(range(18, 31))  # the 66-row raw_eeg20 read as its first 62 rows
    assert (recs["n_channels"] == 62).all()


def test_durations_table_matches_the_published_count():
    windows = sum(seconds // 10 for seconds, code in zip(MPED_SECONDS, MPED_LABELS, strict=True) if code != 0)
    assert windows == 530 and windows * 23 == 12190  # the synthetic table reproduces 12,190 for 23 subjects


def test_manifest_rules_for_the_new_fields(tmp_path):
    text = (MANIFEST_DIR / "mped.toml").read_text()
    cases = {
        "both": (text.replace("extra_channels", "trials = 30\nextra_channels"), "format.trials and format.trial_"),
        "range": (text.replace("[18, 30]", "[30, 18]"), "1 <= first <= last"),
        "excluded": (text.replace("exclude_codes = [0]", "exclude_codes = []"), "label code '0' maps to no class"),
        "cells": (text.replace('layout = "per_variable"', 'layout = "cells"'), "layout 'cells' needs format.data_key"),
    }
    from emod_data.labels import LabelResolver
    from emod_data.lexicon import load_lexicon

    for name, (content, message) in cases.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(content)
        with pytest.raises(ManifestError, match=message):
            LabelResolver.from_manifest(load_manifest(path), load_lexicon(), tmp_path)
