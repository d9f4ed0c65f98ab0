"""Readers of continuous recordings through MNE: Neuroscan CNT, BDF/EDF and BIDS datasets.

One reader serves every continuous container (``format.container`` ``cnt``, ``bdf``, ``edf``, ``bids``):
it opens the recording lazily with MNE (``preload=False``), finds the trial spans as the manifest's
``[recording]`` section declares (:mod:`emod_data.segmentation`), and reads each span on its own, in
chunks, as float32. A file is therefore read once and never held whole in memory, which matters for
SEED-V's 1 GB CNT files.

Per file it reports the channel names as stored (minus the manifest's excluded channels) and the rate
from the header, and it converts each chunk to µV on reading (MNE returns volts; with
``recording.detect_units`` the factor is chosen from the amplitudes, for cohorts whose headers state the
wrong unit), so no float64 copy of a whole trial is made.

Every problem is a one-line :class:`~emod_data.errors.ReaderError` naming the file: a truncated CNT or
BDF/EDF file, a span file that does not match the recording's length, missing events, a missing label
table. A file that is not an input by design (a session without felt ratings) raises
:class:`~emod_data.errors.SkippedInput`.
"""

from __future__ import annotations

import csv
import functools
import itertools
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np

from emod_data.errors import ReaderError, SkippedInput, first_line
from emod_data.manifest import Manifest
from emod_data.preprocess import AMPLITUDE_RANGE_UV
from emod_data.readers.base import RawTrial, corpus_root
from emod_data.segmentation import (
    Event,
    Span,
    check_spans,
    events_to_spans,
    parse_span_file,
    span_samples,
)

CHUNK_SAMPLES = 1 << 16
"""Samples per channel read in one call (65536: about a minute at 1000 Hz; MNE's buffers stay near 35 MB)."""

_CNT_SETUP, _CNT_ELECTRODE = 900, 75
_MISSING = {"", "n/a", "na", "nan", "none"}


def check_cnt_size(path: Path, label: str) -> None:
    """Check that a Neuroscan CNT file holds all the samples its header declares.

    Raises
    ------
    ReaderError
        The file is shorter than its header, or too short to hold a header at all.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(_CNT_SETUP)
    if len(head) < _CNT_SETUP:
        raise ReaderError(f"{label}: truncated CNT file ({size} bytes, shorter than the 900-byte header)")
    n_channels = int.from_bytes(head[370:372], "little")
    n_samples = int.from_bytes(head[864:868], "little", signed=True)
    table = int.from_bytes(head[886:890], "little")
    data_start = _CNT_SETUP + _CNT_ELECTRODE * n_channels
    if n_channels == 0:
        raise ReaderError(f"{label}: not a Neuroscan CNT file (the header declares 0 channels)")
    needed = data_start + 4 * n_channels * n_samples if n_samples > 0 else table
    if size < needed:
        raise ReaderError(
            f"{label}: truncated CNT file: {size} bytes, but the header declares {max(n_samples, 0)} samples of "
            f"{n_channels} channels ({needed} bytes)"
        )


def check_edf_size(path: Path, label: str) -> None:
    """Check that an EDF or BDF file holds all the data records its header declares.

    Raises
    ------
    ReaderError
        The file is shorter than its header says, or its header is not an EDF/BDF header.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        main = handle.read(256)
        if len(main) < 256:
            raise ReaderError(f"{label}: truncated EDF/BDF file ({size} bytes, shorter than its 256-byte header)")
        try:
            header_bytes, n_records, n_signals = int(main[184:192]), int(main[236:244]), int(main[252:256])
        except ValueError:
            raise ReaderError(f"{label}: not an EDF/BDF file (unreadable header fields)") from None
        signal_header = handle.read(256 * n_signals)
    if len(signal_header) < 256 * n_signals:
        raise ReaderError(f"{label}: truncated EDF/BDF file ({size} bytes, shorter than its header)")
    width = 3 if main[:8] == b"\xffBIOSEMI" or path.suffix.lower() == ".bdf" else 2
    start = 216 * n_signals
    try:
        per_record = sum(int(signal_header[start + 8 * i : start + 8 * i + 8]) for i in range(n_signals))
    except ValueError:
        raise ReaderError(f"{label}: not an EDF/BDF file (unreadable samples per record)") from None
    if n_records < 0:  # unknown while recording; MNE derives it from the file size
        return
    needed = header_bytes + n_records * per_record * width
    if size < needed:
        raise ReaderError(
            f"{label}: truncated EDF/BDF file: {size} bytes, but the header declares {n_records} data records "
            f"({needed} bytes)"
        )


