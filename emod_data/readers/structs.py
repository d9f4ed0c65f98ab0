"""MATLAB structs and cell arrays: the ``cells`` layout and side files of ratings.

MATLAB v5 files read through :func:`scipy.io.loadmat` show a struct as a record
array (a ``(1, 1)`` array with named fields) and a cell array as an object
array. Manifests name what they need by *paths*: a variable, then struct fields
separated by dots (``DREAMER.Data``, ``EEG.stimuli``, ``After_remark.score``).
A field of a struct array with several elements gathers that field over the
elements, in MATLAB's (column-major) order, like a cell array.

The ``cells`` layout reads one trial per cell of ``format.data_key``
(AMIGOS ``joined_data``). With ``format.subjects_key`` the file holds all
subjects (DREAMER: ``DREAMER.Data``, one struct per subject) and every other
key is a path inside each subject's struct. Problems are reported at the
smallest unit they affect:

- the file's structure (a missing variable, a value that is not a cell array,
  the wrong number of cells) fails the file, or in a multi-subject file that
  subject's trials;
- one cell (empty, not numeric, wrong shape) fails that trial alone.

``labels.ratings_file`` reads ratings from a separate file per data file (FACED's
``Data/subNNN/After_remarks.mat``), checked against ``labels.scale`` as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emod_data.errors import ReaderError
from emod_data.manifest import Manifest
from emod_data.readers.base import RawTrial, check_trials, corpus_root, to_channels_time
from emod_data.readers.containers import MatV73Container, open_container, read_variable


def describe(value: Any) -> str:
    """A short description of a value read from a file (for error messages)."""
    if isinstance(value, np.ndarray):
        kind = "struct" if value.dtype.names else "cell" if value.dtype == object else str(value.dtype)
        return f"{kind} array of shape {value.shape}"
    return type(value).__name__


def struct_field(value: Any, name: str, label: str, where: str) -> Any:
    """One field of a MATLAB struct (or the field gathered over a struct array).

    Parameters
    ----------
    value : object
        A struct as :func:`scipy.io.loadmat` returns it (a record array or one record), or a dict.
    name : str
        The field name.
    label : str
        The file, named in errors.
    where : str
        The path of ``value`` inside the file, named in errors.

    Returns
    -------
    object
        The field's value; for a struct array of several elements, or a cell array of structs, an object
        array (a cell array) of the field's value in every element, shaped like the array.

    Raises
    ------
    ReaderError
        When ``value`` is not a struct or has no such field.
    """
    if isinstance(value, dict):
        if name not in value:
            raise ReaderError(f"{label}: {where} has no field '{name}' (fields: {sorted(value)[:12]})")
        return value[name]
    if isinstance(value, np.ndarray) and value.dtype == object and value.size:  # a cell array of structs
        if all(getattr(getattr(v, "dtype", None), "names", None) for v in value.flat):
            gathered = np.empty(value.shape, dtype=object)
            for index, element in enumerate(value.flat):
                gathered.flat[index] = struct_field(element, name, label, f"{where}{{{index + 1}}}")
            return gathered
    names = getattr(getattr(value, "dtype", None), "names", None)
    if not names:
        raise ReaderError(f"{label}: {where} is not a struct (got {describe(value)})")
    if name not in names:
        raise ReaderError(f"{label}: {where} has no field '{name}' (fields: {list(names)[:12]})")
    got = value[name]
    if isinstance(value, np.ndarray) and value.size == 1:
        return got.flat[0]
    return got


def lookup(root: Any, path: str, label: str, where: str = "") -> Any:
    """Follow a dotted path from a container (first part: a variable) or from a struct.

    Parameters
    ----------
    root : object
        An open container (see :func:`emod_data.readers.containers.open_container`) or a struct.
    path : str
        ``variable.field.field`` (from a container) or ``field.field`` (from a struct).
    label : str
        The file, named in errors.
    where : str, optional
        The path of ``root`` inside the file (for a struct), named in errors.

    Returns
    -------
    object
        The value at the end of the path.

    Raises
    ------
    ReaderError
        A missing variable or field, or a value on the way that is not a struct.
    """
    parts = path.split(".")
    if hasattr(root, "keys") and not isinstance(root, dict):
        value, shown = read_variable(root, parts[0], label), parts[0]
        parts = parts[1:]
    else:
        value, shown = root, where
    for part in parts:
        value = struct_field(value, part, label, shown or "the file")
        shown = f"{shown}.{part}" if shown else part
    return value


def cell_list(value: Any, label: str, where: str) -> list:
    """The elements of a MATLAB cell array, in MATLAB's linear (column-major) order.

    Raises
    ------
    ReaderError
        When ``value`` is not a cell array.
    """
    if not isinstance(value, np.ndarray) or value.dtype != object:
        raise ReaderError(f"{label}: {where} is not a cell array (got {describe(value)})")
    return list(value.ravel(order="F"))


def _text(value: Any) -> str | None:
    """A cell holding a string or a number, as text (None when empty)."""
    array = np.asarray(value)
    if array.size == 0:
        return None
    if array.dtype.kind in "US":
        return "".join(str(v) for v in array.ravel())
    if array.dtype.kind in "iuf" and array.size == 1:
        number = float(array.ravel()[0])
        return str(int(number)) if number.is_integer() else str(number)
    return None


def _float_rows(value: Any, n_rows: int, width: int, label: str, where: str) -> np.ndarray:
    """Ratings as a (n_rows, width) float array from a matrix or from one cell per row (empty cells: NaN)."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        cells = cell_list(value, label, where)
        if len(cells) != n_rows:
            raise ReaderError(f"{label}: {where} has {len(cells)} cells; expected {n_rows}")
        out = np.full((n_rows, width), np.nan)
        for row, cell in enumerate(cells):
            try:
                numbers = np.asarray(cell, dtype=float).ravel()
            except (TypeError, ValueError):
                continue  # not numbers: the row stays missing and fails its trial's labels
            out[row, : min(width, numbers.size)] = numbers[:width]
        return out
    try:
        matrix = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ReaderError(f"{label}: {where} is not numeric (got {describe(value)})") from None
    if matrix.ndim != 2 or matrix.shape[0] != n_rows or matrix.shape[1] < width:
        raise ReaderError(f"{label}: {where} has shape {matrix.shape}; expected ({n_rows}, {width})")
    return matrix[:, :width]


