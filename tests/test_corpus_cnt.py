"""Neuroscan CNT: the writer proven with MNE's reader, SEED-V and SEED raw ingested from their synthetic layouts."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import mne
import numpy as np
import pytest

from emod_data.ingest import ingest
from emod_data.lexicon import load_lexicon
from emod_data.manifest import load_manifest
from emod_data.readers import read_trials
from emod_data.segmentation import parse_span_file
from emod_data.synth import synthesize
from emod_data.synth.cnt import resolution_uv, write_cnt
from emod_data.synth.plans import get_corpus
from emod_data.synth.recordings import render

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

SCALE = 0.01  # SEED-V sessions of about 35 s at 1000 Hz
SEED_V_LABELS = {1: [4, 1, 3, 2, 0, 4, 1, 3, 2, 0, 4, 1, 3, 2, 0], 2: [2, 1, 3, 0, 4, 4, 0, 3, 2, 1, 3, 4, 1, 2, 0]}
SEED_V_LABELS[3] = SEED_V_LABELS[2]
SEED_LABELS = [1, 0, -1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 0, 1, -1]


@pytest.fixture(scope="module")
def seed_v(tmp_path_factory) -> tuple[Path, Path]:
    """One synthetic SEED-V subject (3 CNT files) and the store it was ingested into."""
    root = tmp_path_factory.mktemp("seed_v_raw")
    synthesize("seed_v_raw", root / "raw", subjects=1, duration_scale=SCALE, seed=5)
    report = ingest("seed_v_raw", root / "raw", root / "store.zarr")
    assert report.ok, report.failures.to_dict("records")
    return root / "raw", root / "store.zarr"


def test_cnt_writer_read_back_by_mne(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"E{i}" for i in range(5)] + ["M1", "VEO"]
    signal = rng.normal(0, 30, (7, 4321)) + np.linspace(-500, 500, 7)[:, None]
    created = datetime(2018, 8, 4, 9, 30, 15)
    chunks = [signal[:, :1000], signal[:, 1000:1001], signal[:, 1001:]]
    write_cnt(tmp_path / "a.cnt", names, 1000, chunks, created, events=[(10, 4), (4000, 250)], patient="X Y")
    raw = mne.io.read_raw_cnt(tmp_path / "a.cnt", data_format="int32", preload=False, verbose="error")
    assert raw.ch_names == names and raw.info["sfreq"] == 1000.0 and raw.n_times == 4321
    assert raw.info["meas_date"].replace(tzinfo=None) == created
    step = resolution_uv()
    assert step == pytest.approx(1 / 32, rel=1e-6)  # 204.8 is not exact in float32
    np.testing.assert_allclose(raw.get_data() * 1e6, signal, rtol=0, atol=step / 2 + 1e-9)
    np.testing.assert_allclose(raw.get_data(start=1234, stop=1300) * 1e6, signal[:, 1234:1300], atol=step / 2 + 1e-9)
    assert raw.annotations.description.tolist() == ["4", "250"]
    np.testing.assert_allclose(raw.annotations.onset, [0.010, 4.0])
    # MNE infers int32 from the header on its own too
    auto = mne.io.read_raw_cnt(tmp_path / "a.cnt", preload=False, verbose="error")
    np.testing.assert_array_equal(auto.get_data(stop=50), raw.get_data(stop=50))
    with pytest.raises(ValueError, match=r"CNT chunk of shape \(6, 10\)"):
        write_cnt(tmp_path / "b.cnt", names, 1000, [signal[:6, :10]], created)


def test_seed_v_layout_and_ingest(seed_v):
    raw_dir, store = seed_v
    files = sorted(p.relative_to(raw_dir).as_posix() for p in raw_dir.rglob("*") if p.is_file())
    assert files[-1] == "trial_start_end_timestamp.txt" and len(files) == 4
    assert all(f.startswith("EEG_raw/1_") and f.endswith(".cnt") for f in files[:3])
    head = mne.io.read_raw_cnt(raw_dir / files[0], data_format="int32", preload=False, verbose="error")
    assert len(head.ch_names) == 66 and head.ch_names[-4:] == ["M1", "M2", "VEO", "HEO"]
    assert head.info["sfreq"] == 1000.0

    from emod_data.store import open_store

    recs = open_store(store).recordings
    assert len(recs) == 45 and sorted(recs["session"].unique()) == [1, 2, 3]
    assert (recs["n_channels"] == 62).all() and (recs["sfreq"] == 200.0).all()
    names = recs["channel_names"].iloc[0].tolist()
    assert names[:3] == ["Fp1", "Fpz", "Fp2"] and names[-1] == "CB2"
    assert not {"M1", "M2", "VEO", "HEO"} & set(names)
    spans = parse_span_file(
        (raw_dir / "trial_start_end_timestamp.txt").read_text(),
        load_manifest("seed_v_raw").recording,
        "trial_start_end_timestamp.txt",
    )
    lexicon = load_lexicon()
    classes = ["disgust", "fear", "sad", "neutral", "happy"]
    for session in (1, 2, 3):
        mine = recs[recs["session"] == session].sort_values("trial")
        assert mine["trial"].tolist() == list(range(1, 16))
        assert mine["n_samples"].tolist() == [round((e - s) * 200) for s, e in spans[session]]
        assert mine["class_index"].tolist() == SEED_V_LABELS[session]
        expected = [lexicon.coordinates(classes[c]) for c in SEED_V_LABELS[session]]
        assert list(zip(mine["valence"], mine["arousal"], strict=True)) == expected
    assert recs["stimulus"].iloc[0] == "seed_v_raw/s1clip01"


def test_seed_v_reader_returns_the_written_signal(seed_v):
    """The reader's trial k is the synthesized signal between the timestamps, in µV, within quantisation."""
    raw_dir, _ = seed_v
    corpus = get_corpus("seed_v_raw")
    plan = next(p for p in corpus.layout(corpus, 1, SCALE, 5) if p.relpath.startswith("EEG_raw/1_2_"))
    written = np.concatenate(list(render(corpus, plan, 5)), axis=1)  # (66, samples) in µV
    trials = list(read_trials(raw_dir / plan.relpath, plan.relpath, corpus.manifest))
    spans = parse_span_file((raw_dir / "trial_start_end_timestamp.txt").read_text(), corpus.manifest.recording, "t")
    assert [t.trial for t in trials] == list(range(1, 16))
    for trial, (start, end) in zip(trials, spans[2], strict=True):
        assert trial.channel_names == list(plan.channel_names[:62]) and trial.sfreq == 1000.0
        assert trial.unit_scale == 1.0 and trial.data.dtype == np.float32  # converted to µV on reading
        expected = written[:62, int(start * 1000) : int(end * 1000)]
        np.testing.assert_allclose(trial.data, expected, rtol=1e-6, atol=resolution_uv())


