"""BDF: the writer proven with MNE's reader; DEAP raw, MAHNOB-HCI and FACED raw ingested from their layouts."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import mne
import numpy as np
import pytest

from emod_data.ingest import ingest
from emod_data.lexicon import load_lexicon
from emod_data.manifest import load_manifest
from emod_data.readers import read_trials
from emod_data.readers.mne_raw import detect_unit_scale
from emod_data.synth import synthesize
from emod_data.synth.bdf import BdfSignal, status_signal, write_bdf
from emod_data.synth.deap_raw import DEAP_RAW_ORDER_1_22
from emod_data.synth.faced_raw import FACED_CHANNELS
from emod_data.synth.mahnob_hci import MAHNOB_CLIP_SECONDS
from emod_data.synth.plans import get_corpus, scaled_samples, write_file

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

SCALE = 0.03


def _deap_eeg() -> list[str]:
    manifest = load_manifest("deap_raw")
    return [n for n in manifest.channels.names if n not in manifest.channels.exclude]


def test_bdf_writer_read_back_by_mne(tmp_path):
    rng = np.random.default_rng(1)
    n = 256 * 7 + 100  # not a whole number of records: the last one is padded
    eeg = rng.normal(0, 25, (2, n)) + np.array([[12000.0], [-3000.0]])
    status = np.zeros(n)
    status[300:310], status[900:1500] = 4, 5
    status += 0x0F0000  # BioSemi status bits above the trigger bits
    signals = [BdfSignal("Fp1"), BdfSignal("GSR1", "nOhm"), status_signal()]
    created = datetime(2011, 5, 3, 14, 2, 9)
    chunks = [np.vstack([eeg, status[None]])[:, :500], np.vstack([eeg, status[None]])[:, 500:]]
    write_bdf(tmp_path / "a.bdf", signals, 256, chunks, n, created)
    raw = mne.io.read_raw_bdf(tmp_path / "a.bdf", preload=False, verbose="error")
    assert raw.ch_names == ["Fp1", "GSR1", "Status"] and raw.info["sfreq"] == 256.0
    assert raw.n_times == 256 * 8 and raw.info["meas_date"].replace(tzinfo=None) == created
    data = raw.get_data(stop=n)
    np.testing.assert_allclose(data[0] * 1e6, eeg[0], atol=signals[0].step / 2 + 1e-9)
    events = mne.find_events(raw, "Status", shortest_event=1, mask=0xFFFF, mask_type="and", verbose="error")
    assert events[:, [0, 2]].tolist() == [[300, 4], [900, 5]]
    # an annotation-only BDF+ (FACED's evt.bdf)
    notes = [(0.5, None, "100"), (2.0, None, "7"), (3.25, None, "101"), (9.5, 0.25, "102")]
    write_bdf(tmp_path / "evt.bdf", [], 256, None, n, created, annotations=notes)
    read = mne.read_annotations(tmp_path / "evt.bdf")
    assert read.description.tolist() == ["100", "7", "101", "102"]
    np.testing.assert_allclose(read.onset, [0.5, 2.0, 3.25, 9.5])
    np.testing.assert_allclose(read.duration, [0, 0, 0, 0.25])
    with pytest.raises(ValueError, match="BDF chunks hold 500 samples, not the declared 1892"):
        write_bdf(tmp_path / "b.bdf", signals, 256, chunks[:1], n, created)


@pytest.fixture(scope="module")
def deap_raw(tmp_path_factory) -> tuple[Path, object]:
    """DEAP raw subjects 1 and 23 (the two channel orders) and the ratings table, ingested."""
    root = tmp_path_factory.mktemp("deap_raw")
    corpus = get_corpus("deap_raw")
    for plan in corpus.layout(corpus, 23, SCALE, 4):
        if plan.relpath.endswith(("s01.bdf", "s23.bdf", ".csv")):
            write_file(corpus, plan, root / "raw", 4)
    report = ingest("deap_raw", root / "raw", root / "store.zarr")
    assert report.ok, report.failures.to_dict("records")
    return root / "raw", report


def test_deap_raw_trials_channels_and_ratings(deap_raw):
    raw_dir, report = deap_raw
    recs = report.recordings
    stim, base = recs[recs["segment"] == "stimulus"], recs[recs["segment"] == "baseline"]
    assert len(stim) == len(base) == 80 and set(stim["subject"]) == {"01", "23"}
    assert (stim["n_channels"] == 32).all() and (stim["sfreq"] == 200.0).all()
    first = list(stim[stim["subject"] == "01"]["channel_names"].iloc[0])
    later = list(stim[stim["subject"] == "23"]["channel_names"].iloc[0])
    assert first == DEAP_RAW_ORDER_1_22 and later == _deap_eeg()  # stored in each file's own order
    video = scaled_samples(512.0, 60, SCALE)
    assert (stim["n_samples"] == int(np.ceil(video * 200 / 512))).all() and (base["duration_s"] == 3.0).all()
    with open(raw_dir / "metadata_csv" / "participant_ratings.csv", newline="") as handle:
        rows = {(int(r["Participant_id"]), int(r["Experiment_id"])): r for r in csv.DictReader(handle)}
    for row in stim.itertuples():
        rated = rows[int(row.subject), row.trial]  # trials are numbered by video (Experiment_id)
        assert row.raw_ratings["valence"] == float(rated["Valence"])
        assert row.valence == pytest.approx(float(rated["Valence"]) - 5)
        assert row.arousal == pytest.approx(float(rated["Arousal"]) - 5)
        assert row.class_name == ("high_valence" if float(rated["Valence"]) > 5 else "low_valence")
    assert sorted(stim[stim["subject"] == "01"]["trial"]) == list(range(1, 41))
    assert stim["stimulus"].iloc[0] == f"deap_raw/video{stim['trial'].iloc[0]:02d}"


def test_deap_raw_unlisted_channel_is_dropped(deap_raw, tmp_path):
    """s29-s32 hold a 49th channel; the manifest's extra_channels = 'drop' removes channels it does not list."""
    raw_dir, _ = deap_raw
    source = mne.io.read_raw_bdf(raw_dir / "data_original" / "s01.bdf", preload=False, verbose="error")
    n = source.n_times
    data = source.get_data() * 1e6
    signals = [status_signal() if c == "Status" else BdfSignal(c) for c in source.ch_names] + [BdfSignal("X49")]
    data[-1] = source.get_data(picks="Status")[0]
    target = tmp_path / "raw" / "data_original"
    target.mkdir(parents=True)
    write_bdf(target / "s01.bdf", signals, 512.0, [np.vstack([data, np.zeros((1, n))])], n, datetime(2011, 5, 3))
    shutil.copytree(raw_dir / "metadata_csv", tmp_path / "raw" / "metadata_csv")
    trials = list(read_trials(target / "s01.bdf", "data_original/s01.bdf", get_corpus("deap_raw").manifest))
    assert len(trials) == 40 and "X49" not in trials[0].channel_names and len(trials[0].channel_names) == 32


