"""Synthetic continuous recordings in the real layouts: SEED-V and SEED raw (Neuroscan CNT), DEAP raw,
MAHNOB-HCI and FACED raw (BDF), and an example BIDS dataset (EDF through mne-bids).

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

import csv
import io
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np

from emod_data.channels import canonical_name, channel_positions
from emod_data.lexicon import Lexicon, load_lexicon
from emod_data.synth import signals
from emod_data.synth.bdf import BdfSignal, status_signal, write_bdf
from emod_data.synth.cnt import write_cnt
from emod_data.synth.layouts import (
    DEAP_BASELINE_SECONDS,
    Corpus,
    FilePlan,
    deap_ratings,
    later_dates,
    register_corpus,
    scaled_samples,
    stream,
)

PIECE_SAMPLES = 1 << 17
"""Longest piece generated at once (131 s at 1000 Hz); longer segments are drawn in pieces."""

# --- SEED-V -----------------------------------------------------------------------------------------------
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

CNT_EXTRA = ("M1", "M2", "VEO", "HEO")
"""Channels after the 62 SEED channels in the CNT files."""

# --- SEED raw ---------------------------------------------------------------------------------------------
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

# --- DEAP raw ---------------------------------------------------------------------------------------------
DEAP_RAW_ORDER_1_22 = (
    "Fp1 AF3 F7 F3 FC1 FC5 T7 C3 CP1 CP5 P7 P3 Pz PO3 O1 Oz O2 PO4 P4 P8 CP6 CP2 C4 T8 FC6 FC2 F4 F8 AF4 Fp2 Fz Cz"
).split()
"""EEG channel order of DEAP subjects 1-22 (the others use the preprocessed release's order)."""

DEAP_RAW_PERIPHERAL = ("EXG1 EXG2 EXG3 EXG4 EXG5 EXG6 EXG7 EXG8 GSR1 GSR2 Erg1 Erg2 Resp Plet Temp").split()
DEAP_RAW_PHASES = (2.0, 5.0, 60.0, 5.0)
"""Seconds of each trial's phases: trial-number screen, fixation (code 3), video (code 4), end (code 5)."""

DEAP_STATUS_OFFSET = 0x1F0000
"""Status bits above the trigger bits in subjects 23-32's synthetic files (masked off by the manifest)."""

# --- MAHNOB-HCI -------------------------------------------------------------------------------------------
MAHNOB_CLIP_SECONDS = (101, 117, 89, 66, 35, 57, 79, 95, 71, 84, 46, 104, 62, 53, 112, 75, 41, 98, 68, 86)
"""Synthetic clip durations (s) of trials 1-20 (the real clips last 35-117 s)."""

MAHNOB_MARGIN_SECONDS = 30.0
MAHNOB_FELT_EMOTIONS = (0, 1, 2, 3, 4, 5, 6, 11, 12)
MAHNOB_PERIPHERAL = ("EXG1 EXG2 EXG3 EXG4 EXG5 EXG6 EXG7 EXG8 GSR1 GSR2 Erg1 Erg2 Resp Temp").split()

# --- FACED raw --------------------------------------------------------------------------------------------
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

# --- BIDS example -----------------------------------------------------------------------------------------
BIDS_CHANNELS = (
    "Fp1 Fp2 F7 F3 Fz F4 F8 FC5 FC1 FC2 FC6 T7 C3 Cz C4 T8 TP9 CP5 CP1 CP2 CP6 TP10 P7 P3 Pz P4 "
    "P8 PO9 O1 Oz O2 PO10 HEOG VEOG"
).split()
BIDS_FILMS = (
    ("happy", 1),
    ("sad", 2),
    ("fear", 3),
    ("neutral", 4),
    ("happy", 5),
    ("sad", 6),
    ("fear", 7),
    ("neutral", 8),
    ("happy", 9),
    ("sad", 10),
    ("fear", 11),
    ("neutral", 12),
)
BIDS_EMOTIONS = tuple(emotion for emotion, _ in BIDS_FILMS)
BIDS_FILM_SECONDS = 60.0
BIDS_REST_SECONDS = 10.0

REAL_SUBJECTS = {
    "seed_v_raw": 16,
    "seed_raw": 15,
    "deap_raw": 32,
    "mahnob_hci": 30,
    "faced_raw": 123,
    "bids_example": 10,
}
"""Number of subjects of each corpus (the BIDS example is not a real corpus: 10)."""


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


# --- rendering --------------------------------------------------------------------------------------------

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
    """Write one planned file of a continuous corpus (CNT, BDF, a BIDS recording or a text file).

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    plan : FilePlan
        A :class:`RecordingPlan` or :class:`TextPlan`.
    out_dir : pathlib.Path
        Root folder of the synthetic corpus.
    seed : int
        Base seed.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = out_dir / plan.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
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
    return _write_bids(corpus, plan, out_dir, seed, chunks)


def _write_bids(corpus: Corpus, plan: RecordingPlan, out_dir: Path, seed: int, chunks) -> Path:
    """Write one BIDS recording with mne-bids (EDF), then add the label columns to its events table."""
    import mne
    from mne_bids import BIDSPath, write_raw_bids

    data = np.concatenate(list(chunks), axis=1) * 1e-6
    types = ["eog" if name.endswith("EOG") else "eeg" for name in plan.channel_names]
    info = mne.create_info(list(plan.channel_names), corpus.config.sfreq, types)
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.set_meas_date(plan.created.replace(tzinfo=UTC))
    raw.info["line_freq"] = 50.0
    onsets = [row["onset"] for row in plan.events_table]
    durations = [row["duration"] for row in plan.events_table]
    raw.set_annotations(mne.Annotations(onsets, durations, [row["trial_type"] for row in plan.events_table]))
    subject = f"{plan.subject:02d}"
    bids_path = BIDSPath(subject=subject, task="emotion", datatype="eeg", root=out_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_raw_bids(raw, bids_path, format="EDF", allow_preload=True, overwrite=True, verbose="error")
    events_path = bids_path.copy().update(suffix="events", extension=".tsv").fpath
    columns = ["onset", "duration", "trial_type", "stim_id", "emotion", "valence", "arousal"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, delimiter="\t", lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in plan.events_table:
        writer.writerow({k: row.get(k, "n/a") for k in columns})
    Path(events_path).write_text(buffer.getvalue(), encoding="utf-8")
    sidecar = {
        "trial_type": {"LongName": "Event category", "Levels": {"rest": "Rest between films", "film": "Film clip"}},
        "stim_id": {"Description": "Number of the film shown (1-12)"},
        "emotion": {"Description": "Emotion the film targets", "Levels": {e: e for e in sorted(set(BIDS_EMOTIONS))}},
        "valence": {"Description": "Self-rated valence after the film", "Units": "1-9 SAM scale"},
        "arousal": {"Description": "Self-rated arousal after the film", "Units": "1-9 SAM scale"},
    }
    Path(events_path).with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    return Path(bids_path.fpath)


# --- layouts ----------------------------------------------------------------------------------------------


def _class_va(corpus: Corpus, code: object, lexicon: Lexicon | None = None) -> tuple[float, float]:
    """Lexicon coordinates of a label code or class name of the corpus."""
    labels = corpus.manifest.labels
    return (lexicon or load_lexicon()).coordinates(labels.codes.get(str(code), str(code)))


def _spans_recording(corpus: Corpus, spans: list[tuple[int, int]], labels: list, session: int, tail: int) -> tuple:
    """Segments of a recording whose trials are ``spans`` (samples), rest elsewhere, ``tail`` after the last."""
    segments, position, lexicon = [], 0, load_lexicon()
    for index, ((start, stop), code) in enumerate(zip(spans, labels, strict=True), start=1):
        if start > position:
            segments.append(Segment(start - position, 0.0, 0.0, session, 100 + index))
        valence, arousal = _class_va(corpus, code, lexicon)
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


def seed_v_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """SEED-V: ``EEG_raw/<subject>_<session>_<YYYYMMDD>.cnt`` and ``trial_start_end_timestamp.txt``.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects.
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
            segments = _spans_recording(corpus, samples, sequences[str(session)], session, round(tail * sfreq))
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


def seed_raw_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """SEED raw: ``SEED_RAW_EEG/<subject>_<session>.cnt`` and ``SEED_RAW_EEG/time.txt``.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects.
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
            segments = _spans_recording(corpus, spans, list(sequence), session, tail)
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


def _deap_ratings(seed: int, subject: int) -> np.ndarray:
    return deap_ratings(stream(seed, "deap", subject, 0, 1))  # the synthetic preprocessed DEAP's ratings


def deap_raw_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """DEAP raw: ``data_original/sNN.bdf`` and ``metadata_csv/participant_ratings.csv``.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects.
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


def mahnob_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """MAHNOB-HCI: ``Sessions/<id>/Part_<subject>_<S|N>_Trial<k>_emotion.bdf`` and ``session.xml``.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects.
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


def faced_raw_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """FACED raw: ``Data/subNNN/data.bdf`` and ``Data/subNNN/evt.bdf``.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects (``sub000`` ..).
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
            valence, arousal = _class_va(corpus, sequence[video - 1], lexicon)
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


def bids_example_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """An example BIDS dataset: ``sub-XX/eeg/sub-XX_task-emotion_eeg.edf`` with events.tsv, via mne-bids.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects (``sub-01`` ..).
    scale : float
        Duration scale of the 60 s films and 10 s rests (each at least 1 s).
    seed : int
        Base seed: film order and ratings.

    Returns
    -------
    list of FilePlan
        Per subject one EDF recording at 250 Hz (32 EEG, HEOG, VEOG); its events table has a ``rest`` row
        before each ``film`` row; film rows carry ``stim_id``, ``emotion``, ``valence`` and ``arousal``
        (integers 1-9). mne-bids also writes the dataset's sidecars.
    """
    sfreq = corpus.config.sfreq
    film = scaled_samples(sfreq, BIDS_FILM_SECONDS, scale)
    rest = scaled_samples(sfreq, BIDS_REST_SECONDS, scale)
    lexicon = load_lexicon()
    plans: list[FilePlan] = []
    for subject in range(1, subjects + 1):
        rng = stream(seed, corpus.name, subject, 0, 1)
        segments, rows, position = [], [], 0
        for k in rng.permutation(len(BIDS_FILMS)):
            emotion, stim_id = BIDS_FILMS[k]
            valence, arousal = lexicon.coordinates(emotion)
            rated = np.clip(np.round([5 + valence + rng.normal(0, 1), 5 + arousal + rng.normal(0, 1)]), 1, 9)
            rows.append({"onset": position / sfreq, "duration": rest / sfreq, "trial_type": "rest"})
            segments.append(Segment(rest, 0.0, 0.0, 1, 100 + stim_id))
            position += rest
            rows.append(
                {
                    "onset": position / sfreq,
                    "duration": film / sfreq,
                    "trial_type": "film",
                    "stim_id": stim_id,
                    "emotion": emotion,
                    "valence": int(rated[0]),
                    "arousal": int(rated[1]),
                }
            )
            segments.append(Segment(film, rated[0] - 5.0, rated[1] - 5.0, 1, stim_id))
            position += film
        segments.append(Segment(rest, 0.0, 0.0, 1, 99))
        plans.append(
            RecordingPlan(
                f"sub-{subject:02d}/eeg/sub-{subject:02d}_task-emotion_eeg.edf",
                subject,
                "bids",
                datetime(2024, 2, 1, 10) + timedelta(days=subject),
                channel_names=tuple(BIDS_CHANNELS),
                segments=tuple(segments),
                events_table=tuple(rows),
            )
        )
    return plans


LAYOUTS = {
    "seed_v_raw": (signals.SignalConfig(1000.0, (None, None), True, 1.0), seed_v_layout),
    "seed_raw": (signals.SignalConfig(1000.0, (None, None), True, 1.0), seed_raw_layout),
    "deap_raw": (signals.SignalConfig(512.0, (None, None), True, 1.0), deap_raw_layout),
    "mahnob_hci": (signals.SignalConfig(256.0, (None, None), True, 1.0), mahnob_layout),
    "faced_raw": (signals.SignalConfig(250.0, (None, None), True, 1.0), faced_raw_layout),
    "bids_example": (signals.SignalConfig(250.0, (None, None), True, 1.0), bids_example_layout),
}
"""Recording conditions and layout function of each continuous corpus."""

for _name, (_config, _layout) in LAYOUTS.items():
    register_corpus(_name, _config, _layout, REAL_SUBJECTS[_name], write_recording)
