"""The session-level stage of an ingest: bad channels and ICA over a whole session, then every segment repaired.

With ``bad_channels`` other than ``"off"`` (or ``ica`` on) a file's segments are filtered
(:func:`emod_data.preprocess.prepare`) and held until the file is read; then
per subject-session (and channel set) the bad channels are detected over all
segments together, and each segment is referenced, repaired, rounded and
written. A session that fails (too short, too many bad channels) fails as a
whole with one line; the file's other sessions are kept. A session shorter than
:data:`emod_data.badchannels.MIN_SECONDS` (e.g. one short MAHNOB-HCI trial per file) is
not checked for bad channels: it is stored with the plain recipe and ``bad_action`` ``"unchecked"``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from emod_data.badchannels import MIN_SECONDS, detect, repair_plan, session_blocks
from emod_data.config import ProcessingConfig
from emod_data.errors import SignalError
from emod_data.preprocess import to_stored
from emod_data.store import write_segment

SIGNAL_KEY = "_signal"
"""Key of the filtered, not yet stored signal in a pending row."""


def session_stage(config: ProcessingConfig) -> bool:
    """Whether an ingest with this configuration holds segments for a session-level stage."""
    return config.bad_channels != "off" or config.ica != "off"


def finish_sessions(
    rows: list[dict],
    config: ProcessingConfig,
    store: str,
    relpath: str,
    provenance: dict,
    written: list[str],
    fail: Callable,
    threads: int = 1,
    storage_options: dict | None = None,
) -> list[dict]:
    """Run the session-level stage on a file's pending rows and write their arrays.

    Parameters
    ----------
    rows : list of dict
        Recordings-table rows, each with the filtered signal under :data:`SIGNAL_KEY`.
    config : ProcessingConfig
        The store's processing parameters.
    store : str
        The store folder.
    relpath : str
        The source file, named in errors.
    provenance : dict
        Source and processing provenance stored with every array.
    written : list of str
        Array paths written so far (appended to; removed if the file fails as a whole).
    fail : callable
        ``fail(stage, error, session, trial, subject)`` records a failure row.
    threads : int
        Threads that finish and write a session's segments.
    storage_options : dict, optional
        fsspec options of a store on object storage.

    Returns
    -------
    list of dict
        The finished rows (without signals), with ``bad_channels``, ``bad_reasons`` and
        ``bad_action`` set, in input order.
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["subject"], row["session"], tuple(row["channel_names"])), []).append(row)
    finished = []
    for (subject, session, names), group in groups.items():
        where = f"{relpath} subject {subject} session {session}"
        try:
            signals = [row[SIGNAL_KEY] for row in group]
            detected = config.bad_channels != "off"
            checked = detected and sum(x.shape[1] for x in signals) >= MIN_SECONDS * config.sfreq
            # detection looks at blocks spread over the session: copy only those; ICA fits the whole session
            sample = session_blocks(signals, config.sfreq, config.bad_detect_seconds) if checked else None
            bad = detect(sample, list(names), config.sfreq, config, where) if checked else {}
            whole = np.concatenate(signals, axis=1) if config.ica != "off" else None
            repair = repair_plan(list(names), bad, config, where, whole)
            del sample, whole
        except SignalError as exc:
            fail("session", str(exc).splitlines()[0], session, None, subject)
            continue
        kept_names = [names[i] for i in repair.keep]

        def finish(row: dict, repair=repair, kept_names=kept_names) -> None:
            signal = to_stored(repair.apply(row.pop(SIGNAL_KEY)), config)
            attrs = {"channel_names": kept_names, "recording_id": row["recording_id"], **provenance}
            write_segment(store, row["path"], signal, attrs, config, storage_options)

        for row in group:
            row["channel_names"] = kept_names
            row["channel_ids"] = [row["channel_ids"][i] for i in repair.keep]
            row["n_channels"] = len(kept_names)
            row.update(repair.row_values(detected))
            if detected and not checked:  # too short to tell bad channels: stored with the plain recipe
                row.update(bad_channels=None, bad_reasons=None, bad_action="unchecked")
            written.append(row["path"])
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(finish, group))  # re-raises the first error
        finished.extend(group)
    return finished
