"""DEAP raw: ``data_original/sNN.bdf`` and ``metadata_csv/participant_ratings.csv``.

The ratings are those of the synthetic preprocessed DEAP (:mod:`emod_data.synth.deap`) for the same seed,
so both synthetic releases agree.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import numpy as np

from emod_data.synth import signals
from emod_data.synth.deap import DEAP_BASELINE_SECONDS, deap_ratings
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, scaled_samples, stream
from emod_data.synth.recordings import RecordingPlan, Segment, TextPlan, write_recording

DEAP_RAW_ORDER_1_22 = (
    "Fp1 AF3 F7 F3 FC1 FC5 T7 C3 CP1 CP5 P7 P3 Pz PO3 O1 Oz O2 PO4 P4 P8 CP6 CP2 C4 T8 FC6 FC2 F4 F8 AF4 Fp2 Fz Cz"
).split()
"""EEG channel order of DEAP subjects 1-22 (the others use the preprocessed release's order)."""

DEAP_RAW_PERIPHERAL = ("EXG1 EXG2 EXG3 EXG4 EXG5 EXG6 EXG7 EXG8 GSR1 GSR2 Erg1 Erg2 Resp Plet Temp").split()

DEAP_RAW_PHASES = (2.0, 5.0, 60.0, 5.0)
"""Seconds of each trial's phases: trial-number screen, fixation (code 3), video (code 4), end (code 5)."""

DEAP_STATUS_OFFSET = 0x1F0000
"""Status bits above the trigger bits in subjects 23-32's synthetic files (masked off by the manifest)."""


def _deap_ratings(seed: int, subject: int) -> np.ndarray:
    return deap_ratings(stream(seed, "deap", subject, 0, 1))  # the synthetic preprocessed DEAP's ratings


def deap_raw_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """DEAP raw: ``data_original/sNN.bdf`` and ``metadata_csv/participant_ratings.csv``.

    Parameters
    ----------
    scale : float
        Duration scale of every phase (at least 1 s each; the fixation at least 3 s, which hold the
        baseline). The manifest cuts each trial from code 4 to code 5, at most 60 s, so it reads the
        synthetic files at any scale.
    seed : int
        Base seed. Ratings are those of the synthetic preprocessed DEAP for the same seed (video order),
        so both synthetic releases agree.

    Returns
    -------
    list of FilePlan
        Per subject a 48-channel BDF at 512 Hz (32 EEG in the order of its cohort, EXG1-8, GSR1, GSR2,
        Erg1, Erg2, Resp, Plet, Temp, Status) with 40 trials in a per-subject presentation order; the
        Status channel marks codes 3 (fixation), 4 (video start) and 5 (video end), with status bits above
        the trigger bits for subjects 23-32. Then the ratings table.
    """
    sfreq = corpus.config.sfreq
    eeg_23 = [n for n in corpus.manifest.channels.names if n not in corpus.manifest.channels.exclude]
    plans: list[FilePlan] = []
    rows = []
    screen, fixation, video, after = (scaled_samples(sfreq, s, scale) for s in DEAP_RAW_PHASES)
    fixation = max(fixation, round(DEAP_BASELINE_SECONDS * sfreq) + 1)  # room for the 3 s baseline
    for subject in range(1, subjects + 1):
        ratings = _deap_ratings(seed, subject)
        order = stream(seed, corpus.name, subject, 0, 3).permutation(40) + 1  # video id of each trial
        segments, events, position = [], [], 0
        for trial, video_id in enumerate(order, start=1):
            valence, arousal = ratings[video_id - 1, 0] - 5.0, ratings[video_id - 1, 1] - 5.0
            segments.append(Segment(screen + fixation, 0.0, 0.0, 1, 100 + trial))
            events.append((position + screen, 3, 5))
            position += screen + fixation
            segments.append(Segment(video, valence, arousal, 1, trial))
            events.append((position, 4, 5))
            start_us = int(position / sfreq * 1e6)  # video playback start, microseconds from the recording start
            position += video
            segments.append(Segment(after, 0.0, 0.0, 1, 200 + trial))
            events.append((position, 5, 5))
            position += after
            rows.append([subject, trial, int(video_id), start_us, *ratings[video_id - 1].tolist(), 1 + video_id % 5])
        names = (DEAP_RAW_ORDER_1_22 if subject <= 22 else eeg_23) + list(DEAP_RAW_PERIPHERAL) + ["Status"]
        plans.append(
            RecordingPlan(
                f"data_original/s{subject:02d}.bdf",
                subject,
                "bdf",
                datetime(2011, 5, 2, 10) + timedelta(days=subject),
                channel_names=tuple(names),
                segments=tuple(segments),
                events=tuple(events),
                status_offset=DEAP_STATUS_OFFSET if subject > 22 else 0,
                dc_offset=True,
            )
        )
    header = [
        "Participant_id",
        "Trial",
        "Experiment_id",
        "Start_time",
        "Valence",
        "Arousal",
        "Dominance",
        "Liking",
        "Familiarity",
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    table = TextPlan("metadata_csv/participant_ratings.csv", 0, "text", datetime(2012, 1, 1), text=buffer.getvalue())
    plans.append(table)
    return plans


SPEC = CorpusSpec(signals.SignalConfig(512.0, (None, None), True, 1.0), deap_raw_layout, write_recording, 32)
"""How DEAP raw is synthesized."""
