"""Trial signals of the file-based corpora and the MATLAB / pickle writing they share.

:func:`trial_signal` draws one trial of a subject (its random stream keyed by subject, session and trial);
:func:`render_trials` yields a plan's variables one at a time and :func:`write_matlab` writes them as a
MATLAB v5 or v7.3 file (SEED, SEED-IV, SEED-VII).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emod_data.channels import channel_positions
from emod_data.synth import signals, writers
from emod_data.synth.plans import Corpus, FilePlan, Trial, stream, target_path


def subject_profile(corpus: Corpus, subject: int, seed: int, names: list[str] | None = None) -> signals.SubjectProfile:
    """A subject's signal profile over ``names`` (default: the corpus' EEG channels)."""
    positions = channel_positions(names if names is not None else corpus.eeg_names)
    return signals.make_profile(stream(seed, corpus.name, subject, 0, 0), positions, corpus.config)


def trial_signal(
    corpus: Corpus, profile: signals.SubjectProfile, subject: int, trial: Trial, seed: int
) -> tuple[np.ndarray, np.random.Generator, np.ndarray]:
    """Draw one trial's EEG.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    profile : SubjectProfile
        The subject's profile (:func:`subject_profile`).
    subject : int
        The subject (keys the trial's random stream with the trial's session and index).
    trial : Trial
        The trial.
    seed : int
        Base seed.

    Returns
    -------
    eeg : numpy.ndarray
        (channels, samples) µV.
    rng : numpy.random.Generator
        The trial's stream, positioned after the EEG (peripheral signals continue from it).
    blinks : numpy.ndarray
        The blink course shared with the EOG channels.
    """
    rng = stream(seed, corpus.name, subject, trial.session, trial.index)
    blinks = signals.blink_course(rng, profile, trial.n_samples)
    eeg = signals.eeg_trial(rng, profile, trial.n_samples, trial.valence, trial.arousal, trial.baseline_samples, blinks)
    return eeg, rng, blinks


def render_trials(corpus: Corpus, plan: FilePlan, seed: int) -> Iterator[tuple[str, np.ndarray]]:
    """Generate the plan's variables one at a time (constants first, then trials).

    Parameters
    ----------
    corpus : Corpus
        The corpus description; channels beyond its EEG channels get peripheral signals (DEAP).
    plan : FilePlan
        The file.
    seed : int
        Base seed.

    Yields
    ------
    (str, numpy.ndarray)
        Variable name and value.
    """
    yield from plan.constants
    if not plan.trials:
        return
    profile = subject_profile(corpus, plan.subject, seed)
    peripheral = len(corpus.manifest.channels.names) - profile.n_channels
    for trial in plan.trials:
        data, rng, blinks = trial_signal(corpus, profile, plan.subject, trial, seed)
        if peripheral:
            data -= data.mean(axis=0)  # DEAP's EEG is common-average referenced
            extra = signals.peripheral_trial(rng, profile, trial.n_samples, trial.arousal, blinks)
            data = np.concatenate([data, extra[:peripheral]])
        yield trial.key, data


def write_matlab(corpus: Corpus, plan: FilePlan, out_dir: Path, seed: int) -> Path:
    """Write one variable per trial as MATLAB v5 (``mat5``) or v7.3 (``mat73``) (a ``CorpusSpec.writer``)."""
    path = target_path(out_dir, plan)
    variables = render_trials(corpus, plan, seed)
    if plan.container == "mat73":
        return writers.write_mat73(path, variables, plan.created)
    return writers.write_mat5(path, variables, plan.created)


def ecg_like(rng: np.random.Generator, n_samples: int, sfreq: float, heart_rate: float) -> np.ndarray:
    """An ECG-like trace: QRS spikes and T waves at a slowly varying heart rate, plus noise.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n_samples : int
        Length in samples.
    sfreq : float
        Sampling rate in Hz.
    heart_rate : float
        Mean beats per second (about 1-1.4).

    Returns
    -------
    numpy.ndarray
        (n_samples,) float64, R peaks of about 1000 (µV-like units) on a wandering baseline.
    """
    t = np.arange(n_samples) / sfreq
    rate = heart_rate * (1.0 + 0.05 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 2 * np.pi)))
    phase = np.cumsum(rate) / sfreq + rng.uniform(0, 1)
    within = phase - np.floor(phase)
    qrs = 1000.0 * np.exp(-(((within - 0.2) / 0.012) ** 2))
    t_wave = 250.0 * np.exp(-(((within - 0.5) / 0.06) ** 2))
    wander = 50.0 * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 2 * np.pi))
    return qrs + t_wave + wander + rng.normal(0.0, 10.0, n_samples)
