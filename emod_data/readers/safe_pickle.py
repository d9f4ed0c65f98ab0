"""A restricted unpickler for corpus pickles (DEAP, FACED): NumPy arrays, dicts, lists and builtin scalars only.

``pickle.load`` runs whatever callable a pickle names, so a crafted ``.dat`` or ``.pkl`` file could run
code during an ingest. :func:`load_pickle` resolves only the globals that pickled NumPy arrays and plain
containers need (Python 2 and 3 pickles, NumPy 1.x and 2.x module names) and refuses any other with a
one-line :class:`~emod_data.errors.ReaderError` naming the file, before anything of it runs.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from emod_data.errors import ReaderError

_NUMPY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
_BUILTIN_NAMES = {"dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "bool", "str", "bytes"}
_BUILTIN_GLOBALS = {(module, name) for module in ("builtins", "__builtin__") for name in _BUILTIN_NAMES}
_OTHER_GLOBALS = {("_codecs", "encode"), ("collections", "OrderedDict")}  # bytes in protocol-2 pickles

ALLOWED_GLOBALS = frozenset(_NUMPY_GLOBALS | _BUILTIN_GLOBALS | _OTHER_GLOBALS)
"""(module, name) pairs a corpus pickle may reference; anything else is refused."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, handle, label: str) -> None:
        super().__init__(handle, encoding="latin1")
        self._label = label

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise ReaderError(
                f"{self._label}: refused pickle: it references {module}.{name} "
                "(only NumPy arrays, dicts, lists and builtin scalars are loaded)"
            )
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise ReaderError(f"{self._label}: refused pickle: it uses persistent ids")


def load_pickle(path: Path, label: str | None = None) -> Any:
    """Load a corpus pickle with the restricted unpickler.

    Python 2 pickles (DEAP) are read with ``encoding="latin1"``, which also reads Python 3 pickles
    of NumPy arrays.

    Parameters
    ----------
    path : pathlib.Path
        The pickle file.
    label : str, optional
        How to name the file in errors (default: its path).

    Returns
    -------
    object
        The unpickled dict, list, array or scalar.

    Raises
    ------
    ReaderError
        The pickle references anything but NumPy arrays, dtypes, dicts, lists, tuples, sets and
        builtin scalars (the message names the file and the refused global).
    """
    with open(path, "rb") as handle:
        return _RestrictedUnpickler(handle, label or str(path)).load()
