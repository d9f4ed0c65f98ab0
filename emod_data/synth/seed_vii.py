"""SEED-VII: ``EEG_preprocessed/<subject>.mat`` (MATLAB v7.3) with variables ``'1'`` .. ``'80'``."""

from __future__ import annotations

from datetime import datetime, timedelta

from emod_data.synth import signals
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, class_trials
from emod_data.synth.trials import write_matlab

SEED_VII_DURATIONS = (
    151, 187, 183, 174, 159, 172, 221, 163, 185, 157, 163, 187, 143, 162, 152, 145, 174, 204, 175, 158,
    128, 192, 175, 151, 193, 213, 123, 186, 193, 185, 214, 187, 144, 239, 173, 210, 224, 194, 120, 121,
    150, 170, 130, 143, 157, 156, 174, 171, 168, 152, 146, 120, 204, 174, 179, 121, 190, 167, 196, 150,
    197, 209, 164, 160, 158, 173, 239, 168, 187, 127, 120, 173, 166, 203, 120, 181, 120, 218, 190, 142,
)  # fmt: skip
"""Synthetic SEED-VII durations in seconds of trials 1..80 (mean about 170 s, range 120-240 s)."""

SEED_VII_DATE = datetime(2024, 3, 1, 10, 0, 0)


def seed_vii_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """SEED-VII: ``EEG_preprocessed/<subject>.mat`` (MATLAB v7.3) with variables ``'1'`` .. ``'80'``.

    ``scale`` multiplies :data:`SEED_VII_DURATIONS`; ``seed`` is unused (labels come from the manifest).
    Returns per subject one file; trial k = (session - 1) * 20 + i is labelled by
        ``sequence_by_session[session][i - 1]``.
    """
    sequences = corpus.manifest.labels.sequence_by_session
    per_session = corpus.manifest.files.trials_per_session or 20
    trials = []
    for session in sorted(int(s) for s in sequences):
        first = (session - 1) * per_session
        keys = [str(first + i) for i in range(1, per_session + 1)]
        durations = list(SEED_VII_DURATIONS[first : first + per_session])
        trials += class_trials(corpus, session, sequences[str(session)], durations, scale, keys)
    return [
        FilePlan(
            f"EEG_preprocessed/{subject}.mat",
            subject,
            "mat73",
            SEED_VII_DATE + timedelta(days=subject, minutes=subject),
            tuple(trials),
        )
        for subject in range(1, subjects + 1)
    ]


SPEC = CorpusSpec(signals.SignalConfig(200.0, (0.1, 70.0), False, 1.0), seed_vii_layout, write_matlab, 20)
"""How SEED-VII is synthesized."""
