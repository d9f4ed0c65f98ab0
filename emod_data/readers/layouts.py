"""Layouts: where the trials are inside a container.

- ``per_variable``: one variable per trial, keys matched by ``format.trial_key``
  (SEED ``djc_eeg3``, SEED-VII ``'17'``);
- ``stacked``: one array with a trial axis under ``format.data_key`` (DEAP
  ``data``, FACED's bare array with key ``""``);
- ``cells``: a MATLAB cell array with one trial per cell (AMIGOS ``joined_data``,
  DREAMER's ``EEG.stimuli`` of every subject), see :mod:`emod_data.readers.structs`.

Axes are declared by the manifest; every trial comes out as (channels, samples).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from emod_data.errors import ReaderError
from emod_data.manifest import Manifest
from emod_data.readers.containers import read_variable


@dataclass
class RawTrial:
    """One trial as read from a file.

    Attributes
    ----------
    trial : int
        The corpus' own trial number (1-based).
    data : numpy.ndarray
        (channels, samples) in source units, channels in the manifest's order.
    ratings : numpy.ndarray or None
        The trial's raw ratings, in ``labels.rating_names`` order, when the file holds them.
    code : str or None
        The trial's label code when the file itself holds it (``labels.reader_codes``).
    subject : str or None
        The subject, when one file holds several subjects (DREAMER); else the file's.
    session : int or None
        The session, when the reader knows it; else from the file name or trial number.
    channel_names : list of str or None
        Names of the rows of ``data`` when they differ per file (raw BDF, BIDS); else the
        manifest's ``channels.names``.
    sfreq : float or None
        Sampling rate from the file header; else the manifest's ``format.sfreq``.
    unit_scale : float or None
        Factor to µV when the reader detects units per file; else the manifest's units.
    segment : str
        ``"stimulus"`` (split into baseline and stimulus per ``[segments]``) or
        ``"baseline"`` for a baseline the file stores apart (stored as is).
    stimulus : str or None
        The stimulus id the file itself gives (AMIGOS ``VideoIDs``), offered to the
        ``labels.stimulus`` template as ``{stimulus}``.
    error : str or None
        Why this trial has no usable signal (an empty cell); the ingest records it as
        a failure of this trial alone and goes on with the file.
    """

    trial: int
    data: np.ndarray
    ratings: np.ndarray | None = None
    code: str | None = None
    subject: str | None = None
    session: int | None = None
    channel_names: list[str] | None = None
    sfreq: float | None = None
    unit_scale: float | None = None
    segment: str = "stimulus"
    stimulus: str | None = None
    error: str | None = None


def _check_trials(found: list[int], manifest: Manifest, label: str) -> None:
    expected, first = manifest.format.trials, 1
    if manifest.format.trial_ranges:
        name = label.rsplit("/", 1)[-1]
        hits = [r for pattern, r in manifest.format.trial_ranges.items() if fnmatch.fnmatch(name, pattern)]
        if not hits:
            raise ReaderError(f"{label}: file name matches no pattern of format.trial_ranges")
        first, expected = hits[0]
    if expected is None:
        return
    wanted = set(range(first, expected + 1))
    missing, extra = sorted(wanted - set(found)), sorted(set(found) - wanted)
    declared = f"{first}..{expected}" if manifest.format.trial_ranges else f"{expected}"
    if missing:
        raise ReaderError(f"{label}: missing trial(s) {missing} of {declared}")
    if extra:
        raise ReaderError(f"{label}: unexpected trial number(s) {extra}; the manifest declares {declared} trials")


def _to_channels_time(
    array: np.ndarray, axes: list[str], n_channels: int, label: str, key: str, extra: str = "error"
) -> np.ndarray:
    what = f"variable '{key}'" if key else "the pickled array"
    if array.ndim != len(axes):
        raise ReaderError(f"{label}: {what} has shape {array.shape}; expected {len(axes)} axes {axes}")
    order = [axes.index(a) for a in ("channel", "time") if a in axes]
    if "trial" in axes:
        order = [axes.index("trial"), *order]
    out = np.transpose(array, order)
    if extra == "drop" and out.shape[-2] > n_channels:  # format.extra_channels: keep the first rows
        return out[..., :n_channels, :]
    if out.shape[-2] != n_channels:
        least = "at least " if extra == "drop" else ""
        raise ReaderError(
            f"{label}: {what} has shape {array.shape}; expected {least}{n_channels} channels on axis "
            f"{axes.index('channel')}"
        )
    return out


def _ratings(container: Any, manifest: Manifest, n_trials: int, label: str) -> np.ndarray | None:
    if manifest.labels.source != "ratings":
        return None
    ratings = np.asarray(read_variable(container, manifest.labels.ratings_key, label), dtype=float)
    expected = (n_trials, len(manifest.labels.rating_names))
    if ratings.ndim != 2 or ratings.shape[0] != n_trials or ratings.shape[1] < expected[1]:
        raise ReaderError(
            f"{label}: ratings '{manifest.labels.ratings_key}' have shape {ratings.shape}; expected {expected}"
        )
    return ratings[:, : expected[1]]


def iter_trials(container: Any, manifest: Manifest, label: str) -> Iterator[RawTrial]:
    """Yield a file's trials in trial order.

    Parameters
    ----------
    container
        An open container (see :func:`emod_data.readers.containers.open_container`).
    manifest : Manifest
        The corpus manifest (layout, keys, axes, channel count, expected trials).
    label : str
        How to name the file in errors.

    Yields
    ------
    RawTrial

    Raises
    ------
    ReaderError
        Missing or unexpected trials, wrong shapes, missing variables.
    """
    fmt, n_channels = manifest.format, len(manifest.channels.names)
    if fmt.layout == "cells":
        from emod_data.readers.structs import iter_cell_trials

        yield from iter_cell_trials(container, manifest, label)
    elif fmt.layout == "per_variable":
        pattern = re.compile(fmt.trial_key)
        keyed = {}
        for key in container.keys():
            match = pattern.fullmatch(key)
            if match:
                keyed[int(match.group("trial"))] = key
        if not keyed:
            raise ReaderError(
                f"{label}: no variable matches format.trial_key '{fmt.trial_key}' "
                f"(variables: {sorted(container.keys())[:8]})"
            )
        _check_trials(list(keyed), manifest, label)
        ratings = _ratings(container, manifest, len(keyed), label)
        for position, trial in enumerate(sorted(keyed)):
            key = keyed[trial]
            array = read_variable(container, key, label)
            data = _to_channels_time(array, fmt.axes, n_channels, label, key, fmt.extra_channels)
            yield RawTrial(trial, data, None if ratings is None else ratings[position])
    else:
        key = fmt.data_key or ""
        array = read_variable(container, key, label)
        stacked = _to_channels_time(array, fmt.axes, n_channels, label, key, fmt.extra_channels)
        trials = list(range(1, stacked.shape[0] + 1))
        _check_trials(trials, manifest, label)
        ratings = _ratings(container, manifest, len(trials), label)
        for index, trial in enumerate(trials):
            yield RawTrial(trial, stacked[index], None if ratings is None else ratings[index])
