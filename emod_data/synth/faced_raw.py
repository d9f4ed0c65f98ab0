"""FACED raw: ``Data/subNNN/data.bdf`` and ``Data/subNNN/evt.bdf`` (two synthetic cohorts)."""

from __future__ import annotations

from datetime import datetime, timedelta

from emod_data.lexicon import load_lexicon
from emod_data.synth import signals
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, class_va, scaled_samples, stream
from emod_data.synth.recordings import RecordingPlan, Segment, write_recording

FACED_CLIP_SECONDS = (
    74,
    81,
    63,
    45,
    52,
    66,
    94,
    118,
    71,
    129,
    86,
    77,
    48,
    55,
    34,
    60,
    62,
    83,
    58,
    91,
    102,
    65,
    57,
    73,
    88,
    69,
    79,
    96,
)
"""Synthetic durations (s) of FACED's clips 1-28 (unpublished here; the real clips last about 34-129 s)."""

FACED_CHANNELS = (
    "Fp1 Fp2 Fz F3 F4 F7 F8 FC1 FC2 FC5 FC6 Cz C3 C4 T7 T8 CP1 CP2 CP5 CP6 Pz P3 P4 P7 P8 PO3 PO4 Oz O1 O2 A2 A1"
).split()

FACED_REST_SECONDS = 30.0


def faced_raw_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """FACED raw: ``Data/subNNN/data.bdf`` and ``Data/subNNN/evt.bdf``.

    Parameters
    ----------
    scale : float
        Duration scale of the clips and of the 30 s rests between them (each at least 1 s).
    seed : int
        Base seed: presentation order per subject.

    Returns
    -------
    list of FilePlan
        Per subject a 32-channel BDF at 250 Hz and its annotation file: ``100`` at the start, then per
        clip (in a per-subject order) its video index 1 s before ``101`` (clip start) and ``102`` (clip
        end). Two synthetic cohorts alternate: even subjects store µV with ``uV`` in the header and A2, A1
        last; odd subjects store µV under a ``V`` header (a unit quirk) with A1, A2 first.
    """
    sfreq = corpus.config.sfreq
    rest = scaled_samples(sfreq, FACED_REST_SECONDS, scale)
    sequence = corpus.manifest.labels.sequence
    lexicon = load_lexicon()
    plans: list[FilePlan] = []
    for index in range(subjects):
        subject = index + 1  # random streams keyed from 1; the folder is subNNN from 000
        order = stream(seed, corpus.name, subject, 0, 3).permutation(28) + 1
        segments, annotations, position = [Segment(rest, 0.0, 0.0, 1, 100)], [(0.5, None, "100")], rest
        for video in order:
            valence, arousal = class_va(corpus, sequence[video - 1], lexicon)
            clip = scaled_samples(sfreq, FACED_CLIP_SECONDS[video - 1], scale)
            annotations += [
                ((position - min(sfreq, rest / 2)) / sfreq, None, str(int(video))),  # 1 s before, inside the rest
                (position / sfreq, None, "101"),
                ((position + clip) / sfreq, None, "102"),
            ]
            segments += [Segment(clip, valence, arousal, 1, int(video)), Segment(rest, 0.0, 0.0, 1, 100 + int(video))]
            position += clip + rest
        second_cohort = index % 2 == 1
        names = tuple(["A1", "A2", *FACED_CHANNELS[:30]] if second_cohort else FACED_CHANNELS)
        plans.append(
            RecordingPlan(
                f"Data/sub{index:03d}/data.bdf",
                subject,
                "bdf",
                datetime(2021, 3, 1, 9) + timedelta(days=index),
                channel_names=names,
                segments=tuple(segments),
                annotations=tuple(annotations),
                units="V" if second_cohort else "uV",
            )
        )
    return plans


SPEC = CorpusSpec(signals.SignalConfig(250.0, (None, None), True, 1.0), faced_raw_layout, write_recording, 123)
"""How FACED raw is synthesized."""