def _cell_ratings(root: Any, manifest: Manifest, n_trials: int, label: str, where: str) -> np.ndarray | None:
    spec = manifest.labels
    if spec.source != "ratings" or spec.ratings_file is not None:
        return None
    width = len(spec.rating_names)
    if isinstance(spec.ratings_key, list):  # one variable per rating, e.g. DREAMER's ScoreValence (18, 1)
        if len(spec.ratings_key) < width:
            raise ReaderError(f"{label}: labels.ratings_key names fewer variables than labels.rating_names")
        columns = []
        for key in spec.ratings_key[:width]:
            column = _float_rows(lookup(root, key, label, where), n_trials, 1, label, f"{where}.{key}".lstrip("."))
            columns.append(column[:, 0])
        return np.stack(columns, axis=1)
    key = spec.ratings_key
    return _float_rows(lookup(root, key, label, where), n_trials, width, label, f"{where}.{key}".lstrip("."))


def _trial_data(cell: Any, manifest: Manifest, label: str, name: str) -> tuple[np.ndarray | None, str | None]:
    """One cell as (channels, samples), or the reason it cannot be."""
    fmt, n_channels = manifest.format, len(manifest.channels.names)
    array = np.asarray(cell)
    if array.size == 0:
        return None, f"{name} is empty"
    if array.dtype.kind not in "iuf":
        return None, f"{name} is not a numeric array (got {describe(array)})"
    try:
        return to_channels_time(array, fmt.axes, n_channels, label, name, fmt.extra_channels), None
    except ReaderError as exc:
        return None, str(exc).removeprefix(f"{label}: ")


