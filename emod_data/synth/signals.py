"""An EEG-like signal model whose band powers depend on valence and arousal.

Every trial is drawn in one go per channel by shaping complex Gaussian noise in
the frequency domain: a 1/f^beta background plus spectral bumps for theta,
alpha, beta and gamma whose spatial weights come from the electrode positions
and whose heights follow the trial's valence and arousal (both on [-4, 4]):

- alpha (8-13 Hz, strongest over occipital-parietal sites) scales with
  ``exp(-0.35 * arousal)``; over frontal sites left alpha scales with
  ``exp(-0.2 * valence)`` and right alpha with ``exp(+0.2 * valence)``
  (frontal alpha asymmetry);
- beta (14-30 Hz) scales with ``exp(+0.25 * arousal)``;
- gamma (31-49 Hz, strongest over lateral temporal sites) scales with
  ``exp(+0.25 * valence)``.

The per-electrode sources are not independent: each electrode sees the sources
of its neighbours mixed by a Gaussian kernel of the distance between electrodes
(volume conduction; width ``SPATIAL_WIDTH``), so that neighbouring electrodes
correlate strongly, a missing electrode can be interpolated from its neighbours
and bad-channel detection by neighbour correlation is meaningful. On top come a
few smooth shared sources, 50 Hz line noise and eye blinks on frontal channels
(one blink source seen through a fixed frontal topography). All scalings act on power. Output is
float64 in microvolts with a per-channel standard deviation of about 10-30 µV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

HEAD_CENTRE = np.array([0.0, -0.015, 0.0])
"""Approximate head centre in MNE head coordinates (metres)."""

HEAD_RADIUS = 0.1
"""Approximate head radius (metres) used to normalise electrode positions."""

BANDS = ("theta", "alpha", "beta", "gamma")
"""Order of the spectral bumps."""

AROUSAL_ALPHA = -0.35
AROUSAL_BETA = 0.25
VALENCE_GAMMA = 0.25
VALENCE_FRONTAL_ALPHA = 0.2
VA_JITTER = 0.3
"""Standard deviation of the trial-to-trial jitter added to valence and arousal before they act."""

N_SHARED = 4
"""Number of smooth shared sources mixed into all channels."""

LINE_FREQUENCY = 50.0

SPATIAL_WIDTH = 0.4
"""Width (standard deviation, in head radii: about 4 cm) of the kernel mixing per-electrode sources."""


@dataclass(frozen=True)
class SignalConfig:
    """Recording conditions of a corpus.

    Attributes
    ----------
    sfreq : float
        Sampling rate in Hz.
    band : tuple of (float or None, float or None)
        Pass band of the release's filter (low, high) in Hz; None for no edge.
    line_noise : bool
        Whether 50 Hz line noise survives the release's processing.
    blink_scale : float
        Multiplier of the eye-blink amplitude (0 removes blinks).
    """

    sfreq: float
    band: tuple[float | None, float | None] = (None, None)
    line_noise: bool = True
    blink_scale: float = 1.0


@dataclass(frozen=True)
class SubjectProfile:
    """Per-subject parameters of the signal model, drawn by :func:`make_profile`.

    Attributes
    ----------
    config : SignalConfig
        Recording conditions of the corpus.
    gain : numpy.ndarray
        (C,) multiplicative channel gains.
    alpha_peak, exponent, background : float
        Individual alpha frequency (Hz), 1/f exponent and background power at 1 Hz (µV²/Hz).
    line_amplitude : float
        50 Hz amplitude in µV (0 when the release removed it); ``line_weights`` (C,) scales it per channel.
    band_weights : numpy.ndarray
        (C, 4) spatial weights of the theta, alpha, beta and gamma bumps.
    frontal_side : numpy.ndarray
        (C,) -1 on left-frontal, +1 on right-frontal, about 0 elsewhere (frontal alpha asymmetry).
    mixing : numpy.ndarray
        (C, N_SHARED) weights of the smooth shared sources.
    spatial : numpy.ndarray
        (C, C) volume-conduction mixing of the per-electrode sources (:func:`spatial_kernel`).
    blink_topography : numpy.ndarray
        (C,) blink gain, 1 at Fp1/Fp2 decaying with distance, 0 far from the eyes.
    blink_rate : float
        Blinks per minute.
    heart_rate, breath_rate, gsr_level, temperature : float
        Parameters of DEAP's peripheral channels (Hz, Hz, GSR units, degrees).
    """

    config: SignalConfig
    gain: np.ndarray
    alpha_peak: float
    exponent: float
    background: float
    line_amplitude: float
    line_weights: np.ndarray
    band_weights: np.ndarray
    frontal_side: np.ndarray
    mixing: np.ndarray
    spatial: np.ndarray
    blink_topography: np.ndarray
    blink_rate: float
    heart_rate: float
    breath_rate: float
    gsr_level: float
    temperature: float

    @property
    def n_channels(self) -> int:
        """Number of EEG channels."""
        return len(self.gain)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def spatial_kernel(unit_positions: np.ndarray, width: float = SPATIAL_WIDTH) -> np.ndarray:
    """Mixing matrix of per-electrode sources by electrode distance.

    Parameters
    ----------
    unit_positions : numpy.ndarray
        (C, 3) electrode positions in head radii.
    width : float
        Standard deviation of the Gaussian kernel in head radii.

    Returns
    -------
    numpy.ndarray
        (C, C) with ``K[i, j] = exp(-d_ij**2 / (2 * width**2))``, each row scaled to unit
        Euclidean norm so that mixing independent unit-power sources keeps unit power.
    """
    distance2 = ((unit_positions[:, None, :] - unit_positions[None, :, :]) ** 2).sum(axis=-1)
    kernel = np.exp(-distance2 / (2 * width**2))
    return kernel / np.linalg.norm(kernel, axis=1, keepdims=True)


def make_profile(rng: np.random.Generator, positions: np.ndarray, config: SignalConfig) -> SubjectProfile:
    """Draw a subject's signal parameters.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the profile depends only on its state.
    positions : numpy.ndarray
        (C, 3) electrode positions in metres (x right, y front, z up) of the EEG channels.
    config : SignalConfig
        Recording conditions of the corpus.

    Returns
    -------
    SubjectProfile
        Channel gains (lognormal, sd 0.2), alpha peak frequency (9-11 Hz), 1/f exponent (1.0-1.6),
        background level, line-noise amplitude, spatial band weights, shared-source mixing,
        volume-conduction mixing and blink topography.
    """
    u = (np.asarray(positions, dtype=float) - HEAD_CENTRE) / HEAD_RADIUS
    x, y, z = u[:, 0], u[:, 1], u[:, 2]
    n = len(u)
    frontness = _sigmoid((y - 0.4) / 0.1)
    posteriorness = _sigmoid((-y - 0.3) / 0.12)
    temporal = _sigmoid((np.abs(x) - 0.6) / 0.08) * (1.0 - 0.5 * np.clip(z, 0.0, 1.0))
    midline = np.exp(-(x**2) / 0.05)
    band_weights = np.stack(
        [
            0.6 + 0.6 * frontness * midline,  # theta: frontal midline
            0.4 + 1.2 * posteriorness,  # alpha: occipital-parietal
            np.full(n, 1.0),  # beta: broad
            0.3 + 1.2 * temporal,  # gamma: lateral temporal
        ],
        axis=1,
    )
    frontal_side = np.tanh(x / 0.15) * frontness
    centres = rng.normal(size=(N_SHARED, 3))
    centres[:, 2] = np.abs(centres[:, 2]) + 0.3
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    distance2 = ((u[:, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)
    mixing = np.exp(-distance2 / (2 * 0.5**2)) * rng.uniform(0.4, 0.7, size=N_SHARED)
    eye = np.array([0.0, 1.05, -0.1])
    blink_topography = np.exp(-np.linalg.norm(u - eye, axis=1) / 0.3)
    blink_topography /= blink_topography.max()
    return SubjectProfile(
        config=config,
        gain=rng.lognormal(0.0, 0.2, size=n),
        alpha_peak=float(rng.uniform(9.0, 11.0)),
        exponent=float(rng.uniform(1.0, 1.6)),
        background=float(rng.uniform(25.0, 60.0)),
        line_amplitude=float(rng.lognormal(np.log(2.0), 0.5)) if config.line_noise else 0.0,
        line_weights=rng.uniform(0.5, 1.5, size=n),
        band_weights=band_weights,
        frontal_side=frontal_side,
        mixing=mixing,
        spatial=spatial_kernel(u),
        blink_topography=np.where(blink_topography > 0.01, blink_topography, 0.0),
        blink_rate=float(rng.uniform(2.0, 8.0)),
        heart_rate=float(rng.uniform(1.0, 1.4)),
        breath_rate=float(rng.uniform(0.2, 0.3)),
        gsr_level=float(rng.uniform(1500.0, 8000.0)),
        temperature=float(rng.uniform(29.0, 34.0)),
    )


def _band_response(freqs: np.ndarray, band: tuple[float | None, float | None]) -> np.ndarray:
    """Power response of a smooth band-pass with the given edges."""
    response = np.ones_like(freqs)
    low, high = band
    if low:
        with np.errstate(divide="ignore"):
            response /= 1.0 + (low / np.maximum(freqs, 1e-12)) ** 4
    if high:
        response /= 1.0 + (freqs / high) ** 8
    return response


def _spectra(profile: SubjectProfile, freqs: np.ndarray, valence: float, arousal: float) -> np.ndarray:
    """One-sided power spectra (C + N_SHARED, F) in µV²/Hz; shared sources last."""
    f = np.maximum(freqs, 0.5)
    background = profile.background * f ** (-profile.exponent)
    specs = [(6.0, 1.2, 1.5), (profile.alpha_peak, 1.0, 8.0), (21.0, 5.0, 1.2), (40.0, 5.0, 1.5)]
    bumps = np.stack(
        [
            ratio * profile.background * centre ** (-profile.exponent) * np.exp(-((freqs - centre) ** 2) / (2 * sd**2))
            for centre, sd, ratio in specs
        ]
    )
    log_gain = np.zeros_like(profile.band_weights)
    log_gain[:, 1] = AROUSAL_ALPHA * arousal + VALENCE_FRONTAL_ALPHA * valence * profile.frontal_side
    log_gain[:, 2] = AROUSAL_BETA * arousal
    log_gain[:, 3] = VALENCE_GAMMA * valence
    weights = profile.band_weights * np.exp(log_gain)
    response = _band_response(freqs, profile.config.band)
    background *= response
    bumps *= response
    n_local = len(weights)
    power = np.empty((n_local + N_SHARED, len(freqs)))
    np.matmul(weights, bumps, out=power[:n_local])
    power[:n_local] += background
    power[n_local:] = background + 0.5 * bumps[1]
    return power


def _shaped_noise(
    rng: np.random.Generator, profile: SubjectProfile, n_samples: int, valence: float, arousal: float
) -> np.ndarray:
    """Spatially correlated coloured noise (C, n) for constant valence and arousal."""
    sfreq = profile.config.sfreq
    n_fft = scipy.fft.next_fast_len(n_samples, real=True)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sfreq)
    amplitude = _spectra(profile, freqs, valence, arousal)
    amplitude *= sfreq / n_fft / 2.0
    np.sqrt(amplitude, out=amplitude)
    amplitude[:, 0] = 0.0
    noise = rng.standard_normal((amplitude.shape[0], len(freqs), 2)).view(np.complex128)[..., 0]
    noise *= amplitude
    series = scipy.fft.irfft(noise, n=n_fft, axis=-1, norm="forward", workers=-1)[:, :n_samples]
    n_local = profile.n_channels
    out = profile.spatial @ series[:n_local]
    out += profile.mixing @ series[n_local:]
    out *= profile.gain[:, None]
    return out


def blink_course(rng: np.random.Generator, profile: SubjectProfile, n_samples: int) -> np.ndarray:
    """Time course of eye blinks as seen at Fp1/Fp2.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    profile : SubjectProfile
        Gives the blink rate (a few per minute) and the sampling rate.
    n_samples : int
        Length of the trial.

    Returns
    -------
    numpy.ndarray
        (n_samples,) float64 in µV: raised-cosine deflections of 100-200 ms and 50-150 µV.
    """
    sfreq = profile.config.sfreq
    course = np.zeros(n_samples)
    count = rng.poisson(profile.blink_rate * n_samples / sfreq / 60.0)
    onsets = rng.uniform(0, n_samples, size=count)
    widths = rng.uniform(0.1, 0.2, size=count)
    heights = rng.uniform(50.0, 150.0, size=count)
    for onset, width, height in zip(onsets, widths, heights, strict=True):
        length = max(round(width * sfreq), 3)
        start = int(onset)
        stop = min(start + length, n_samples)
        kernel = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / (length - 1))
        course[start:stop] += height * kernel[: stop - start]
    return course


def eeg_trial(
    rng: np.random.Generator,
    profile: SubjectProfile,
    n_samples: int,
    valence: float,
    arousal: float,
    baseline_samples: int = 0,
    blinks: np.ndarray | None = None,
) -> np.ndarray:
    """Synthesize one trial of EEG.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the trial depends only on its state and the profile.
    profile : SubjectProfile
        The subject's parameters.
    n_samples : int
        Trial length in samples.
    valence, arousal : float
        The trial's position in the V-A plane, both on [-4, 4]; jittered by ``VA_JITTER``.
    baseline_samples : int, optional
        Length of a leading neutral baseline (valence = arousal = 0), cross-faded into the stimulus.
    blinks : numpy.ndarray, optional
        A precomputed :func:`blink_course`; drawn here when omitted.

    Returns
    -------
    numpy.ndarray
        (C, n_samples) float64 in µV.
    """
    valence = float(valence) + rng.normal(0.0, VA_JITTER)
    arousal = float(arousal) + rng.normal(0.0, VA_JITTER)
    if baseline_samples <= 0:
        data = _shaped_noise(rng, profile, n_samples, valence, arousal)
    else:
        half = min(int(0.125 * profile.config.sfreq), baseline_samples, n_samples - baseline_samples)
        base = _shaped_noise(rng, profile, baseline_samples + half, 0.0, 0.0)
        stim = _shaped_noise(rng, profile, n_samples - baseline_samples + half, valence, arousal)
        data = np.empty((profile.n_channels, n_samples))
        data[:, : baseline_samples - half] = base[:, : baseline_samples - half]
        data[:, baseline_samples + half :] = stim[:, 2 * half :]
        angle = np.linspace(0.0, np.pi / 2, 2 * half)
        data[:, baseline_samples - half : baseline_samples + half] = (
            np.cos(angle) * base[:, baseline_samples - half :] + np.sin(angle) * stim[:, : 2 * half]
        )
    if profile.line_amplitude > 0 and LINE_FREQUENCY < profile.config.sfreq / 2:
        t = np.arange(n_samples) / profile.config.sfreq
        line = np.sin(2 * np.pi * LINE_FREQUENCY * t + rng.uniform(0, 2 * np.pi))
        data += (profile.line_amplitude * profile.line_weights)[:, None] * line[None, :]
    if blinks is None:
        blinks = blink_course(rng, profile, n_samples)
    scale = profile.config.blink_scale
    near = np.flatnonzero(profile.blink_topography)
    if scale > 0 and blinks.any():
        data[near] += (scale * profile.blink_topography[near])[:, None] * blinks[None, :]
    return data


def _slow_walk(rng: np.random.Generator, n_samples: int, sfreq: float, seconds: float) -> np.ndarray:
    """A random walk starting at 0 whose spread reaches 1 after ``seconds``."""
    walk = np.cumsum(rng.standard_normal(n_samples)) / np.sqrt(max(seconds * sfreq, 1.0))
    return walk - walk[0]


def peripheral_trial(
    rng: np.random.Generator, profile: SubjectProfile, n_samples: int, arousal: float, blinks: np.ndarray
) -> np.ndarray:
    """Synthesize DEAP's eight peripheral channels for one trial.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    profile : SubjectProfile
        The subject's parameters (heart and breathing rates, GSR level, temperature).
    n_samples : int
        Trial length in samples.
    arousal : float
        On [-4, 4]; raises skin-conductance responses and EMG a little.
    blinks : numpy.ndarray
        The trial's :func:`blink_course`, which also appears in vEOG.

    Returns
    -------
    numpy.ndarray
        (8, n_samples) float64 in the order hEOG, vEOG, zEMG, tEMG, GSR, Respiration, Plethysmograph,
        Temperature: EOG-like saccades and blinks, EMG-like bursts of broadband noise, GSR slowly varying
        in the thousands, respiration near 0.25 Hz, a pulse wave near 1.2 Hz and a slowly drifting
        temperature.
    """
    sfreq = profile.config.sfreq
    t = np.arange(n_samples) / sfreq
    out = np.empty((8, n_samples))
    # hEOG: gaze position, piecewise constant between saccades, lightly smoothed.
    n_fix = max(int(n_samples / sfreq * 1.5), 1)
    jumps = np.sort(rng.integers(0, n_samples, size=n_fix))
    gaze = np.zeros(n_samples)
    np.add.at(gaze, jumps, rng.normal(0.0, 80.0, size=n_fix))
    gaze = np.cumsum(gaze)
    gaze -= gaze.mean()
    out[0] = np.convolve(gaze, np.ones(4) / 4, mode="same") + rng.normal(0.0, 5.0, n_samples)
    out[1] = 4.0 * blinks + 30.0 * _slow_walk(rng, n_samples, sfreq, 5.0) + rng.normal(0.0, 5.0, n_samples)
    # EMG: high-passed noise with a slowly varying envelope.
    for row in (2, 3):
        white = rng.standard_normal(n_samples + 1)
        envelope = 8.0 * np.exp(0.1 * arousal + 0.5 * np.tanh(_slow_walk(rng, n_samples, sfreq, 2.0)))
        out[row] = envelope * np.diff(white)
    # GSR: tonic level plus skin-conductance responses, more frequent with arousal.
    gsr = profile.gsr_level + 100.0 * _slow_walk(rng, n_samples, sfreq, 20.0)
    n_scr = rng.poisson(max(0.05 + 0.015 * arousal, 0.01) * n_samples / sfreq)
    for onset in rng.uniform(0, n_samples / sfreq, size=n_scr):
        lag = np.clip(t - onset, 0.0, None)
        gsr -= rng.uniform(20.0, 120.0) * (np.exp(-lag / 4.0) - np.exp(-lag / 0.75))
    out[4] = gsr
    breath_phase = (
        2
        * np.pi
        * np.cumsum(profile.breath_rate * (1 + 0.05 * np.tanh(_slow_walk(rng, n_samples, sfreq, 5.0))))
        / sfreq
    )
    out[5] = 1200.0 * np.sin(breath_phase + rng.uniform(0, 2 * np.pi)) + rng.normal(0.0, 20.0, n_samples)
    beat = 2 * np.pi * profile.heart_rate * t + rng.uniform(0, 2 * np.pi)
    out[6] = 800.0 * (np.sin(beat) + 0.4 * np.sin(2 * beat - 0.6) + 0.15 * np.sin(3 * beat - 1.2))
    out[6] += rng.normal(0.0, 10.0, n_samples)
    out[7] = profile.temperature + 0.05 * _slow_walk(rng, n_samples, sfreq, 30.0)
    return out
