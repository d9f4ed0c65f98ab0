"""AMIGOS: ``Data_Preprocessed_PNN/Data_Preprocessed_PNN.mat`` per participant (cell arrays per video)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from emod_data.synth import signals, writers
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, Trial, scaled_samples, stream, target_path
from emod_data.synth.trials import ecg_like, subject_profile, trial_signal

AMIGOS_VIDEO_IDS = ("4", "5", "9", "10", "13", "18", "19", "20", "23", "30", "31", "34", "36", "58", "80", "138",
                    "N1", "P1", "B1", "U1")  # fmt: skip
"""Video ids of the 16 short and 4 long videos, in the order written (the real files' order is unconfirmed)."""

AMIGOS_SECONDS = (110, 98, 84, 116, 62, 93, 137, 102, 146, 71, 88, 125, 109, 78, 51, 129, 882, 1216, 1397, 1085)
"""Synthetic video durations in seconds: short ones 51-150 s, long ones 14-24 min (not the real table)."""

AMIGOS_NO_LONG_VIDEOS = (8, 24, 28)
"""Participants without the long-videos experiment: their last 4 cells are empty."""

AMIGOS_NO_LONG_RATINGS = (32,)
"""Participants whose long-video self-assessment is missing (empty cells; the signals are there)."""

AMIGOS_DATE = datetime(2017, 9, 1, 10, 0, 0)


def amigos_ratings(rng: np.random.Generator) -> np.ndarray:
    """Draw one participant's self-assessment: (20, 12) = arousal, valence, dominance, liking, familiarity on
    1-9 (two decimals), then seven 0/1 basic-emotion flags."""
    out = np.zeros((len(AMIGOS_VIDEO_IDS), 12))
    out[:, :5] = np.round(np.clip(rng.uniform(0.6, 9.4, size=(len(AMIGOS_VIDEO_IDS), 5)), 1.0, 9.0), 2)
    flags = rng.integers(0, 7, size=len(AMIGOS_VIDEO_IDS))
    out[np.arange(len(flags)), 5 + flags] = 1.0
    return out


def amigos_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """AMIGOS: ``Data_Preprocessed_PNN/Data_Preprocessed_PNN.mat`` per participant.

    Parameters
    ----------
    scale : float
        Duration scale of :data:`AMIGOS_SECONDS`.
    seed : int
        Base seed: ratings come from (seed, corpus, participant).

    Returns
    -------
    list of FilePlan
        Per participant (1, 20) cell arrays ``VideoIDs`` (text), ``joined_data`` ((samples, 17) at 128 Hz,
        time first: 14 EEG columns average-referenced, ECG right and left, GSR), ``labels_selfassessment``
        ((1, 12): arousal first, then valence) and ``labels_ext_annotation`` ((segments, 3): 20 s segment
        number, valence, arousal; layout unconfirmed, not read). Participants of
        :data:`AMIGOS_NO_LONG_VIDEOS` have empty cells for the long videos, those of
        :data:`AMIGOS_NO_LONG_RATINGS` empty self-assessment cells for them. Trial valence and arousal follow
        the ratings (``rating - 5``).
    """
    sfreq = corpus.config.sfreq
    plans = []
    for subject in range(1, subjects + 1):
        ratings = amigos_ratings(stream(seed, corpus.name, subject, 0, 1))
        count = 16 if subject in AMIGOS_NO_LONG_VIDEOS else len(AMIGOS_VIDEO_IDS)
        trials = tuple(
            Trial(AMIGOS_VIDEO_IDS[k - 1], 1, k, scaled_samples(sfreq, AMIGOS_SECONDS[k - 1], scale),
                  ratings[k - 1, 1] - 5.0, ratings[k - 1, 0] - 5.0)
            for k in range(1, count + 1)
        )  # fmt: skip
        name = f"Data_Preprocessed_P{subject:02d}"
        created = AMIGOS_DATE + timedelta(minutes=subject)
        plans.append(FilePlan(f"{name}/{name}.mat", subject, "amigos", created, trials, ratings=ratings))
    return plans


def write_amigos(corpus: Corpus, plan: FilePlan, out_dir: Path, seed: int) -> Path:
    """Write one planned file of AMIGOS (a ``CorpusSpec.writer``)."""
    path = target_path(out_dir, plan)
    profile = subject_profile(corpus, plan.subject, seed)
    n_videos = len(AMIGOS_VIDEO_IDS)
    empty = np.zeros((0, 0))
    joined, selfs, external = [empty] * n_videos, [empty] * n_videos, [empty] * n_videos
    for trial in plan.trials:
        k = trial.index
        eeg = trial_signal(corpus, profile, plan.subject, trial, seed)[0]
        eeg -= eeg.mean(axis=0)  # the release is common-average referenced
        rng = stream(seed, corpus.name, plan.subject, 2, k)
        ecg = [ecg_like(rng, trial.n_samples, corpus.config.sfreq, profile.heart_rate) for _ in range(2)]
        gsr = signals.peripheral_trial(rng, profile, trial.n_samples, trial.arousal, np.zeros(trial.n_samples))[4]
        joined[k - 1] = np.ascontiguousarray(np.vstack([eeg, *ecg, gsr]).T)
        if plan.subject not in AMIGOS_NO_LONG_RATINGS or k <= 16:
            selfs[k - 1] = plan.ratings[k - 1][None, :]
        segments = max(int(trial.n_samples / corpus.config.sfreq // 20), 1)
        annotation = np.column_stack([np.arange(1, segments + 1), rng.uniform(-1, 1, (segments, 2))])
        external[k - 1] = annotation
    variables = {
        "VideoIDs": writers.cell(list(AMIGOS_VIDEO_IDS), (1, n_videos)),
        "joined_data": writers.cell(joined, (1, n_videos)),
        "labels_selfassessment": writers.cell(selfs, (1, n_videos)),
        "labels_ext_annotation": writers.cell(external, (1, n_videos)),
    }
    return writers.save_mat(path, variables, plan.created)


SPEC = CorpusSpec(signals.SignalConfig(128.0, (4.0, 45.0), False, 0.2), amigos_layout, write_amigos, 40)
"""How AMIGOS is synthesized."""