def _subject_trials(root: Any, manifest: Manifest, label: str, subject: str | None, where: str) -> Iterator[RawTrial]:
    fmt = manifest.format
    n_channels = len(manifest.channels.names)
    prefix = f"{where}." if where else ""
    cells = cell_list(lookup(root, fmt.data_key, label, where), label, prefix + fmt.data_key)
    trials = list(range(1, len(cells) + 1))
    check_trials(trials, manifest, f"{label}: {where}" if where else label)
    baselines = stimuli = None
    if fmt.baseline_key:
        baselines = cell_list(lookup(root, fmt.baseline_key, label, where), label, prefix + fmt.baseline_key)
        if len(baselines) != len(cells):
            raise ReaderError(
                f"{label}: {prefix}{fmt.baseline_key} has {len(baselines)} cells; {fmt.data_key} has {len(cells)}"
            )
    if fmt.stimulus_key:
        stimuli = cell_list(lookup(root, fmt.stimulus_key, label, where), label, prefix + fmt.stimulus_key)
        if len(stimuli) != len(cells):
            raise ReaderError(
                f"{label}: {prefix}{fmt.stimulus_key} has {len(stimuli)} cells; {fmt.data_key} has {len(cells)}"
            )
    ratings = _cell_ratings(root, manifest, len(cells), label, where)
    for index, trial in enumerate(trials):
        rated = None if ratings is None else ratings[index]
        stimulus = None if stimuli is None else _text(stimuli[index])
        if stimuli is not None and stimulus is None:
            error = f"{prefix}{fmt.stimulus_key}{{{trial}}} is empty"
            yield RawTrial(trial, np.empty((n_channels, 0)), rated, subject=subject, error=error)
            continue
        if baselines is not None:
            data, error = _trial_data(baselines[index], manifest, label, f"{prefix}{fmt.baseline_key}{{{trial}}}")
            if data is None:
                data = np.empty((n_channels, 0))
            yield RawTrial(trial, data, rated, subject=subject, segment="baseline", stimulus=stimulus, error=error)
        data, error = _trial_data(cells[index], manifest, label, f"{prefix}{fmt.data_key}{{{trial}}}")
        if data is None:
            data = np.empty((n_channels, 0))
        yield RawTrial(trial, data, rated, subject=subject, stimulus=stimulus, error=error)


def iter_cell_trials(container: Any, manifest: Manifest, label: str) -> Iterator[RawTrial]:
    """Yield the trials of a file in the ``cells`` layout.

    Parameters
    ----------
    container
        An open MATLAB v5 container.
    manifest : Manifest
        The corpus manifest (``format.data_key``, ``subjects_key``, ``baseline_key``, ``stimulus_key``,
        ``axes``; ``labels.ratings_key``).
    label : str
        How to name the file in errors.

    Yields
    ------
    RawTrial
        Per subject (``format.subjects_key``: subject = the 1-based position in that cell array, as text)
        and trial, the baseline segment first when ``format.baseline_key`` is set. A trial whose cell cannot
        be used carries the reason in ``error`` and an empty signal.

    Raises
    ------
    ReaderError
        The file's structure differs from the manifest's (a missing variable, not a cell array, missing or
        extra trials). In a multi-subject file a subject's structural problem fails that subject's trials
        (one failure per expected trial) instead of the file.
    """
    if isinstance(container, MatV73Container):
        raise ReaderError(
            f"{label}: layout 'cells' reads MATLAB v5 files; this is MATLAB v7.3, whose cell arrays are HDF5 "
            "references (save it with -v7 or convert it)"
        )
    fmt = manifest.format
    if not fmt.subjects_key:
        yield from _subject_trials(container, manifest, label, None, "")
        return
    subjects = cell_list(lookup(container, fmt.subjects_key, label), label, fmt.subjects_key)
    n_channels = len(manifest.channels.names)
    for position, value in enumerate(subjects, start=1):
        where = f"{fmt.subjects_key}{{{position}}}"
        try:
            trials = list(_subject_trials(value, manifest, label, str(position), where))
        except ReaderError as exc:
            reason = str(exc).removeprefix(f"{label}: ")
            for trial in range(1, (fmt.trials or 1) + 1):
                yield RawTrial(trial, np.empty((n_channels, 0)), subject=str(position), error=reason)
            continue
        yield from trials


