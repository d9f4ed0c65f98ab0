"""File containers: MATLAB v5, MATLAB v7.3 (HDF5) and Python pickles.

A container opens one file and offers its variables by name, as NumPy arrays in
the orientation MATLAB or Python shows them (MATLAB v7.3 datasets, stored
column-major, are transposed back). Any failure to open or parse a file becomes
a one-line :class:`~emod_data.errors.ReaderError` naming the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from emod_data.errors import ReaderError, first_line
from emod_data.readers.safe_pickle import load_pickle

MAT73_SIGNATURE = b"MATLAB 7.3"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class MatV5Container:
    """Variables of a MATLAB v5 file.

    Plain numeric arrays in uncompressed elements are mapped from the file one at a time when
    asked for (:mod:`emod_data.readers.mat5`), so memory holds only the variables in use; all
    other variables (structs, cells, strings, compressed elements), or the whole file when its
    layout is unusual, are read by :func:`scipy.io.loadmat` on first access.
    """

    def __init__(self, path: Path, variables: list[str] | None = None) -> None:
        from emod_data.readers.mat5 import Mat5Unsupported, scan_mat5

        self._path = Path(path)
        self._loaded: dict[str, np.ndarray] | None = None
        try:
            scanned: list | None = scan_mat5(self._path)
        except Mat5Unsupported:
            scanned = None
        if scanned is None or any(not v.name for v in scanned):  # unusual, or compressed (names inside)
            self._numeric: dict = {}
            self._names: list[str] | None = None
            self._rest: list[str] | None = None
            self._load(variables)
            return
        wanted = set(variables) if variables is not None else None
        self._names = [v.name for v in scanned if wanted is None or v.name in wanted]
        self._numeric = {v.name: v for v in scanned if v.numeric and v.name in self._names}
        self._rest = [name for name in self._names if name not in self._numeric]

    def _load(self, names: list[str] | None) -> dict[str, np.ndarray]:
        if self._loaded is None:
            from scipy.io import loadmat

            loaded = loadmat(self._path, variable_names=names)
            self._loaded = {k: v for k, v in loaded.items() if not k.startswith("__")}
        return self._loaded

    def keys(self) -> list[str]:
        return list(self._load(None)) if self._names is None else list(self._names)

    def __getitem__(self, key: str) -> np.ndarray:
        from emod_data.readers.mat5 import read_numeric

        if key in self._numeric:
            return read_numeric(self._path, self._numeric[key])
        if self._names is not None and key not in self._names:
            raise KeyError(key)
        return np.asarray(self._load(self._rest)[key])

    def close(self) -> None:
        self._loaded = None
        self._numeric = {}


class MatV73Container:
    """Variables of a MATLAB v7.3 file (HDF5 through h5py), read one at a time."""

    def __init__(self, path: Path) -> None:
        import h5py

        self._file = h5py.File(path, "r")

    def keys(self) -> list[str]:
        return [k for k in self._file.keys() if not k.startswith("#")]

    def __getitem__(self, key: str) -> np.ndarray:
        data = self._file[key][()]
        return np.asarray(data).T  # MATLAB writes column-major: HDF5 shows the axes reversed

    def close(self) -> None:
        self._file.close()


class PickleContainer:
    """A pickled dict of arrays, or a single pickled array (key ``""``).

    Loaded with the restricted unpickler of :mod:`emod_data.readers.safe_pickle`: a pickle that
    references anything but NumPy arrays, dicts, lists and builtin scalars is refused.
    """

    def __init__(self, path: Path) -> None:
        obj = load_pickle(path)  # restricted: arrays, dicts, lists and builtin scalars only
        if isinstance(obj, dict):
            self._vars = {str(k): v for k, v in obj.items()}
        elif isinstance(obj, np.ndarray):
            self._vars = {"": obj}
        else:
            raise ReaderError(f"{path}: pickle holds a {type(obj).__name__}, expected a dict or an array")

    def keys(self) -> list[str]:
        return list(self._vars)

    def __getitem__(self, key: str) -> np.ndarray:
        return np.asarray(self._vars[key])

    def close(self) -> None:
        self._vars.clear()


def mat_version(path: Path) -> str:
    """Return ``"7.3"`` for HDF5-based MATLAB files and ``"5"`` otherwise."""
    with open(path, "rb") as handle:
        head = handle.read(128)
    if MAT73_SIGNATURE in head[:116]:
        return "7.3"
    with open(path, "rb") as handle:  # an HDF5 signature at 0 or after a 512-byte user block
        handle.seek(512)
        if head.startswith(_HDF5_SIGNATURE) or handle.read(8) == _HDF5_SIGNATURE:
            return "7.3"
    return "5"


@contextmanager
def open_container(path: Path, kind: str, label: str | None = None) -> Iterator[Any]:
    """Open a file as a container of named variables.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    kind : {"mat", "pickle"}
        Container type; MATLAB v5 and v7.3 are told apart from the file header.
    label : str, optional
        How to name the file in errors (its path relative to the corpus root).

    Yields
    ------
    container
        An object with ``keys()`` and ``[name]`` returning NumPy arrays.

    Raises
    ------
    ReaderError
        One line naming the file when it is missing, truncated or not of this kind.
    """
    label = label or str(path)
    try:
        if kind == "pickle":
            container = PickleContainer(path)
        elif mat_version(path) == "7.3":
            container = MatV73Container(path)
        else:
            container = MatV5Container(path)
    except ReaderError:
        raise
    except Exception as exc:
        raise ReaderError(f"{label}: cannot read {kind} file ({first_line(exc, with_type=True)})") from exc
    try:
        yield container
    finally:
        container.close()


def read_variable(container: Any, key: str, label: str) -> np.ndarray:
    """Read one variable, turning a missing key or a read failure into a ReaderError."""
    if key not in container.keys():
        shown = sorted(container.keys())[:8]
        raise ReaderError(f"{label}: variable '{key}' not found (variables: {shown})")
    try:
        return container[key]
    except Exception as exc:
        raise ReaderError(f"{label}: cannot read variable '{key}' ({first_line(exc, with_type=True)})") from exc
