"""MATLAB v5 numeric variables read in place: the file's data elements memory-mapped, no full copy.

:func:`scipy.io.loadmat` reads a whole variable into a new buffer (and by default every
variable of the file at once), so ingesting a 340 MB SEED file costs about twice that in
memory. A MATLAB v5 file is a 128-byte header followed by one *data element* per variable:
an 8-byte tag (type, byte count) and, for an array (``miMATRIX``), sub-elements for its flags
(class), dimensions, name and real part. :func:`scan_mat5` walks these tags without reading
the data; :func:`read_numeric` then maps one variable's real part (column-major, like MATLAB)
and returns a view of it in the stored type, as scipy does by default (MATLAB saves
integer-valued doubles as ``miUINT8`` and the like), byte-swapped while copying when the file is
in the other byte order. The pages are read as the caller touches them and released with the
last view; casting to float64 happens once, when the ingest copies the trial out of the pages.

Only plain numeric arrays take this path: real, not logical, not sparse, in an uncompressed
element. Everything else (structs, cells, strings, complex or logical arrays, compressed
elements, unusual layouts) is read by :func:`scipy.io.loadmat`, see
:class:`emod_data.readers.containers.MatV5Container`.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEADER_BYTES = 128
MI_MATRIX = 14
MI_COMPRESSED = 15

MI_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
"""Storage types of data elements (``miINT8`` ... ``miUINT64``) as NumPy type codes."""

CLASS_DTYPES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
"""Numeric array classes (``mxDOUBLE_CLASS`` ... ``mxUINT64_CLASS``) as NumPy type codes."""

_COMPLEX, _LOGICAL = 0x0800, 0x0200  # array-flags bits
_MAX_ARRAY_HEADER = 4096  # flags + dimensions + name: a header longer than this is left to scipy


class Mat5Unsupported(Exception):
    """The file is valid for scipy but not read in place here (an unusual layout): fall back to scipy."""


@dataclass(frozen=True)
class Mat5Variable:
    """Where one top-level variable of a MATLAB v5 file lies.

    Attributes
    ----------
    name : str
        The variable name.
    start, end : int
        Byte range of its data element (tag included).
    numeric : bool
        True when it is a plain numeric array that :func:`read_numeric` can map.
    shape : tuple of int
        MATLAB dimensions (numeric variables only).
    stored : str
        NumPy type code of the stored elements, byte order included (numeric only).
    dtype : str
        NumPy type code of the array's class (numeric only).
    offset : int
        File offset of the first stored element (numeric only).
    """

    name: str
    start: int
    end: int
    numeric: bool = False
    shape: tuple[int, ...] = ()
    stored: str = ""
    dtype: str = ""
    offset: int = 0


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def _tag(buffer: bytes, at: int, order: str) -> tuple[int, int, int, int]:
    """(type, byte count, data offset, next offset) of the data element whose tag starts at ``at``."""
    if at + 8 > len(buffer):
        raise Mat5Unsupported("array header longer than expected")
    first, second = struct.unpack_from(f"{order}II", buffer, at)
    if first >> 16:  # small data element: count and type share one word, the data the next four bytes
        return first & 0xFFFF, first >> 16, at + 4, at + 8
    return first, second, at + 8, at + 8 + _pad8(second)


def _array(header: bytes, start: int, end: int, order: str) -> Mat5Variable:
    """Parse a ``miMATRIX`` element's header (``header`` holds its first bytes, tag excluded)."""
    kind, count, at, after = _tag(header, 0, order)
    if kind != 6 or count != 8:  # array flags: miUINT32, two words
        raise Mat5Unsupported("array flags are not two miUINT32 words")
    (flags,) = struct.unpack_from(f"{order}I", header, at)
    kind, count, at, after = _tag(header, after, order)
    if kind != 5 or count % 4 or after > len(header):  # dimensions: miINT32
        raise Mat5Unsupported("dimensions are not miINT32")
    shape = struct.unpack_from(f"{order}{count // 4}i", header, at)
    kind, count, at, after = _tag(header, after, order)
    if kind != 1 or at + count > len(header):  # name: miINT8
        raise Mat5Unsupported("array name is not miINT8")
    name = header[at : at + count].decode("latin1")
    mclass = flags & 0xFF
    if mclass not in CLASS_DTYPES or flags & (_COMPLEX | _LOGICAL):
        return Mat5Variable(name, start, end)
    kind, count, at, after = _tag(header, after, order)
    if kind not in MI_DTYPES:
        return Mat5Variable(name, start, end)
    stored = np.dtype(MI_DTYPES[kind]).newbyteorder(order)
    if count != stored.itemsize * int(np.prod(shape, dtype=np.int64)) or start + 8 + at + count > end:
        return Mat5Variable(name, start, end)  # inconsistent sizes: scipy reads it (or says what is wrong)
    return Mat5Variable(name, start, end, True, tuple(shape), stored.str, CLASS_DTYPES[mclass], start + 8 + at)


