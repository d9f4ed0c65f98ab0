"""DREAMER: one ``DREAMER.mat`` holding every subject's structs (EEG and ECG cells, scores)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from emod_data.synth import signals, writers
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, Trial, scaled_samples, stream, target_path
from emod_data.synth.trials import ecg_like, subject_profile, trial_signal

DREAMER_CLIP_SECONDS = (199, 131, 204, 183, 194, 393, 206, 162, 212, 206, 147, 167, 117, 177, 165, 65, 203, 149)
"""Synthetic clip durations in seconds (in the release's documented range of 65-393 s; not the real table)."""

DREAMER_BASELINE_SECONDS = 61

DREAMER_ECG_SFREQ = 256.0

DREAMER_DATE = datetime(2017, 3, 1, 12, 0, 0)

DREAMER_DC_OFFSET = (4000.0, 4400.0)
"""Range of the per-channel DC offset (µV) of Emotiv EPOC raw values; DREAMER's EEG is not high-passed."""


def dreamer_scores(rng: np.random.Generator) -> np.ndarray:
    """Draw one subject's scores: (18, 3) integers on 1-5 (valence, arousal, dominance) as float64."""
    return rng.integers(1, 6, size=(len(DREAMER_CLIP_SECONDS), 3)).astype(np.float64)


def dreamer_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """DREAMER: one ``DREAMER.mat`` holding every subject.

    Parameters
    ----------
    scale : float
        Duration scale of the clips (:data:`DREAMER_CLIP_SECONDS`); the 61 s baselines keep their length.
    seed : int
        Base seed: scores come from (seed, corpus, subject).

    Returns
    -------
    list of FilePlan
        One plan. The file holds the struct ``DREAMER`` with fields ``Data`` ((1, subjects) cell of subject
        structs), ``EEG_SamplingRate`` 128, ``ECG_SamplingRate`` 256, ``EEG_Electrodes`` and
        ``ECG_Electrodes`` (cells of names), ``noOfSubjects``, ``noOfVideoSequences``, ``Disclaimer``,
        ``Provider``, ``Version``, ``Acknowledgement``. Each subject struct: ``Age``, ``Gender`` (text),
        ``EEG`` and ``ECG`` structs with ``baseline`` and ``stimuli`` ((18, 1) cells of (samples, 14) EEG at
        128 Hz and (samples, 2) ECG at 256 Hz, time first), ``ScoreValence``, ``ScoreArousal``,
        ``ScoreDominance`` ((18, 1) doubles holding integers 1-5). EEG values carry an Emotiv-like DC offset.
    """
    sfreq = corpus.config.sfreq
    trials = []
    for subject in range(1, subjects + 1):
        scores = dreamer_scores(stream(seed, corpus.name, subject, 0, 1))
        va = (scores - 3.0) * 2.0
        for k, seconds in enumerate(DREAMER_CLIP_SECONDS, start=1):
            n = scaled_samples(sfreq, seconds, scale)
            trials.append(Trial(f"s{subject}", subject, k, n, float(va[k - 1, 0]), float(va[k - 1, 1])))
    return [FilePlan("DREAMER.mat", 0, "dreamer", DREAMER_DATE, tuple(trials))]


def write_dreamer(corpus: Corpus, plan: FilePlan, out_dir: Path, seed: int) -> Path:
    """Write one planned file of DREAMER (a ``CorpusSpec.writer``)."""
    path = target_path(out_dir, plan)
    sfreq = corpus.config.sfreq
    n_base = round(DREAMER_BASELINE_SECONDS * sfreq)
    subjects = sorted({t.session for t in plan.trials})
    data = []
    for subject in subjects:
        profile = subject_profile(corpus, subject, seed)
        offset = stream(seed, corpus.name, subject, 0, 3).uniform(*DREAMER_DC_OFFSET, size=profile.n_channels)
        mine = [t for t in plan.trials if t.session == subject]
        eeg = {"baseline": [], "stimuli": []}
        ecg = {"baseline": [], "stimuli": []}
        for trial in mine:
            base = Trial(trial.key, 100 + subject, trial.index, n_base, 0.0, 0.0)
            for part, spec in (("baseline", base), ("stimuli", trial)):
                signal = trial_signal(corpus, profile, subject, spec, seed)[0] + offset[:, None]
                eeg[part].append(np.ascontiguousarray(signal.T))
                rng = stream(seed, corpus.name, subject, 200 + (part == "stimuli"), trial.index)
                n_ecg = round(spec.n_samples * DREAMER_ECG_SFREQ / sfreq)
                leads = [ecg_like(rng, n_ecg, DREAMER_ECG_SFREQ, profile.heart_rate) for _ in range(2)]
                ecg[part].append(np.stack(leads, axis=1))
        scores = dreamer_scores(stream(seed, corpus.name, subject, 0, 1))
        rng = stream(seed, corpus.name, subject, 0, 4)
        data.append(
            {
                "Age": str(int(rng.integers(22, 34))),
                "Gender": "male" if rng.random() < 0.6 else "female",
                "EEG": {part: writers.cell(values, (len(values), 1)) for part, values in eeg.items()},
                "ECG": {part: writers.cell(values, (len(values), 1)) for part, values in ecg.items()},
                "ScoreValence": scores[:, [0]],
                "ScoreArousal": scores[:, [1]],
                "ScoreDominance": scores[:, [2]],
            }
        )
    electrodes = list(corpus.manifest.channels.names)
    dreamer = {
        "Data": writers.cell(data, (1, len(data))),
        "EEG_SamplingRate": float(sfreq),
        "ECG_SamplingRate": DREAMER_ECG_SFREQ,
        "EEG_Electrodes": writers.cell(electrodes, (1, len(electrodes))),
        "ECG_Electrodes": writers.cell(["ECG1", "ECG2"], (1, 2)),
        "noOfSubjects": float(len(data)),
        "noOfVideoSequences": float(len(DREAMER_CLIP_SECONDS)),
        "Disclaimer": "Synthetic data written by emod_data.synth in the layout of the DREAMER release.",
        "Provider": "emod_data.synth",
        "Version": "1.0.2",
        "Acknowledgement": "Layout after Katsigiannis & Ramzan (2018); the signals are synthetic.",
    }
    return writers.save_mat(path, {"DREAMER": dreamer}, plan.created)


SPEC = CorpusSpec(signals.SignalConfig(128.0, (0.16, 43.0), False, 1.0), dreamer_layout, write_dreamer, 23)
"""How DREAMER is synthesized."""
