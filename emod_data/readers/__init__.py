"""Readers: raw files in, trials (channels x samples, source units) out.

A reader is chosen by the manifest's ``format.container``. For variable
containers (MATLAB v5 / v7.3, pickles) a reader is the container plus a layout
(where the trials are inside it), so a corpus in a known format needs only a
manifest. Formats with their own structure register a function in
:data:`READERS` that yields :class:`RawTrial` objects for one source file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from emod_data.errors import ReaderError
from emod_data.manifest import Manifest
from emod_data.readers.containers import open_container, read_variable
from emod_data.readers.layouts import RawTrial, iter_trials
from emod_data.readers.mne_raw import read_recording


def _variable_container(path: Path, relpath: str, manifest: Manifest) -> Iterator[RawTrial]:
    from emod_data.readers.structs import read_ratings_file

    rated = read_ratings_file(path, relpath, manifest)  # labels.ratings_file (FACED's After_remarks.mat)
    with open_container(path, manifest.format.container, relpath) as container:
        for raw in iter_trials(container, manifest, relpath):
            if rated is not None:
                raw.ratings = rated.get(raw.trial)
            yield raw


READERS: dict[str, Callable[[Path, str, Manifest], Iterator[RawTrial]]] = {
    "mat": _variable_container,
    "pickle": _variable_container,
    "cnt": read_recording,  # continuous recordings through MNE, cut into trials by [recording]
    "bdf": read_recording,
    "edf": read_recording,
    "bids": read_recording,
}
"""Reader function per ``format.container``: ``(path, relpath, manifest) -> iterator of RawTrial``."""


def read_trials(path: Path, relpath: str, manifest: Manifest) -> Iterator[RawTrial]:
    """Yield the trials of one source file, as the manifest's reader reads them.

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

    Raises
    ------
    ReaderError
        One line naming the file when it cannot be read as declared.
    """
    reader = READERS.get(manifest.format.container)
    if reader is None:
        raise ReaderError(f"{relpath}: no reader for format.container '{manifest.format.container}'")
    yield from reader(path, relpath, manifest)


__all__ = ["READERS", "RawTrial", "iter_trials", "open_container", "read_trials", "read_variable"]
