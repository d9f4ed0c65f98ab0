"""Low-level, byte-deterministic writers for the containers real corpora use.

- MATLAB v5 (``scipy.io.savemat``, uncompressed) with a MATLAB-style header whose
  creation date is given instead of read from the clock;
- MATLAB v7.3 (HDF5 through h5py) with MATLAB's 512-byte userblock, column-major
  (transposed) datasets and the ``MATLAB_class`` attribute, without timestamps;
- Python 2 pickles (protocol 2, as ``cPickle.dump`` wrote them), which Python 3
  can load only with ``encoding='latin1'``;
- MATLAB's default ``save`` (v5, compressed, structs and cell arrays) through
  :func:`save_mat` and :func:`cell`;
- NumPy 1.x pickles of one array (:func:`write_numpy1_pickle`, FACED).

The pickle writers name NumPy's private ``_reconstruct`` because that is the
name the pickle byte stream itself must carry.

Variables are passed as an iterable of ``(name, array)`` pairs and written one
at a time, so a caller can generate each array just before it is written.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np
import scipy.io

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy < 2
    from numpy.core.multiarray import _reconstruct

PLATFORM = "GLNXA64"
"""Platform string written into MATLAB headers."""

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def matlab_header(version: str, created: datetime, platform: str = PLATFORM) -> bytes:
    """The 128-byte header MATLAB writes at the start of a MAT-file.

    Parameters
    ----------
    version : {"5.0", "7.3"}
        MAT-file version; 7.3 adds MATLAB's ``HDF5 schema 1.00 .`` suffix and version word 0x0200.
    created : datetime.datetime
        Creation time written into the text (locale independent, ``asctime`` style).
    platform : str, optional
        Platform string (MATLAB writes e.g. ``GLNXA64`` or ``PCWIN64``).

    Returns
    -------
    bytes
        116 bytes of space-padded text, 8 zero bytes (no subsystem data), the version word and ``IM``.
    """
    stamp = (
        f"{_DAYS[created.weekday()]} {_MONTHS[created.month - 1]} {created.day:2d} {created:%H:%M:%S} {created.year}"
    )
    text = f"MATLAB {version} MAT-file, Platform: {platform}, Created on: {stamp}"
    if version == "7.3":
        text += " HDF5 schema 1.00 ."
        word = 0x0200
    elif version == "5.0":
        word = 0x0100
    else:
        raise ValueError(f"unsupported MAT-file version {version!r} (expected '5.0' or '7.3')")
    raw = text.encode("ascii")
    if len(raw) > 116:
        raise ValueError(f"MAT-file header text is longer than 116 bytes: {text!r}")
    return raw.ljust(116, b" ") + bytes(8) + struct.pack("<H", word) + b"IM"


class _LazyVariables:
    """A one-shot mapping for ``savemat``: ``items()`` yields pairs as they are produced."""

    def __init__(self, variables: Iterable[tuple[str, np.ndarray]]):
        self._variables = variables

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        return iter(self._variables)


def write_mat5(path: str | Path, variables: Iterable[tuple[str, np.ndarray]], created: datetime) -> Path:
    """Write an uncompressed MATLAB v5 file with a deterministic header.

    Parameters
    ----------
    path : path-like
        File to (over)write.
    variables : iterable of (str, numpy.ndarray)
        Variable names and values, written in this order; consumed lazily.
    created : datetime.datetime
        Creation time written into the header instead of the current time.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    scipy.io.savemat(path, _LazyVariables(variables), format="5", do_compression=False, oned_as="row")
    with path.open("r+b") as handle:
        handle.write(matlab_header("5.0", created)[:116])
    return path


def _set_matlab_class(dataset: h5py.Dataset, name: str) -> None:
    """Attach ``MATLAB_class`` as MATLAB does: a scalar fixed-length, null-terminated ASCII string."""
    raw = name.encode("ascii")
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(len(raw))
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    attr = h5py.h5a.create(dataset.id, b"MATLAB_class", tid, h5py.h5s.create(h5py.h5s.SCALAR))
    try:
        attr.write(np.array(raw, dtype=f"S{len(raw)}"), mtype=tid)
    finally:
        attr.close()


