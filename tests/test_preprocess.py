import numpy as np
import pytest

from emod_data.config import ProcessingConfig, load_config
from emod_data.errors import ManifestError, SignalError
from emod_data.preprocess import (
    average_reference,
    bandpass,
    check_amplitude,
    check_finite,
    harmonize,
    resample,
    round_precision,
)


def _tone(freq, sfreq, seconds=20.0, amplitude=10.0):
    t = np.arange(round(seconds * sfreq)) / sfreq
    return amplitude * np.sin(2 * np.pi * freq * t)[None, :]


def _amplitude(x, freq, sfreq):
    """Amplitude of a tone by projection on the middle half (edges excluded)."""
    n = x.shape[-1]
    mid = slice(n // 4, 3 * n // 4)
    t = np.arange(n)[mid] / sfreq
    c, s = np.cos(2 * np.pi * freq * t), np.sin(2 * np.pi * freq * t)
    return 2 * np.hypot((x[0, mid] * c).mean(), (x[0, mid] * s).mean())


@pytest.mark.parametrize(
    ("sfreq_in", "sfreq_out", "freq"),
    [(1000, 200, 10.0), (1000, 200, 70.0), (250, 200, 40.0), (512, 200, 31.0), (128, 200, 45.0), (256, 200, 20.0)],
)
def test_resample_keeps_passband_amplitude_within_1_percent(sfreq_in, sfreq_out, freq):
    y = resample(_tone(freq, sfreq_in), sfreq_in, sfreq_out)
    assert y.shape[-1] == int(np.ceil(20.0 * sfreq_out))
    assert _amplitude(y, freq, sfreq_out) == pytest.approx(10.0, rel=0.01)


@pytest.mark.parametrize(
    ("sfreq_in", "sfreq_out", "freq"),
    [(1000, 200, 100.5), (1000, 200, 130.0), (1000, 200, 310.0), (250, 200, 110.0), (512, 200, 150.0)],
)
def test_resample_attenuates_tones_above_new_nyquist_by_60_db(sfreq_in, sfreq_out, freq):
    y = resample(_tone(freq, sfreq_in), sfreq_in, sfreq_out)
    alias = abs(freq - sfreq_out * round(freq / sfreq_out))  # where the tone would fold to
    residual = max(_amplitude(y, alias, sfreq_out), np.abs(y[0, y.shape[-1] // 4 : -y.shape[-1] // 4]).max())
    assert 20 * np.log10(residual / 10.0) <= -60


@pytest.mark.parametrize(("up", "down"), [(1, 5), (4, 5), (25, 64), (25, 16), (25, 32)])
def test_antialias_filter_design(up, down):
    from scipy import signal

    from emod_data.preprocess import antialias_filter

    taps = antialias_filter(up, down)
    freqs, response = signal.freqz(taps, worN=1 << 16, fs=1.0)
    gain = np.abs(response) / np.abs(response[0])
    nyquist = 0.5 / max(up, down)
    assert 20 * np.log10(gain[freqs >= nyquist].max()) <= -80
    assert np.abs(gain[freqs <= 0.8 * nyquist] - 1).max() < 1e-3


def test_resample_same_rate_is_identity():
    x = _tone(10, 200)
    assert resample(x, 200, 200) is x


def test_bandpass_is_zero_phase_and_removes_out_of_band():
    sfreq = 200.0
    inband, offset, fast = _tone(10, sfreq), 50.0, _tone(70, sfreq)
    y = bandpass(inband + offset + fast, sfreq, 0.3, 49.0, "fir")
    mid = slice(1000, 3000)
    assert np.abs(y[0, mid] - inband[0, mid]).max() < 0.2  # no phase shift, other tones gone


def test_average_reference_zeroes_channel_mean():
    x = np.random.default_rng(0).normal(size=(8, 100))
    assert np.allclose(average_reference(x).mean(axis=0), 0)


def test_finite_and_amplitude_checks():
    x = np.random.default_rng(0).normal(scale=20, size=(4, 1000))
    assert check_amplitude(x, "f") == pytest.approx(20, rel=0.1)
    with pytest.raises(SignalError, match="implausible EEG amplitude"):
        check_amplitude(x * 1e-6, "f.mat trial 3")  # volts declared as µV
    with pytest.raises(SignalError, match="implausible EEG amplitude"):
        check_amplitude(x * 1e6, "f.mat trial 3")
    x[2, 10:20] = np.nan
    with pytest.raises(SignalError, match=r"10 NaN/Inf samples .*channel row 2"):
        check_finite(x, "f.mat trial 3")


def test_harmonize_recipe_output():
    x = np.random.default_rng(1).normal(scale=2e-5, size=(3, 1000 * 12))  # volts at 1000 Hz
    y = harmonize(x, 1000.0, 1e6, ProcessingConfig(), "f")
    assert y.dtype == np.float32 and y.shape == (3, 200 * 12)
    assert np.allclose(y.mean(axis=0), 0, atol=np.abs(y).max() * 2.0**-11)  # up to the 12-bit rounding


def test_round_precision_relative_error():
    x = np.random.default_rng(2).normal(scale=30, size=(4, 500)).astype(np.float32)
    y = round_precision(x, 12)
    assert y.dtype == np.float32
    assert np.max(np.abs(y - x) / np.abs(x)) <= 2.0**-13
    assert round_precision(x, None) is x


def test_config_hash_and_differences():
    a, b = ProcessingConfig(), ProcessingConfig(bandpass=None, sfreq=250)
    assert a.hash == ProcessingConfig().hash != b.hash
    assert a.differences(b) == ["sfreq: 200.0 -> 250.0", "bandpass: [0.3, 49.0] -> None"]
    assert (
        ProcessingConfig(sfreq=200, bandpass=(1, 40)).hash == ProcessingConfig(sfreq=200.0, bandpass=(1.0, 40.0)).hash
    )
    assert ProcessingConfig.from_dict(a.to_dict()) == a


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sfreq": -1},
        {"bandpass": (0.3, 120.0)},
        {"bandpass": (10, 5)},
        {"reference": "mastoids"},
        {"notch": 150.0},
        {"precision_bits": 30},
    ],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        ProcessingConfig(**kwargs)


def test_load_config(tmp_path):
    good = tmp_path / "p.toml"
    good.write_text("[processing]\nsfreq = 250.0\nbandpass = [1.0, 40.0]\nnotch = false\n")
    assert load_config(good) == ProcessingConfig(sfreq=250.0, bandpass=(1.0, 40.0))
    bad = tmp_path / "bad.toml"
    bad.write_text("sfreq = 200\nbandpas = [1, 40]\n")
    with pytest.raises(ManifestError, match=r"bad\.toml: unknown field\(s\) \['bandpas'\]"):
        load_config(bad)
