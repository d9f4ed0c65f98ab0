"""Synthetic continuous recordings in the real layouts: what SEED-V and SEED raw (Neuroscan CNT),
DEAP raw, MAHNOB-HCI and FACED raw (BDF) and the example BIDS dataset (EDF through mne-bids) share.

A recording is planned as a sequence of :class:`Segment` pieces (rest periods and trials, each with its
valence and arousal) plus its events; :func:`write_recording` renders the pieces one at a time with the
signal model of :mod:`emod_data.synth.signals` and streams them into the file, so a full-length 1 GB
SEED-V session is written in bounded memory. Channels in the channel vocabulary get EEG-like signals from
the subject's profile (the same electrode behaves the same in every file of a subject, whatever the file's
channel order); EOG, EXG and the other peripheral channels get the peripheral models; ``Status`` carries
the trigger codes.

Facts the corpora do not publish are fixed, deterministic choices of this module and are listed in
``docs/synthetic.md`` and the corpus pages: recording dates, clip durations of MAHNOB-HCI and FACED,
session ids, trigger codes other than the documented ones, which FACED subjects form the second cohort.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emod_data.channels import canonical_name, channel_positions
from emod_data.lexicon import load_lexicon
from emod_data.synth import signals
from emod_data.synth.bdf import BdfSignal, status_signal, write_bdf
from emod_data.synth.cnt import write_cnt
from emod_data.synth.plans import Corpus, FilePlan, class_va, stream, target_path

PIECE_SAMPLES = 1 << 17
"""Longest piece generated at once (131 s at 1000 Hz); longer segments are drawn in pieces."""

CNT_EXTRA = ("M1", "M2", "VEO", "HEO")
"""Channels after the 62 SEED channels in the CNT files."""


@dataclass(frozen=True)
class Segment:
    """A piece of a continuous recording.

    Attributes
    ----------
    n_samples : int
        Length in samples.
    valence, arousal : float
        Position in the V-A plane (0, 0 for rest).
    session, index : int
        Keys of the piece's random stream.
    """

    n_samples: int
    valence: float = 0.0
    arousal: float = 0.0
    session: int = 0
    index: int = 0


@dataclass(frozen=True)
class RecordingPlan(FilePlan):
    """A continuous recording to write (``container`` ``cnt``, ``bdf`` or ``bids``).

    Attributes
    ----------
    channel_names : tuple of str
        Channels in file order.
    segments : tuple of Segment
        The recording, piece after piece.
    events : tuple of (int, int, int)
        ``(sample, code, samples)`` trigger pulses: the CNT event table, or the BDF ``Status`` channel.
    status_offset : int
        Constant added to the ``Status`` channel (status bits above the trigger bits).
    annotations : tuple of (float, float or None, str)
        Sidecar annotations (FACED's ``evt.bdf``) or BIDS events.
    units : str
        Physical dimension written for the EEG channels of a BDF (``uV``; ``V`` for a cohort whose header
        states volts for µV values).
    dc_offset : bool
        Add large per-channel offsets (unreferenced BioSemi recordings).
    events_table : tuple of dict
        BIDS only: the rows of ``*_events.tsv``.
    """

    channel_names: tuple[str, ...] = ()
    segments: tuple[Segment, ...] = ()
    events: tuple[tuple[int, int, int], ...] = ()
    status_offset: int = 0
    annotations: tuple[tuple[float, float | None, str], ...] = ()
    units: str = "uV"
    dc_offset: bool = False
    events_table: tuple[dict, ...] = field(default=())


@dataclass(frozen=True)
class TextPlan(FilePlan):
    """A small text file of a corpus (span files, label tables, ``session.xml``)."""

    text: str = ""


_PERIPHERAL_ROW = {"HEO": 0, "HEOG": 0, "VEO": 1, "VEOG": 1, "GSR": 4, "Resp": 5, "Plet": 6, "Temp": 7}


def _peripheral_row(name: str, index: int) -> int:
    """Row of :func:`signals.peripheral_trial` used for a non-EEG channel."""
    for prefix, row in _PERIPHERAL_ROW.items():
        if name.startswith(prefix):
            return row
    if name.startswith("EXG"):  # BioSemi external electrodes: EOG-like for 1-4, EMG-like for 5-8
        return (0, 1, 0, 1, 2, 3, 2, 3)[(int(name[3:]) - 1) % 8] if name[3:].isdigit() else 2
    return 2 + index % 2  # Erg1/Erg2 and anything else: EMG-like


def _pieces(segment: Segment) -> Iterator[tuple[int, int]]:
    for part, start in enumerate(range(0, segment.n_samples, PIECE_SAMPLES)):
        yield part, min(PIECE_SAMPLES, segment.n_samples - start)


def render(corpus: Corpus, plan: RecordingPlan, seed: int) -> Iterator[np.ndarray]:
    """Generate a recording's samples piece by piece.

    Parameters
    ----------
    corpus : Corpus
        The corpus (its manifest's channel list fixes the subject's electrode profile).
    plan : RecordingPlan
        The recording.
    seed : int
        Base seed.

    Yields
    ------
    numpy.ndarray
        (channels in file order, samples) float64: µV for EEG, the peripheral models' units otherwise,
        trigger words for ``Status``.
    """
    vocab = [n for n in corpus.manifest.channels.names if canonical_name(n) is not None]
    row_of = {name: i for i, name in enumerate(vocab)}
    profile = signals.make_profile(
        stream(seed, corpus.name, plan.subject, 0, 0), channel_positions(vocab), corpus.config
    )
    offsets = np.zeros(len(plan.channel_names))
    if plan.dc_offset:
        offsets = stream(seed, corpus.name, plan.subject, 0, 2).uniform(-30000.0, 30000.0, len(plan.channel_names))
    total = sum(s.n_samples for s in plan.segments)
    status = np.zeros(total, dtype=np.int64)
    for sample, code, length in plan.events:
        status[sample : sample + max(length, 1)] = code
    status += plan.status_offset
    position = 0
    for segment in plan.segments:
        for part, n in _pieces(segment):
            rng = stream(seed, corpus.name, plan.subject, segment.session, segment.index, part)
            blinks = signals.blink_course(rng, profile, n)
            eeg = signals.eeg_trial(rng, profile, n, segment.valence, segment.arousal, 0, blinks)
            peripheral = signals.peripheral_trial(rng, profile, n, segment.arousal, blinks)
            out = np.empty((len(plan.channel_names), n))
            for i, name in enumerate(plan.channel_names):
                if name in row_of:
                    out[i] = eeg[row_of[name]]
                elif name == "Status":
                    out[i] = status[position : position + n]
                else:
                    out[i] = peripheral[_peripheral_row(name, i)]
                if name != "Status":
                    out[i] += offsets[i]
            position += n
            yield out


def write_recording(corpus: Corpus, plan: FilePlan, out_dir: Path, seed: int) -> Path:
    """Write a CNT or BDF recording, or a text file, of a continuous corpus (a ``CorpusSpec.writer``)."""
    path = target_path(out_dir, plan)
    if isinstance(plan, TextPlan):
        path.write_text(plan.text, encoding="utf-8")
        return path
    sfreq = corpus.config.sfreq
    n_samples = sum(s.n_samples for s in plan.segments)
    chunks = render(corpus, plan, seed)
    if plan.container == "cnt":
        events = [(sample, code) for sample, code, _ in plan.events]
        return write_cnt(
            path, list(plan.channel_names), int(sfreq), chunks, plan.created, events, label=f"{plan.subject}"
        )
    if plan.container == "bdf":
        specs = []
        for name in plan.channel_names:
            if name == "Status":
                specs.append(status_signal())
            elif canonical_name(name) is not None:
                specs.append(BdfSignal(name, plan.units))
            else:
                specs.append(BdfSignal(name, "uV", transducer="", prefilter=""))
        written = write_bdf(path, specs, sfreq, chunks, n_samples, plan.created)
        if plan.annotations:
            evt = path.with_name("evt.bdf")
            write_bdf(evt, [], sfreq, None, n_samples, plan.created, annotations=list(plan.annotations))
        return written
    raise ValueError(f"unknown container '{plan.container}' of a recording of {corpus.name}")


def spans_recording(corpus: Corpus, spans: list[tuple[int, int]], labels: list, session: int, tail: int) -> tuple:
    """Segments of a recording whose trials are ``spans`` (samples), rest elsewhere, ``tail`` after the last."""
    segments, position, lexicon = [], 0, load_lexicon()
    for index, ((start, stop), code) in enumerate(zip(spans, labels, strict=True), start=1):
        if start > position:
            segments.append(Segment(start - position, 0.0, 0.0, session, 100 + index))
        valence, arousal = class_va(corpus, code, lexicon)
        segments.append(Segment(stop - start, valence, arousal, session, index))
        position = stop
    segments.append(Segment(tail, 0.0, 0.0, session, 99))
    return tuple(segments)


def scaled_spans(starts: tuple, ends: tuple, scale: float, minimum: float) -> list[tuple[float, float]]:
    """Scale trial start and end times, keeping every trial at least ``minimum`` long and in order.

    Parameters
    ----------
    starts, ends : tuple of float
        The real start and end times.
    scale : float
        Duration scale.
    minimum : float
        Shortest trial (1 s, or one sample unit).

    Returns
    -------
    list of (float, float)
        Rounded (start, end) pairs; at scale 1 the real ones.
    """
    spans, last = [], 0.0
    for start, end in zip(starts, ends, strict=True):
        s = max(round(start * scale), last)
        e = max(round(end * scale), s + minimum)
        spans.append((s, e))
        last = e
    return spans