def scan_mat5(path: str | Path) -> list[Mat5Variable]:
    """List the top-level variables of a MATLAB v5 file without reading their data.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    list of Mat5Variable
        In file order; compressed elements are listed with ``numeric=False`` and an empty name.

    Raises
    ------
    ValueError
        The file is not MATLAB v5 or is truncated (one line, with the variable and byte counts).
    Mat5Unsupported
        A layout this reader leaves to scipy.
    """
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(0)
        head = handle.read(HEADER_BYTES)
        if len(head) < HEADER_BYTES:
            raise ValueError(f"not a MATLAB v5 file: {len(head)} bytes, shorter than the 128-byte header")
        order = {b"IM": "<", b"MI": ">"}.get(head[126:128])
        if order is None:
            raise ValueError("not a MATLAB v5 file: no endian indicator in the header")
        if struct.unpack_from(f"{order}H", head, 124)[0] != 0x0100:
            raise Mat5Unsupported("MAT-file version word is not 0x0100")
        variables: list[Mat5Variable] = []
        position = HEADER_BYTES
        while position < size:
            tag = handle.read(8)
            if len(tag) < 8:
                raise ValueError(f"truncated: {size - position} stray bytes after the last variable")
            kind, count = struct.unpack(f"{order}II", tag)
            if kind >> 16:
                raise Mat5Unsupported("small data element at the top level")
            if kind == MI_COMPRESSED:
                end = position + 8 + count
                if end > size:
                    raise ValueError(f"truncated: compressed variable at byte {position} needs {end}, file has {size}")
                variables.append(Mat5Variable("", position, end))
            elif kind == MI_MATRIX:
                end = position + 8 + _pad8(count)
                header = handle.read(min(count, _MAX_ARRAY_HEADER))
                try:
                    variable = _array(header, position, end, order)
                except Mat5Unsupported:
                    variable = None
                if position + 8 + count > size:
                    what = f"variable '{variable.name}'" if variable else f"the variable at byte {position}"
                    raise ValueError(f"truncated: {what} needs bytes up to {position + 8 + count}, file has {size}")
                if variable is None:
                    raise Mat5Unsupported(f"unusual array header at byte {position}")
                variables.append(variable)
                end = min(end, size)  # the last element's padding may be missing
            else:
                raise Mat5Unsupported(f"top-level data element of type {kind}")
            position = end
            handle.seek(position)
    return variables


def read_numeric(path: str | Path, variable: Mat5Variable) -> np.ndarray:
    """One numeric variable as :func:`scipy.io.loadmat` gives it, backed by the mapped file.

    Parameters
    ----------
    path : path-like
        The file scanned by :func:`scan_mat5`.
    variable : Mat5Variable
        A variable with ``numeric=True``.

    Returns
    -------
    numpy.ndarray
        Shape ``variable.shape`` in column-major (Fortran) order, in the stored type (as
        :func:`scipy.io.loadmat` gives it with its default ``mat_dtype=False``: a double array that
        MATLAB saved as ``miUINT8`` comes out as uint8) and native byte order. A read-only view of
        the mapped file when the file is in native byte order; otherwise a byte-swapped copy.

    Raises
    ------
    ValueError
        The file became shorter than the variable since it was scanned.
    """
    stored = np.dtype(variable.stored)
    nbytes = stored.itemsize * int(np.prod(variable.shape, dtype=np.int64))
    if nbytes == 0:
        return np.empty(variable.shape, dtype=variable.dtype, order="F")
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if variable.offset + nbytes > size:
            raise ValueError(f"truncated: variable '{variable.name}' needs bytes up to {variable.offset + nbytes}")
        base = variable.offset - variable.offset % mmap.ALLOCATIONGRANULARITY
        mapped = mmap.mmap(handle.fileno(), variable.offset + nbytes - base, access=mmap.ACCESS_READ, offset=base)
    flat = np.frombuffer(mapped, dtype=stored, count=nbytes // stored.itemsize, offset=variable.offset - base)
    array = flat.reshape(variable.shape, order="F")
    if not stored.isnative:  # the other byte order: swapped while copying
        return array.astype(stored.newbyteorder("="), order="F")
    return array