def read_ratings_file(path: Path, relpath: str, manifest: Manifest) -> dict[int, np.ndarray | None] | None:
    """Ratings of a data file's trials from its side file (``labels.ratings_file``).

    The side file's path is ``labels.ratings_file`` formatted with the named groups of ``files.pattern``
    matched on ``relpath`` (``Data/sub{subject}/After_remarks.mat``), relative to the corpus root. Its
    ``labels.ratings_key`` holds one row of ratings per trial (a matrix, or a cell / struct array with
    one row per element); ``labels.ratings_trial_key``, when set, gives each row's trial number
    (FACED's ``After_remark.vid``: rows are in presentation order); otherwise row k is trial k.

    Parameters
    ----------
    path : pathlib.Path
        The data file.
    relpath : str
        Its path relative to the corpus root.
    manifest : Manifest
        The corpus manifest.

    Returns
    -------
    dict or None
        Trial number -> ratings in ``labels.rating_names`` order (None for a trial whose row is empty);
        None when the manifest names no ratings file or the file does not exist.

    Raises
    ------
    ReaderError
        Naming the ratings file: unreadable, missing keys, rows and trial numbers that disagree, or
        ratings outside ``labels.scale`` (the scale is checked on all of the file's ratings at once).
    """
    spec = manifest.labels
    if spec.ratings_file is None:
        return None
    match = re.fullmatch(manifest.files.pattern, relpath)
    try:
        rel = spec.ratings_file.format(**(match.groupdict() if match else {}))
    except (KeyError, IndexError) as exc:
        raise ReaderError(f"{relpath}: labels.ratings_file needs group {exc} in files.pattern") from None
    target = corpus_root(path, relpath) / rel
    if not target.is_file():
        return None
    width = len(spec.rating_names)
    with open_container(target, "mat" if target.suffix.lower() == ".mat" else "pickle", rel) as container:
        if isinstance(container, MatV73Container) and "." in spec.ratings_key:
            raise ReaderError(f"{rel}: MATLAB v7.3 structs are not read; save the file as MATLAB v5/v7")
        value = lookup(container, spec.ratings_key, rel)
        n_rows = value.size if isinstance(value, np.ndarray) and value.dtype == object else np.shape(value)[0]
        rows = _float_rows(value, n_rows, width, rel, spec.ratings_key)
        trials = list(range(1, n_rows + 1))
        if spec.ratings_trial_key:
            numbers = lookup(container, spec.ratings_trial_key, rel)
            if isinstance(numbers, np.ndarray) and numbers.dtype == object:
                values = cell_list(numbers, rel, spec.ratings_trial_key)
            else:
                values = list(np.asarray(numbers).ravel())
            texts = [_text(v) for v in values]
            if len(texts) != n_rows or not all(t is not None and t.isdigit() for t in texts):
                raise ReaderError(f"{rel}: {spec.ratings_trial_key} does not give one trial number per ratings row")
            trials = [int(t) for t in texts]
            if len(set(trials)) != len(trials):
                raise ReaderError(f"{rel}: {spec.ratings_trial_key} repeats trial numbers")
    finite = rows[np.isfinite(rows)]
    lo, hi = spec.scale
    if finite.size and (finite.min() < lo or finite.max() > hi):
        integers = "integer " if np.all(finite == np.round(finite)) else ""
        raise ReaderError(
            f"{rel}: {integers}ratings span {finite.min():g}..{finite.max():g}, outside labels.scale "
            f"[{lo:g}, {hi:g}]; if the file uses another scale, set labels.scale to it"
        )
    return {trial: (None if np.isnan(row).all() else row) for trial, row in zip(trials, rows, strict=True)}
