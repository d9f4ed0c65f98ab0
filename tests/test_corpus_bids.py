"""BIDS datasets through mne-bids: the example manifest, the guide's manifest, other formats, bad inputs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from emod_data.ingest import ingest
from emod_data.manifest import MANIFEST_DIR
from emod_data.synth import synthesize
from emod_data.synth.bids_example import BIDS_FILMS

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

SCALE = 0.05  # 3 s films, 1 s rests
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def bids(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bids") / "raw"
    synthesize("bids_example", root, subjects=3, duration_scale=SCALE, seed=9)
    return root


def test_bids_layout(bids):
    assert json.loads((bids / "dataset_description.json").read_text())["BIDSVersion"]
    assert "sub-01" in (bids / "participants.tsv").read_text()
    eeg = bids / "sub-01" / "eeg"
    assert (eeg / "sub-01_task-emotion_eeg.edf").is_file() and (eeg / "sub-01_task-emotion_channels.tsv").is_file()
    events = pd.read_csv(eeg / "sub-01_task-emotion_events.tsv", sep="\t")
    assert list(events.columns) == ["onset", "duration", "trial_type", "stim_id", "emotion", "valence", "arousal"]
    assert (events["trial_type"] == "film").sum() == len(BIDS_FILMS) and (events["trial_type"] == "rest").sum() == 12


def test_bids_example_manifest(bids, tmp_path):
    report = ingest("bids_example", bids, tmp_path / "s.zarr")
    assert report.ok, report.failures.to_dict("records")
    recs = report.recordings
    assert len(recs) == 3 * len(BIDS_FILMS) and set(recs["subject"]) == {"01", "02", "03"}
    assert (recs["n_channels"] == 32).all() and (recs["sfreq"] == 200.0).all()
    assert (recs["duration_s"] == 60 * SCALE).all()  # film rows only, not the rests
    films = dict((stim_id, emotion) for emotion, stim_id in BIDS_FILMS)
    for subject in ("01", "02"):
        events = pd.read_csv(bids / f"sub-{subject}" / "eeg" / f"sub-{subject}_task-emotion_events.tsv", sep="\t")
        rated = events[events["trial_type"] == "film"].set_index("stim_id")
        mine = recs[recs["subject"] == subject].set_index("trial")
        assert sorted(mine.index) == list(range(1, 13))  # numbered by stim_id
        for stim_id, row in mine.iterrows():
            assert row["class_name"] == films[stim_id] == rated.loc[stim_id, "emotion"]
            assert row["valence"] == rated.loc[stim_id, "valence"] - 5
            assert row["arousal"] == rated.loc[stim_id, "arousal"] - 5
    assert recs["stimulus"].iloc[0] == "bids_example/film01"


def _guide_manifest() -> str:
    text = (DOCS / "adding_a_corpus.md").read_text()
    marker = text.index("<!-- tested: tests/test_corpus_bids.py")
    return re.search(r"```toml\n(.*?)```", text[marker:], flags=re.S).group(1)


def test_guide_manifest_ingests_a_bids_dataset(bids, tmp_path):
    """The manifest of docs/adding_a_corpus.md, as a user would save it, ingests the dataset."""
    manifest = tmp_path / "my_bids.toml"
    manifest.write_text(_guide_manifest())
    report = ingest(manifest, bids, tmp_path / "s.zarr")
    assert report.ok, report.failures.to_dict("records")
    recs = report.recordings
    assert len(recs) == 36 and (recs["label_source"] == "lexicon").all()
    assert set(recs["class_name"]) == {"happy", "sad", "fear", "neutral"}
    happy = recs[recs["class_name"] == "happy"]
    assert (happy["valence"] == 3.0).all() and (happy["arousal"] == 2.0).all()


def test_bids_brainvision_recordings(bids, tmp_path):
    """The same reader takes BrainVision recordings (mne-bids converts sub-01; the manifest matches .vhdr)."""
    pytest.importorskip("pybv")
    from mne_bids import BIDSPath, read_raw_bids, write_raw_bids

    source = BIDSPath(subject="01", task="emotion", datatype="eeg", root=bids, extension=".edf")
    raw = read_raw_bids(source, verbose="error")
    target = BIDSPath(subject="01", task="emotion", datatype="eeg", root=tmp_path / "bv")
    write_raw_bids(raw, target, format="BrainVision", allow_preload=True, verbose="error")
    events = source.copy().update(suffix="events", extension=".tsv").fpath
    shutil.copy(events, target.copy().update(suffix="events", extension=".tsv").fpath)
    manifest = tmp_path / "bv.toml"
    manifest.write_text(
        (MANIFEST_DIR / "bids_example.toml")
        .read_text()
        .replace("_eeg.edf", "_eeg.vhdr")
        .replace(r"_eeg\.edf", r"_eeg\.vhdr")
    )
    report = ingest(manifest, tmp_path / "bv", tmp_path / "s.zarr")
    assert report.ok, report.failures.to_dict("records")
    assert len(report.recordings) == 12 and report.recordings["source_file"].iloc[0].endswith(".vhdr")


def test_bids_bad_inputs(bids, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(bids, raw)
    (raw / "sub-01" / "eeg" / "sub-01_task-emotion_events.tsv").unlink()
    edf = raw / "sub-02" / "eeg" / "sub-02_task-emotion_eeg.edf"
    edf.write_bytes(edf.read_bytes()[:-4000])
    report = ingest("bids_example", raw, tmp_path / "s.zarr")
    errors = dict(zip(report.failures["file"], report.failures["error"], strict=True))
    assert errors == {
        "sub-01/eeg/sub-01_task-emotion_eeg.edf": (
            "sub-01/eeg/sub-01_task-emotion_eeg.edf: events file sub-01_task-emotion_events.tsv not found next to it"
        ),
        "sub-02/eeg/sub-02_task-emotion_eeg.edf": errors["sub-02/eeg/sub-02_task-emotion_eeg.edf"],
    }
    assert errors["sub-02/eeg/sub-02_task-emotion_eeg.edf"].startswith(
        "sub-02/eeg/sub-02_task-emotion_eeg.edf: truncated EDF/BDF file"
    )
    assert len(report.recordings) == 12 and set(report.recordings["subject"]) == {"03"}  # the others still ingest


def test_plain_edf_with_annotations(bids, tmp_path):
    """Container "edf" (no BIDS): trials from the recording's own EDF+ annotations, each over its duration."""
    shutil.copytree(bids / "sub-01", tmp_path / "raw" / "sub-01")
    example = (MANIFEST_DIR / "bids_example.toml").read_text()
    channels = example[example.index("[channels]") : example.index("[recording]")]
    manifest = tmp_path / "edf.toml"
    manifest.write_text(
        '[corpus]\nname = "edf_films"\ntitle = "Films in EDF+"\n\n'
        "[files]\nglob = \"sub-*/eeg/*.edf\"\npattern = '^sub-(?P<subject>\\d+)/eeg/.*\\.edf$'\n\n"
        '[format]\ncontainer = "edf"\nsfreq = 250.0\nunits = "V"\ntrials = 12\n\n'
        + channels
        + '[recording]\ntrials = "annotations"\nmode = "duration"\nstart = ["film"]\n\n'
        '[labels]\nsource = "lexicon"\nclasses = ["neutral"]\nsequence = [' + ", ".join(['"neutral"'] * 12) + "]\n"
    )
    report = ingest(manifest, tmp_path / "raw", tmp_path / "s.zarr")
    assert report.ok, report.failures.to_dict("records")
    recs = report.recordings
    assert recs["trial"].tolist() == list(range(1, 13)) and (recs["duration_s"] == 60 * SCALE).all()