@pytest.fixture(scope="module")
def mahnob(tmp_path_factory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("mahnob")
    synthesize("mahnob_hci", root / "raw", subjects=2, duration_scale=SCALE, seed=6)
    report = ingest("mahnob_hci", root / "raw", root / "store.zarr")
    assert report.ok, report.failures.to_dict("records")
    return root, report


def test_mahnob_trials_labels_and_skipped_sessions(mahnob):
    root, report = mahnob
    unrated = {(s, k) for s in (1, 2) for k in range(1, 21) if (3 * s + k) % 9 == 0}
    assert len(report.skipped_inputs) == len(unrated) == 4
    for skipped in report.skipped_inputs:
        assert "session.xml has no 'feltArsl'" in skipped["reason"] and skipped["reason"].startswith(skipped["file"])
    recs = report.recordings
    assert len(recs) == 40 - len(unrated) and report.failures.empty
    assert {(int(s), t) for s, t in zip(recs["subject"], recs["trial"], strict=True)} == {
        (s, k) for s in (1, 2) for k in range(1, 21)
    } - unrated
    assert (recs["n_channels"] == 32).all() and recs["channel_names"].iloc[0][0] == "Fp1"
    clips = [scaled_samples(256.0, MAHNOB_CLIP_SECONDS[k - 1], SCALE) for k in recs["trial"]]
    np.testing.assert_array_equal(recs["n_samples"], np.ceil(np.array(clips) * 200 / 256).astype(int))
    lexicon = load_lexicon()
    for row in recs.itertuples():
        assert row.valence == row.raw_ratings["valence"] - 5 and row.arousal == row.raw_ratings["arousal"] - 5
        assert row.dominance == row.raw_ratings["dominance"] - 5
        assert lexicon.resolve(row.class_name) in lexicon.entries
    session = root / "raw" / Path(recs["source_file"].iloc[0]).parent / "session.xml"
    assert f'feltEmo="{recs["raw_code"].iloc[0]}"' in session.read_text()


def test_mahnob_cli_counts_skipped_sessions(mahnob):
    root, _ = mahnob
    command = [
        sys.executable,
        "-m",
        "emod_data",
        "ingest",
        "mahnob_hci",
        str(root / "raw"),
        "--store",
        str(root / "store.zarr"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "4 skipped as not inputs" in result.stderr and "36 already complete" in result.stderr


@pytest.fixture(scope="module")
def faced_raw(tmp_path_factory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("faced_raw")
    synthesize("faced_raw", root / "raw", subjects=2, duration_scale=SCALE, seed=8)
    report = ingest("faced_raw", root / "raw", root / "store.zarr")
    assert report.ok, report.failures.to_dict("records")
    return root / "raw", report


def test_faced_raw_clips_cohorts_and_units(faced_raw):
    raw_dir, report = faced_raw
    recs = report.recordings
    assert len(recs) == 56 and set(recs["subject"]) == {"000", "001"}
    assert (recs["n_channels"] == 30).all()
    assert not {"A1", "A2"} & {c for names in recs["channel_names"] for c in names}
    manifest = get_corpus("faced_raw").manifest
    for subject in ("000", "001"):
        mine = recs[recs["subject"] == subject].sort_values("trial")
        assert mine["trial"].tolist() == list(range(1, 29))  # numbered by video index
        assert mine["class_name"].tolist() == manifest.labels.sequence
    assert recs["stimulus"].iloc[0] == "faced_raw/clip01"
    # the second cohort's header says V for µV values: the reader picks the factor from the amplitudes
    for subject, names, volts in (("000", FACED_CHANNELS, True), ("001", ["A1", "A2", *FACED_CHANNELS[:30]], False)):
        path = raw_dir / "Data" / f"sub{subject}" / "data.bdf"
        header = mne.io.read_raw_bdf(path, verbose="error")
        assert header.ch_names == names
        as_read = np.median(header.get_data(picks=[0, 5, 10], stop=2000).std(axis=1))  # MNE applies the header unit
        assert (as_read < 1e-3) == volts
        first = next(read_trials(path, f"sub{subject}", manifest))
        assert 5 < np.median(first.data.std(axis=1)) < 100 and first.unit_scale == 1.0  # µV in both cohorts
        assert detect_unit_scale(header.get_data(stop=2000)) == (1e6 if volts else 1.0)
    from emod_data.store import open_store

    store = open_store(report.store)
    for rid in recs["recording_id"].iloc[[0, 40]]:
        assert 1 < np.median(store.read(rid).std(axis=1)) < 100


def test_deap_raw_without_ratings_table(deap_raw, tmp_path):
    raw_dir, _ = deap_raw
    shutil.copytree(raw_dir / "data_original", tmp_path / "raw" / "data_original")
    report = ingest("deap_raw", tmp_path / "raw", tmp_path / "s.zarr")
    assert report.failures["error"].tolist() == [
        f"data_original/{name}: label table metadata_csv/participant_ratings.csv not found"
        for name in ("s01.bdf", "s23.bdf")
    ]


def test_bdf_bad_inputs(mahnob, faced_raw, tmp_path):
    """A truncated BDF and a missing annotation file fail alone, each in one line naming the file."""
    root, _ = mahnob
    raw = tmp_path / "mahnob"
    shutil.copytree(root / "raw" / "Sessions" / "2", raw / "Sessions" / "2")
    shutil.copytree(root / "raw" / "Sessions" / "4", raw / "Sessions" / "4")
    bdf = next((raw / "Sessions" / "4").glob("*.bdf"))
    bdf.write_bytes(bdf.read_bytes()[:-5000])
    report = ingest("mahnob_hci", raw, tmp_path / "m.zarr")
    (failure,) = report.failures.itertuples()
    assert failure.file == f"Sessions/4/{bdf.name}" and failure.stage == "read"
    assert failure.error.startswith(failure.file) and "truncated EDF/BDF file" in failure.error
    assert len(report.recordings) == 1 and "\n" not in failure.error

    faced_dir, _ = faced_raw
    faced = tmp_path / "faced"
    shutil.copytree(faced_dir, faced)
    (faced / "Data" / "sub001" / "evt.bdf").unlink()
    report = ingest("faced_raw", faced, tmp_path / "f.zarr")
    (failure,) = report.failures.itertuples()
    assert failure.error == "Data/sub001/data.bdf: annotation file evt.bdf not found next to it"
    assert len(report.recordings) == 28
