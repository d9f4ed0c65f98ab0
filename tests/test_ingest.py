"""End-to-end ingest on the synthetic corpora, including the bad paths."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
import zarr

from emod_data.config import ProcessingConfig
from emod_data.errors import ChannelError, ManifestError, StoreError
from emod_data.ingest import file_checksum, ingest
from emod_data.manifest import MANIFEST_DIR
from emod_data.store import open_store
from emod_data.synth import synthesize

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

SEED_LABELS = [1, 0, -1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 0, 1, -1]
SEED_IV_LABELS = {
    1: [1, 2, 3, 0, 2, 0, 0, 1, 0, 1, 2, 1, 1, 1, 2, 3, 2, 2, 3, 3, 0, 3, 0, 3],
    2: [2, 1, 3, 0, 0, 2, 0, 2, 3, 3, 2, 3, 2, 0, 1, 1, 2, 1, 0, 3, 0, 1, 3, 1],
    3: [1, 2, 2, 1, 3, 3, 3, 1, 1, 2, 1, 0, 2, 3, 3, 0, 2, 3, 0, 0, 2, 0, 1, 0],
}


def _seed_file(raw: Path, subject: str = "1", session_index: int = 0) -> Path:
    return sorted((raw / "Preprocessed_EEG").glob(f"{subject}_*.mat"))[session_index]


def test_seed_contents(store_all, raw_corpora):
    store = open_store(store_all)
    recs = store.recordings[store.recordings["corpus"] == "seed"]
    assert len(recs) == 2 * 3 * 15
    assert sorted(recs.groupby(["subject", "session"]).size().unique()) == [15]
    assert (recs["n_channels"] == 62).all() and (recs["sfreq"] == 200.0).all()
    names = store.channels(recs["recording_id"].iloc[0])
    assert names[:3] == ["Fp1", "Fpz", "Fp2"] and names[-1] == "CB2"
    codes = recs.sort_values(["subject", "session", "trial"])["raw_code"].astype(int).to_numpy()
    assert codes.tolist() == SEED_LABELS * 6
    positive = recs[recs["class_name"] == "positive"]
    assert (positive[["valence", "arousal"]] == [2.5, 1.5]).all().all()
    assert (recs["label_source"] == "lexicon").all()
    # session k is the subject's k-th date
    first = recs[(recs["subject"] == "1") & (recs["session"] == 1)]["source_file"].iloc[0]
    assert first == _seed_file(raw_corpora["seed"]).relative_to(raw_corpora["seed"]).as_posix()
    # arrays are plain zarr v3 with their provenance and completion mark
    row = recs.iloc[0]
    array = zarr.open_array(store=str(store_all), path=row["path"], mode="r")
    assert array.shape == (62, row["n_samples"]) and array.dtype == np.float32
    assert array.attrs["complete"] is True
    assert array.attrs["source_checksum"] == file_checksum(raw_corpora["seed"] / row["source_file"])
    assert array.attrs["channel_names"] == names
    np.testing.assert_array_equal(array[:, 5:50], store.read(row["recording_id"], 5, 50))
    root = json.loads((store_all / "zarr.json").read_text())["attributes"]
    assert root["emod_store_version"] == 1
    assert root["processing"]["bandpass"] == [0.3, 49.0] and root["processing_hash"] == ProcessingConfig().hash


def test_stored_signal_is_processed_eeg(store_all):
    store = open_store(store_all)
    rid = store.recordings["recording_id"].iloc[0]
    x = store.read(rid)
    assert x.dtype == np.float32 and np.isfinite(x).all()
    assert 1 < np.median(x.std(axis=1)) < 200  # µV scale
    assert np.abs(x.mean(axis=0)).max() < 1e-2  # average reference


def test_seed_iv_labels_follow_session_orders(store_all):
    recs = open_store(store_all).recordings
    recs = recs[recs["corpus"] == "seed_iv"]
    assert len(recs) == 3 * 24
    for session, codes in SEED_IV_LABELS.items():
        got = recs[recs["session"] == session].sort_values("trial")["class_index"].tolist()
        assert got == codes
    assert recs["stimulus"].nunique() == 72  # different clips in every session


def test_seed_vii_sessions_from_trial_numbers(store_all):
    recs = open_store(store_all).recordings
    recs = recs[recs["corpus"] == "seed_vii"].sort_values("trial")
    assert recs["trial"].tolist() == list(range(1, 81))
    assert recs["session"].tolist() == [s for s in (1, 2, 3, 4) for _ in range(20)]
    assert recs["class_name"].iloc[[0, 1, 20, 79]].tolist() == ["happy", "neutral", "anger", "disgust"]


def test_deap_ratings_baseline_and_channels(store_all, raw_corpora):
    store = open_store(store_all)
    recs = store.recordings[store.recordings["corpus"] == "deap"]
    stim = recs[recs["segment"] == "stimulus"]
    base = recs[recs["segment"] == "baseline"]
    assert len(stim) == len(base) == 2 * 40
    assert (stim["n_channels"] == 32).all()
    assert "hEOG" not in store.channels(stim["recording_id"].iloc[0])
    raw = pd.DataFrame(stim["raw_ratings"].tolist(), index=stim.index)
    assert list(raw.columns) == ["valence", "arousal", "dominance", "liking"]
    np.testing.assert_allclose(stim["valence"], raw["valence"] - 5)
    np.testing.assert_allclose(stim["arousal"], raw["arousal"] - 5)
    np.testing.assert_allclose(stim["dominance"], raw["dominance"] - 5)
    assert ((raw["valence"] > 5) == (stim["class_name"] == "high_valence")).all()
    assert (base["duration_s"] == 3.0).all()  # the 3 s pre-trial baseline, never mixed in
    from tests.conftest import SCALE

    assert stim["duration_s"].iloc[0] == pytest.approx(60 * SCALE, abs=0.01)
    # the ratings in the file match the table
    import pickle

    with open(raw_corpora["deap"] / "data_preprocessed_python" / "s01.dat", "rb") as handle:
        labels = pickle.load(handle, encoding="latin1")["labels"]
    first = stim[stim["subject"] == "01"].sort_values("trial")
    np.testing.assert_allclose([r["valence"] for r in first["raw_ratings"]], labels[:, 0])


def test_windows_table(store_all):
    store = open_store(store_all)
    recs = store.recordings
    win = store.windows(2.0, corpora=["seed"])
    per = recs[recs["corpus"] == "seed"].set_index("recording_id")["n_samples"] // 400
    assert win.groupby("recording_id").size().reindex(per.index, fill_value=0).tolist() == per.tolist()
    assert ((win["stop"] - win["start"]) == 400).all()
    first = win[win["recording_id"] == win["recording_id"].iloc[0]]
    assert first["start"].tolist() == list(range(0, 400 * len(first), 400))
    overlap = store.windows(2.0, stride=1.0, corpora=["seed"])
    n = recs[recs["corpus"] == "seed"]["n_samples"]
    assert len(overlap) == int(((n - 400) // 200 + 1).clip(lower=0).sum())
    assert set(store.windows(1.0)["corpus"]) == {"seed", "seed_iv", "seed_vii", "deap"}
    assert set(store.windows(1.0)["segment"]) == {"stimulus"}
    both = store.windows(1.0, corpora=["deap"], segments=("stimulus", "baseline"))
    assert set(both["segment"]) == {"stimulus", "baseline"}
    assert {"class_name", "valence", "arousal"} <= set(win.columns)


def test_rerun_skips_complete_files(store_all, raw_corpora):
    before = pd.read_parquet(store_all / "tables" / "recordings" / "seed.parquet")
    report = ingest("seed", raw_corpora["seed"], store_all)
    assert report.processed == 0 and report.skipped == 6
    pd.testing.assert_frame_equal(report.recordings, before)


def test_refuses_other_processing_parameters(store_all, raw_corpora):
    with pytest.raises(StoreError, match=r"other processing parameters \(bandpass: \[0.3, 49.0\] -> None"):
        ingest("deap", raw_corpora["deap"], store_all, config=ProcessingConfig(bandpass=None))


def test_corrupt_file_among_good_ones(seed_copy, tmp_path):
    bad = _seed_file(seed_copy, "2", 1)
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 3])  # truncated download
    report = ingest("seed", seed_copy, tmp_path / "s.zarr", workers=2)
    assert len(report.failures) == 1
    failure = report.failures.iloc[0]
    assert failure["stage"] == "read" and failure["file"] == bad.relative_to(seed_copy).as_posix()
    assert failure["error"].startswith(failure["file"]) and "\n" not in failure["error"]
    assert len(report.recordings) == 5 * 15
    # a rerun retries the failed file only; once repaired, it completes the store
    bad.write_bytes(data)
    again = ingest("seed", seed_copy, tmp_path / "s.zarr")
    assert again.processed == 1 and again.ok and len(again.recordings) == 6 * 15
    assert len(pd.read_parquet(tmp_path / "s.zarr" / "tables" / "failures" / "seed.parquet")) == 0


def test_missing_variable_and_wrong_shape(seed_copy, tmp_path):
    missing, misshaped = _seed_file(seed_copy, "1", 0), _seed_file(seed_copy, "1", 1)
    variables = {k: v for k, v in scipy.io.loadmat(missing).items() if not k.startswith("__")}
    del variables["djc_eeg15"]
    scipy.io.savemat(missing, variables)
    variables = {k: v for k, v in scipy.io.loadmat(misshaped).items() if not k.startswith("__")}
    variables["djc_eeg4"] = variables["djc_eeg4"][:61]
    scipy.io.savemat(misshaped, variables)
    report = ingest("seed", seed_copy, tmp_path / "s.zarr")
    errors = dict(zip(report.failures["file"], report.failures["error"], strict=True))
    assert errors[missing.relative_to(seed_copy).as_posix()].endswith("missing trial(s) [15] of 15")
    assert "variable 'djc_eeg4' has shape (61," in errors[misshaped.relative_to(seed_copy).as_posix()]
    assert len(report.recordings) == 4 * 15  # neither bad file left rows behind
    assert not list((tmp_path / "s.zarr" / "data" / "seed" / "sub-1").glob("ses-[12]/trial-*"))  # nor arrays


def test_nan_trial_fails_alone(seed_copy, tmp_path):
    path = _seed_file(seed_copy, "1", 0)
    variables = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    variables["djc_eeg3"][5, 100:180] = np.nan
    scipy.io.savemat(path, variables)
    report = ingest("seed", seed_copy, tmp_path / "s.zarr", subjects=["1"])
    assert report.failures[["trial", "stage"]].values.tolist() == [[3, "signal"]]
    assert "80 NaN/Inf samples" in report.failures["error"].iloc[0]
    assert len(report.recordings) == 3 * 15 - 1


def test_volts_declared_as_microvolts_is_flagged(raw_corpora, tmp_path):
    manifest = tmp_path / "seed_volts.toml"
    manifest.write_text((MANIFEST_DIR / "seed.toml").read_text().replace('units = "uV"', 'units = "V"'))
    report = ingest(manifest, raw_corpora["seed"], tmp_path / "s.zarr", subjects=["1"])
    assert len(report.recordings) == 0 and (report.failures["stage"] == "signal").all()
    assert "implausible EEG amplitude" in report.failures["error"].iloc[0]


def test_unknown_channel_stops_before_any_work(raw_corpora, tmp_path):
    manifest = tmp_path / "seed_bad.toml"
    manifest.write_text((MANIFEST_DIR / "seed.toml").read_text().replace('"CB2"]', '"XYZ2"]'))
    with pytest.raises(ChannelError, match=r"seed_bad\.toml: channel 'XYZ2' is not in the channel vocabulary"):
        ingest(manifest, raw_corpora["seed"], tmp_path / "s.zarr")
    assert not (tmp_path / "s.zarr").exists()
    mapped = tmp_path / "seed_mapped.toml"
    mapped.write_text(manifest.read_text().replace('"XYZ2"]', '"XYZ2"]\nrename = { XYZ2 = "CB2" }'))
    report = ingest(mapped, raw_corpora["seed"], tmp_path / "s.zarr", subjects=["1"])
    assert report.ok and report.recordings["channel_names"].iloc[0][-1] == "CB2"


def test_user_manifest_path_and_subject_filter(raw_corpora, tmp_path):
    manifest = tmp_path / "my_seed.toml"
    shutil.copy(MANIFEST_DIR / "seed.toml", manifest)
    report = ingest(str(manifest), raw_corpora["seed"], tmp_path / "s.zarr", subjects=["2"])
    assert report.files == 3 and report.ok and set(report.recordings["subject"]) == {"2"}


def test_overwrite_reingests(raw_corpora, tmp_path):
    store = tmp_path / "s.zarr"
    ingest("deap", raw_corpora["deap"], store)
    report = ingest("deap", raw_corpora["deap"], store, subjects=["1"], overwrite=True)
    assert report.processed == 1 and report.skipped == 0 and len(report.recordings) == 160  # subject 2 kept
    report = ingest("deap", raw_corpora["deap"], store, overwrite=True)
    assert report.processed == 2 and len(report.recordings) == 160


def test_one_line_pandas_read_of_a_mixed_store(store_all):
    recordings = pd.read_parquet(store_all / "tables" / "recordings")
    assert set(recordings["corpus"]) == {"seed", "seed_iv", "seed_vii", "deap"}
    failures = pd.read_parquet(store_all / "tables" / "failures")
    assert list(failures.columns) == ["file", "subject", "session", "trial", "stage", "error"]


def test_corpus_name_wins_over_a_folder_of_the_same_name(raw_corpora, tmp_path, monkeypatch):
    (tmp_path / "deap").mkdir()
    monkeypatch.chdir(tmp_path)
    assert ingest("deap", raw_corpora["deap"], tmp_path / "s.zarr", subjects=["1"]).ok


def test_open_store_errors(tmp_path, store_all):
    with pytest.raises(StoreError, match="no store here"):
        open_store(tmp_path / "nothing.zarr")
    zarr.open_group(tmp_path / "plain.zarr", mode="w")
    with pytest.raises(StoreError, match="not an emod store"):
        open_store(tmp_path / "plain.zarr")
    copy = tmp_path / "future.zarr"
    shutil.copytree(store_all, copy)
    meta = json.loads((copy / "zarr.json").read_text())
    meta["attributes"]["emod_store_version"] = 99
    (copy / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="store version 99; this emod_data reads version 1"):
        open_store(copy)
    with pytest.raises(StoreError, match="no recording 'seed/sub-9"):
        open_store(store_all).read("seed/sub-9/ses-1/trial-01")


def _store_content(store: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    recs = pd.read_parquet(store / "tables" / "recordings" / "seed.parquet")
    arrays = {p: zarr.open_array(store=str(store), path=p, mode="r")[:] for p in recs["path"]}
    return recs, arrays


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    raw = tmp_path / "raw"
    synthesize("seed", raw, subjects=2, duration_scale=0.15, seed=3)
    reference = tmp_path / "reference.zarr"
    assert ingest("seed", raw, reference).ok

    killed = tmp_path / "killed.zarr"
    table = killed / "tables" / "recordings" / "seed.parquet"
    command = [sys.executable, "-m", "emod_data", "ingest", "seed", str(raw), "--store", str(killed)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not table.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = pd.read_parquet(table)["source_file"].nunique()
    assert 1 <= done < 6, "the ingest must be interrupted mid-run"

    report = ingest("seed", raw, killed)
    assert report.skipped == done and report.processed == 6 - done and report.ok
    ref_recs, ref_arrays = _store_content(reference)
    got_recs, got_arrays = _store_content(killed)
    pd.testing.assert_frame_equal(got_recs, ref_recs)
    assert ref_arrays.keys() == got_arrays.keys()
    for key, value in ref_arrays.items():
        np.testing.assert_array_equal(got_arrays[key], value)


def test_cli_errors_are_one_line(tmp_path, raw_corpora):
    bad = tmp_path / "bad.toml"
    bad.write_text((MANIFEST_DIR / "seed.toml").read_text().replace('session = "date_rank"', 'session = "dates"'))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emod_data",
            "ingest",
            str(bad),
            str(raw_corpora["seed"]),
            "--store",
            str(tmp_path / "s.zarr"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "bad.toml" in lines[0] and "files.session" in lines[0]


def test_cli_exit_code_on_failures(seed_copy, tmp_path):
    bad = _seed_file(seed_copy, "1", 2)
    bad.write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emod_data",
            "ingest",
            "seed",
            str(seed_copy),
            "--store",
            str(tmp_path / "s.zarr"),
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert bad.name in result.stderr and "failed" in result.stderr
    assert "seed" in result.stdout  # the summary table is printed


def test_bad_manifest_messages(tmp_path):
    from emod_data.manifest import load_manifest

    text = (MANIFEST_DIR / "deap.toml").read_text()
    cases = {
        "units": (text.replace('units = "uV"', 'units = "microvolt"'), "field 'format.units'"),
        "regex": (text.replace(r"s(?P<subject>\d+)", r"s(?P<subject>\d+"), "field 'files.pattern'"),
        "exclude": (text.replace('exclude = ["hEOG"', 'exclude = ["HEOG"'), "channels.exclude names channels"),
        "toml": (text + "\n[broken\n", "not valid TOML"),
        "missing": (text.replace("sfreq = 128.0\n", ""), "field 'format.sfreq': Field required"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(content)
        with pytest.raises(ManifestError) as info:
            load_manifest(path)
        assert str(info.value).startswith(str(path)) and message in str(info.value), name
    with pytest.raises(ManifestError, match="unknown corpus 'seeed'"):
        load_manifest("seeed")
    template = tmp_path / "template.toml"
    template.write_text(text.replace('stimulus = "video{trial:02d}"', 'stimulus = "video{subject:02d}"'))
    with pytest.raises(ManifestError, match=r"field 'labels\.stimulus': not a valid template"):
        load_manifest(template)


def test_seed_at_real_durations_gives_published_counts(tmp_path):
    raw = tmp_path / "seed"
    synthesize("seed", raw, subjects=1, duration_scale=1.0, seed=11)
    report = ingest("seed", raw, tmp_path / "s.zarr", workers=2)
    assert report.ok
    recs = report.recordings
    assert len(recs) == 45 and (recs["n_channels"] == 62).all() and (recs["sfreq"] == 200).all()
    assert recs.groupby("session")["duration_s"].sum().round().tolist() == [3394.0] * 3
    windows = open_store(tmp_path / "s.zarr").windows(5)
    assert windows.groupby("session").size().tolist() == [675, 675, 675]


def test_ingest_on_a_dask_cluster(raw_corpora, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        report = ingest("deap", raw_corpora["deap"], tmp_path / "s.zarr", scheduler=cluster.scheduler_address)
    assert report.ok and report.processed == 2 and len(report.recordings) == 160
    local = ingest("deap", raw_corpora["deap"], tmp_path / "local.zarr")
    pd.testing.assert_frame_equal(report.recordings.drop(columns="path"), local.recordings.drop(columns="path"))


def test_open_store_from_an_fsspec_url(store_all):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.put(str(store_all), "/copy.zarr", recursive=True)
    local, remote = open_store(store_all), open_store("memory://copy.zarr")
    pd.testing.assert_frame_equal(remote.recordings, local.recordings)
    rid = local.recordings["recording_id"].iloc[3]
    np.testing.assert_array_equal(remote.read(rid, 10, 90), local.read(rid, 10, 90))
    assert len(remote.windows(1.0)) == len(local.windows(1.0)) and len(remote.vocabulary) == 341


def test_package_exports_the_api_without_torch():
    code = (
        "import sys, emod_data; emod_data.open_store; emod_data.ingest; emod_data.synthesize; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_two_corpora_ingested_at_once_into_a_new_store(raw_corpora, tmp_path):
    store = tmp_path / "shared.zarr"
    commands = [
        [sys.executable, "-m", "emod_data", "ingest", corpus, str(raw_corpora[corpus]), "--store", str(store)]
        for corpus in ("deap", "seed_iv")
    ]
    processes = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in commands]
    errors = [p.communicate()[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], errors
    recordings = open_store(store).recordings
    assert recordings.groupby("corpus").size().to_dict() == {"deap": 160, "seed_iv": 72}
