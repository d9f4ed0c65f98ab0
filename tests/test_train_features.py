"""Differential-entropy features: the formula, de_features on a store (order, channels, cache), scaling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emod_data.store import open_store
from emod_train.data.features import BANDS, de_features, differential_entropy, min_max_scale
from emod_train.data.windows import window_table
from emod_train.errors import DataError

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

SFREQ = 200.0


def gaussian_de(variance):
    return 0.5 * np.log(2 * np.pi * np.e * np.asarray(variance, dtype=float))


def reference_de(x: np.ndarray, sfreq: float, bands=BANDS) -> np.ndarray:
    """Slow reference: ideal band-pass through a full (two-sided) FFT mask, then np.var, band by band."""
    x = np.asarray(x, dtype=float)
    freqs = np.abs(np.fft.fftfreq(x.shape[-1], d=1 / sfreq))
    spectrum = np.fft.fft(x - x.mean(axis=-1, keepdims=True), axis=-1)
    out = []
    for _, lo, hi in bands:
        mask = (freqs >= lo) & (freqs < hi)
        band = np.fft.ifft(spectrum * mask, axis=-1).real
        out.append(gaussian_de(np.maximum(np.var(band, axis=-1), 1e-20)))
    return np.stack(out, axis=-1)


# --- differential_entropy ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [200, 401])  # even (Nyquist bin) and odd lengths
def test_sinusoid_puts_its_power_in_alpha(n):
    amplitude = 7.5
    t = np.arange(n) / SFREQ
    cycles = round(10.0 * n / SFREQ)  # integer cycles: no leakage
    x = 40.0 + amplitude * np.sin(2 * np.pi * cycles / n * SFREQ * t + 0.3)  # offset is removed
    de = differential_entropy(x[None], SFREQ)
    assert de.shape == (1, 5) and de.dtype == np.float32
    assert de[0, 2] == pytest.approx(gaussian_de(amplitude**2 / 2), abs=1e-4)
    others = de[0, [0, 1, 3, 4]]
    assert (others < de[0, 2] - 15).all()  # leakage-free: variance below 1e-6 of the alpha variance


def test_white_noise_spreads_by_bandwidth():
    rng = np.random.default_rng(0)
    variance = 4.0
    x = rng.normal(0.0, np.sqrt(variance), size=(400, 2, 2000))
    de = differential_entropy(x, SFREQ).mean(axis=(0, 1))
    expected = [gaussian_de(variance * (hi - lo) / (SFREQ / 2)) for _, lo, hi in BANDS]
    np.testing.assert_allclose(de, expected, atol=0.02)


def test_matches_the_slow_reference_with_leading_axes():
    rng = np.random.default_rng(1)
    t = np.arange(250) / SFREQ
    x = rng.normal(size=(3, 4, 6, 250)) + 5 * np.sin(2 * np.pi * 9.3 * t) + 2 * np.sin(2 * np.pi * 40.7 * t)
    bands = (*BANDS, ("broad", 0.0, 100.0 + 1e-9), ("narrow", 20.0, 21.0))
    de = differential_entropy(x.astype(np.float32), SFREQ, bands)
    assert de.shape == (3, 4, 6, len(bands)) and de.dtype == np.float32
    np.testing.assert_allclose(de, reference_de(x, SFREQ, bands), atol=2e-4)
    # the whole spectrum gives the window's variance; leading axes are independent
    np.testing.assert_allclose(de[..., 5], gaussian_de(x.var(axis=-1)), atol=2e-4)
    np.testing.assert_allclose(de[1, 2], differential_entropy(x[1, 2], SFREQ, bands), atol=1e-5)


def test_silence_is_floored_and_bad_bands_raise():
    de = differential_entropy(np.zeros((2, 100)), SFREQ)
    assert np.isfinite(de).all() and (de < -20).all()
    with pytest.raises(ValueError, match="holds no frequency bin"):
        differential_entropy(np.zeros((2, 40)), SFREQ)  # 5 Hz resolution: delta 1-4 Hz is empty
    with pytest.raises(ValueError, match="low < high"):
        differential_entropy(np.zeros((2, 200)), SFREQ, [("x", 8.0, 4.0)])


# --- de_features on a store -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(store_all):
    return open_store(store_all)


@pytest.fixture(scope="module")
def table(store):
    return window_table(store, 1.0)


@pytest.fixture(scope="module")
def shared(store, table):
    """Channels common to SEED and DEAP, in a scrambled order."""
    deap = store.channels(table.loc[table["corpus"] == "deap", "recording_id"].iloc[0])
    seed = set(store.channels(table.loc[table["corpus"] == "seed", "recording_id"].iloc[0]))
    names = [c for c in deap if c in seed][::-2]
    assert len(names) >= 8
    return names


def direct(store, row, channels=None, bands=BANDS):
    data = store.read(row.recording_id, int(row.start), int(row.stop))
    if channels is not None:
        names = store.channels(row.recording_id)
        data = data[[names.index(c) for c in channels]]
    return differential_entropy(data, store.processing.sfreq, bands)


def test_single_corpus_shape_values_and_order(store, table, tmp_path):
    seed = table[table["corpus"] == "seed"].reset_index(drop=True)
    calls = []
    x = de_features(store, seed, cache_dir=tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert x.shape == (len(seed), 62, 5) and x.dtype == np.float32
    n_recordings = seed["recording_id"].nunique()
    assert calls[-1] == (n_recordings, n_recordings) and len(calls) == n_recordings
    for i in (0, len(seed) // 3, len(seed) - 1):
        np.testing.assert_allclose(x[i], direct(store, seed.iloc[i]), atol=1e-5)
    shuffled = seed.sample(frac=1.0, random_state=3)
    y = de_features(store, shuffled, cache_dir=tmp_path)
    np.testing.assert_array_equal(y, np.asarray(x)[shuffled.index.to_numpy()])
    assert len(list((tmp_path / "features").iterdir())) == 1  # the same windows in another order: one cache


def test_overlapping_and_duplicated_windows(store, table):
    deap = table[table["corpus"] == "deap"]
    rid = deap["recording_id"].iloc[0]
    n = int(store.recordings.set_index("recording_id").at[rid, "n_samples"])
    starts = np.array([0, 37, 100, 37, n - 200])
    windows = pd.DataFrame({"recording_id": rid, "start": starts, "stop": starts + 200})
    x = de_features(store, windows, cache_dir=False)
    assert x.shape == (5, 32, 5)
    np.testing.assert_array_equal(x[1], x[3])
    for i, row in enumerate(windows.itertuples()):
        np.testing.assert_allclose(x[i], direct(store, row), atol=1e-5)
    with pytest.raises(DataError, match="outside"):
        de_features(store, windows.assign(stop=windows["stop"] + n), cache_dir=False)


def test_channels_by_name_across_corpora(store, table, shared, tmp_path):
    mixed = table[table["corpus"].isin(["seed", "deap"])].reset_index(drop=True)
    x = de_features(store, mixed, channels=shared, cache_dir=tmp_path)
    assert x.shape == (len(mixed), len(shared), 5)
    picks = [*np.flatnonzero(mixed["corpus"] == "seed")[[0, -1]], *np.flatnonzero(mixed["corpus"] == "deap")[[0, -1]]]
    for i in picks:
        np.testing.assert_allclose(x[i], direct(store, mixed.iloc[i], shared), atol=1e-5)


def test_missing_channel_and_mixed_counts_raise(store, table, tmp_path):
    mixed = table[table["corpus"].isin(["seed", "deap"])]
    seed_names = store.channels(mixed.loc[mixed["corpus"] == "seed", "recording_id"].iloc[0])
    deap_names = set(store.channels(mixed.loc[mixed["corpus"] == "deap", "recording_id"].iloc[0]))
    absent = next(c for c in seed_names if c not in deap_names)
    shared = [c for c in seed_names if c in deap_names][:3]
    with pytest.raises(DataError, match=rf"recording '[^']+' has no channel '{absent}'") as error:
        de_features(store, mixed, channels=[*shared, absent], cache_dir=tmp_path)
    deap_ids = set(mixed.loc[mixed["corpus"] == "deap", "recording_id"])
    assert any(rid in str(error.value) for rid in deap_ids)
    with pytest.raises(DataError, match="pass channels"):
        de_features(store, mixed, cache_dir=tmp_path)
    assert not (tmp_path / "features").exists() or not any((tmp_path / "features").iterdir())


def test_cache_is_reused_and_keyed_by_channels_and_bands(store, table, shared, tmp_path, monkeypatch):
    deap = table[table["corpus"] == "deap"].reset_index(drop=True)
    first = de_features(store, deap, cache_dir=tmp_path)
    folders = list((tmp_path / "features").iterdir())
    assert len(folders) == 1 and (folders[0] / "meta.json").exists()

    def refuse(*args, **kwargs):
        raise AssertionError("the store was read although the cache exists")

    monkeypatch.setattr(store, "read", refuse)
    again = de_features(store, deap, cache_dir=tmp_path)
    assert isinstance(again, np.ndarray) and not again.flags.writeable  # the memory-mapped cache file
    np.testing.assert_array_equal(again, first)
    monkeypatch.undo()

    de_features(store, deap, channels=shared, cache_dir=tmp_path)
    de_features(store, deap, channels=shared[::-1], cache_dir=tmp_path)
    de_features(store, deap, bands=BANDS[:3], cache_dir=tmp_path)
    de_features(store, deap.iloc[:-1], cache_dir=tmp_path)
    assert len(list((tmp_path / "features").iterdir())) == 5


def test_default_cache_dir_from_environment(store, table, tmp_path, monkeypatch):
    monkeypatch.setenv("EMOD_TRAIN_CACHE", str(tmp_path))
    windows = table[table["corpus"] == "seed_iv"].iloc[:10]
    x = de_features(store, windows)
    assert x.shape[0] == 10 and len(list((tmp_path / "features").iterdir())) == 1


# --- min_max_scale ----------------------------------------------------------------------------------


def test_min_max_scale_columns_groups_and_constants():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4, 5)) * rng.uniform(1, 10, size=(4, 5))
    x[:, 1, 2] = 3.0
    scaled = min_max_scale(x)
    assert scaled.shape == x.shape and scaled.dtype == np.float32
    flat = scaled.reshape(30, -1)
    constant = np.ravel_multi_index((1, 2), (4, 5))
    varying = np.delete(flat, constant, axis=1)
    np.testing.assert_allclose(varying.min(axis=0), 0.0)
    np.testing.assert_allclose(varying.max(axis=0), 1.0)
    assert (flat[:, constant] == 0).all()
    np.testing.assert_allclose(scaled[:, 0, 0], (x[:, 0, 0] - x[:, 0, 0].min()) / np.ptp(x[:, 0, 0]), rtol=1e-6)

    groups = np.repeat(["s2", "s1", "s3"], 10)
    x[groups == "s3"] += 100.0
    by_group = min_max_scale(x, groups)
    for g in ("s1", "s2", "s3"):
        np.testing.assert_array_equal(by_group[groups == g], min_max_scale(x[groups == g]))
    with pytest.raises(ValueError, match="groups"):
        min_max_scale(x, groups[:-1])
