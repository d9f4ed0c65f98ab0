"""Session-level bad channels: planted faults in spatially correlated synthetic DEAP files."""

from __future__ import annotations

import pickle
import re
import shutil

import numpy as np
import pytest

from emod_data.badchannels import detect, repair_plan
from emod_data.config import ProcessingConfig, load_config
from emod_data.errors import SignalError
from emod_data.ingest import ingest
from emod_data.manifest import load_manifest
from emod_data.store import open_store
from emod_data.synth import synthesize

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

NAMES = load_manifest("deap").channels.names
NEIGHBOURS = ["FC6", "CP6", "C4", "O1", "O2", "PO4", "Pz", "FC1", "CP5", "C4", "Fz"]


def _plant(source, target, faults) -> None:
    with open(source, "rb") as handle:
        content = pickle.load(handle, encoding="latin1")
    data = content["data"]
    rng = np.random.default_rng(0)
    for kind, channels in faults.items():
        rows = [NAMES.index(c) for c in channels]
        if kind == "dead":
            data[:, rows] = 0.0
        elif kind == "noisy":  # a loose electrode: large broadband noise
            data[:, rows] += rng.normal(0.0, 60.0, size=data[:, rows].shape)
        elif kind == "bridged":  # a gel bridge: both electrodes record their mean
            data[:, rows] = data[:, rows].mean(axis=1, keepdims=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as handle:
        pickle.dump(content, handle)


def _signals(store):
    handle = open_store(store)
    recs = handle.recordings
    return (
        handle.channels(recs["recording_id"].iloc[0]),
        np.concatenate([handle.read(r) for r in recs["recording_id"]], axis=1),
        recs,
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    files = synthesize("deap", root / "clean", subjects=2, duration_scale=0.05, seed=5)
    for path in files:
        relative = path.relative_to(root / "clean")
        faults = {"dead": ["Oz"], "noisy": ["T8"], "bridged": ["C3", "CP1"]}
        if relative.name == "s02.dat":  # too many bad channels: the session fails, s01 is kept
            faults = {"dead": NAMES[:10]}
        _plant(path, root / "faulty" / relative, faults)
    clean = ingest("deap", root / "clean", root / "clean.zarr", subjects=["01"])
    faulty = ingest("deap", root / "faulty", root / "faulty.zarr")
    return root, clean, faulty


def test_planted_faults_are_found_and_recorded(planted):
    _, clean, faulty = planted
    assert clean.ok and all(len(b) == 0 for b in clean.recordings["bad_channels"])
    assert set(clean.recordings["bad_action"]) == {"none"}
    recs = faulty.recordings
    assert set(recs["subject"]) == {"01"}
    found = dict(zip(recs["bad_channels"].iloc[0], recs["bad_reasons"].iloc[0], strict=True))
    assert found["Oz"] == "flat"
    assert "deviation" in found["T8"]
    assert found["C3"] == found["CP1"] == "bridged"
    assert set(found) == {"Oz", "T8", "C3", "CP1"}
    assert set(recs["bad_action"]) == {"interpolated"}
    assert (recs["n_channels"] == 32).all()


def test_neighbours_are_unharmed_and_bad_channels_interpolated(planted):
    root, _, _ = planted
    names, reference, _ = _signals(root / "clean.zarr")
    names_f, repaired, _ = _signals(root / "faulty.zarr")
    assert names == names_f

    def corr(channel):
        row = names.index(channel)
        return np.corrcoef(reference[row], repaired[row])[0, 1]

    for channel in NEIGHBOURS:
        assert corr(channel) > 0.95, channel
    for channel in ["Oz", "T8", "C3", "CP1"]:
        assert corr(channel) > 0.5, channel


def test_too_many_bad_channels_fail_the_session_in_one_line(planted):
    root, _, faulty = planted
    failures = faulty.failures
    (line,) = failures.loc[failures["stage"] == "session", "error"]
    assert re.match(r"data_preprocessed_python/s02\.dat subject 02 session 1: 1\d of 32 channels are bad", line)
    assert all(f"{name} (flat)" in line for name in NAMES[:10])
    assert "bad_max_share" in line and "\n" not in line
    assert not (root / "faulty.zarr" / "data" / "deap" / "sub-02").exists()


def test_drop_leaves_bad_channels_out(planted, tmp_path):
    from typer.testing import CliRunner

    from emod_data.cli import app

    root, _, _ = planted
    args = ["ingest", "deap", str(root / "faulty"), "--store", str(tmp_path / "drop.zarr"), "--subjects", "01"]
    result = CliRunner().invoke(app, [*args, "--bad-channels", "drop"])
    assert result.exit_code == 0, result.output
    assert open_store(tmp_path / "drop.zarr").processing == ProcessingConfig(bad_channels="drop")
    recs = open_store(tmp_path / "drop.zarr").recordings
    assert (recs["n_channels"] == 28).all() and set(recs["bad_action"]) == {"dropped"}
    names = recs["channel_names"].iloc[0]
    assert not {"Oz", "T8", "C3", "CP1"} & set(names)
    assert open_store(tmp_path / "drop.zarr").read(recs["recording_id"].iloc[0]).shape[0] == 28


def test_off_keeps_the_plain_recipe(planted, tmp_path):
    root, _, _ = planted
    config = ProcessingConfig(bad_channels="off")
    ingest("deap", root / "faulty", tmp_path / "off.zarr", subjects=["01"], config=config)
    recs = open_store(tmp_path / "off.zarr").recordings
    assert recs["bad_action"].isna().all() and recs["bad_channels"].isna().all()


def test_short_session_is_one_line():
    data = np.random.default_rng(0).normal(size=(4, 300))
    with pytest.raises(SignalError, match=r"^f\.dat session 1: session of 1\.5 s is too short"):
        detect(data, ["Fz", "Cz", "Pz", "Oz"], 200.0, ProcessingConfig(), "f.dat session 1")


def test_reference_leaves_bad_channels_out():
    plan = repair_plan(["Fz", "Cz", "Pz", "Oz"], {"Oz": "flat"}, ProcessingConfig(bad_channels="drop"), "f")
    data = np.array([[1.0], [2.0], [3.0], [100.0]])
    np.testing.assert_allclose(plan.apply(data)[:, 0], [-1.0, 0.0, 1.0], atol=1e-12)


def test_config_fields_are_hashed_and_checked(tmp_path):
    assert ProcessingConfig().hash != ProcessingConfig(bad_channels="off").hash
    assert ProcessingConfig(bad_deviation=4).hash != ProcessingConfig().hash
    assert ProcessingConfig.raw().bad_channels == "off"
    with pytest.raises(ValueError, match="bad_channels must be"):
        ProcessingConfig(bad_channels="fix")
    with pytest.raises(ValueError, match="bad_max_share must be between 0 and 1"):
        ProcessingConfig(bad_max_share=2)
    path = tmp_path / "p.toml"
    path.write_text('bad_channels = "drop"\nbad_correlation = 0.3\n')
    assert load_config(path) == ProcessingConfig(bad_channels="drop", bad_correlation=0.3)
    shutil.rmtree(tmp_path)


def test_inspect_reports_bad_channels_and_lost_sessions(planted, tmp_path):
    from emod_data.inspect import inspect_store

    root, _, _ = planted
    report = inspect_store(root / "faulty.zarr", window_seconds=1.0, workers=1)
    hits = report.findings[report.findings["check"] == "bad_channels"]
    assert len(hits) == len(report.recordings) == 80 and set(hits["severity"]) == {"info"}
    assert "Oz (flat)" in hits["message"].iloc[0] and hits["message"].iloc[0].endswith("; interpolated")
    summary = report.bad_channels.set_index("channel")
    assert set(summary.index) == {"Oz", "T8", "C3", "CP1"}
    assert summary.loc["Oz", ["sessions_bad", "sessions", "reasons"]].tolist() == [1, 1, "flat 1"]
    lost = report.findings[report.findings["check"] == "ingest_failure"]
    assert set(lost["severity"]) == {"error"} and report.failed("error")  # the gate: a lost session fails
    html = report.write(tmp_path / "report")
    assert (tmp_path / "report" / "figures" / "bad_channels.png").stat().st_size > 10_000
    assert "Bad channels" in html.read_text() and (tmp_path / "report" / "bad_channels.csv").exists()


def test_baselines_carry_no_emotion_label(planted):
    _, clean, _ = planted
    recs = open_store(clean.store).recordings
    base, stim = recs[recs["segment"] == "baseline"], recs[recs["segment"] == "stimulus"]
    assert len(base) == len(stim) == 40
    assert base[["valence", "arousal", "dominance", "class_name"]].isna().all().all()
    assert (base["class_index"] == -1).all() and set(base["label_source"]) == {"unrated"}
    assert stim["valence"].notna().all() and set(stim["label_source"]) == {"rating"}
    assert base["stimulus"].tolist() == stim["stimulus"].tolist()  # the links to the trial stay
    assert base["trial"].tolist() == stim["trial"].tolist()


@pytest.mark.parametrize("lengths", [[3000, 5000, 800, 12000], [200] * 90, [2400], [100, 47000, 1]])
def test_session_blocks_equal_the_blocks_of_the_joined_session(lengths):
    from emod_data.badchannels import session_blocks, spread_blocks

    rng = np.random.default_rng(len(lengths))
    segments = [rng.standard_normal((3, n)).astype(np.float32) for n in lengths]
    joined = np.concatenate(segments, axis=1)
    for seconds in (4.0, 10.0, 60.0, 1000.0):
        np.testing.assert_array_equal(session_blocks(segments, 100.0, seconds), spread_blocks(joined, 100.0, seconds))


@pytest.mark.parametrize("bad", [{}, {"Oz": "flat"}, {"Fz": "flat", "T8": "deviation"}])
@pytest.mark.parametrize(
    "config",
    [ProcessingConfig(), ProcessingConfig(bad_channels="drop"), ProcessingConfig(reference="none")],
    ids=["interpolate", "drop", "no-reference"],
)
def test_apply_equals_the_operator_product(bad, config):
    names = ["Fz", "Cz", "Pz", "Oz", "C3", "C4", "T7", "T8", "P3", "P4"]
    plan = repair_plan(names, bad, config, "f")
    data = np.random.default_rng(0).standard_normal((len(names), 500)).astype(np.float32)
    out = plan.apply(data)
    assert out.dtype == np.float32 and out.shape == (len(plan.keep), 500)
    np.testing.assert_allclose(out, plan.operator.astype(np.float32) @ data, atol=2e-6)
    # an operator that mixes every row (as ICA does) takes the full product
    mixing = np.random.default_rng(1).standard_normal(plan.operator.shape)
    dense = type(plan)(plan.names, plan.bad, plan.action, mixing, plan.keep)
    np.testing.assert_allclose(dense.apply(data), mixing.astype(np.float32) @ data, atol=1e-4)


def test_one_blas_thread_is_shared_and_restored():
    import threading

    from threadpoolctl import threadpool_info

    from emod_data.blas import one_blas_thread

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    def enter_and_leave():
        with one_blas_thread():
            pass

    before = blas_threads()
    with one_blas_thread():
        assert set(blas_threads()) == {1}
        with one_blas_thread():  # re-entrant
            assert set(blas_threads()) == {1}
        other = threading.Thread(target=enter_and_leave)  # a concurrent holder that leaves first
        other.start()
        other.join()
        assert set(blas_threads()) == {1}  # still held here
    assert blas_threads() == before


def test_serial_ingest_finishes_a_file_while_reading_the_next(monkeypatch):
    import threading
    import time

    from emod_data import ingest as ingest_module

    events = []

    class Run:
        def __init__(self, task):
            self.task = task

        def read(self):
            events.append(("read", self.task.source, "start"))
            time.sleep(0.05)
            events.append(("read", self.task.source, "end"))
            return self

        def finish(self):
            events.append(("finish", self.task.source, threading.current_thread() is threading.main_thread()))
            time.sleep(0.2)
            return self.task.source

    class Task:
        def __init__(self, source):
            self.source, self.config = source, ProcessingConfig()

    monkeypatch.setattr(ingest_module, "FileRun", Run)
    assert list(ingest_module.run_serial([Task(k) for k in range(3)])) == [0, 1, 2]
    finishes = [event for event in events if event[0] == "finish"]
    assert [event[1] for event in finishes] == [0, 1, 2] and not any(event[2] for event in finishes)
    # file 1 is read while file 0 is finished (off the main thread): file 0's finish starts first
    assert events.index(("finish", 0, False)) < events.index(("read", 1, "end"))
