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

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emod_data.errors import ReaderError
from emod_data.manifest import Manifest
from emod_data.readers.base import RawTrial, check_trials, to_channels_time
from emod_data.readers.containers import open_container, read_variable
from emod_data.readers.structs import iter_cell_trials, read_ratings_file


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
        check_trials(list(keyed), manifest, label)
        ratings = _ratings(container, manifest, len(keyed), label)
        for position, trial in enumerate(sorted(keyed)):
            key = keyed[trial]
            array = read_variable(container, key, label)
            data = to_channels_time(array, fmt.axes, n_channels, label, key, fmt.extra_channels)
            yield RawTrial(trial, data, None if ratings is None else ratings[position])
    else:
        key = fmt.data_key or ""
        array = read_variable(container, key, label)
        stacked = to_channels_time(array, fmt.axes, n_channels, label, key, fmt.extra_channels)
        trials = list(range(1, stacked.shape[0] + 1))
        check_trials(trials, manifest, label)
        ratings = _ratings(container, manifest, len(trials), label)
        for index, trial in enumerate(trials):
            yield RawTrial(trial, stacked[index], None if ratings is None else ratings[index])


def read_file(path: Path, relpath: str, manifest: Manifest) -> Iterator[RawTrial]:
    """The reader (a :data:`~emod_data.readers.base.Reader`) of the containers ``"mat"`` and ``"pickle"``.

    Yields
    ------
    RawTrial
        The file's trials (:func:`iter_trials`), with the ratings of ``labels.ratings_file`` when the
        manifest names a side file of ratings (FACED's ``After_remarks.mat``).

    Raises
    ------
    ReaderError
        One line naming the file when it cannot be read as declared.
    """
    rated = read_ratings_file(path, relpath, manifest)
    with open_container(path, manifest.format.container, relpath) as container:
        for raw in iter_trials(container, manifest, relpath):
            if rated is not None:
                raw.ratings = rated.get(raw.trial)
            yield raw
