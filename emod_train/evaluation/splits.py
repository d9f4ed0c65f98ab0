"""Pinned splits: a task's train / val / test windows written once as a file and read back by id.

A split file is a TSV with one row per window: ``part`` (train, val or test), ``window_id``
(``<recording_id>:<start>:<stop>``, samples), ``recording_id``, ``subject``, ``session``, ``trial``
and ``label``, sorted by part then window id, so the same split always gives the same bytes and
the same sha256. Runs that read a split file use exactly its windows and labels; a window the store
no longer has is an error, never silently dropped.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from emod_train.errors import TaskError

PARTS = ("train", "val", "test")
"""Split parts in file order."""

COLUMNS = ("part", "window_id", "recording_id", "subject", "session", "trial", "label")
"""Columns of a split file."""


def window_ids(windows: pd.DataFrame) -> pd.Series:
    """``<recording_id>:<start>:<stop>`` of every window of a window table."""
    return windows["recording_id"].astype(str) + ":" + windows["start"].astype(str) + ":" + windows["stop"].astype(str)


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def split_frame(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The split-file rows of a task's parts (see the module docstring), in file order."""
    frames = []
    for part in PARTS:
        rows = parts[part]
        frames.append(
            pd.DataFrame(
                {
                    "part": part,
                    "window_id": window_ids(rows).to_numpy(),
                    "recording_id": rows["recording_id"].astype(str).to_numpy(),
                    "subject": rows["subject"].astype(str).to_numpy(),
                    "session": rows["session"].astype(str).to_numpy(),
                    "trial": rows["trial"].astype(str).to_numpy(),
                    "label": rows["label"].astype(int).to_numpy(),
                }
            ).sort_values("window_id", kind="stable")
        )
    return pd.concat(frames, ignore_index=True)


def write_split(parts: dict[str, pd.DataFrame], path: str | Path) -> str:
    """Write a split file (atomically) and return its sha256.

    Parameters
    ----------
    parts : dict
        ``{"train": windows, "val": windows, "test": windows}`` with a ``label`` column
        (:meth:`emod_train.evaluation.tasks.Task.split`).
    path : path-like
        Output file.

    Returns
    -------
    str
        Hex sha256 of the written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    split_frame(parts).to_csv(tmp, sep="\t", index=False, lineterminator="\n")
    tmp.replace(path)
    return sha256_of(path)


def read_split(path: str | Path, windows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The parts a split file pins, as rows of ``windows`` with the file's labels.

    Parameters
    ----------
    path : path-like
        A file written by :func:`write_split`.
    windows : pandas.DataFrame
        The task's window table on the current store (:func:`emod_train.data.windows.window_table`).

    Returns
    -------
    dict
        ``{"train": ..., "val": ..., "test": ...}`` window tables in file order, with ``label``.

    Raises
    ------
    TaskError
        Unreadable file, missing columns or parts, or a window the store does not have.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", dtype={"window_id": str, "part": str})
    except (OSError, ValueError) as exc:
        raise TaskError(f"{path}: cannot read split file ({exc})") from None
    missing = [c for c in ("part", "window_id", "label") if c not in table.columns]
    if missing:
        raise TaskError(f"{path}: split file lacks column '{missing[0]}'")
    ids = window_ids(windows)
    position = pd.Series(range(len(windows)), index=ids.to_numpy())
    position = position[~position.index.duplicated()]
    unknown = table.loc[~table["window_id"].isin(position.index), "window_id"]
    if len(unknown):
        raise TaskError(f"{path}: window {unknown.iloc[0]} is not in the store's windows of this task")
    parts = {}
    for part in PARTS:
        rows = table[table["part"] == part]
        if not len(rows):
            raise TaskError(f"{path}: split file has no '{part}' window")
        chosen = windows.iloc[position.loc[rows["window_id"]].to_numpy()].reset_index(drop=True)
        parts[part] = chosen.assign(label=rows["label"].astype(int).to_numpy())
    return parts
