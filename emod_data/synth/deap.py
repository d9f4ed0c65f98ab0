"""DEAP preprocessed: ``data_preprocessed_python/sNN.dat``, Python 2 pickles of ``labels`` and ``data``."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from emod_data.synth import signals, writers
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, Trial, scaled_samples, stream, target_path
from emod_data.synth.trials import render_trials

DEAP_BASELINE_SECONDS = 3

DEAP_STIMULUS_SECONDS = 60

DEAP_TRIALS = 40

DEAP_DTYPE = np.float64
"""dtype of DEAP's ``data``. Best knowledge: float64 (each real sNN.dat is about 40*40*8064*8 bytes = 103 MB,
and the MATLAB twin holds doubles); not confirmed against a real file."""

DEAP_DATE = datetime(2012, 1, 1, 12, 0, 0)


def deap_ratings(rng: np.random.Generator) -> np.ndarray:
    """Draw DEAP-like self-assessment ratings.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        (40, 4) float64 continuous ratings on [1, 9] (valence, arousal, dominance, liking), two decimals,
        spread roughly uniformly with some piling up at the scale's ends as in the real data.
    """
    ratings = rng.uniform(0.6, 9.4, size=(DEAP_TRIALS, 4))
    ratings[:, 3] = 0.6 * ratings[:, 0] + 0.4 * ratings[:, 3]  # liking follows valence
    return np.round(np.clip(ratings, 1.0, 9.0), 2)


def deap_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """DEAP: ``data_preprocessed_python/sNN.dat`` (Python 2 pickle) per subject.

    Parameters
    ----------
    scale : float
        Duration scale of the 60 s stimulus; the 3 s pre-trial baseline keeps its length.
    seed : int
        Base seed: the ratings are drawn from (seed, corpus, subject).

    Returns
    -------
    list of FilePlan
        Per file: ``labels`` (40, 4) and ``data`` (40, 40, 384 + stimulus samples); signals follow
        valence = rating - 5 and arousal = rating - 5.
    """
    sfreq = corpus.config.sfreq
    baseline = round(DEAP_BASELINE_SECONDS * sfreq)
    n = baseline + scaled_samples(sfreq, DEAP_STIMULUS_SECONDS, scale)
    plans = []
    for subject in range(1, subjects + 1):
        ratings = deap_ratings(stream(seed, corpus.name, subject, 0, 1))
        trials = tuple(
            Trial(f"video{i:02d}", 1, i, n, ratings[i - 1, 0] - 5.0, ratings[i - 1, 1] - 5.0, baseline)
            for i in range(1, DEAP_TRIALS + 1)
        )
        created = DEAP_DATE + timedelta(minutes=subject)
        plans.append(
            FilePlan(
                f"data_preprocessed_python/s{subject:02d}.dat",
                subject,
                "deap",
                created,
                trials,
                ratings=ratings,
            )
        )
    return plans


def write_deap(corpus: Corpus, plan: FilePlan, out_dir: Path, seed: int) -> Path:
    """Write one subject's ``sNN.dat``, ``data`` (40, 40, samples) and ``labels`` (a ``CorpusSpec.writer``)."""
    path = target_path(out_dir, plan)
    n_channels = len(corpus.manifest.channels.names)
    data = np.empty((len(plan.trials), n_channels, plan.trials[0].n_samples), dtype=DEAP_DTYPE)
    for row, (_, trial) in zip(data, render_trials(corpus, plan, seed), strict=True):
        row[...] = trial
    return writers.write_py2_pickle(path, {"labels": plan.ratings, "data": data})


SPEC = CorpusSpec(signals.SignalConfig(128.0, (4.0, 45.0), False, 0.2), deap_layout, write_deap, 32)
"""How DEAP is synthesized."""
