"""A writer of BDF files (BioSemi 24-bit EDF), with an optional BDF+ annotation channel.

The synthetic DEAP raw, MAHNOB-HCI and FACED raw corpora are BDF files. The format is EDF with 3-byte
samples (European Data Format; Kemp et al. 1992, and BioSemi's BDF variant):

- a 256-byte main header: version (``0xFF`` + ``BIOSEMI``), patient and recording text, start date and
  time, header size, a reserved field (``24BIT``, or ``BDF+C`` when an annotation channel is present),
  number of data records, record duration and number of signals;
- 256 bytes per signal: label, transducer, physical dimension, physical and digital minimum and maximum,
  prefiltering, samples per record, reserved;
- data records: for each signal in turn, its samples of the record as little-endian signed 24-bit
  integers.

A digital value ``d`` means ``pmin + (d - dmin) * (pmax - pmin) / (dmax - dmin)`` in the signal's physical
dimension. The BioSemi ``Status`` channel stores trigger codes in its low bits with the digital range as
physical range (``Boolean`` dimension). An annotation channel (``BDF Annotations``) holds time-stamped
annotation lists (TALs, EDF+): each record starts with its time-keeping TAL ``+<onset>\\x14\\x14\\x00``
followed by the annotations whose onset falls in the record.

Records are written one at a time from lazily produced chunks, so files of any length are written in
bounded memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

DIGITAL_MIN = -(2**23)
DIGITAL_MAX = 2**23 - 1
ANNOTATION_LABEL = "BDF Annotations"


@dataclass(frozen=True)
class BdfSignal:
    """Description of one BDF signal.

    Attributes
    ----------
    label : str
        Channel name (at most 16 characters).
    dimension : str
        Physical dimension (``uV``, ``V``, ``Boolean``, ...; at most 8 characters).
    physical_min, physical_max : float
        Physical values of the digital extremes.
    transducer, prefilter : str
        Free text fields.
    digital_min, digital_max : int
        Digital extremes (default: the full 24-bit range).
    """

    label: str
    dimension: str = "uV"
    physical_min: float = -262144.0
    physical_max: float = 262143.0
    transducer: str = "Active Electrode"
    prefilter: str = "HP:DC; LP:417 Hz"
    digital_min: int = DIGITAL_MIN
    digital_max: int = DIGITAL_MAX

    @property
    def step(self) -> float:
        """Physical units per digital step."""
        return (self.physical_max - self.physical_min) / (self.digital_max - self.digital_min)


def status_signal(label: str = "Status") -> BdfSignal:
    """The BioSemi trigger channel: digital values are the trigger words themselves."""
    return BdfSignal(label, "Boolean", DIGITAL_MIN, DIGITAL_MAX, "Triggers and Status", "No filtering")


def _field(value: object, size: int) -> bytes:
    text = str(value)
    raw = text.encode("latin-1")
    if len(raw) > size:
        raise ValueError(f"BDF header field {text!r} is longer than {size} characters")
    return raw.ljust(size, b" ")


def _number(value: float, size: int = 8) -> bytes:
    text = f"{value:g}" if not float(value).is_integer() else str(int(value))
    if len(text) > size:
        text = f"{value:.{max(size - 6, 1)}g}"
    return _field(text, size)


def header(
    signals: list[BdfSignal],
    samples_per_record: list[int],
    n_records: int,
    record_seconds: float,
    start: datetime,
    patient: str,
    recording: str,
    plus: bool,
) -> bytes:
    """The BDF header (256 bytes plus 256 per signal).

    Parameters
    ----------
    signals : list of BdfSignal
        All signals, in file order (an annotation channel included).
    samples_per_record : list of int
        Samples per data record of each signal.
    n_records : int
        Number of data records.
    record_seconds : float
        Duration of a data record in seconds.
    start : datetime.datetime
        Start of the recording.
    patient, recording : str
        Identification fields (80 characters each).
    plus : bool
        Write ``BDF+C`` in the reserved field (the file has an annotation channel).

    Returns
    -------
    bytes
        The header.
    """
    n = len(signals)
    main = b"".join(
        [
            b"\xffBIOSEMI",
            _field(patient, 80),
            _field(recording, 80),
            _field(f"{start:%d.%m.%y}", 8),
            _field(f"{start:%H.%M.%S}", 8),
            _field(256 * (n + 1), 8),
            _field("BDF+C" if plus else "24BIT", 44),
            _field(n_records, 8),
            _number(record_seconds),
            _field(n, 4),
        ]
    )
    columns = [
        [_field(s.label, 16) for s in signals],
        [_field(s.transducer, 80) for s in signals],
        [_field(s.dimension, 8) for s in signals],
        [_number(s.physical_min) for s in signals],
        [_number(s.physical_max) for s in signals],
        [_field(s.digital_min, 8) for s in signals],
        [_field(s.digital_max, 8) for s in signals],
        [_field(s.prefilter, 80) for s in signals],
        [_field(k, 8) for k in samples_per_record],
        [_field("", 32) for _ in signals],
    ]
    return main + b"".join(b"".join(column) for column in columns)


def to_int24(values: np.ndarray) -> bytes:
    """Little-endian signed 24-bit encoding of integer values (clipped to the 24-bit range)."""
    clipped = np.clip(np.asarray(values, dtype=np.int64), DIGITAL_MIN, DIGITAL_MAX).astype("<i4")
    return clipped.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def _tal(onset: float, texts: list[str], duration: float | None = None) -> bytes:
    stamp = f"{onset:+.4f}".rstrip("0").rstrip(".") if not float(onset).is_integer() else f"{int(onset):+d}"
    if duration is not None:
        stamp += f"\x15{duration:g}"
    body = "".join(f"{t}\x14" for t in texts) if texts else "\x14"  # time-keeping TALs: one empty text
    return (stamp + "\x14" + body + "\x00").encode("latin-1")


def annotation_records(
    annotations: list[tuple[float, float | None, str]], n_records: int, record_seconds: float
) -> list[bytes]:
    """The TAL bytes of every data record.

    Parameters
    ----------
    annotations : list of (onset, duration or None, text)
        Onsets in seconds from the start of the recording.
    n_records : int
        Number of data records.
    record_seconds : float
        Duration of a record.

    Returns
    -------
    list of bytes
        One byte string per record: its time-keeping TAL, then the annotations whose onset falls in it
        (onsets past the last record go into the last one).
    """
    per_record: list[list[bytes]] = [[_tal(k * record_seconds, [])] for k in range(n_records)]
    for onset, duration, text in sorted(annotations, key=lambda a: a[0]):
        index = min(max(int(onset // record_seconds), 0), n_records - 1)
        per_record[index].append(_tal(onset, [text], duration))
    return [b"".join(parts) for parts in per_record]


def _records(chunks: Iterable[np.ndarray], n_signals: int, record_samples: int, n_samples: int) -> Iterator[np.ndarray]:
    """Regroup consecutive chunks into whole records (the last one zero-padded)."""
    pending: list[np.ndarray] = []
    held = total = 0
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2 or chunk.shape[0] != n_signals:
            raise ValueError(f"BDF chunk of shape {chunk.shape}; expected ({n_signals}, samples)")
        pending.append(chunk)
        held += chunk.shape[1]
        total += chunk.shape[1]
        if total > n_samples:
            raise ValueError(f"BDF chunks hold more than the declared {n_samples} samples")
        if held >= record_samples:
            joined = np.concatenate(pending, axis=1)
            whole = joined.shape[1] // record_samples * record_samples
            for start in range(0, whole, record_samples):
                yield joined[:, start : start + record_samples]
            pending = [joined[:, whole:]]
            held = pending[0].shape[1]
    if total != n_samples:
        raise ValueError(f"BDF chunks hold {total} samples, not the declared {n_samples}")
    if held:
        joined = np.concatenate(pending, axis=1)
        yield np.pad(joined, ((0, 0), (0, record_samples - held)))


def write_bdf(
    path: str | Path,
    signals: list[BdfSignal],
    sfreq: float,
    chunks: Iterable[np.ndarray] | None,
    n_samples: int,
    start: datetime,
    annotations: list[tuple[float, float | None, str]] | None = None,
    record_seconds: float = 1.0,
    patient: str = "X X X X",
    recording: str = "Startdate X X X X",
) -> Path:
    """Write a BDF (or BDF+) file.

    Parameters
    ----------
    path : path-like
        File to (over)write.
    signals : list of BdfSignal
        The data signals, in file order (all at ``sfreq``); empty for an annotation-only file.
    sfreq : float
        Sampling rate in Hz; ``sfreq * record_seconds`` must be an integer.
    chunks : iterable of numpy.ndarray or None
        Consecutive pieces of the recording, (signals, samples) in each signal's physical units, consumed
        lazily; None for an annotation-only file.
    n_samples : int
        Length of the recording in samples (the chunks must add up to it); the last data record is
        zero-padded.
    start : datetime.datetime
        Start of the recording.
    annotations : list of (onset, duration or None, text), optional
        Written to a ``BDF Annotations`` channel (BDF+).
    record_seconds : float
        Duration of a data record.
    patient, recording : str
        Header identification fields.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ValueError
        Chunks of the wrong shape or total length, or a rate that does not fit whole records.
    """
    path = Path(path)
    record_samples = sfreq * record_seconds
    if not float(record_samples).is_integer() or record_samples <= 0:
        raise ValueError(f"BDF record of {record_seconds} s at {sfreq} Hz is not a whole number of samples")
    record_samples = int(record_samples)
    n_records = max(math.ceil(n_samples / record_samples), 1)
    plus = annotations is not None
    tals = annotation_records(annotations or [], n_records, record_seconds) if plus else []
    tal_samples = max(math.ceil(len(t) / 3) for t in tals) if plus else 0
    all_signals = list(signals)
    if plus:
        all_signals.append(BdfSignal(ANNOTATION_LABEL, "", -1, 1, "", "", DIGITAL_MIN, DIGITAL_MAX))
    per_record = [record_samples] * len(signals) + ([tal_samples] if plus else [])
    head = header(all_signals, per_record, n_records, record_seconds, start, patient, recording, plus)
    if signals:
        if chunks is None:
            raise ValueError("a BDF with data signals needs chunks")
        steps = np.array([s.step for s in signals])[:, None]
        offsets = np.array([s.physical_min for s in signals])[:, None]
        digital_min = np.array([s.digital_min for s in signals])[:, None]
        records: Iterable[np.ndarray | None] = _records(chunks, len(signals), record_samples, n_samples)
    else:
        records = (None for _ in range(n_records))
    written = 0
    with path.open("wb") as handle:
        handle.write(head)
        for index, record in enumerate(records):
            if index >= n_records:
                raise ValueError(f"BDF chunks hold more than the declared {n_samples} samples")
            if record is not None:
                digital = np.rint((record - offsets) / steps + digital_min)
                handle.write(to_int24(digital.ravel()))
            if plus:
                handle.write(tals[index].ljust(3 * tal_samples, b"\0"))
            written += 1
    if written != n_records:
        raise ValueError(f"BDF chunks hold fewer than the declared {n_samples} samples")
    return path
