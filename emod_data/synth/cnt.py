"""A writer of Neuroscan CNT files (SCAN 4.x continuous format, 32-bit samples).

No Python package writes CNT, so the synthetic SEED, SEED-V and SEED-VII raw corpora are written by this
module. The layout is the one MNE's reader (``mne.io.read_raw_cnt``) decodes, after the public description
of the format (P. Bourke, "Neuroscan file format", the ``SETUP``, ``ELECTLOC`` and ``TEEG`` structures):

- a 900-byte ``SETUP`` header: revision string, patient and session fields, channel count at byte 370,
  sampling rate at 376 (unsigned 16-bit), number of samples at 864, event table position at 886 and the
  channel offset at 894 (the byte size of one sample: samples are multiplexed, channel after channel);
- one 75-byte ``ELECTLOC`` record per channel: name (10 bytes, NUL-terminated), bad flag at 14, screen
  position at 19/23, baseline (int16) at 47, sensitivity (float32) at 59 and calibration (float32) at 71;
- the samples as little-endian int32, sample-major (all channels of sample 1, then of sample 2, ...);
- an event table: a ``TEEG`` header (type byte, size and offset as int32) followed by 19-byte ``EVENT2``
  records (stimulus code, key fields, byte offset of the event in the file, ...).

A count converts to volts as ``(count - baseline) * sensitivity * calibration / 204.8 * 1e-6``; this writer
uses a baseline of 0, so one count is ``sensitivity * calibration / 204.8`` µV (:func:`resolution_uv`).
Data are streamed chunk by chunk and the header is completed at the end, so files of any length are
written in bounded memory.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import numpy as np

SETUP_BYTES = 900
"""Size of the ``SETUP`` header."""

ELECTRODE_BYTES = 75
"""Size of one ``ELECTLOC`` record."""

EVENT2_FORMAT = "<HBcihhfccc"
"""``EVENT2``: StimType, KeyBoard, KeyPad_Accept, Offset, Type, Code, Latency, EpochEvent, Accept2, Accuracy."""

DEFAULT_SENSITIVITY = 204.8
DEFAULT_CALIBRATION = 1.0 / 32.0
"""With these, one count is 1/32 µV (31.25 nV, up to float32 rounding of the stored fields)."""

_OFFSETS = {
    "rev": 0,
    "type": 20,
    "id": 21,
    "patient": 121,
    "age": 141,
    "sex": 143,
    "hand": 144,
    "label": 205,
    "date": 225,
    "time": 235,
    "nchannels": 370,
    "rate": 376,
    "num_samples": 864,
    "event_table_pos": 886,
    "continuous_seconds": 890,
    "channel_offset": 894,
}


def resolution_uv(sensitivity: float = DEFAULT_SENSITIVITY, calibration: float = DEFAULT_CALIBRATION) -> float:
    """Microvolts per count for a channel's sensitivity and calibration (as stored, in float32).

    Parameters
    ----------
    sensitivity, calibration : float
        The ``ELECTLOC`` fields of the channel.

    Returns
    -------
    float
        ``float32(sensitivity) * float32(calibration) / 204.8``, the step MNE's reader applies.
    """
    return float(np.float32(sensitivity)) * float(np.float32(calibration)) / 204.8


def _text(value: str, size: int) -> bytes:
    raw = value.encode("ascii")
    if len(raw) >= size:
        raise ValueError(f"CNT text field {value!r} is longer than {size - 1} characters")
    return raw.ljust(size, b"\0")


def setup_header(
    n_channels: int,
    sfreq: int,
    n_samples: int,
    event_table_pos: int,
    created: datetime,
    patient_id: str = "",
    patient: str = "",
    label: str = "",
) -> bytes:
    """The 900-byte ``SETUP`` header.

    Parameters
    ----------
    n_channels : int
        Number of channels (1-65535).
    sfreq : int
        Sampling rate in Hz, an integer (the field is an unsigned 16-bit integer).
    n_samples : int
        Samples per channel.
    event_table_pos : int
        Byte position of the event table (just after the samples).
    created : datetime.datetime
        Session date and time (written ``mm/dd/yy`` and ``hh:mm:ss``).
    patient_id, patient, label : str
        Patient id (digits), patient name and session label; at most 19 characters each.

    Returns
    -------
    bytes
        The header.
    """
    header = bytearray(SETUP_BYTES)

    def put(name: str, raw: bytes) -> None:
        start = _OFFSETS[name]
        header[start : start + len(raw)] = raw

    put("rev", _text("Version 3.0", 12))
    put("type", b"\x01")
    put("id", _text(patient_id, 20))
    put("patient", _text(patient, 20))
    put("age", struct.pack("<h", 0))
    put("sex", b"U")
    put("hand", b"R")
    put("label", _text(label, 20))
    put("date", _text(f"{created:%m/%d/%y}", 10))
    put("time", _text(f"{created:%H:%M:%S}", 12))
    put("nchannels", struct.pack("<H", n_channels))
    put("rate", struct.pack("<H", sfreq))
    put("num_samples", struct.pack("<i", n_samples))
    put("event_table_pos", struct.pack("<I", event_table_pos & 0xFFFFFFFF))
    put("continuous_seconds", struct.pack("<f", 10.0))
    put("channel_offset", struct.pack("<i", 4))
    return bytes(header)


def electrode_record(
    name: str,
    index: int,
    n_channels: int,
    sensitivity: float = DEFAULT_SENSITIVITY,
    calibration: float = DEFAULT_CALIBRATION,
) -> bytes:
    """One 75-byte ``ELECTLOC`` record.

    Parameters
    ----------
    name : str
        Channel name (at most 9 ASCII characters).
    index, n_channels : int
        Position of the channel and channel count (they place the channel on a display grid).
    sensitivity, calibration : float
        Scale of the counts (see :func:`resolution_uv`).

    Returns
    -------
    bytes
        The record.
    """
    record = bytearray(ELECTRODE_BYTES)
    record[0:10] = _text(name, 10)
    record[13] = 1  # display flag
    columns = int(np.ceil(np.sqrt(n_channels)))
    x, y = (index % columns) / columns, (index // columns) / columns
    record[19:27] = struct.pack("<ff", x, y)
    record[47:49] = struct.pack("<h", 0)  # baseline
    record[59:63] = struct.pack("<f", sensitivity)
    record[71:75] = struct.pack("<f", calibration)
    return bytes(record)


def event_offset(sample: int, n_channels: int, data_start: int) -> int:
    """File offset an ``EVENT2`` record stores for an event at ``sample`` (0-based).

    MNE decodes ``(offset - data_start) // (n_channels * 4) - 1``, so the stored offset is the byte
    position just after the event's sample.
    """
    return data_start + (sample + 1) * n_channels * 4


def write_cnt(
    path: str | Path,
    channel_names: list[str],
    sfreq: int,
    chunks: Iterable[np.ndarray],
    created: datetime,
    events: Iterable[tuple[int, int]] = (),
    patient_id: str = "",
    patient: str = "",
    label: str = "",
    sensitivity: float = DEFAULT_SENSITIVITY,
    calibration: float = DEFAULT_CALIBRATION,
) -> Path:
    """Write a Neuroscan CNT file with 32-bit samples.

    Parameters
    ----------
    path : path-like
        File to (over)write.
    channel_names : list of str
        Channel names in file order.
    sfreq : int
        Sampling rate in Hz (an integer: the header stores it as one).
    chunks : iterable of numpy.ndarray
        Consecutive pieces of the recording, each (channels, samples) in µV; consumed lazily, one at a
        time, so the whole recording is never in memory.
    created : datetime.datetime
        Session date and time stored in the header.
    events : iterable of (int, int)
        ``(sample, code)`` pairs written to the event table (codes 0-65535).
    patient_id, patient, label : str
        Header text fields.
    sensitivity, calibration : float
        Scale of the counts; values are rounded to the nearest count of :func:`resolution_uv` µV.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    ValueError
        A chunk with the wrong channel count, a sample beyond the int32 range, or a bad header field.
    """
    path = Path(path)
    n_channels = len(channel_names)
    if not 1 <= n_channels <= 65535 or int(sfreq) != sfreq or not 1 <= sfreq <= 65535:
        raise ValueError(f"CNT needs 1-65535 channels and an integer rate of 1-65535 Hz (got {n_channels}, {sfreq})")
    step = resolution_uv(sensitivity, calibration)
    data_start = SETUP_BYTES + ELECTRODE_BYTES * n_channels
    n_samples = 0
    with path.open("wb") as handle:
        handle.write(bytes(data_start))
        for chunk in chunks:
            chunk = np.asarray(chunk)
            if chunk.ndim != 2 or chunk.shape[0] != n_channels:
                raise ValueError(f"CNT chunk of shape {chunk.shape}; expected ({n_channels}, samples)")
            counts = np.rint(chunk.T / step)
            if counts.size and np.abs(counts).max() > np.iinfo(np.int32).max:
                raise ValueError("CNT sample beyond the int32 range of the counts")
            handle.write(counts.astype("<i4").tobytes())
            n_samples += chunk.shape[1]
        event_table_pos = handle.tell()
        records = []
        for sample, code in events:
            if not 0 <= sample < n_samples:
                raise ValueError(f"CNT event at sample {sample} outside the recording of {n_samples} samples")
            offset = event_offset(int(sample), n_channels, data_start)
            records.append(struct.pack(EVENT2_FORMAT, int(code), 0, b"\0", offset, 0, 0, 0.0, b"\0", b"\0", b"\0"))
        table = b"".join(records)
        handle.write(struct.pack("<Bii", 2, len(table), 0))
        handle.write(table)
        handle.seek(0)
        head = setup_header(n_channels, int(sfreq), n_samples, event_table_pos, created, patient_id, patient, label)
        handle.write(head)
        for index, name in enumerate(channel_names):
            handle.write(electrode_record(name, index, n_channels, sensitivity, calibration))
    return path
