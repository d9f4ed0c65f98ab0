"""SEED raw: ``SEED_RAW_EEG/<subject>_<session>.cnt`` and ``SEED_RAW_EEG/time.txt``."""

from __future__ import annotations

from datetime import datetime, timedelta

from emod_data.synth import recordings, signals
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, scaled_samples
from emod_data.synth.recordings import CNT_EXTRA, RecordingPlan, TextPlan, scaled_spans, spans_recording

SEED_RAW_STARTS = (
    27000,
    290000,
    551000,
    784000,
    1050000,
    1262000,
    1484000,
    1748000,
    1993000,
    2287000,
    2551000,
    2812000,
    3072000,
    3335000,
    3599000,
)

SEED_RAW_ENDS = (
    262000,
    523000,
    757000,
    1022000,
    1235000,
    1457000,
    1721000,
    1964000,
    2258000,
    2524000,
    2786000,
    3045000,
    3307000,
    3573000,
    3805000,
)
"""Trial start and end samples at 1000 Hz of ``SEED_RAW_EEG/time.txt`` (durations = SEED's trial durations)."""


def seed_raw_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """SEED raw: ``SEED_RAW_EEG/<subject>_<session>.cnt`` and ``SEED_RAW_EEG/time.txt``.

    Parameters
    ----------
    scale : float
        Duration scale applied to the sample indices of ``time.txt`` (every trial at least 1 s); the scaled
        file is written.
    seed : int
        Base seed.

    Returns
    -------
    list of FilePlan
        One 66-channel CNT at 1000 Hz per subject and session, and ``time.txt``.
    """
    sfreq = corpus.config.sfreq
    sequence = corpus.manifest.labels.sequence
    names = tuple(corpus.manifest.channels.names[:62]) + CNT_EXTRA
    spans = [(int(s), int(e)) for s, e in scaled_spans(SEED_RAW_STARTS, SEED_RAW_ENDS, scale, int(sfreq))]
    tail = scaled_samples(sfreq, 30, scale)
    plans: list[FilePlan] = []
    for subject in range(1, subjects + 1):
        for session in (1, 2, 3):
            segments = spans_recording(corpus, spans, list(sequence), session, tail)
            created = datetime(2013, 7, 1, 10) + timedelta(days=subject * 11 + session * 9)
            plans.append(
                RecordingPlan(
                    f"SEED_RAW_EEG/{subject}_{session}.cnt",
                    subject,
                    "cnt",
                    created,
                    channel_names=names,
                    segments=segments,
                )
            )
    text = (
        f"start_point_list = [{','.join(str(s) for s, _ in spans)}]  # 1000Hz\n"
        f"end_point_list = [{','.join(str(e) for _, e in spans)}]  # 1000Hz\n"
    )
    plans.append(TextPlan("SEED_RAW_EEG/time.txt", 0, "text", datetime(2014, 7, 1), text=text))
    return plans


SPEC = CorpusSpec(
    signals.SignalConfig(1000.0, (None, None), True, 1.0), seed_raw_layout, recordings.write_recording, 15
)
"""How SEED raw is synthesized."""
