"""``emod-data inspect`` on small synthetic stores: a clean store reports nothing, planted faults are found
on the right recordings, the streaming statistics match plain NumPy, the CLI gates on severities."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.signal
import zarr
from typer.testing import CliRunner

from emod_data.cli import app
from emod_data.config import ProcessingConfig
from emod_data.errors import StoreError
from emod_data.ingest import ingest
from emod_data.inspect import Thresholds, check_table, compute_stats, inspect_store
from emod_data.inspect import stats as stats_module
from emod_data.inspect.checks import length_checks, signal_checks
from emod_data.inspect.stats import StatsParams, recording_stats
from emod_data.store import open_store, read_table, write_segment, write_table
from emod_data.synth import synthesize

SCALE = 0.03

FLAT = "seed/sub-1/ses-1/trial-02"
NAN = "seed/sub-1/ses-1/trial-03"
VOLTS = "seed/sub-1/ses-2/trial-04"
HUM = "seed/sub-1/ses-2/trial-05"
SHORT = "seed/sub-1/ses-3/trial-06"
NO_LABEL = "seed/sub-1/ses-3/trial-07"
CLIPPED = "seed/sub-1/ses-1/trial-08"
LOUD = "seed/sub-1/ses-1/trial-09"
INCOMPLETE = "seed/sub-1/ses-2/trial-10"
DROPPED = "seed/sub-1/ses-2/trial-11"
GONE = "seed/sub-1/ses-3/trial-15"
OUT_OF_RANGE = "deap/sub-01/ses-1/trial-03"
FAILED_FILE = "Preprocessed_EEG/1_20131027.mat"

EXPECTED = {
    ("flat_channel", FLAT),
    ("nonfinite", NAN),
    ("amplitude_scale", VOLTS),
    ("line_noise", HUM),
    ("trial_length", SHORT),
    ("missing_label", NO_LABEL),
    ("clipping", CLIPPED),
    ("channel_variance_recording", LOUD),
    ("channel_variance_corpus", LOUD),
    ("array_incomplete", INCOMPLETE),
    ("expected_count", "seed/sub-1/ses-2"),
    ("array_unreadable", GONE),
    ("label_out_of_range", OUT_OF_RANGE),
    ("ingest_failure", f"{FAILED_FILE} trial 12"),
}
"""(check, where) of every error and warning the planted faults must raise, and nothing else."""


@contextmanager
def built_once(tmp_path_factory, name: str):
    """A folder shared by the xdist workers of one run, and whether it still has to be built.

    The workers take a file lock in turn; the first builds the folder's content and marks it done,
    the others find it done. Without xdist the folder is private to the run.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers of one run share their base folder's parent
        root = tmp_path_factory.getbasetemp().parent / f"inspect-{name}"
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = tmp_path_factory.mktemp(f"inspect-{name}")
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = (root / "done").exists()
        yield root, not done
        (root / "done").touch()


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory) -> Path:
    """SEED (1 subject, 3 sessions x 15 trials) and DEAP (1 subject, 40 trials + baselines), default recipe."""
    with built_once(tmp_path_factory, "clean") as (root, build):
        if build:
            for corpus in ("seed", "deap"):
                synthesize(corpus, root / "raw" / corpus, subjects=1, duration_scale=SCALE, seed=11)
                # the store-level checks only: without the bad-channel stage, which repairs (and reports, as
                # infos) the synthetic SEED subject's P2, an outlier by amplitude (tests/test_badchannels.py)
                config = ProcessingConfig(bad_channels="off")
                report = ingest(corpus, root / "raw" / corpus, root / "clean.zarr", config=config)
                assert report.ok, report.failures.to_dict("records")
    return root / "clean.zarr"


def _open(store: Path, rid: str):
    return zarr.open_array(store=str(store), path=f"data/{rid}", mode="r+", zarr_format=3)


def _set_rows(store: Path, corpus: str, edit) -> None:
    table = read_table(store, "recordings", corpus)
    write_table(store, "recordings", corpus, edit(table))


