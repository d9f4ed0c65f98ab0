"""Cutting continuous recordings into trials: the manifest's ``[recording]`` section and its logic.

Continuous formats (Neuroscan CNT, BDF/EDF, BIDS datasets) hold a whole session per file; a trial is a
span of it. Where the spans come from is declared by the manifest's ``[recording]`` section
(:class:`RecordingSection`):

- ``trials = "span_file"``: a text file lists start and end times (SEED-V's
  ``trial_start_end_timestamp.txt``, SEED's ``time.txt``), per session or the same for every file;
- ``trials = "stim_channel"``: trigger codes of a stimulus channel (BioSemi ``Status``);
- ``trials = "annotations"``: annotations of the recording or of a sibling file (FACED's ``evt.bdf``);
- ``trials = "events_tsv"``: the BIDS ``*_events.tsv`` next to the recording.

Events become spans by a ``mode``: ``fixed`` (a fixed length after each start event), ``start_end`` (from a
start event to the next end event, optionally named by the identity event before it), ``first_two`` (the
stimulus lies between the first two events) or ``duration`` (each event spans its own duration).

Labels can be read from a table: the events' own columns (BIDS), a sidecar file next to the recording
(MAHNOB-HCI's ``session.xml``) or one corpus-wide table (DEAP's participant ratings).

Everything here is pure (no file access, no MNE), so it is tested directly; the readers in
:mod:`emod_data.readers.mne_raw` do the I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emod_data.errors import ReaderError
from emod_data.readers.base import CONTINUOUS_CONTAINERS


class RecordingSection(BaseModel):
    """How a continuous recording is cut into trials and where their labels are (``[recording]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trials: Literal["span_file", "stim_channel", "annotations", "events_tsv"]
    # span_file
    span_file: str | None = None
    start_key: str = "start"
    end_key: str = "end"
    span_unit: Literal["seconds", "samples"] = "seconds"
    span_sfreq: float | None = Field(default=None, gt=0)
    by_session: bool = False
    # events
    stim_channel: str = "Status"
    stim_mask: int | None = Field(default=None, gt=0)
    annotations_file: str | None = None
    event_column: str = "trial_type"
    mode: Literal["fixed", "start_end", "first_two", "duration"] = "duration"
    start: list[str] = []
    end: list[str] = []
    identity: list[str] = []
    seconds: float | None = Field(default=None, gt=0)
    before: float = Field(default=0.0, ge=0)
    # labels from a table
    table: str | None = None
    table_in: Literal["recording_folder", "corpus"] = "recording_folder"
    table_keys: dict[str, str] = {}
    code_column: str | None = None
    rating_columns: list[str] = []
    skip_without: str | None = None
    trial_from: str = "order"
    # units
    detect_units: bool = False

    @field_validator("start", "end", "identity", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        if isinstance(value, list):
            return [str(v) for v in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RecordingSection:
        if self.trials == "span_file":
            if not self.span_file:
                raise ValueError("recording.trials = 'span_file' needs recording.span_file")
            return self
        if self.mode == "fixed" and (self.seconds is None or not self.start):
            raise ValueError("recording.mode = 'fixed' needs recording.start (event values) and recording.seconds")
        if self.mode == "start_end" and (not self.start or not self.end):
            raise ValueError("recording.mode = 'start_end' needs recording.start and recording.end (event values)")
        if self.table_in == "corpus" and self.table and set(self.table_keys) != {"subject", "trial"}:
            raise ValueError("a corpus-wide recording.table needs recording.table_keys with 'subject' and 'trial'")
        return self


def check_manifest(manifest) -> None:
    """Cross-section checks of a manifest with a continuous container (called by the Manifest validator).

    Raises
    ------
    ValueError
        One line: a continuous container without ``[recording]``, ``[recording]`` with another container,
        or rating columns that do not match ``labels.rating_names``.
    """
    container = manifest.format.container
    recording = manifest.recording
    if container in CONTINUOUS_CONTAINERS and recording is None:
        raise ValueError(f"format.container '{container}' needs a [recording] section (how trials are cut)")
    if recording is None:
        return
    if container not in CONTINUOUS_CONTAINERS:
        raise ValueError(f"[recording] applies to containers {list(CONTINUOUS_CONTAINERS)}, not '{container}'")
    if container == "bids" and recording.trials not in ("events_tsv", "annotations"):
        raise ValueError("format.container 'bids' reads trials from recording.trials = 'events_tsv' or 'annotations'")
    if container != "bids" and recording.trials == "events_tsv":
        raise ValueError("recording.trials = 'events_tsv' needs format.container = 'bids'")
    labels = manifest.labels
    if labels.source == "ratings" and len(recording.rating_columns) != len(labels.rating_names):
        raise ValueError(
            f"recording.rating_columns {recording.rating_columns} must name one column per labels.rating_names "
            f"{labels.rating_names}"
        )
    if labels.reader_codes and not recording.code_column and recording.trials == "span_file":
        raise ValueError("labels.reader_codes with recording.trials = 'span_file' needs recording.code_column")
    if recording.trial_from == "pattern" and "trial" not in re.compile(manifest.files.pattern).groupindex:
        raise ValueError("recording.trial_from = 'pattern' needs a named group 'trial' in files.pattern")


# --- span files ----------------------------------------------------------------------------------------


def _numbers(text: str, key: str, label: str) -> list[float]:
    match = re.search(re.escape(key) + r"\s*[:=]?\s*\[([^\]]*)\]", text)
    if match is None:
        raise ReaderError(f"{label}: no list '{key} [...]' found")
    try:
        return [float(item) for item in re.split(r"[,\s;]+", match.group(1).strip()) if item]
    except ValueError:
        raise ReaderError(f"{label}: list '{key}' holds something other than numbers") from None


def parse_span_file(text: str, spec: RecordingSection, label: str) -> dict[int | None, list[tuple[float, float]]]:
    """Read trial start and end times from a span file's text.

    The file holds lists written ``<key>: [a, b, ...]`` or ``<key> = [a, b, ...]``. With
    ``by_session``, one block per session headed ``Session <k>:`` (SEED-V's
    ``trial_start_end_timestamp.txt``); otherwise the lists apply to every recording (SEED's ``time.txt``).

    Parameters
    ----------
    text : str
        The file's content.
    spec : RecordingSection
        Keys (``start_key``, ``end_key``) and ``by_session``.
    label : str
        How to name the file in errors.

    Returns
    -------
    dict
        Session number (None without sessions) -> list of (start, end) in the file's unit.

    Raises
    ------
    ReaderError
        Missing lists, lists of different lengths, or a span that does not end after it starts.
    """
    if spec.by_session:
        heads = list(re.finditer(r"session\s*(\d+)\s*:?", text, flags=re.IGNORECASE))
        if not heads:
            raise ReaderError(f"{label}: no 'Session <k>:' block found")
        blocks = {
            int(head.group(1)): text[head.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)]
            for i, head in enumerate(heads)
        }
    else:
        blocks = {None: text}
    spans: dict[int | None, list[tuple[float, float]]] = {}
    for session, block in blocks.items():
        where = label if session is None else f"{label} session {session}"
        starts, ends = _numbers(block, spec.start_key, where), _numbers(block, spec.end_key, where)
        if len(starts) != len(ends):
            raise ReaderError(f"{where}: {len(starts)} start times but {len(ends)} end times")
        for k, (start, end) in enumerate(zip(starts, ends, strict=True), start=1):
            if not end > start >= 0:
                raise ReaderError(f"{where}: trial {k} spans {start:g}-{end:g}; expected 0 <= start < end")
        spans[session] = list(zip(starts, ends, strict=True))
    return spans


def span_samples(start: float, end: float, spec: RecordingSection, sfreq: float) -> tuple[int, int]:
    """Convert a span of a span file into sample indices of a recording at ``sfreq``."""
    if spec.span_unit == "seconds":
        factor = sfreq
    else:
        factor = sfreq / spec.span_sfreq if spec.span_sfreq else 1.0
    return round(start * factor), round(end * factor)


# --- events ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One event of a recording.

    Attributes
    ----------
    onset : int
        Sample index of its onset.
    duration : int
        Length in samples (0 for instantaneous events).
    value : str
        Its code or description (trigger code as text, annotation text, ``trial_type``).
    row : dict
        Further columns (a BIDS events.tsv row), else empty.
    """

    onset: int
    duration: int
    value: str
    row: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Span:
    """A trial found in a recording.

    Attributes
    ----------
    start, stop : int
        Sample range ``[start, stop)`` of the trial (including ``before`` seconds ahead of its start).
    code : str or None
        The value naming the trial (the identity event, or the start event's value).
    row : dict
        The start event's further columns.
    """

    start: int
    stop: int
    code: str | None
    row: dict = field(default_factory=dict, compare=False)


def events_to_spans(events: list[Event], spec: RecordingSection, sfreq: float, label: str) -> list[Span]:
    """Turn a recording's events into trial spans, in time order.

    Parameters
    ----------
    events : list of Event
        The events, in any order.
    spec : RecordingSection
        ``mode``, ``start``, ``end``, ``identity``, ``seconds`` (``fixed``: the trial length;
        ``start_end``: the longest trial, cut there when the end event comes later) and ``before``.
    sfreq : float
        Sampling rate of the recording.
    label : str
        How to name the recording in errors.

    Returns
    -------
    list of Span

    Raises
    ------
    ReaderError
        A ``start_end`` start without an end, an identity event not followed by a start, or too few events
        for ``first_two``.
    """
    starts, ends, identities = set(spec.start), set(spec.end), set(spec.identity)
    rank = {**dict.fromkeys(starts, 2), **dict.fromkeys(identities, 1), **dict.fromkeys(ends, 0)}
    events = sorted(events, key=lambda e: (e.onset, rank.get(e.value, 3)))  # at one instant: end, identity, start
    before = round(spec.before * sfreq)
    if spec.mode == "first_two":
        if len(events) >= 2:
            return [Span(events[0].onset, events[1].onset, events[0].value, events[0].row)]
        if len(events) == 1 and events[0].duration > 1:  # a level marking the whole stimulus
            return [Span(events[0].onset, events[0].onset + events[0].duration, events[0].value, events[0].row)]
        raise ReaderError(f"{label}: {len(events)} event(s) found; the stimulus lies between the first two")
    if spec.mode == "fixed":
        length = round(spec.seconds * sfreq)
        return [Span(e.onset - before, e.onset + length, e.value, e.row) for e in events if e.value in starts]
    if spec.mode == "duration":
        chosen = [e for e in events if not starts or e.value in starts]
        short = [e for e in chosen if e.duration <= 0]
        if short:
            raise ReaderError(f"{label}: event '{short[0].value}' at sample {short[0].onset} has no duration")
        return [Span(e.onset - before, e.onset + e.duration, e.value, e.row) for e in chosen]
    spans, identity, opened = [], None, None
    for event in events:
        if event.value in identities:
            if opened is not None:
                raise ReaderError(f"{label}: identity event '{event.value}' at sample {event.onset} inside a trial")
            identity = event.value
        elif event.value in starts:
            if opened is not None:
                raise ReaderError(f"{label}: start event at sample {event.onset} before the previous trial ended")
            if identities and identity is None:
                raise ReaderError(f"{label}: start event at sample {event.onset} without an identity event before it")
            opened = event
        elif event.value in ends and opened is not None:
            code = identity if identities else opened.value
            stop = event.onset if spec.seconds is None else min(event.onset, opened.onset + round(spec.seconds * sfreq))
            spans.append(Span(opened.onset - before, stop, code, opened.row))
            opened, identity = None, None
    if opened is not None:
        raise ReaderError(f"{label}: the trial starting at sample {opened.onset} has no end event")
    return spans


def check_spans(spans: list[Span], n_times: int, sfreq: float, label: str, source: str | None = None) -> None:
    """Check that every span lies inside the recording.

    Raises
    ------
    ReaderError
        One line naming the recording (and the span file, when given), the trial and both lengths.
    """
    for number, span in enumerate(spans, start=1):
        if span.start < 0 or span.stop > n_times or span.stop <= span.start:
            whence = f"; does {source} match this recording?" if source else ""
            raise ReaderError(
                f"{label}: trial {number} spans {span.start / sfreq:.3f}-{span.stop / sfreq:.3f} s but the "
                f"recording is {n_times / sfreq:.3f} s long{whence}"
            )
