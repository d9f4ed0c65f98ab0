"""Tests of emod_data.synth: real on-disk layouts, determinism, argument checks and learnable V/A effects."""

from __future__ import annotations

import hashlib
import pickle
import re

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.signal
import scipy.stats

from emod_data.errors import EmodDataError
from emod_data.manifest import load_manifest
from emod_data.synth import SYNTH_CORPORA, SynthError, synthesize
from emod_data.synth.seed import SEED_DURATIONS, SEED_FIRST_DATES, SEED_LABELS, SEED_PREFIXES
from emod_data.synth.seed_iv import SEED_IV_DURATIONS, SEED_IV_PREFIXES
from emod_data.synth.seed_vii import SEED_VII_DURATIONS

SCALE = 0.01


def _relative(files, root):
    return [f.relative_to(root).as_posix() for f in files]


def _digests(files, root):
    return {f.relative_to(root).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """Each corpus written once with 2 subjects (DEAP: 1) at a tiny duration scale."""
    out = {}
    for corpus in SYNTH_CORPORA:
        root = tmp_path_factory.mktemp(corpus)
        subjects = 1 if corpus in ("deap", "seed_vii") else 2
        out[corpus] = (root, synthesize(corpus, root, subjects=subjects, duration_scale=SCALE))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("corpus", SYNTH_CORPORA)
def test_paths_match_manifest_pattern(corpora, corpus):
    root, files = corpora[corpus]
    manifest = load_manifest(corpus)
    assert files == sorted(files)
    for rel in _relative(files, root):
        if rel in manifest.files.exclude or rel.rsplit("/", 1)[-1] in manifest.files.exclude:
            continue
        assert re.match(manifest.files.pattern, rel), rel


@pytest.mark.slow
def test_seed_layout(corpora):
    root, files = corpora["seed"]
    rel = _relative(files, root)
    assert "Preprocessed_EEG/label.mat" in rel
    data_files = [r for r in rel if not r.endswith("label.mat")]
    assert len(data_files) == 6
    for subject in (1, 2):
        dates = sorted(r[-12:-4] for r in data_files if r.startswith(f"Preprocessed_EEG/{subject}_"))
        assert len(dates) == 3 and dates[0] == SEED_FIRST_DATES[subject - 1] and len(set(dates)) == 3
    channels = load_manifest("seed").channels.names
    for path in files:
        if path.name == "label.mat":
            continue
        subject = int(path.name.split("_")[0])
        prefix = SEED_PREFIXES[subject - 1]
        assert path.read_bytes()[:19] == b"MATLAB 5.0 MAT-file"
        mat = scipy.io.loadmat(path)
        keys = sorted(k for k in mat if not k.startswith("__"))
        assert keys == sorted(f"{prefix}_eeg{k}" for k in range(1, 16))
        for k, seconds in enumerate(SEED_DURATIONS, start=1):
            value = mat[f"{prefix}_eeg{k}"]
            assert value.dtype == np.float64
            assert value.shape == (len(channels), round(200 * seconds * SCALE) + 1)
    label = scipy.io.loadmat(root / "Preprocessed_EEG" / "label.mat")["label"]
    assert label.shape == (1, 15) and label.dtype == np.float64
    assert label.ravel().tolist() == list(SEED_LABELS)


@pytest.mark.slow
def test_seed_iv_layout(corpora):
    root, files = corpora["seed_iv"]
    rel = _relative(files, root)
    assert len(rel) == 6
    for subject in (1, 2):
        mine = sorted((r for r in rel if r.split("/")[2].startswith(f"{subject}_")), key=lambda r: r.split("/")[1])
        assert [r.split("/")[1] for r in mine] == ["1", "2", "3"]
        dates = [r[-12:-4] for r in mine]
        assert dates == sorted(dates) and len(set(dates)) == 3
    for path in files:
        session = int(path.parent.name)
        prefix = SEED_IV_PREFIXES[int(path.name.split("_")[0]) - 1]
        mat = scipy.io.loadmat(path)
        keys = [k for k in mat if not k.startswith("__")]
        assert sorted(keys) == sorted(f"{prefix}_eeg{k}" for k in range(1, 25))
        for k, seconds in enumerate(SEED_IV_DURATIONS[session - 1], start=1):
            value = mat[f"{prefix}_eeg{k}"]
            assert value.dtype == np.float64
            assert value.shape == (62, max(round(200 * seconds * SCALE), 200))


@pytest.mark.slow
def test_seed_vii_layout(corpora):
    root, files = corpora["seed_vii"]
    assert _relative(files, root) == ["EEG_preprocessed/1.mat"]
    path = files[0]
    head = path.read_bytes()[:128]
    assert head.startswith(b"MATLAB 7.3 MAT-file") and head[124:128] == b"\x00\x02IM"
    with h5py.File(path, "r") as handle:
        assert handle.userblock_size == 512
        assert sorted(handle, key=int) == [str(k) for k in range(1, 81)]
        for k, seconds in enumerate(SEED_VII_DURATIONS, start=1):
            dataset = handle[str(k)]
            assert dataset.shape == (max(round(200 * seconds * SCALE), 200), 62)
            assert dataset.dtype == np.float64
            assert dataset.attrs["MATLAB_class"] == b"double"
    with pytest.raises(NotImplementedError, match=r"7\.3"):
        scipy.io.loadmat(path)


@pytest.mark.slow
def test_deap_layout(corpora):
    root, files = corpora["deap"]
    assert _relative(files, root) == ["data_preprocessed_python/s01.dat"]
    raw = files[0].read_bytes()
    assert raw[:2] == b"\x80\x02"
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in raw and b"numpy._core" not in raw
    with open(files[0], "rb") as handle:
        with pytest.raises(UnicodeDecodeError):
            pickle.load(handle)
    with open(files[0], "rb") as handle:
        content = pickle.load(handle, encoding="latin1")
    assert list(content) == ["labels", "data"]
    n = 384 + max(round(7680 * SCALE), 128)
    assert content["data"].shape == (40, 40, n) and content["data"].dtype == np.float64
    labels = content["labels"]
    assert labels.shape == (40, 4) and labels.dtype == np.float64
    assert labels.min() >= 1.0 and labels.max() <= 9.0 and len(np.unique(labels[:, 0])) > 20
    assert np.isfinite(content["data"]).all()
    eeg_sd = content["data"][:, :32].std(axis=-1)
    assert 3 < np.median(eeg_sd) < 60
    assert 1000 < content["data"][:, 36].mean() < 10000  # GSR in the thousands


@pytest.mark.slow
def test_signals_are_plausible_eeg(corpora):
    _, files = corpora["seed"]
    mat = scipy.io.loadmat(files[0])
    value = mat[f"{SEED_PREFIXES[0]}_eeg1"]
    sd = value.std(axis=1)
    assert np.isfinite(value).all() and 5 < np.median(sd) < 40
    correlation = np.corrcoef(value)
    assert np.median(np.abs(correlation[np.triu_indices(62, 1)])) > 0.05  # spatially correlated


@pytest.mark.slow
@pytest.mark.parametrize("corpus", SYNTH_CORPORA)
def test_same_seed_same_bytes(tmp_path, corpus):
    first = synthesize(corpus, tmp_path / "a", subjects=1, duration_scale=SCALE, seed=3)
    again = synthesize(corpus, tmp_path / "b", subjects=1, duration_scale=SCALE, seed=3)
    other = synthesize(corpus, tmp_path / "c", subjects=1, duration_scale=SCALE, seed=4)
    assert _digests(first, tmp_path / "a") == _digests(again, tmp_path / "b")
    differ = [
        rel for rel, digest in _digests(other, tmp_path / "c").items() if digest != _digests(first, tmp_path / "a")[rel]
    ]
    assert differ and all(not rel.endswith("label.mat") for rel in differ)


@pytest.mark.slow
@pytest.mark.parametrize("corpus", ["seed", "seed_vii", "deap"])
def test_subject_independent_of_count(tmp_path, corpus):
    one = synthesize(corpus, tmp_path / "one", subjects=1, duration_scale=SCALE)
    two = synthesize(corpus, tmp_path / "two", subjects=2, duration_scale=SCALE)
    assert len(two) > len(one)
    digests_two = _digests(two, tmp_path / "two")
    for rel, digest in _digests(one, tmp_path / "one").items():
        assert digests_two[rel] == digest


def test_progress_is_reported(tmp_path):
    calls = []
    files = synthesize("seed", tmp_path, subjects=1, duration_scale=SCALE, progress=lambda *a: calls.append(a))
    assert [c[:2] for c in calls] == [(k, 4) for k in range(1, 5)]
    assert sorted(c[2] for c in calls) == files


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"corpus": "seed_v"}, "unknown corpus 'seed_v'"),
        ({"subjects": 0}, "subjects must be an integer from 1 to 15"),
        ({"subjects": 16}, "subjects must be an integer from 1 to 15"),
        ({"corpus": "deap", "subjects": 33}, "from 1 to 32"),
        ({"corpus": "seed_vii", "subjects": 21}, "from 1 to 20"),
        ({"subjects": 1.5}, "subjects must be an integer"),
        ({"duration_scale": 0}, "duration_scale must be"),
        ({"duration_scale": -0.5}, "duration_scale must be"),
        ({"duration_scale": float("nan")}, "duration_scale must be"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    arguments = {"corpus": "seed", "out_dir": tmp_path, "subjects": 1, "duration_scale": SCALE} | kwargs
    with pytest.raises(SynthError, match=re.escape(message)) as info:
        synthesize(**arguments)
    assert isinstance(info.value, ValueError) and isinstance(info.value, EmodDataError)
    assert "\n" not in str(info.value)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_band_power_follows_valence_and_arousal(tmp_path):
    (path,) = synthesize("deap", tmp_path, subjects=1, duration_scale=0.05, seed=11)
    with open(path, "rb") as handle:
        content = pickle.load(handle, encoding="latin1")
    names = load_manifest("deap").channels.names
    stimulus = content["data"][:, :32, 384:]
    valence, arousal = content["labels"][:, 0], content["labels"][:, 1]
    freqs, power = scipy.signal.welch(stimulus, fs=128.0, nperseg=128, axis=-1)
    alpha = power[..., (freqs >= 8) & (freqs <= 13)].mean(axis=-1)

    def log_alpha(channels):
        return np.log(alpha[:, [names.index(c) for c in channels]]).mean(axis=1)

    occipital = log_alpha(["O1", "Oz", "O2", "PO3", "PO4"])
    asymmetry = log_alpha(["Fp2", "AF4", "F4", "F8"]) - log_alpha(["Fp1", "AF3", "F3", "F7"])
    assert scipy.stats.spearmanr(occipital, arousal)[0] < -0.5
    assert scipy.stats.spearmanr(asymmetry, valence)[0] > 0.5


def test_default_is_two_subjects(tmp_path):
    files = synthesize("deap", tmp_path, duration_scale=SCALE)
    assert _relative(files, tmp_path) == ["data_preprocessed_python/s01.dat", "data_preprocessed_python/s02.dat"]


def test_registry_is_the_corpus_modules():
    import importlib
    import pkgutil

    import emod_data.synth as package
    from emod_data.synth.plans import CorpusSpec, corpus_spec

    modules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    with_spec = {
        n
        for n in modules
        if isinstance(getattr(importlib.import_module(f"{package.__name__}.{n}"), "SPEC", None), CorpusSpec)
    }
    assert with_spec == set(SYNTH_CORPORA)
    assert corpus_spec("seed").real_subjects == 15 and corpus_spec("faced_raw").real_subjects == 123
    with pytest.raises(KeyError):
        corpus_spec("plans")