def plant_faults(store: Path) -> None:
    """Write the faults of EXPECTED into a store, directly into arrays and tables."""
    array = _open(store, FLAT)
    x = array[:]
    x[5] = 0.0  # F7 dead
    array[:] = x

    array = _open(store, NAN)
    x = array[:]
    x[10:13, 200:400] = np.nan  # a 1 s NaN stretch in F2, F4, F6
    array[:] = x

    array = _open(store, VOLTS)
    array[:] = array[:] * 1e-6  # volts stored as µV

    array = _open(store, HUM)
    x = array[:]
    t = np.arange(x.shape[1]) / 200.0
    array[:] = x + (30.0 * np.sin(2 * np.pi * 60.0 * t)).astype(np.float32)  # 60 Hz hum, 30 µV

    array = _open(store, SHORT)
    x = array[:]
    keep = int(0.4 * x.shape[1])
    config = open_store(store).processing
    write_segment(store, f"data/{SHORT}", x[:, :keep], dict(array.attrs), config)

    array = _open(store, CLIPPED)
    x = array[:]
    limit = float(x[20].std())
    x[20] = np.clip(x[20], -limit, limit)  # FC4 clipped at one SD
    array[:] = x

    array = _open(store, LOUD)
    x = array[:]
    x[30] *= 20.0  # C6 20x louder than the rest and than the corpus
    array[:] = x

    _open(store, INCOMPLETE).update_attributes({"complete": False})
    shutil.rmtree(store / "data" / GONE)

    def edit_seed(table: pd.DataFrame) -> pd.DataFrame:
        table = table[table["recording_id"] != DROPPED].copy()
        short = table["recording_id"] == SHORT
        table.loc[short, "n_samples"] = keep
        table.loc[short, "duration_s"] = keep / 200.0
        missing = table["recording_id"] == NO_LABEL
        table.loc[missing, ["class_name", "raw_code"]] = None
        table.loc[missing, "class_index"] = -1
        table.loc[missing, ["valence", "arousal"]] = np.nan
        return table

    _set_rows(store, "seed", edit_seed)

    def edit_deap(table: pd.DataFrame) -> pd.DataFrame:
        table.loc[table["recording_id"] == OUT_OF_RANGE, "valence"] = 7.0
        return table

    _set_rows(store, "deap", edit_deap)
    failure = pd.DataFrame(
        [
            {
                "file": FAILED_FILE,
                "subject": "1",
                "session": 1,
                "trial": 12,
                "stage": "signal",
                "error": f"{FAILED_FILE} trial 12: implausible EEG amplitude",
            }
        ]
    )
    write_table(store, "failures", "seed", failure)


@pytest.fixture(scope="module")
def faulty(clean_store, tmp_path_factory):
    """(store, report) of a copy of the clean store with every fault of EXPECTED planted, inspected."""
    with built_once(tmp_path_factory, "faulty") as (root, build):
        if build:
            shutil.copytree(clean_store, root / "faulty.zarr")
            plant_faults(root / "faulty.zarr")
    return root / "faulty.zarr", inspect_store(root / "faulty.zarr", window_seconds=1.0, workers=1)


@pytest.fixture(scope="module")
def faulty_report(faulty, tmp_path_factory) -> Path:
    """The HTML report of the faulty store (with its figures and tables), written once per run."""
    with built_once(tmp_path_factory, "report") as (root, build):
        if build:
            path = faulty[1].write(root / "report")
            assert path == root / "report" / "report.html"
    return root / "report" / "report.html"


def _hits(report, severities=("error", "warning")) -> set[tuple[str, str]]:
    found = report.findings[report.findings["severity"].isin(severities)]
    return set(zip(found["check"], found["where"], strict=True))


@pytest.fixture(scope="module")
def clean_report(clean_store):
    return inspect_store(clean_store, window_seconds=1.0, workers=1)


