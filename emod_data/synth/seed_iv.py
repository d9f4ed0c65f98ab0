"""SEED-IV: ``eeg_raw_data/<session>/<subject>_<YYYYMMDD>.mat``, 24 trials per session.

Trial durations are a fixed table here (the real ones are not published); labels follow the manifest's
per-session sequences.
"""

from __future__ import annotations

from datetime import date, timedelta

from emod_data.synth import signals
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, Trial, class_trials, session_files
from emod_data.synth.trials import write_matlab

SEED_IV_PREFIXES = tuple("cz ha hql ldy ly mhw mz qyt rx tyc whh wll wq zjd zjy".split())
"""Variable-name prefix of SEED-IV subjects 1..15."""

SEED_IV_DURATIONS = (
    (
        80,
        238,
        78,
        185,
        117,
        144,
        60,
        277,
        42,
        75,
        273,
        156,
        85,
        190,
        160,
        175,
        178,
        238,
        226,
        223,
        202,
        130,
        211,
        77,
    ),
    (
        125,
        227,
        153,
        284,
        203,
        279,
        48,
        238,
        166,
        51,
        233,
        87,
        215,
        190,
        202,
        42,
        72,
        217,
        151,
        129,
        230,
        50,
        219,
        78,
    ),
    (
        50,
        100,
        42,
        45,
        215,
        165,
        203,
        197,
        220,
        63,
        101,
        78,
        260,
        272,
        193,
        209,
        224,
        82,
        164,
        102,
        187,
        40,
        117,
        252,
    ),
)
"""Synthetic SEED-IV trial durations in seconds per session (the release does not publish them)."""

SEED_IV_FIRST_DATE = date(2015, 9, 1)


def seed_iv_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """SEED-IV: ``eeg_raw_data/<session>/<subject>_<YYYYMMDD>.mat`` with 24 variables ``<prefix>_eeg<k>``.

    Parameters
    ----------
    scale : float
        Duration scale applied to :data:`SEED_IV_DURATIONS`.
    seed : int
        Base seed (unused: labels come from the manifest).

    Returns
    -------
    list of FilePlan
        Per file: 24 float64 (62, samples) variables at 200 Hz, labelled by the manifest's
        ``sequence_by_session``.
    """
    sequences = corpus.manifest.labels.sequence_by_session

    def trials(subject: int, session: int) -> list[Trial]:
        labels = sequences[str(session)]
        keys = [f"{SEED_IV_PREFIXES[subject - 1]}_eeg{k}" for k in range(1, len(labels) + 1)]
        return class_trials(corpus, session, labels, list(SEED_IV_DURATIONS[session - 1]), scale, keys)

    return session_files(
        subjects,
        lambda subject: SEED_IV_FIRST_DATE + timedelta(days=(subject * 53) % 240),
        lambda subject, session, day: f"eeg_raw_data/{session}/{subject}_{day:%Y%m%d}.mat",
        trials,
    )


SPEC = CorpusSpec(signals.SignalConfig(200.0, (None, 75.0), True, 1.0), seed_iv_layout, write_matlab, 15)
"""How SEED-IV is synthesized."""
