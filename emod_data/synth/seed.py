"""SEED (SJTU): ``Preprocessed_EEG/<subject>_<YYYYMMDD>.mat`` x 3 sessions and ``label.mat``.

MATLAB v5 files of 15 float64 variables ``<prefix>_eeg<k>`` (62 channels x samples, µV, 200 Hz); the
recording dates of the later sessions are fixed, deterministic choices (the release does not publish them).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from emod_data.synth import signals
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, Trial, class_trials, session_files
from emod_data.synth.trials import write_matlab

SEED_FIRST_DATES = (
    "20131027", "20140404", "20140603", "20140621", "20140411", "20130712", "20131027", "20140511",
    "20140620", "20131130", "20140618", "20131127", "20140527", "20140601", "20130709",
)  # fmt: skip
"""Session-1 recording date of SEED subjects 1..15."""

SEED_PREFIXES = tuple("djc jl jj lqj ly mhw phl sxy wk ww wsf wyw xyl ys zjy".split())
"""Variable-name prefix (subject initials) of SEED subjects 1..15."""

SEED_DURATIONS = (235, 233, 206, 238, 185, 195, 237, 216, 265, 237, 235, 233, 235, 238, 206)
"""SEED trial durations in seconds (same in every session); samples = 200 * duration + 1."""

SEED_LABELS = (1, 0, -1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 0, 1, -1)
"""SEED label codes per trial (1 positive, 0 neutral, -1 negative), as in ``label.mat``."""


def seed_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """SEED: ``Preprocessed_EEG/<subject>_<YYYYMMDD>.mat`` x 3 sessions plus ``Preprocessed_EEG/label.mat``.

    Parameters
    ----------
    scale : float
        Duration scale applied to every trial.
    seed : int
        Base seed (unused: SEED's labels are fixed).

    Returns
    -------
    list of FilePlan
        Per file: 15 float64 (62, round(200 * duration * scale) + 1) variables ``<prefix>_eeg<k>``; then
        ``label.mat`` with ``label``, a (1, 15) double row.
    """

    def trials(subject: int, session: int) -> list[Trial]:
        keys = [f"{SEED_PREFIXES[subject - 1]}_eeg{k}" for k in range(1, len(SEED_LABELS) + 1)]
        return class_trials(corpus, session, list(SEED_LABELS), list(SEED_DURATIONS), scale, keys, extra=1)

    plans = session_files(
        subjects,
        lambda subject: datetime.strptime(SEED_FIRST_DATES[subject - 1], "%Y%m%d").date(),
        lambda subject, session, day: f"Preprocessed_EEG/{subject}_{day:%Y%m%d}.mat",
        trials,
    )
    label = np.asarray(SEED_LABELS, dtype=np.float64)[None, :]
    created = datetime(2014, 7, 1, 12, 0, 0)
    plans.append(FilePlan("Preprocessed_EEG/label.mat", 0, "mat5", created, constants=(("label", label),)))
    return plans


SPEC = CorpusSpec(signals.SignalConfig(200.0, (None, 75.0), True, 1.0), seed_layout, write_matlab, 15)
"""How SEED is synthesized."""
