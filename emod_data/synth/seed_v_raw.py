"""SEED-V raw: ``EEG_raw/<subject>_<session>_<YYYYMMDD>.cnt`` and ``trial_start_end_timestamp.txt``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from emod_data.synth import signals
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, later_dates
from emod_data.synth.recordings import (
    CNT_EXTRA,
    RecordingPlan,
    TextPlan,
    scaled_spans,
    spans_recording,
    write_recording,
)

SEED_V_SPANS = {
    1: (
        (30, 132, 287, 555, 773, 982, 1271, 1628, 1730, 2025, 2227, 2435, 2667, 2932, 3204),
        (102, 228, 524, 742, 920, 1240, 1568, 1697, 1994, 2166, 2401, 2607, 2901, 3172, 3359),
    ),
    2: (
        (30, 299, 548, 646, 836, 1000, 1091, 1392, 1657, 1809, 1966, 2186, 2333, 2490, 2741),
        (267, 488, 614, 773, 967, 1059, 1331, 1622, 1777, 1908, 2153, 2302, 2428, 2709, 2817),
    ),
    3: (
        (30, 353, 478, 674, 825, 908, 1200, 1346, 1451, 1711, 2055, 2307, 2457, 2726, 2888),
        (321, 418, 643, 764, 877, 1147, 1284, 1418, 1679, 1996, 2275, 2425, 2664, 2857, 3066),
    ),
}
"""Start and end seconds of the 15 trials of each session (``trial_start_end_timestamp.txt``)."""

SEED_V_TAIL_SECONDS = 30
"""Recording after the last trial's end (synthetic choice)."""

SEED_V_FIRST_DATE = date(2018, 8, 4)
"""Session-1 date of subject 1 (``1_1_20180804.cnt``); other subjects and sessions follow deterministically."""


def seed_v_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """SEED-V: ``EEG_raw/<subject>_<session>_<YYYYMMDD>.cnt`` and ``trial_start_end_timestamp.txt``.

    Parameters
    ----------
    scale : float
        Duration scale: the timestamps are scaled (whole seconds, every trial at least 1 s) and the
        timestamp file written with the scaled values; at 1.0 it is the real file.
    seed : int
        Base seed.

    Returns
    -------
    list of FilePlan
        One 66-channel CNT (the 62 SEED channels, then M1 M2 VEO HEO) at 1000 Hz per subject and session,
        trials labelled by the manifest's per-session sequences, and the timestamp file.
    """
    sfreq = corpus.config.sfreq
    sequences = corpus.manifest.labels.sequence_by_session
    names = tuple(corpus.manifest.channels.names[:62]) + CNT_EXTRA
    spans = {s: scaled_spans(*SEED_V_SPANS[s], scale, 1) for s in (1, 2, 3)}
    tail = max(round(SEED_V_TAIL_SECONDS * scale), 1)
    plans: list[FilePlan] = []
    for subject in range(1, subjects + 1):
        first = SEED_V_FIRST_DATE + timedelta(days=(subject - 1) * 23 % 200)
        for session, day in enumerate(later_dates(first, subject, 3), start=1):
            samples = [(round(s * sfreq), round(e * sfreq)) for s, e in spans[session]]
            segments = spans_recording(corpus, samples, sequences[str(session)], session, round(tail * sfreq))
            created = datetime.combine(day, time(9 + subject % 8, 30))
            plans.append(
                RecordingPlan(
                    f"EEG_raw/{subject}_{session}_{day:%Y%m%d}.cnt",
                    subject,
                    "cnt",
                    created,
                    channel_names=names,
                    segments=segments,
                )
            )
    lines = []
    for session in (1, 2, 3):
        starts = ", ".join(str(int(s)) for s, _ in spans[session])
        ends = ", ".join(str(int(e)) for _, e in spans[session])
        lines += [f"Session {session}:", f"start_second: [{starts}]", f"end_second: [{ends}]", ""]
    plans.append(TextPlan("trial_start_end_timestamp.txt", 0, "text", datetime(2019, 1, 1), text="\n".join(lines)))
    return plans


SPEC = CorpusSpec(signals.SignalConfig(1000.0, (None, None), True, 1.0), seed_v_layout, write_recording, 16)
"""How SEED-V raw is synthesized."""
