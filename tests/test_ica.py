"""Session-level ICA: planted eye blinks in spatially correlated synthetic DEAP files."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import scipy.signal

from emod_data.channels import channel_positions
from emod_data.config import ProcessingConfig
from emod_data.errors import SignalError
from emod_data.ica import eog_proxies, ica_cleaner
from emod_data.ingest import ingest
from emod_data.manifest import load_manifest
from emod_data.store import open_store
from emod_data.synth import signals, synthesize

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

NAMES = load_manifest("deap").channels.names[:32]


def _add_blinks(source, target, seed: int) -> None:
    """Realistic blinks (15 per minute, 50-150 µV at Fp1) through the synthetic blink topography."""
    with open(source, "rb") as handle:
        content = pickle.load(handle, encoding="latin1")
    data = content["data"]
    rng = np.random.default_rng(seed)
    config = signals.SignalConfig(128.0)
    profile = dataclasses.replace(signals.make_profile(rng, channel_positions(NAMES), config), blink_rate=15.0)
    for trial in range(data.shape[0]):
        course = signals.blink_course(rng, profile, data.shape[2])
        data[trial, :32] += profile.blink_topography[:, None] * course[None, :]
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as handle:
        pickle.dump(content, handle)


def _band_power(store, rows, low, high):
    handle = open_store(store)
    recs = handle.recordings
    data = np.concatenate([handle.read(r) for r in recs["recording_id"]], axis=1)
    names = handle.channels(recs["recording_id"].iloc[0])
    freqs, power = scipy.signal.welch(data[[names.index(c) for c in rows]], fs=200.0, nperseg=400, axis=-1)
    return power[:, (freqs >= low) & (freqs <= high)].mean()


@pytest.fixture(scope="module")
def blinky(tmp_path_factory):
    root = tmp_path_factory.mktemp("ica")
    (path,) = synthesize("deap", root / "clean", subjects=1, duration_scale=0.05, seed=7)
    _add_blinks(path, root / "blinks" / path.relative_to(root / "clean"), seed=1)
    plain = ingest("deap", root / "blinks", root / "plain.zarr")
    cleaned = ingest("deap", root / "blinks", root / "eog.zarr", config=ProcessingConfig(ica="eog"))
    return root, plain, cleaned


def test_eog_ica_removes_blinks_and_keeps_alpha(blinky):
    root, plain, cleaned = blinky
    assert plain.ok and cleaned.ok
    removed = cleaned.recordings["ica_removed"].iloc[0]
    assert len(removed) >= 1 and all(" eog " in r for r in removed)
    assert plain.recordings["ica_removed"].isna().all() if "ica_removed" in plain.recordings else True
    drop_db = 10 * np.log10(
        _band_power(root / "plain.zarr", ["Fp1"], 0.5, 3.0) / _band_power(root / "eog.zarr", ["Fp1"], 0.5, 3.0)
    )
    assert drop_db >= 6.0
    alpha = _band_power(root / "eog.zarr", ["O1", "Oz", "O2"], 8.0, 13.0) / _band_power(
        root / "plain.zarr", ["O1", "Oz", "O2"], 8.0, 13.0
    )
    assert abs(alpha - 1.0) < 0.15


def test_removed_components_are_recorded_per_recording(blinky):
    root, _, _ = blinky
    recs = open_store(root / "eog.zarr").recordings
    assert recs["ica_removed"].map(list).map(tuple).nunique() == 1  # one ICA per session
    assert open_store(root / "eog.zarr").processing.ica == "eog"


def test_eog_needs_a_frontal_proxy():
    assert eog_proxies(["Fp2", "Cz"]) == ["Fp2"] and eog_proxies(["AF3", "Cz"]) == ["AF3"]
    data = np.random.default_rng(0).normal(size=(4, 20_000))
    with pytest.raises(SignalError, match=r"^f\.dat session 1: no frontal channel \(Fp1/Fp2 or AF3/AF4\)"):
        ica_cleaner(data, ["Cz", "Pz", "O1", "O2"], 200.0, ProcessingConfig(ica="eog"), "f.dat session 1")


def test_short_session_for_ica_is_one_line():
    data = np.random.default_rng(0).normal(size=(8, 300))
    names = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "O1", "O2"]
    with pytest.raises(SignalError, match=r"^f\.dat session 1: session of 1.5 s .* too short for ICA"):
        ica_cleaner(data, names, 200.0, ProcessingConfig(ica="eog"), "f.dat session 1")


def test_ica_config_is_checked():
    assert ProcessingConfig().ica == "off" and ProcessingConfig(ica="eog").hash != ProcessingConfig().hash
    with pytest.raises(ValueError, match="ica must be"):
        ProcessingConfig(ica="yes")
    with pytest.raises(ValueError, match="ica_method must be"):
        ProcessingConfig(ica_method="picard")


def test_iclabel_finds_the_blink_component_without_torch(blinky):
    import sys

    root, _, _ = blinky
    handle = open_store(root / "plain.zarr")
    recs = handle.recordings
    data = np.concatenate([handle.read(r) for r in recs["recording_id"]], axis=1)[:, : 200 * 90]
    names = handle.channels(recs["recording_id"].iloc[0])
    torch_before = "torch" in sys.modules
    operator, removed = ica_cleaner(data.astype(float), names, 200.0, ProcessingConfig(ica="iclabel"), "s01")
    assert any(" eye " in r for r in removed), removed
    assert operator.shape == (32, 32)
    assert torch_before or "torch" not in sys.modules  # the ONNX backend