def write_mat73(path: str | Path, variables: Iterable[tuple[str, np.ndarray]], created: datetime) -> Path:
    """Write a MATLAB v7.3 (HDF5) file the way MATLAB lays out numeric matrices.

    Each 2-D float64 array of shape (rows, cols) becomes an HDF5 dataset of shape (cols, rows) (MATLAB
    is column-major) with the attribute ``MATLAB_class = b'double'``. The file starts with MATLAB's
    512-byte userblock. No timestamps are stored, so equal inputs give equal bytes.

    Parameters
    ----------
    path : path-like
        File to (over)write.
    variables : iterable of (str, numpy.ndarray)
        Variable names and float64 arrays; consumed lazily.
    created : datetime.datetime
        Creation time written into the userblock text.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    with h5py.File(path, "w", userblock_size=512) as handle:
        for name, value in variables:
            value = np.asarray(value, dtype=np.float64)
            dataset = handle.create_dataset(name, data=np.ascontiguousarray(value.T), track_times=False)
            _set_matlab_class(dataset, "double")
    with path.open("r+b") as handle:
        handle.write(matlab_header("7.3", created).ljust(512, b"\0"))
    return path


class _Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes what Python 2's ``cPickle`` wrote for dicts of numpy arrays.

    Byte strings and ASCII text become Python 2 ``str`` (SHORT_BINSTRING / BINSTRING), numpy arrays
    reduce through ``numpy.core.multiarray._reconstruct`` and ``numpy.dtype``, and memo indices start at
    1 like cPickle's.
    """

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def __init__(self, file):
        super().__init__(file, protocol=2)
        self._globals = {
            id(_reconstruct): b"numpy.core.multiarray\n_reconstruct\n",
            id(np.ndarray): b"numpy\nndarray\n",
            id(np.dtype): b"numpy\ndtype\n",
        }

    def memoize(self, obj):
        index = len(self.memo) + 1
        self.write(self.put(index))
        self.memo[id(obj)] = index, obj

    def save(self, obj, save_persistent_id=True):
        name = self._globals.get(id(obj))
        if name is None:
            return super().save(obj, save_persistent_id)
        memo = self.memo.get(id(obj))
        if memo is not None:
            self.write(self.get(memo[0]))
        else:
            self.write(pickle.GLOBAL + name)
            self.memoize(obj)
        return None

    def reducer_override(self, obj):
        if type(obj) is np.ndarray:
            if obj.dtype.fields is not None or obj.dtype.hasobject:
                raise TypeError(f"cannot write a Python 2 pickle of an array of dtype {obj.dtype}")
            return _reconstruct, (np.ndarray, (0,), b"b"), (1, obj.shape, obj.dtype, False, obj.tobytes())
        if isinstance(obj, np.dtype):
            state = obj.__reduce__()[2]
            return np.dtype, (f"{obj.kind}{obj.itemsize}", 0, 1), state
        return NotImplemented

    def save_py2_str(self, obj: bytes):
        size = len(obj)
        if size < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([size]) + obj)
        elif size < 2**31:
            self.write(pickle.BINSTRING + struct.pack("<i", size))
            self.write(obj)
        else:
            raise ValueError("a Python 2 string cannot hold 2 GiB or more")
        self.memoize(obj)

    def save_text(self, obj: str):
        if obj.isascii():
            return self.save_py2_str(obj.encode("ascii"))
        return pickle._Pickler.save_str(self, obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_text


def write_py2_pickle(path: str | Path, obj: object) -> Path:
    """Write ``obj`` as Python 2's ``cPickle.dump(obj, f, 2)`` would have.

    Parameters
    ----------
    path : path-like
        File to (over)write.
    obj : object
        Built from dicts, tuples, lists, numbers, strings and plain (non-object) numpy arrays.

    Returns
    -------
    pathlib.Path
        The written file. Python 3 loads it with ``pickle.load(f, encoding='latin1')``; the default
        ASCII encoding fails on the arrays' raw bytes.
    """
    path = Path(path)
    with path.open("wb") as handle:
        _Py2Pickler(handle).dump(obj)
    return path


def save_mat(path: Path, variables: dict, created: datetime, platform: str = PLATFORM) -> Path:
    """Write a MATLAB file as MATLAB's default ``save`` does (v5 container, compressed variables).

    Parameters
    ----------
    path : pathlib.Path
        File to (over)write.
    variables : dict
        Variable name -> value; dicts become structs, object arrays cell arrays, str char arrays.
    created : datetime.datetime
        Creation time written into the header.
    platform : str, optional
        Platform string of the header.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    scipy.io.savemat(path, variables, format="5", do_compression=True, oned_as="row")
    with path.open("r+b") as handle:
        handle.write(matlab_header("5.0", created, platform)[:116])
    return path


def cell(values: list, shape: tuple[int, int]) -> np.ndarray:
    """A MATLAB cell array (object array) of the given shape, filled in column-major order."""
    out = np.empty(len(values), dtype=object)
    for index, value in enumerate(values):
        out[index] = value
    return out.reshape(shape, order="F")


class _NumpyV1Pickler(pickle._Pickler):
    """Protocol-4 pickler naming ``numpy.core.multiarray._reconstruct`` as NumPy 1.x did (FACED's pickles)."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_global(self, obj, name=None):
        if obj is _reconstruct:
            self.save("numpy.core.multiarray")
            self.save("_reconstruct")
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def write_numpy1_pickle(path: Path, array: np.ndarray) -> Path:
    """Pickle an array as ``pickle.dump(array, f)`` did under Python 3.8+ and NumPy 1.x (protocol 4).

    Parameters
    ----------
    path : pathlib.Path
        File to (over)write.
    array : numpy.ndarray
        A plain numeric array.

    Returns
    -------
    pathlib.Path
        The written file; ``pickle.load`` reads it back with any NumPy.
    """
    with path.open("wb") as handle:
        _NumpyV1Pickler(handle, protocol=4).dump(np.ascontiguousarray(array))
    return path