@pytest.mark.slow
def test_clean_store_reports_nothing(clean_store, clean_report):
    report = clean_report
    assert report.findings.empty, report.findings.to_dict("records")
    assert report.ok and not report.failed("error") and not report.failed("warning")
    summary = report.summary.set_index("corpus")
    assert summary.loc["seed", ["subjects", "sessions", "trials", "baselines"]].tolist() == [1, 3, 45, 0]
    assert summary.loc["deap", ["subjects", "sessions", "trials", "baselines"]].tolist() == [1, 1, 40, 40]
    assert summary.loc["seed", "channels"] == "62" and summary.loc["deap", "channels"] == "32"
    assert summary.loc["deap", "hz"] == 200.0 and summary.loc["deap", "source_hz"] == 128.0
    assert summary.loc["seed", "classes"] == 3 and summary.loc["deap", "classes"] == 2
    store = open_store(clean_store)
    windows = store.windows(1.0)
    assert summary.loc["seed", "windows"] == (windows["corpus"] == "seed").sum()
    assert summary.loc["deap", "windows"] == (windows["corpus"] == "deap").sum()
    recs = store.recordings
    hours = recs[recs["segment"] == "stimulus"].groupby("corpus")["duration_s"].sum() / 3600
    assert summary.loc["seed", "hours"] == pytest.approx(hours["seed"], abs=1e-3)
    classes = report.labels[(report.labels["corpus"] == "seed") & (report.labels["kind"] == "class")]
    assert dict(zip(classes["label"], classes["trials"], strict=True)) == {
        "negative": 15,
        "neutral": 15,
        "positive": 15,
    }
    stats = report.stats.recordings
    assert stats["error"].isna().all() and stats["complete"].all()
    assert report.stats.bytes_read == int((recs["n_channels"] * recs["n_samples"]).sum()) * 4
    assert len(report.stats.channels) == int(recs["n_channels"].sum())
    # a long window leaves the short trials without windows: an info per corpus, never a warning
    infos = length_checks(report.recordings, 10 * 200, Thresholds())
    assert [(f["check"], f["severity"], f["where"]) for f in infos] == [
        ("short_for_window", "info", "deap"),
        ("short_for_window", "info", "seed"),
    ]
    assert "40 of 40 stimulus recordings are shorter than the 10 s window" in infos[0]["message"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("check", "where", "channels"),
    [
        ("flat_channel", FLAT, "F7"),
        ("nonfinite", NAN, "F2, F4, F6"),
        ("amplitude_scale", VOLTS, ""),
        ("line_noise", HUM, None),
        ("trial_length", SHORT, ""),
        ("missing_label", NO_LABEL, ""),
    ],
)
def test_each_required_fault_is_reported_on_its_recording(faulty, check, where, channels):
    _, report = faulty
    rows = report.findings[report.findings["check"] == check]
    assert rows["where"].tolist() == [where], rows.to_dict("records")
    row = rows.iloc[0]
    assert row["severity"] == ("warning" if check in ("line_noise", "trial_length") else "error")
    if channels is not None:
        assert row["channels"] == channels
    assert where in row["message"]


@pytest.mark.slow
def test_planted_faults_and_nothing_else(faulty):
    _, report = faulty
    assert _hits(report) == EXPECTED
    findings = report.findings.set_index(["check", "where"])
    assert "first at sample 200 (1.00 s)" in findings.loc[("nonfinite", NAN), "message"]
    assert findings.loc[("nonfinite", NAN), "value"] == 3 * 200
    assert findings.loc[("amplitude_scale", VOLTS), "value"] < 1e-3
    assert "60 Hz" in findings.loc[("line_noise", HUM), "message"]
    assert findings.loc[("line_noise", HUM), "channels"].endswith("more)")  # every channel hums
    assert findings.loc[("trial_length", SHORT), "value"] == pytest.approx(0.4, abs=0.01)
    assert findings.loc[("channel_variance_recording", LOUD), "channels"] == "C6"
    assert findings.loc[("channel_variance_corpus", LOUD), "value"] > 10
    assert findings.loc[("clipping", CLIPPED), "channels"] == "FC4"
    assert "14 trials, the manifest declares 15" in findings.loc[("expected_count", "seed/sub-1/ses-2"), "message"]
    assert "valence 7" in findings.loc[("label_out_of_range", OUT_OF_RANGE), "message"]
    assert report.failed("error") and report.failed("warning") and not report.failed("none")
    assert report.summary.set_index("corpus").loc["seed", "failures"] == 1
    counts = report.check_counts().set_index("check")
    assert counts.loc["flat_channel", "errors"] == 1 and counts.loc["line_noise", "warnings"] == 1


@pytest.mark.slow
def test_volts_recording_left_out_of_corpus_norms(faulty):
    _, report = faulty
    corpus_hits = report.findings[report.findings["check"] == "channel_variance_corpus"]["where"].tolist()
    assert corpus_hits == [LOUD]