def test_seed_v_bad_inputs(seed_v, tmp_path):
    """A truncated CNT and a timestamp file longer than a recording fail alone, in one line naming the file."""
    raw_dir, _ = seed_v
    raw = tmp_path / "raw"
    shutil.copytree(raw_dir, raw)
    truncated, short = sorted((raw / "EEG_raw").glob("*.cnt"))[1:]
    content = truncated.read_bytes()
    truncated.write_bytes(content[: len(content) // 2])
    timestamps = raw / "trial_start_end_timestamp.txt"
    lines = timestamps.read_text().splitlines()
    session3 = lines.index("Session 3:")
    ends = lines[session3 + 2]
    last = ends.rstrip("]").split(", ")[-1]
    lines[session3 + 2] = ends.replace(f", {last}]", f", {int(last) + 3600}]")
    timestamps.write_text("\n".join(lines))

    report = ingest("seed_v_raw", raw, tmp_path / "s.zarr")
    errors = dict(zip(report.failures["file"], report.failures["error"], strict=True))
    assert set(errors) == {f"EEG_raw/{truncated.name}", f"EEG_raw/{short.name}"}
    assert (report.failures["stage"] == "read").all()
    for file, error in errors.items():
        assert error.startswith(file) and "\n" not in error
    assert "truncated CNT file" in errors[f"EEG_raw/{truncated.name}"]
    message = errors[f"EEG_raw/{short.name}"]
    assert "trial 15 spans" in message and "does trial_start_end_timestamp.txt match this recording?" in message
    assert len(report.recordings) == 15 and set(report.recordings["session"]) == {1}


def test_seed_raw_layout_and_ingest(tmp_path):
    synthesize("seed_raw", tmp_path / "raw", subjects=1, duration_scale=SCALE, seed=2)
    time_txt = (tmp_path / "raw" / "SEED_RAW_EEG" / "time.txt").read_text()
    assert time_txt.startswith("start_point_list = [")
    report = ingest("seed_raw", tmp_path / "raw", tmp_path / "s.zarr")
    assert report.ok, report.failures.to_dict("records")
    recs = report.recordings
    assert len(recs) == 45 and (recs["n_channels"] == 62).all() and (recs["sfreq"] == 200.0).all()
    spans = parse_span_file(time_txt, load_manifest("seed_raw").recording, "time.txt")[None]
    for session in (1, 2, 3):
        mine = recs[recs["session"] == session].sort_values("trial")
        assert mine["raw_code"].astype(int).tolist() == SEED_LABELS
        assert mine["n_samples"].tolist() == [round((e - s) / 1000 * 200) for s, e in spans]
    assert set(recs["class_name"]) == {"negative", "neutral", "positive"}
    assert recs["stimulus"].nunique() == 15  # the same clips in every session