def open_raw(path: Path, container: str, label: str):
    """Open a continuous recording with MNE, without loading its samples.

    Parameters
    ----------
    path : pathlib.Path
        The file (for ``bids``: the recording inside a BIDS dataset).
    container : {"cnt", "bdf", "edf", "bids"}
        How to read it.
    label : str
        How to name the file in errors.

    Returns
    -------
    mne.io.BaseRaw

    Raises
    ------
    ReaderError
        Truncated files and anything MNE cannot read, in one line naming the file.
    """
    import mne

    suffix = path.suffix.lower()
    if container == "cnt":
        check_cnt_size(path, label)
    elif container in ("bdf", "edf") or (container == "bids" and suffix in (".bdf", ".edf")):
        check_edf_size(path, label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if container == "cnt":
                return mne.io.read_raw_cnt(path, data_format="int32", preload=False, verbose="error")
            if container == "bdf":
                return mne.io.read_raw_bdf(path, preload=False, infer_types=False, verbose="error")
            if container == "edf":
                return mne.io.read_raw_edf(path, preload=False, infer_types=False, verbose="error")
            from mne_bids import get_bids_path_from_fname, read_raw_bids

            bids_path = get_bids_path_from_fname(path)
            return read_raw_bids(bids_path, extra_params={"preload": False}, verbose="error")
    except ReaderError:
        raise
    except Exception as exc:
        raise ReaderError(f"{label}: cannot read {container} file ({first_line(exc, with_type=True)})") from exc


def read_span(raw, picks: np.ndarray, start: int, stop: int, label: str, scale: float = 1.0) -> np.ndarray:
    """Read samples ``[start, stop)`` of some channels as float32, in bounded chunks.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        An unloaded recording.
    picks : numpy.ndarray
        Channel indices.
    start, stop : int
        Sample range.
    label : str
        How to name the file in errors.
    scale : float
        Factor applied to MNE's values (volts) while converting each chunk (1e6 gives µV).

    Returns
    -------
    numpy.ndarray
        float32 (len(picks), stop - start): MNE's values times ``scale``.
    """
    out = np.empty((len(picks), stop - start), dtype=np.float32)
    try:
        for first in range(start, stop, CHUNK_SAMPLES):
            last = min(first + CHUNK_SAMPLES, stop)
            chunk = raw.get_data(picks=picks, start=first, stop=last)
            if scale != 1.0:
                chunk *= scale
            out[:, first - start : last - start] = chunk
    except Exception as exc:
        raise ReaderError(f"{label}: cannot read samples {start}-{stop} ({first_line(exc, with_type=True)})") from exc
    return out


def detect_unit_scale(data: np.ndarray) -> float:
    """Factor to µV of a recording MNE returned in "volts", judged from its amplitude.

    Parameters
    ----------
    data : numpy.ndarray
        (channels, samples) as MNE returned them.

    Returns
    -------
    float
        1e6 when the median channel standard deviation is a plausible EEG amplitude in volts; 1.0 when it
        is a plausible amplitude in microvolts (the header stated volts for µV values); otherwise 1e6, and
        the ingest's amplitude check reports the file.
    """
    step = max(1, data.shape[-1] // 20_000)
    spread = float(np.median(np.asarray(data[:, ::step], dtype=np.float64).std(axis=1)))
    low, high = AMPLITUDE_RANGE_UV
    if low <= spread <= high:
        return 1.0
    return 1e6


# --- events --------------------------------------------------------------------------------------------


def stim_events(raw, channel: str, mask: int | None, label: str) -> list[Event]:
    """Events of a stimulus channel: each run of a constant non-zero (masked) code is one event."""
    if channel not in raw.ch_names:
        raise ReaderError(f"{label}: no stimulus channel '{channel}' (channels: {raw.ch_names[-5:]} ...)")
    values = read_span(raw, np.array([raw.ch_names.index(channel)]), 0, raw.n_times, label)[0]
    codes = np.rint(values).astype(np.int64)
    if mask is not None:
        codes &= mask
    changes = np.flatnonzero(np.diff(codes, prepend=0, append=0))
    events = []
    for begin, end in itertools.pairwise(changes):
        if codes[begin] != 0:
            events.append(Event(int(begin), int(end - begin), str(int(codes[begin]))))
    return events


def annotation_events(raw, annotations, label: str) -> list[Event]:
    """Events of MNE annotations (the recording's own or a sibling file's), onsets aligned to the recording."""
    if annotations is None or len(annotations) == 0:
        return []
    onsets = raw.time_as_index(annotations.onset, use_rounding=True, origin=annotations.orig_time)
    durations = np.rint(np.asarray(annotations.duration) * raw.info["sfreq"]).astype(int)
    return [
        Event(int(o), int(d), str(text).strip())
        for o, d, text in zip(onsets, durations, annotations.description, strict=True)
    ]


def _read_annotations(path: Path, label: str):
    import mne

    if not path.is_file():
        raise ReaderError(f"{label}: annotation file {path.name} not found next to it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mne.read_annotations(path)
    except Exception as exc:
        raise ReaderError(
            f"{label}: cannot read annotations from {path.name} ({first_line(exc, with_type=True)})"
        ) from exc


def bids_events_path(path: Path) -> Path:
    """The ``*_events.tsv`` of a BIDS recording (``..._eeg.edf`` -> ``..._events.tsv``)."""
    stem = re.sub(r"_eeg$", "", path.name[: -len("".join(path.suffixes))] if path.suffixes else path.name)
    return path.with_name(f"{stem}_events.tsv")


def tsv_events(path: Path, column: str, sfreq: float, label: str) -> list[Event]:
    """Events of a BIDS events table: onset and duration (seconds), value from ``column``, the row kept."""
    rows = read_table_file(path, label)
    if rows and column not in rows[0]:
        raise ReaderError(f"{label}: {path.name} has no column '{column}' (columns: {list(rows[0])})")
    events = []
    for number, row in enumerate(rows, start=2):
        try:
            onset = float(row["onset"])
            duration = 0.0 if str(row.get("duration", "")).strip().lower() in _MISSING else float(row["duration"])
        except (KeyError, ValueError):
            raise ReaderError(f"{label}: {path.name} line {number} has no numeric onset/duration") from None
        events.append(Event(round(onset * sfreq), round(duration * sfreq), str(row[column]).strip(), row))
    return events


# --- label tables ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _cached_table(path: str, mtime_ns: int, label: str) -> tuple[dict, ...]:
    return tuple(_parse_table(Path(path), label))


def _parse_table(path: Path, label: str) -> list[dict]:
    if path.suffix.lower() == ".xml":
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as exc:
            raise ReaderError(f"{label}: {path.name} is not valid XML ({exc})") from None
        return [dict(root.attrib)]
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ReaderError(
            f"{label}: {path.name} is not a readable text table ({first_line(exc, with_type=True)})"
        ) from None


def read_table_file(path: Path, label: str, shown: str | None = None) -> list[dict]:
    """Rows of a label table: a CSV/TSV file (one dict per row) or an XML file (the root's attributes).

    Parameters
    ----------
    path : pathlib.Path
        The table.
    label : str
        How to name the recording it serves in errors.
    shown : str, optional
        How to name the table in errors (default: its file name).

    Raises
    ------
    ReaderError
        The file is missing or not parseable.
    """
    if not path.is_file():
        raise ReaderError(f"{label}: label table {shown or path.name} not found")
    return list(_cached_table(str(path), path.stat().st_mtime_ns, label))


def _same_id(a: str, b: str) -> bool:
    a, b = str(a).strip(), str(b).strip()
    if a.isdigit() and b.isdigit():
        return int(a) == int(b)
    return a == b


def _number(value: object) -> float:
    text = str(value).strip()
    if text.lower() in _MISSING:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return float("nan")


# --- the reader ------------------------------------------------------------------------------------------


def _file_spans(raw, path: Path, relpath: str, root: Path, manifest: Manifest, groups: dict) -> list[Span]:
    spec = manifest.recording
    sfreq = raw.info["sfreq"]
    if spec.trials == "span_file":
        source = root / spec.span_file
        if not source.is_file():
            raise ReaderError(f"{relpath}: span file {spec.span_file} not found in the corpus folder")
        listed = parse_span_file(source.read_text(encoding="utf-8", errors="replace"), spec, spec.span_file)
        key = None
        if spec.by_session:
            if groups.get("session") is None:
                raise ReaderError(f"{relpath}: recording.by_session needs a named group 'session' in files.pattern")
            key = int(groups["session"])
            if key not in listed:
                raise ReaderError(f"{relpath}: {spec.span_file} has no block for session {key}")
        spans = [Span(*span_samples(s, e, spec, sfreq), None) for s, e in listed[key]]
        check_spans(spans, raw.n_times, sfreq, relpath, spec.span_file)
        return spans
    if spec.trials == "stim_channel":
        events, source = stim_events(raw, spec.stim_channel, spec.stim_mask, relpath), None
    elif spec.trials == "annotations":
        if spec.annotations_file:
            annotations = _read_annotations(path.parent / spec.annotations_file, relpath)
            source = str(PurePosixPath(relpath).parent / spec.annotations_file)
        else:
            annotations, source = raw.annotations, None
        events = annotation_events(raw, annotations, relpath)
    else:
        events_path = bids_events_path(path)
        if not events_path.is_file():
            raise ReaderError(f"{relpath}: events file {events_path.name} not found next to it")
        events = tsv_events(events_path, spec.event_column, sfreq, relpath)
        source = events_path.name
    spans = events_to_spans(events, spec, sfreq, relpath)
    if not spans:
        values = sorted({e.value for e in events})[:10]
        raise ReaderError(f"{relpath}: no trial found (event values: {values})")
    check_spans(spans, raw.n_times, sfreq, relpath, source)
    return spans


def _table_rows(path: Path, relpath: str, root: Path, manifest: Manifest, groups: dict) -> list[dict] | None:
    spec = manifest.recording
    if not spec.table:
        return None
    if spec.table_in == "recording_folder":
        rows = read_table_file(path.parent / spec.table, relpath)
        if spec.skip_without and not str(rows[0].get(spec.skip_without, "") if rows else "").strip():
            raise SkippedInput(f"{relpath}: {spec.table} has no '{spec.skip_without}'; not an input, skipped")
        return rows
    rows = read_table_file(root / spec.table, relpath, spec.table)
    column = spec.table_keys["subject"]
    if rows and column not in rows[0]:
        raise ReaderError(f"{relpath}: {spec.table} has no column '{column}' (columns: {list(rows[0])})")
    subject = groups.get("subject") or ""
    return [row for row in rows if _same_id(row[column], subject)]


def _trial_row(rows: list[dict] | None, order: int, manifest: Manifest, relpath: str) -> dict:
    spec = manifest.recording
    if rows is None:
        return {}
    if spec.table_in == "recording_folder":
        return rows[0] if rows else {}
    column = spec.table_keys["trial"]
    hits = [row for row in rows if _same_id(row.get(column, ""), str(order))]
    if len(hits) != 1:
        raise ReaderError(f"{relpath}: {spec.table} has {len(hits)} rows for this subject's trial {order}")
    return hits[0]


def _trial_number(spec, order: int, span: Span, row: dict, groups: dict, relpath: str) -> int:
    if spec.trial_from == "order":
        return order
    if spec.trial_from == "pattern":
        value = groups.get("trial")
    elif spec.trial_from == "code":
        value = span.code
    else:
        if spec.trial_from not in row:
            raise ReaderError(f"{relpath}: no column '{spec.trial_from}' to number trial {order}")
        value = row[spec.trial_from]
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        raise ReaderError(f"{relpath}: trial {order} is numbered by '{value}', not an integer") from None


def read_recording(path: Path, relpath: str, manifest: Manifest) -> Iterator[RawTrial]:
    """Yield the trials of one continuous recording (CNT, BDF, EDF or a BIDS recording).

    Parameters
    ----------
    path, relpath, manifest
        The file, its path relative to the corpus root, the corpus manifest: a
        :data:`~emod_data.readers.base.Reader`.

    Yields
    ------
    RawTrial
        One per span, in time order: float32 data in µV (channels minus ``channels.exclude``, and minus
        channels ``channels.names`` does not list when ``format.extra_channels = "drop"``), the channel names,
        the header's rate, and the label code and ratings when declared.

    Raises
    ------
    ReaderError
        The file or its spans, events or label table cannot be read as declared.
    SkippedInput
        The recording's sidecar table lacks ``recording.skip_without``.
    """
    spec = manifest.recording
    if spec is None:
        raise ReaderError(f"{relpath}: format.container '{manifest.format.container}' needs a [recording] section")
    match = re.fullmatch(manifest.files.pattern, relpath)
    groups = match.groupdict() if match else {}
    root = corpus_root(path, relpath)
    rows = _table_rows(path, relpath, root, manifest, groups)
    raw = open_raw(path, manifest.format.container, relpath)
    try:
        sfreq = float(raw.info["sfreq"])
        spans = _file_spans(raw, path, relpath, root, manifest, groups)
        expected = manifest.format.trials
        if expected is not None and len(spans) != expected:
            raise ReaderError(f"{relpath}: {len(spans)} trials found; the manifest declares {expected}")
        excluded, listed = set(manifest.channels.exclude), set(manifest.channels.names)
        unlisted_too = manifest.format.extra_channels != "drop"  # "drop": channels not in channels.names go
        picks = [i for i, name in enumerate(raw.ch_names) if name not in excluded and (unlisted_too or name in listed)]
        picks = np.array(picks, dtype=int)
        names = [raw.ch_names[i] for i in picks]
        plan = []
        for order, span in enumerate(spans, start=1):
            row = {**_trial_row(rows, order, manifest, relpath), **span.row}
            plan.append((_trial_number(spec, order, span, row, groups, relpath), span, row))
        numbers = [number for number, _, _ in plan]
        if len(set(numbers)) != len(numbers):
            repeated = sorted({n for n in numbers if numbers.count(n) > 1})
            raise ReaderError(f"{relpath}: trial number(s) {repeated} found more than once")
        scale = None if spec.detect_units else manifest.unit_scale
        for number, span, row in plan:
            # float32 µV straight from MNE's chunks: no float64 copy of a whole trial is ever made here
            data = read_span(raw, picks, span.start, span.stop, relpath, 1.0 if scale is None else scale)
            if scale is None:
                scale = detect_unit_scale(data)
                data *= scale
            code = span.code
            if spec.code_column:
                if spec.code_column not in row:
                    raise ReaderError(f"{relpath}: no column '{spec.code_column}' for the label of trial {number}")
                code = str(row[spec.code_column]).strip()
            ratings = None
            if spec.rating_columns:
                ratings = np.array([_number(row.get(column, "")) for column in spec.rating_columns])
            yield RawTrial(number, data, ratings, code, channel_names=names, sfreq=sfreq, unit_scale=1.0)  # in µV
    finally:
        raw.close()
