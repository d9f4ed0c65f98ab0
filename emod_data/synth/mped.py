"""MPED: ``raw_EEG_signals/<name>/<name>_d.mat`` and ``<name>_dd.mat`` per subject (30 trials at 1000 Hz)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from emod_data.lexicon import load_lexicon
from emod_data.synth import signals, writers
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, Trial, scaled_samples, target_path
from emod_data.synth.trials import subject_profile, trial_signal

MPED_SECONDS = (
    120, 183, 201, 175, 196, 212, 188, 179, 204, 193, 197, 176, 199, 208, 185,
    120, 191, 182, 197, 205, 178, 204, 186, 200, 199, 181, 205, 202, 194, 210,
)  # fmt: skip
"""Synthetic durations in seconds of trials 1..30 (rest trials 1 and 16: 120 s). Not published with the
release: chosen so that 10 s windows over the 28 non-rest trials give 530 per subject, the published
12,190 for 23 subjects."""

MPED_LABELS = (0, 2, 1, 4, 3, 5, 6, 7, 1, 2, 3, 6, 7, 4, 5, 0, 1, 5, 6, 2, 2, 1, 7, 6, 4, 4, 3, 5, 3, 7)
"""MPED label codes of trials 1..30 (0 rest, 1 neutral, 2 joy, 3 funny, 4 anger, 5 fear, 6 disgust, 7 sadness)."""

MPED_FIRST_FILE_TRIALS = 17
"""``<name>_d.mat`` holds raw_eeg1..raw_eeg17, ``<name>_dd.mat`` the rest."""

MPED_DATE = datetime(2018, 2, 6, 15, 42, 29)

MPED_PLATFORM = "PCWIN64"


def mped_names(subjects: int) -> list[str]:
    """Folder names of the synthetic MPED subjects (the real ones are subject names; these are placeholders)."""
    return [f"s{subject:02d}" for subject in range(1, subjects + 1)]


def mped_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """MPED: ``raw_EEG_signals/<name>/<name>_d.mat`` (raw_eeg1..17) and ``<name>_dd.mat`` (raw_eeg18..30).

    Parameters
    ----------
    scale : float
        Duration scale of :data:`MPED_SECONDS`.
    seed : int
        Base seed (unused: labels are fixed).

    Returns
    -------
    list of FilePlan
        Two files per subject of float64 (62, samples) variables at 1000 Hz in µV, rows in the channel
        order of the manifest (exactly 62 rows: whether the real files hold further rows is unconfirmed).
        Rest trials (code 0) get neutral signals; the others their class' lexicon coordinates.
    """
    lexicon = load_lexicon()
    codes = corpus.manifest.labels.codes
    sfreq = corpus.config.sfreq
    trials = []
    for k, (code, seconds) in enumerate(zip(MPED_LABELS, MPED_SECONDS, strict=True), start=1):
        valence, arousal = (0.0, 0.0) if code == 0 else lexicon.coordinates(codes[str(code)])
        trials.append(Trial(f"raw_eeg{k}", 1, k, scaled_samples(sfreq, seconds, scale), valence, arousal))
    plans = []
    for subject, name in enumerate(mped_names(subjects), start=1):
        created = MPED_DATE + timedelta(days=subject)
        for suffix, part in (("d", trials[:MPED_FIRST_FILE_TRIALS]), ("dd", trials[MPED_FIRST_FILE_TRIALS:])):
            relpath = f"raw_EEG_signals/{name}/{name}_{suffix}.mat"
            plans.append(FilePlan(relpath, subject, "mped", created, tuple(part)))
    return plans


def write_mped(corpus: Corpus, plan: FilePlan, out_dir: Path, seed: int) -> Path:
    """Write one planned file of MPED (a ``CorpusSpec.writer``)."""
    path = target_path(out_dir, plan)
    profile = subject_profile(corpus, plan.subject, seed)
    variables = {trial.key: trial_signal(corpus, profile, plan.subject, trial, seed)[0] for trial in plan.trials}
    return writers.save_mat(path, variables, plan.created, MPED_PLATFORM)


SPEC = CorpusSpec(signals.SignalConfig(1000.0, (None, None), True, 1.0), mped_layout, write_mped, 23)
"""How MPED is synthesized."""
