"""FACED preprocessed: ``Processed_data/subNNN.pkl`` (NumPy 1.x pickles) and ``After_remarks.mat``.

The pickles hold (28 clips, 32 channels, samples) common-average-referenced arrays; each subject's
``Data/subNNN/After_remarks.mat`` holds the ratings in presentation order with the clip (``vid``) of each row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from emod_data.channels import canonical_name
from emod_data.lexicon import load_lexicon
from emod_data.synth import signals, writers
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, Trial, scaled_samples, stream, target_path
from emod_data.synth.trials import subject_profile, trial_signal

FACED_CLIP_SECONDS = 30
"""The processed release keeps the last 30 s of each clip."""

FACED_CLIPS = 28

FACED_ITEMS = (
    "Joy", "Tenderness", "Inspiration", "Amusement", "Anger", "Disgust", "Fear", "Sadness",
    "Arousal", "Valence", "Familiarity", "Liking",
)  # fmt: skip
"""The 12 items of ``After_remark{i}.score``, in file order."""

FACED_SCALE = (0, 7)
"""Rating scale written into the synthetic ``After_remarks.mat`` (integers; the project's default reading)."""

FACED_DATE = datetime(2021, 6, 1, 9, 0, 0)


def faced_ratings(rng: np.random.Generator, classes: list[str]) -> np.ndarray:
    """Draw one subject's After_remarks scores, in clip (video index) order.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    classes : list of str
        The class of clips 1..28.

    Returns
    -------
    numpy.ndarray
        (28, 12) integers on 0-7 as float64: the clip's own emotion item high (4-7), other emotion items low
        (0-2), arousal and valence around the class' lexicon coordinates mapped onto 0-7, familiarity and
        liking at random.
    """
    lexicon = load_lexicon()
    items = [i.lower() for i in FACED_ITEMS]
    low, high = FACED_SCALE
    out = np.zeros((len(classes), len(items)))
    for row, name in enumerate(classes):
        out[row, :8] = rng.integers(0, 3, size=8)
        if name in items[:8]:
            out[row, items.index(name)] = rng.integers(4, 8)
        valence, arousal = lexicon.coordinates(name)
        for column, value in ((8, arousal), (9, valence)):
            on_scale = low + (value + 4.0) * (high - low) / 8.0 + rng.normal(0.0, 0.8)
            out[row, column] = np.clip(np.round(on_scale), low, high)
        out[row, 10:] = rng.integers(0, 8, size=2)
    return out


def faced_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """FACED: ``Processed_Data/subNNN.pkl`` and the raw release's ``Data/subNNN/After_remarks.mat``.

    Parameters
    ----------
    scale : float
        Duration scale of the 30 s clips.
    seed : int
        Base seed: ratings and presentation order come from (seed, corpus, subject).

    Returns
    -------
    list of FilePlan
        Per subject a pickle of a float64 array (28 clips, 32 channels, samples) in µV at 250 Hz, clips in
        video-index order, channels Fp1 ... O2 A2 A1 average-referenced; and ``After_remarks.mat`` with a
        (28, 1) struct array ``After_remark`` in presentation order, fields ``score`` (1, 12), ``trial``
        (presentation position; a placeholder name: the real struct's other field names are unconfirmed)
        and ``vid`` (video index; public loaders read it as the third field). Trial valence and arousal
        follow the subject's own ratings mapped from 0-7 onto [-4, 4], as the manifest does.
    """
    classes = [str(c) for c in corpus.manifest.labels.sequence]
    n = scaled_samples(corpus.config.sfreq, FACED_CLIP_SECONDS, scale)
    low, high = FACED_SCALE
    plans = []
    for subject in range(1, subjects + 1):
        ratings = faced_ratings(stream(seed, corpus.name, subject, 0, 1), classes)
        order = stream(seed, corpus.name, subject, 0, 2).permutation(FACED_CLIPS) + 1
        va = -4.0 + (ratings[:, [9, 8]] - low) * 8.0 / (high - low)
        trials = tuple(Trial(f"clip{k:02d}", 1, k, n, float(va[k - 1, 0]), float(va[k - 1, 1])) for k in range(1, 29))
        created = FACED_DATE + timedelta(days=subject)
        plans.append(FilePlan(f"Processed_Data/sub{subject - 1:03d}.pkl", subject, "faced", created, trials))
        plans.append(
            FilePlan(
                f"Data/sub{subject - 1:03d}/After_remarks.mat",
                subject,
                "faced_remarks",
                created,
                constants=(("order", order),),
                ratings=ratings,
            )
        )
    return plans


def _write_faced(corpus: Corpus, plan: FilePlan, path: Path, seed: int) -> Path:
    names = [canonical_name(n) or n for n in corpus.manifest.channels.names]  # A1/A2 too: they carry signal
    profile = subject_profile(corpus, plan.subject, seed, names)
    data = np.empty((len(plan.trials), len(names), plan.trials[0].n_samples))
    for row, trial in zip(data, plan.trials, strict=True):
        row[...] = trial_signal(corpus, profile, plan.subject, trial, seed)[0]
        row -= row.mean(axis=0)  # the release is common-average referenced
    return writers.write_numpy1_pickle(path, data)


def _write_faced_remarks(plan: FilePlan, path: Path) -> Path:
    order = dict(plan.constants)["order"]
    remarks = np.empty((FACED_CLIPS, 1), dtype=[("score", object), ("trial", object), ("vid", object)])
    for position, vid in enumerate(order, start=1):
        remarks[position - 1, 0] = (
            plan.ratings[vid - 1][None, :],
            np.array([[float(position)]]),
            np.array([[float(vid)]]),
        )
    return writers.save_mat(path, {"After_remark": remarks}, plan.created)


def write_faced(corpus: Corpus, plan: FilePlan, out_dir: Path, seed: int) -> Path:
    """Write a subject's pickle or its ``After_remarks.mat`` (a ``CorpusSpec.writer``)."""
    path = target_path(out_dir, plan)
    if plan.container == "faced_remarks":
        return _write_faced_remarks(plan, path)
    return _write_faced(corpus, plan, path, seed)


SPEC = CorpusSpec(signals.SignalConfig(250.0, (0.05, 47.0), False, 0.2), faced_layout, write_faced, 123)
"""How FACED is synthesized."""