@pytest.mark.slow
def test_streaming_statistics_match_numpy(clean_store, monkeypatch):
    store = open_store(clean_store)
    row = store.recordings.iloc[0]
    x = store.read(row["recording_id"]).astype(np.float64)
    params = StatsParams(sfreq=200.0, chunk_samples=2000)
    whole = recording_stats(str(clean_store), row["path"], params)
    monkeypatch.setattr(stats_module, "BLOCK_BYTES", 1)  # one stored chunk per read
    blocks = recording_stats(str(clean_store), row["path"], params)
    for result in (whole, blocks):
        np.testing.assert_allclose(result["mean"], x.mean(axis=1), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(result["sd"], x.std(axis=1), rtol=1e-5)
        np.testing.assert_array_equal(result["min"], x.min(axis=1))
        np.testing.assert_array_equal(result["max"], x.max(axis=1))
        assert (result["count"] == x.shape[1]).all() and (result["nonfinite"] == 0).all()
    n_seg = x.shape[1] // 400
    freqs, welch = scipy.signal.welch(
        x[:, : n_seg * 400], fs=200.0, window="hann", nperseg=400, noverlap=0, detrend="constant", axis=1
    )
    np.testing.assert_allclose(params.freqs, freqs)
    # the same Welch estimate; bins 0 and 1 differ by design (window-weighted vs plain mean removed)
    np.testing.assert_allclose(whole["psd"][:, 2:], welch[:, 2:], rtol=2e-3, atol=1e-6 * welch.max())
    assert (whole["psd"][:, 0] == 0).all()


@pytest.mark.slow
def test_worker_processes_give_the_same_statistics(faulty):
    store, report = faulty
    recs = report.recordings[report.recordings["corpus"] == "seed"].head(12)
    params = StatsParams(sfreq=200.0, chunk_samples=2000)
    pooled = compute_stats(store, recs, params, workers=2)
    local = report.stats.channels[report.stats.channels["recording_id"].isin(recs["recording_id"])]
    pd.testing.assert_frame_equal(pooled.channels.reset_index(drop=True), local.reset_index(drop=True))
    assert pooled.bytes_read == int((recs["n_channels"] * recs["n_samples"]).sum()) * 4


def test_streaming_statistics_across_blocks_with_nan(tmp_path, monkeypatch):
    """A signal cut into many small reads gives the same statistics as NumPy on the whole, NaN included."""
    from emod_data.config import ProcessingConfig

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 5000)) * [[1.0], [10.0], [100.0], [5.0]] + 1000.0).astype(np.float32)
    x[2, 1234:1300] = np.nan
    x[3, 4000] = np.inf
    config = ProcessingConfig(chunk_seconds=3.0)  # 600-sample chunks, not a multiple of the 400-sample segments
    write_segment(tmp_path, "data/a", x, {"channel_names": ["Fz", "Cz", "Pz", "Oz"]}, config)
    monkeypatch.setattr(stats_module, "BLOCK_BYTES", 1)
    result = recording_stats(str(tmp_path), "data/a", StatsParams(sfreq=200.0, chunk_samples=600))
    finite = np.where(np.isfinite(x), x, np.nan).astype(np.float64)
    np.testing.assert_array_equal(result["nonfinite"], [0, 0, 66, 1])
    np.testing.assert_array_equal(result["first_nonfinite"], [-1, -1, 1234, 4000])
    np.testing.assert_allclose(result["sd"], np.nanstd(finite, axis=1), rtol=1e-4)
    np.testing.assert_allclose(result["mean"], np.nanmean(finite, axis=1), rtol=1e-6)
    np.testing.assert_array_equal(result["psd_segments"], [12, 12, 11, 11])  # a NaN segment is skipped
    assert result["hist"].sum() == np.isfinite(x[:, :: stats_module.HIST_STRIDE]).sum()


@pytest.mark.slow
def test_report_files_and_figures_are_not_blank(faulty_report):
    import base64
    import re

    import matplotlib.image

    folder = faulty_report.parent
    text = faulty_report.read_text(encoding="utf-8")
    for name in ("va_scatter", "spectra", "channel_coverage", "amplitude", "bad_channels"):
        png = folder / "figures" / f"{name}.png"
        image = matplotlib.image.imread(png)
        assert image.shape[0] > 200 and image.shape[1] > 400
        rgb = image[..., :3]
        assert rgb.std() > 0.05, name
        assert (rgb.min(axis=2) < 0.9).mean() > 0.01, name  # more than 1% of the pixels are not white
        colourful = (rgb.max(axis=2) - rgb.min(axis=2)) > 0.2
        assert colourful.mean() > 0.001, name  # the data are drawn in colour
        match = re.search(rf'id="fig-{name}"><img alt="{name}" src="data:image/png;base64,([^"]+)"', text)
        assert match and base64.b64decode(match.group(1)) == png.read_bytes()
    for table in ("summary.csv", "checks.csv", "findings.csv", "labels.csv", "failures.csv", "recording_stats.csv"):
        assert (folder / table).stat().st_size > 0
    findings = pd.read_csv(folder / "findings.csv")
    assert set(zip(findings["check"], findings["where"], strict=True)) >= EXPECTED
    for check, where in EXPECTED:
        assert f'id="check-{check}"' in text and where in text
    assert "http://" not in text and "https://" not in text  # self-contained


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


