"""MAHNOB-HCI: ``Sessions/<id>/Part_<subject>_<S|N>_Trial<k>_emotion.bdf`` and ``session.xml``."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from emod_data.lexicon import load_lexicon
from emod_data.synth import signals
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, scaled_samples, stream
from emod_data.synth.recordings import RecordingPlan, Segment, TextPlan, write_recording

MAHNOB_CLIP_SECONDS = (101, 117, 89, 66, 35, 57, 79, 95, 71, 84, 46, 104, 62, 53, 112, 75, 41, 98, 68, 86)
"""Synthetic clip durations (s) of trials 1-20 (the real clips last 35-117 s)."""

MAHNOB_MARGIN_SECONDS = 30.0

MAHNOB_FELT_EMOTIONS = (0, 1, 2, 3, 4, 5, 6, 11, 12)

MAHNOB_PERIPHERAL = ("EXG1 EXG2 EXG3 EXG4 EXG5 EXG6 EXG7 EXG8 GSR1 GSR2 Erg1 Erg2 Resp Temp").split()


def mahnob_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """MAHNOB-HCI: ``Sessions/<id>/Part_<subject>_<S|N>_Trial<k>_emotion.bdf`` and ``session.xml``.

    Parameters
    ----------
    scale : float
        Duration scale of the clips and of the 30 s margins before and after them (each at least 1 s).
    seed : int
        Base seed: felt emotion and ratings per trial.

    Returns
    -------
    list of FilePlan
        20 emotion trials per subject, each a 47-channel BDF at 256 Hz (32 EEG, EXG1-8, GSR1, GSR2,
        Erg1, Erg2, Resp, Temp, Status) with two Status pulses bounding the clip, and its ``session.xml``.
        Session ids are ``2 * ((subject - 1) * 20 + k)``; the condition letter is ``S`` for odd subjects,
        ``N`` for even ones; trials with ``(3 * subject + k) % 9 == 0`` have no felt ratings.
    """
    sfreq = corpus.config.sfreq
    eeg = [n for n in corpus.manifest.channels.names if n not in corpus.manifest.channels.exclude]
    names = (*eeg, *MAHNOB_PERIPHERAL, "Status")
    margin = scaled_samples(sfreq, MAHNOB_MARGIN_SECONDS, scale)
    lexicon = load_lexicon()
    codes = corpus.manifest.labels.codes
    plans: list[FilePlan] = []
    for subject in range(1, subjects + 1):
        rng = stream(seed, corpus.name, subject, 0, 1)
        condition = "S" if subject % 2 else "N"
        for k, seconds in enumerate(MAHNOB_CLIP_SECONDS, start=1):
            emotion = int(rng.choice(MAHNOB_FELT_EMOTIONS))
            valence, arousal = lexicon.coordinates(codes[str(emotion)])
            felt = np.clip(np.round([5 + valence + rng.normal(0, 1), 5 + arousal + rng.normal(0, 1)]), 1, 9)
            control, predictability = int(rng.integers(1, 10)), int(rng.integers(1, 10))
            clip = scaled_samples(sfreq, seconds, scale)
            session_id = 2 * ((subject - 1) * 20 + k)
            folder = f"Sessions/{session_id}"
            created = datetime(2010, 6, 1, 9) + timedelta(days=subject, minutes=5 * k)
            segments = (
                Segment(margin, 0.0, 0.0, 1, 100 + k),
                Segment(clip, felt[0] - 5.0, felt[1] - 5.0, 1, k),
                Segment(margin, 0.0, 0.0, 1, 200 + k),
            )
            pulse = max(round(0.01 * sfreq), 1)
            events = ((margin, 1, pulse), (margin + clip, 1, pulse))
            plans.append(
                RecordingPlan(
                    f"{folder}/Part_{subject}_{condition}_Trial{k}_emotion.bdf",
                    subject,
                    "bdf",
                    created,
                    channel_names=names,
                    segments=segments,
                    events=events,
                    dc_offset=True,
                )
            )
            rated = (3 * subject + k) % 9 != 0
            felt_attributes = (
                f' feltArsl="{int(felt[1])}" feltCtrl="{control}" feltEmo="{emotion}" feltPred="{predictability}"'
                f' feltVlnc="{int(felt[0])}"'
                if rated
                else ""
            )
            xml = (
                '<?xml version="1.0" encoding="utf-8"?>\n'
                f'<session cutNum="{k}" mediaFile="{(subject * 7 + k * 13) % 20 + 1}.avi" cutLenSec="{seconds}"'
                f' sessionId="{session_id}" isStim="1"{felt_attributes}>\n'
                f'  <subject id="{subject}" />\n'
                "</session>\n"
            )
            plans.append(TextPlan(f"{folder}/session.xml", subject, "text", created, text=xml))
    return plans


SPEC = CorpusSpec(signals.SignalConfig(256.0, (None, None), True, 1.0), mahnob_layout, write_recording, 30)
"""How MAHNOB-HCI is synthesized."""
