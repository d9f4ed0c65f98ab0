"""What every reader shares: the trial type, the trial checks and the registry of containers.

A reader turns one source file into :class:`RawTrial` objects. Which reader reads a
file is chosen by the manifest's ``format.container``, a name of :data:`CONTAINERS`;
the manifest accepts exactly those names, and :data:`CONTINUOUS_CONTAINERS` (the
ones whose trials are cut from a recording by ``[recording]``) is derived from the
same table. Readers are named by import path and imported on first use, so this
module imports neither the readers nor :mod:`emod_data.manifest`, and any module
(the manifest included) can import it without a cycle.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from emod_data.errors import ReaderError

if TYPE_CHECKING:
    from emod_data.manifest import Manifest

Reader = Callable[[Path, str, "Manifest"], Iterator["RawTrial"]]
"""A reader function: ``(path, relpath, manifest) -> iterator of RawTrial``."""


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


@dataclass(frozen=True)
class Container:
    """One ``format.container`` value and the reader that reads it.

    Attributes
    ----------
    name : str
        The value manifests give as ``format.container``.
    reader : str
        The reader function's import path, ``module:function``.
    continuous : bool
        True when files are continuous recordings cut into trials by the manifest's
        ``[recording]`` section; False when trials are found inside the file by
        ``format.layout``.
    description : str
        One line for the docs.
    """

    name: str
    reader: str
    continuous: bool
    description: str

    def load(self) -> Reader:
        """Import and return the reader function."""
        module, function = self.reader.split(":")
        return getattr(importlib.import_module(module), function)


CONTAINERS: dict[str, Container] = {
    c.name: c
    for c in (
        Container("mat", "emod_data.readers.layouts:read_file", False, "MATLAB v5 or v7.3 (HDF5) file"),
        Container("pickle", "emod_data.readers.layouts:read_file", False, "Python pickle of arrays"),
        Container("cnt", "emod_data.readers.mne_raw:read_recording", True, "Neuroscan CNT recording (MNE)"),
        Container("bdf", "emod_data.readers.mne_raw:read_recording", True, "BioSemi BDF recording (MNE)"),
        Container("edf", "emod_data.readers.mne_raw:read_recording", True, "EDF / EDF+ recording (MNE)"),
        Container("bids", "emod_data.readers.mne_raw:read_recording", True, "EEG-BIDS recording (MNE-BIDS)"),
    )
}
"""The registry of containers: ``format.container`` name -> :class:`Container`."""

CONTINUOUS_CONTAINERS: tuple[str, ...] = tuple(name for name, c in CONTAINERS.items() if c.continuous)
"""``format.container`` values read as continuous recordings (cut into trials by ``[recording]``)."""


def get_reader(container: str, label: str) -> Reader:
    """The reader function of a ``format.container`` value.

    Parameters
    ----------
    container : str
        A name of :data:`CONTAINERS`.
    label : str
        The file being read, named in the error.

    Returns
    -------
    callable
        ``(path, relpath, manifest) -> iterator of RawTrial``.

    Raises
    ------
    ReaderError
        When no container of that name is registered.
    """
    if container not in CONTAINERS:
        raise ReaderError(f"{label}: no reader for format.container '{container}'")
    return CONTAINERS[container].load()


def corpus_root(path: Path, relpath: str) -> Path:
    """The corpus root folder of a source file.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    relpath : str
        Its path relative to the corpus root (POSIX separators).

    Returns
    -------
    pathlib.Path
        ``path`` with as many trailing parts removed as ``relpath`` has.
    """
    return Path(path).parents[len(PurePosixPath(relpath).parts) - 1]


def check_trials(found: list[int], manifest: Manifest, label: str) -> None:
    """Check a file's trial numbers against ``format.trials`` or ``format.trial_ranges``.

    Parameters
    ----------
    found : list of int
        The trial numbers the file holds.
    manifest : Manifest
        The corpus manifest.
    label : str
        How to name the file in errors.

    Raises
    ------
    ReaderError
        Missing or unexpected trial numbers, or a file name that matches no pattern of
        ``format.trial_ranges``.
    """
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


def to_channels_time(
    array: np.ndarray, axes: list[str], n_channels: int, label: str, key: str, extra: str = "error"
) -> np.ndarray:
    """Reorder an array read from a file to (channels, time), or (trials, channels, time).

    Parameters
    ----------
    array : numpy.ndarray
        The variable as read.
    axes : list of str
        Its axes as ``format.axes`` names them (``"trial"``, ``"channel"``, ``"time"``).
    n_channels : int
        The manifest's channel count.
    label : str
        How to name the file in errors.
    key : str
        The variable's name (``""`` for a bare pickled array), named in errors.
    extra : {"error", "drop"}
        ``format.extra_channels``: with ``"drop"`` rows beyond ``n_channels`` are dropped.

    Returns
    -------
    numpy.ndarray
        A view of ``array`` with the axes in (trial,) channel, time order.

    Raises
    ------
    ReaderError
        A wrong number of axes or of channels.
    """
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


def read_trials(path: Path, relpath: str, manifest: Manifest) -> Iterator[RawTrial]:
    """Yield the trials of one source file, as the reader of its ``format.container`` reads them.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    relpath : str
        Its path relative to the corpus root (named in errors).
    manifest : Manifest
        The corpus manifest.

    Yields
    ------
    RawTrial
        The file's trials as the container's reader gives them; a :class:`ReaderError` (one line naming
        the file) when it cannot be read as declared.
    """
    yield from get_reader(manifest.format.container, relpath)(path, relpath, manifest)