@pytest.mark.slow
@pytest.mark.skipif(_browser() is None, reason="no headless Chromium installed (.ci/run installs it)")
def test_report_renders_in_headless_browser(faulty_report, tmp_path):
    import matplotlib.image

    browser = _browser()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'p'}"]
    url = faulty_report.resolve().as_uri()
    dom = subprocess.run(
        [browser, *flags, "--virtual-time-budget=5000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    figures = len(list((faulty_report.parent / "figures").glob("*.png")))
    assert figures == 5  # V-A scatter, spectra, coverage, amplitude, bad channels on the head
    assert f'data-figures-shown="{figures}"' in dom and f"{figures} of {figures} figures shown" in dom
    assert dom.count('data-loaded="yes"') == figures
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, *flags, "--window-size=1280,7000", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    rgb = matplotlib.image.imread(shot)[..., :3]
    assert rgb.shape[:2] == (7000, 1280)
    assert rgb.std() > 0.05
    colourful = ((rgb.max(axis=2) - rgb.min(axis=2)) > 0.25).mean()
    assert colourful > 0.005  # figures and badges in colour, not a blank or text-only page


@pytest.mark.slow
def test_cli_gates_on_severity(faulty, clean_store, tmp_path):
    store, _ = faulty
    runner = CliRunner()
    result = runner.invoke(app, ["inspect", str(store), "--fail-on", "error", "--workers", "1", "--window", "1"])
    assert result.exit_code == 1, result.output
    assert "nonfinite" in result.output and "errors" in result.output
    result = runner.invoke(app, ["inspect", str(clean_store), "--fail-on", "warning", "--window", "1"])
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings, 0 infos over 125 recordings of 2 corpora" in result.output
    result = runner.invoke(app, ["inspect", str(clean_store), "--corpus", "faced"])
    assert result.exit_code == 2 and "no corpus 'faced' in this store (it holds: deap, seed)" in result.output
    result = runner.invoke(app, ["inspect", str(tmp_path / "nothing.zarr")])
    assert result.exit_code == 2 and "no store here" in result.output
    result = runner.invoke(app, ["inspect", str(clean_store), "--fail-on", "sometimes"])
    assert result.exit_code == 2


@pytest.mark.slow
def test_cli_audits_a_split_file(clean_store, tmp_path):
    recs = open_store(clean_store).recordings
    split = pd.DataFrame(
        {
            "recording_id": recs["recording_id"],
            "split": np.where(recs["session"] == 3, "test", "train"),  # SEED's sessions split, one subject
        }
    )
    split.to_csv(tmp_path / "split.csv", index=False)
    runner = CliRunner()
    args = ["inspect", str(clean_store), "--split-file", str(tmp_path / "split.csv"), "--corpus", "seed"]
    result = runner.invoke(app, [*args, "--fail-on", "error"])
    assert result.exit_code == 1, result.output  # the subject is in train and test
    assert "split_subject_overlap" in result.output
    result = runner.invoke(app, [*args, "--split-by", "session", "--fail-on", "error"])
    assert result.exit_code == 0, result.output  # by session: no session is shared
    drawn = ["inspect", str(clean_store), "--corpus", "seed", "--split", "trial", "--split-seed", "2"]
    result = runner.invoke(app, [*drawn, "--fail-on", "error"])
    assert result.exit_code == 0 and "split_trial_overlap" not in result.output, result.output
    result = runner.invoke(app, [*drawn, "--fail-on", "warning", "--report", str(tmp_path / "r")])
    assert result.exit_code == 1 and "split_stimulus_overlap" in result.output  # SEED repeats its clips
    assert "Split audit (kept whole: trial)" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    overlaps = pd.read_csv(tmp_path / "r" / "split_overlaps.csv")
    assert overlaps.loc[overlaps["level"] == "trial", "shared"].eq(0).all()
    assert len(pd.read_csv(tmp_path / "r" / "split.csv")) == 45
    result = runner.invoke(app, ["inspect", str(clean_store), "--split", "stimulus"])
    assert result.exit_code == 2 and "split level must be one of" in result.output


@pytest.mark.slow
def test_bad_arguments(clean_store, tmp_path):
    with pytest.raises(StoreError, match="no store here"):
        inspect_store(tmp_path / "missing.zarr")
    with pytest.raises(ValueError, match="window_seconds"):
        inspect_store(clean_store, window_seconds=0)
    with pytest.raises(ValueError, match="workers"):
        inspect_store(clean_store, workers=0)
    with pytest.raises(StoreError, match="no corpus 'x'"):
        inspect_store(clean_store, corpora=["x"])


@pytest.mark.slow
def test_thresholds_are_configurable(clean_report):
    report = clean_report
    strict = Thresholds(amplitude_warning_uv=(1.0, 2.0))  # every synthetic recording is louder than 2 µV
    rows = signal_checks(report.recordings, report.stats.recordings, report.stats.channels, 200.0, strict)
    assert {row["check"] for row in rows} == {"amplitude_scale"}
    assert {row["severity"] for row in rows} == {"warning"} and len(rows) == len(report.recordings)
    names = [check.name for check in check_table(strict)]
    assert len(names) == len(set(names)) and "line_noise" in names
    assert "1-2 µV (warning)" in next(c.rule for c in check_table(strict) if c.name == "amplitude_scale")


def test_inspect_never_imports_torch():
    code = (
        "import sys, emod_data.inspect.core, emod_data.inspect.report; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_trial_length_norms():
    """Per-stimulus norms where a stimulus is recorded 3+ times or twice; the corpus where it is recorded once."""

    def row(rid, stimulus, seconds, corpus="c"):
        return {
            "recording_id": rid,
            "corpus": corpus,
            "segment": "stimulus",
            "stimulus": stimulus,
            "n_samples": int(seconds * 200),
            "sfreq": 200.0,
        }

    recs = pd.DataFrame(
        [row(f"a{i}", "clip-a", 60) for i in range(3)]
        + [row("a-short", "clip-a", 30)]
        + [row("b1", "clip-b", 200), row("b2", "clip-b", 100)]  # two recordings: the shorter is flagged
        + [row("c1", "clip-c", 10), row("c2", "clip-c", 10)]  # two equal short clips: fine
        + [row(f"once{i}", f"solo{i}", 50 + i) for i in range(8)]
        + [row("once-long", "solo-x", 5000)]  # recorded once, far from the corpus median
    )
    found = {f["where"]: f["message"] for f in length_checks(recs, 200, Thresholds()) if f["check"] == "trial_length"}
    assert set(found) == {"a-short", "b2", "once-long"}
    assert "median of the 4 recordings of clip-a" in found["a-short"]
    assert "other recording of clip-b" in found["b2"]
    assert "corpus median" in found["once-long"]


def test_docs_list_exactly_the_registered_checks():
    import re
    from pathlib import Path

    from emod_data.inspect.catalog import DOCS_BEGIN, DOCS_END, checks_markdown
    from emod_data.inspect.registry import CHECKS

    page = (Path(__file__).parents[1] / "docs" / "inspect.md").read_text(encoding="utf-8")
    generated = page.split(DOCS_BEGIN, 1)[1].split(DOCS_END, 1)[0].strip()
    assert generated == checks_markdown(), "docs/inspect.md is stale: run python -m emod_data.inspect.catalog"
    documented = re.findall(r"^\| `([a-z_]+)` \|", generated, flags=re.M)
    assert documented == list(CHECKS) and len(CHECKS) == 25
    assert [c.name for c in check_table()] == list(CHECKS)


def test_check_decorator_registers_once():
    from emod_data.inspect.registry import CHECKS, check

    @check("example_check", "warning", "recording", lambda t: f"at {t.line_share:g}", doc="d", meaning="m")
    def example():
        return []

    try:
        assert example.checks == ("example_check",)
        assert CHECKS["example_check"].resolve(Thresholds(line_share=0.5)).rule == "at 0.5"
        with pytest.raises(ValueError, match="registered twice"):
            check("example_check", "info", "x", "r", doc="d", meaning="m")
        with pytest.raises(ValueError, match="unknown severity"):
            check("other_check", "fatal", "x", "r", doc="d", meaning="m")
    finally:
        CHECKS.pop("example_check")
