"""Numeric harmonisation steps: units, sanity checks, resampling, filters, reference.

Small pure functions on (channels, samples) arrays. Filters are MNE's
zero-phase designs; resampling is polyphase (SciPy) with an explicitly designed
anti-aliasing filter.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np
from scipy import signal

from emod_data.config import ProcessingConfig
from emod_data.errors import SignalError

AMPLITUDE_RANGE_UV = (0.1, 5000.0)
"""Plausible range of the median channel standard deviation of EEG in µV."""

STOPBAND_DB = 85.0
"""Design attenuation of the resampler's anti-aliasing filter above the lower Nyquist frequency.

The Kaiser design formula is approximate; 85 dB by design measures at least 80 dB."""

PASSBAND_FRACTION = 0.8
"""The resampler keeps frequencies below this fraction of the lower Nyquist frequency intact."""


def check_finite(data: np.ndarray, where: str) -> None:
    """Raise when a signal holds NaN or infinite samples.

    Raises
    ------
    SignalError
        Naming ``where``, how many samples and the first channel row affected.
    """
    bad = ~np.isfinite(data)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise SignalError(f"{where}: {int(bad.sum())} NaN/Inf samples (first in channel row {rows[0]})")


def check_amplitude(data_uv: np.ndarray, where: str, limits: tuple[float, float] = AMPLITUDE_RANGE_UV) -> float:
    """Check that a signal in µV has a plausible EEG amplitude scale.

    Parameters
    ----------
    data_uv : numpy.ndarray
        (channels, samples) in µV after unit conversion.
    where : str
        What to name in the error.
    limits : tuple of float
        Accepted range of the median channel standard deviation.

    Returns
    -------
    float
        The median channel standard deviation in µV.

    Raises
    ------
    SignalError
        When the scale is off (typically by 1e3 or 1e6: wrong declared units).
    """
    step = max(1, data_uv.shape[-1] // 20_000)  # a scale check: 20k samples per channel are plenty
    spread = float(np.median(data_uv[:, ::step].std(axis=1)))
    low, high = limits
    if not low <= spread <= high:
        raise SignalError(
            f"{where}: implausible EEG amplitude (median channel SD {spread:.3g} µV, expected "
            f"{low:g}-{high:g} µV); are the manifest's format.units right?"
        )
    return spread


@functools.lru_cache(maxsize=32)
def antialias_filter(up: int, down: int) -> np.ndarray:
    """FIR taps for polyphase resampling by ``up / down``.

    The filter runs at ``up`` times the input rate. It passes frequencies below
    ``PASSBAND_FRACTION`` of the lower Nyquist frequency (input or output) and
    attenuates everything above that Nyquist frequency by ``STOPBAND_DB``.

    Parameters
    ----------
    up, down : int
        Coprime resampling factors.

    Returns
    -------
    numpy.ndarray
        Taps with unit DC gain (``scipy.signal.resample_poly`` scales them by ``up``).
    """
    nyquist = 0.5 / max(up, down)  # of the lower rate, in cycles per sample at the upsampled rate
    passband = PASSBAND_FRACTION * nyquist
    numtaps, beta = signal.kaiserord(STOPBAND_DB, (nyquist - passband) * 2)
    numtaps |= 1  # odd length: symmetric, integer group delay
    taps = signal.firwin(numtaps, (passband + nyquist) / 2, window=("kaiser", beta), fs=1.0)
    return taps


def resample(data: np.ndarray, sfreq_in: float, sfreq_out: float) -> np.ndarray:
    """Polyphase resampling with anti-aliasing along the last axis.

    Parameters
    ----------
    data : numpy.ndarray
        (channels, samples).
    sfreq_in, sfreq_out : float
        Source and target rates in Hz.

    Returns
    -------
    numpy.ndarray
        (channels, ceil(samples * sfreq_out / sfreq_in)); the input itself when the
        rates are equal.
    """
    if sfreq_in == sfreq_out:
        return data
    ratio = Fraction(sfreq_out / sfreq_in).limit_denominator(10_000)
    up, down = ratio.numerator, ratio.denominator
    return signal.resample_poly(data, up, down, axis=-1, window=antialias_filter(up, down), padtype="line")


def bandpass(data: np.ndarray, sfreq: float, low: float | None, high: float | None, method: str) -> np.ndarray:
    """Zero-phase band-pass (or high-/low-pass) with MNE's filter design.

    Parameters
    ----------
    data : numpy.ndarray
        (channels, samples), float64.
    sfreq : float
        Sampling rate in Hz.
    low, high : float or None
        Edges in Hz; None for a pure high- or low-pass.
    method : {"fir", "iir"}
        FIR (firwin design, zero phase) or 4th-order Butterworth applied forward-backward.

    Returns
    -------
    numpy.ndarray
        The filtered signal.
    """
    import mne

    iir_params = {"order": 4, "ftype": "butter", "output": "sos"} if method == "iir" else None
    return mne.filter.filter_data(
        data,
        sfreq,
        low,
        high,
        method=method,
        iir_params=iir_params,
        phase="zero",
        fir_design="firwin",
        pad="reflect_limited",
        copy=False,
        verbose="error",
    )


def notch(data: np.ndarray, sfreq: float, line_freq: float, method: str) -> np.ndarray:
    """Zero-phase notch at the line frequency and its harmonics below Nyquist (MNE)."""
    import mne

    freqs = np.arange(line_freq, sfreq / 2, line_freq)
    if method == "iir":
        return mne.filter.notch_filter(data, sfreq, freqs, method="iir", copy=False, verbose="error")
    return mne.filter.notch_filter(data, sfreq, freqs, method="fir", phase="zero", copy=False, verbose="error")


def average_reference(data: np.ndarray) -> np.ndarray:
    """Subtract the mean over channels from every channel."""
    return data - data.mean(axis=0, keepdims=True)


def round_precision(data: np.ndarray, bits: int | None) -> np.ndarray:
    """Keep ``bits`` mantissa bits of float32 samples (numcodecs BitRound), so they compress well.

    The relative error is below ``2 ** -(bits + 1)``; None returns the data unchanged.
    """
    if bits is None:
        return data
    from numcodecs import BitRound

    return BitRound(keepbits=bits).encode(np.ascontiguousarray(data, dtype=np.float32)).view(np.float32)


def prepare(data: np.ndarray, sfreq: float, unit_scale: float, config: ProcessingConfig, where: str) -> np.ndarray:
    """The first steps of :func:`harmonize`, up to (and without) the reference.

    float64 and µV, finite and amplitude checks, resampling to the store rate,
    notch and band-pass. The session-level bad-channel stage
    (:mod:`emod_data.badchannels`) runs on this output, before the reference.

    Parameters
    ----------
    data : numpy.ndarray
        (channels, samples) in source units, channels already selected.
    sfreq : float
        Source rate in Hz.
    unit_scale : float
        Factor converting source units into µV.
    config : ProcessingConfig
        The store's processing parameters.
    where : str
        What to name in errors (file and trial).

    Returns
    -------
    numpy.ndarray
        float64 (channels, samples at ``config.sfreq``) in µV, filtered, unreferenced.

    Raises
    ------
    SignalError
        Non-finite samples, implausible amplitude, or a source rate that differs
        from the store's while resampling is off.
    """
    x = np.asarray(data, dtype=np.float64)
    if unit_scale != 1.0:
        x = x * unit_scale
    check_finite(x, where)
    check_amplitude(x, where)
    if sfreq != config.sfreq:
        if not config.resample:
            raise SignalError(
                f"{where}: source rate {sfreq} Hz differs from the store's {config.sfreq} Hz and resampling is off"
            )
        x = resample(x, sfreq, config.sfreq)
    if config.notch is not None:
        x = notch(x, config.sfreq, config.notch, config.filter_method)
    if config.bandpass is not None:
        x = bandpass(x, config.sfreq, *config.bandpass, config.filter_method)
    return x


def to_stored(data: np.ndarray, config: ProcessingConfig) -> np.ndarray:
    """float32 rounded to the store's precision (the last step of :func:`harmonize`)."""
    return round_precision(np.asarray(data).astype(np.float32, copy=False), config.precision_bits)


def harmonize(data: np.ndarray, sfreq: float, unit_scale: float, config: ProcessingConfig, where: str) -> np.ndarray:
    """Turn one source segment into a stored segment (without the session-level stage).

    Steps, in order: :func:`prepare` (float64 and µV, finite and amplitude checks,
    resampling to the store rate, notch, band-pass), reference, float32 rounded to
    the stored precision. With a bad-channel stage the ingest runs :func:`prepare`,
    then :mod:`emod_data.badchannels` (reference and repair), then :func:`to_stored`.

    Parameters
    ----------
    data, sfreq, unit_scale, config, where
        As for :func:`prepare`.

    Returns
    -------
    numpy.ndarray
        float32 (channels, samples at ``config.sfreq``) in µV.

    Raises
    ------
    SignalError
        As :func:`prepare` raises it.
    """
    x = prepare(data, sfreq, unit_scale, config, where)
    if config.reference == "average":
        x = average_reference(x)
    return to_stored(x, config)
