"""Fine-tuning tasks as data: a TOML file names the corpus, window, classes and split rule.

Shipped tasks live in ``emod_train/evaluation/tasks/*.toml`` (``faced``, ``seed_v``, ``seed``: the three
protocols of EMOD's Table 2). A user task is any file of the same form, passed by path::

    [task]
    name = "seed"
    title = "SEED: 3 classes, 5 s windows, session split"
    corpus = ["seed", "seed_raw"]   # corpus name in the store; with a list, the first one present
    window = 5.0                    # seconds
    stride = 5.0                    # optional; default = window (non-overlapping)
    classes = ["negative", "neutral", "positive"]   # label k = position k
    label = "class_name"            # optional; the recordings column holding the class
    other_classes = "error"         # optional; "drop" ignores windows of other classes

    [split]
    by = "session"                  # "session", "trial" or "subject"
    train = [1]
    val = [2]
    test = [3]

``by = "trial"`` lists trial numbers applied within every subject and session; ``by = "subject"``
lists subject ids, or gives ``counts = [80, 20, 23]``: the first 80 subjects in sorted (natural)
order train, the next 20 validate, the last 23 test; with fewer (or more) subjects in the store
the counts are scaled in proportion (largest remainder, at least one subject per part).

Class names are compared case-insensitively and through the lexicon's aliases, so ``sadness``
matches ``sad`` and ``joy`` matches ``happy``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emod_train.errors import TaskError

TASK_DIR = Path(__file__).parent / "tasks"
"""Folder of the shipped task files."""

SPLITS = ("train", "val", "test")
SPLIT_BY = ("session", "trial", "subject")


def available_tasks() -> list[str]:
    """Names of the shipped tasks (``faced``, ``seed``, ``seed_v``)."""
    return sorted(p.stem for p in TASK_DIR.glob("*.toml"))


def natural_key(text: str) -> tuple:
    """Sort key comparing digit runs as numbers (``s2`` before ``s10``); any value is compared as its text."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", str(text)) if p != "")


def _canonical_classes() -> dict[str, str]:
    try:
        from emod_data.lexicon import load_lexicon

        return dict(load_lexicon().aliases)
    except Exception:  # the lexicon only adds aliases; without it names match as written
        return {}


def canonical_class(name: str, aliases: dict[str, str] | None = None) -> str:
    """Lower-case class name with lexicon aliases resolved (``Sadness`` -> ``sad``)."""
    key = str(name).strip().lower()
    aliases = _canonical_classes() if aliases is None else aliases
    return aliases.get(key, key)


def proportional_counts(n: int, counts: list[int]) -> list[int]:
    """Scale split counts to ``n`` items in proportion (largest remainder, at least 1 each).

    Parameters
    ----------
    n : int
        Number of items (subjects) available.
    counts : list of int
        Counts of the protocol, e.g. [80, 20, 23].

    Returns
    -------
    list of int
        Counts summing to ``n``; equal to ``counts`` when ``n == sum(counts)``.
    """
    parts = len(counts)
    if n < parts:
        raise ValueError(f"{n} items cannot fill {parts} non-empty parts")
    total = sum(counts)
    exact = np.asarray(counts, dtype=float) * n / total
    out = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - out), kind="stable")[: n - out.sum()]:
        out[i] += 1
    while (out == 0).any():  # take from the largest part
        out[int(np.argmax(out))] -= 1
        out[int(np.flatnonzero(out == 0)[0])] += 1
    return out.tolist()


@dataclass(frozen=True)
class Task:
    """A fine-tuning task: corpus, windows, classes and split.

    Attributes
    ----------
    name, title : str
    corpora : tuple of str
        Accepted corpus names in the store, in order of preference (``seed``, ``seed_raw``).
    window : float
        Window length in seconds.
    stride : float or None
        Step between windows (None: non-overlapping).
    classes : tuple of str
        Class names; the label of a window is the position of its class here.
    label : str
        Column of the recordings table holding the class name.
    other_classes : {"error", "drop"}
        What to do with windows whose class is not in ``classes``.
    split_by : {"session", "trial", "subject"}
    train, val, test : tuple
        Sessions, trials or subjects of each part (empty for subject counts).
    counts : tuple of int
        Subject counts per part for ``split_by = "subject"`` without explicit lists.
    path : pathlib.Path
        The task file.
    """

    name: str
    title: str
    corpora: tuple[str, ...]
    window: float
    stride: float | None
    classes: tuple[str, ...]
    label: str
    other_classes: str
    split_by: str
    train: tuple = ()
    val: tuple = ()
    test: tuple = ()
    counts: tuple[int, ...] = ()
    path: Path = field(default=Path("."))

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def to_dict(self) -> dict:
        """The task as plain values (written to results.json)."""
        return {
            "name": self.name,
            "title": self.title,
            "corpora": list(self.corpora),
            "window": self.window,
            "stride": self.stride,
            "classes": list(self.classes),
            "label": self.label,
            "split_by": self.split_by,
            "train": list(self.train),
            "val": list(self.val),
            "test": list(self.test),
            "counts": list(self.counts),
            "path": str(self.path),
        }

    def select_corpus(self, present) -> str:
        """The first of the task's corpora that the store holds.

        Raises
        ------
        TaskError
            None of them is in the store.
        """
        for name in self.corpora:
            if name in set(present):
                return name
        raise TaskError(
            f"{self.path}: the store holds no corpus {' or '.join(repr(c) for c in self.corpora)} "
            f"(it holds {', '.join(sorted(present)) or 'nothing'})"
        )

    def store_windows(self, store) -> tuple[str, pd.DataFrame]:
        """The corpus of a store that serves the task, and its windows (:func:`~emod_train.data.windows.window_table`).

        Raises
        ------
        TaskError
            The store holds none of the task's corpora, or cannot cut its windows.
        """
        from emod_train.data.windows import window_table

        present = store.recordings["corpus"].unique() if len(store.recordings) else []
        corpus = self.select_corpus(present)
        try:
            windows = window_table(store, self.window, self.stride, [corpus])
        except Exception as exc:
            raise TaskError(f"{self.path}: {exc}") from None
        return corpus, windows

    def labels(self, windows: pd.DataFrame) -> np.ndarray:
        """Class index of each window, -1 for a class outside the task.

        Raises
        ------
        TaskError
            The label column is missing, or (``other_classes = "error"``) a window has another class.
        """
        if self.label not in windows.columns:
            raise TaskError(f"{self.path}: the store has no column '{self.label}' to take labels from")
        aliases = _canonical_classes()
        index = {canonical_class(c, aliases): i for i, c in enumerate(self.classes)}
        names = windows[self.label].astype(str)
        labels = np.array([index.get(canonical_class(n, aliases), -1) for n in names], dtype=np.int64)
        unknown = sorted(set(names[labels < 0]))
        if unknown and self.other_classes == "error":
            raise TaskError(
                f"{self.path}: class '{unknown[0]}' is not among the task's classes "
                f'{list(self.classes)}; add it or set other_classes = "drop"'
            )
        return labels

    def parts(self, windows: pd.DataFrame) -> dict[str, np.ndarray]:
        """Boolean masks of the train, val and test windows.

        Raises
        ------
        TaskError
            A part without any window, or too few subjects for the split.
        """
        if self.split_by == "session":
            column, values = windows["session"].astype(int), {k: set(map(int, getattr(self, k))) for k in SPLITS}
        elif self.split_by == "trial":
            column, values = windows["trial"].astype(int), {k: set(map(int, getattr(self, k))) for k in SPLITS}
        else:
            column = windows["subject"].astype(str)
            values = {k: set(map(str, getattr(self, k))) for k in SPLITS}
            if self.counts:
                subjects = sorted(column.unique(), key=natural_key)
                try:
                    counts = proportional_counts(len(subjects), list(self.counts))
                except ValueError:
                    raise TaskError(
                        f"{self.path}: {len(subjects)} subject(s) in the store; "
                        f"the subject split needs at least {len(self.counts)}"
                    ) from None
                edges = np.cumsum([0, *counts])
                values = {k: set(subjects[edges[i] : edges[i + 1]]) for i, k in enumerate(SPLITS)}
        masks = {k: column.isin(values[k]).to_numpy() for k in SPLITS}
        for k in (k for k in SPLITS if not masks[k].any()):
            shown = sorted(values[k], key=natural_key) if values[k] else "none"
            raise TaskError(f"{self.path}: no {self.window:g} s window falls in the {k} part ({self.split_by} {shown})")
        return masks

    def split(self, windows: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The task's windows per part, each with a ``label`` column (classes outside the task dropped).

        Parameters
        ----------
        windows : pandas.DataFrame
            Windows of the store (:func:`emod_train.data.windows.window_table`); only the first of the
            task's corpora present in them is used.
        """
        corpus = self.select_corpus(windows["corpus"].unique()) if len(windows) else self.corpora[0]
        windows = windows[windows["corpus"] == corpus].reset_index(drop=True)
        if not len(windows):
            raise TaskError(f"{self.path}: no {self.window:g} s window of corpus '{corpus}' in the store")
        labels = self.labels(windows)
        windows = windows.assign(label=labels)[labels >= 0].reset_index(drop=True)
        masks = self.parts(windows)
        return {k: windows[masks[k]].reset_index(drop=True) for k in SPLITS}


def _ints(values, where: str) -> tuple:
    if isinstance(values, str):  # "1-5" or "1,2,3"
        out = []
        for part in values.split(","):
            bounds = [p.strip() for p in part.split("-")]
            try:
                if len(bounds) == 2:
                    out += list(range(int(bounds[0]), int(bounds[1]) + 1))
                else:
                    out.append(int(bounds[0]))
            except ValueError:
                raise TaskError(f"{where}: expected integers or ranges like '1-5' (got {values!r})") from None
        return tuple(out)
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise TaskError(f"{where}: expected a list of integers or a range string like '1-5' (got {values!r})")
    return tuple(values)


def read_toml(path: Path, what: str) -> dict:
    """Parse a TOML file; a missing or invalid file is a one-line :class:`TaskError` naming it.

    Parameters
    ----------
    path : pathlib.Path
    what : str
        What the file is (``task``, ``protocol``), for the message.
    """
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskError(f"{path}: {what} file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TaskError(f"{path}: not valid TOML ({exc})") from None


def load_task(task: str | Path) -> Task:
    """Read and validate a task file.

    Parameters
    ----------
    task : str or path-like
        A shipped task name (``faced``, ``seed_v``, ``seed``) or the path of a task TOML file.

    Returns
    -------
    Task

    Raises
    ------
    TaskError
        One line naming the file and the problem (unknown task, invalid TOML, bad field).
    """
    path = Path(task)
    if not path.suffix == ".toml" and not path.exists():
        path = TASK_DIR / f"{task}.toml"
        if not path.exists():
            raise TaskError(f"unknown task '{task}': expected one of {', '.join(available_tasks())} or a task file")
    data = read_toml(path, "task")
    head, split = data.get("task"), data.get("split")
    if not isinstance(head, dict) or not isinstance(split, dict):
        raise TaskError(f"{path}: needs a [task] and a [split] table")
    for key in ("corpus", "window", "classes"):
        if key not in head:
            raise TaskError(f"{path}: field 'task.{key}' is missing")
    corpora = head["corpus"]
    corpora = [corpora] if isinstance(corpora, str) else corpora
    if not isinstance(corpora, list) or not corpora or not all(isinstance(c, str) and c for c in corpora):
        raise TaskError(f"{path}: field 'task.corpus' must be a corpus name or a list of names")
    window = head["window"]
    if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
        raise TaskError(f"{path}: field 'task.window' must be a positive number of seconds (got {window!r})")
    stride = head.get("stride")
    if stride is not None and (isinstance(stride, bool) or not isinstance(stride, int | float) or stride <= 0):
        raise TaskError(f"{path}: field 'task.stride' must be a positive number of seconds (got {stride!r})")
    classes = head["classes"]
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) and c for c in classes):
        raise TaskError(f"{path}: field 'task.classes' must list at least two class names")
    aliases = _canonical_classes()
    canonical = [canonical_class(c, aliases) for c in classes]
    if len(set(canonical)) != len(canonical):
        raise TaskError(f"{path}: field 'task.classes' names a class twice (after aliases: {canonical})")
    other = head.get("other_classes", "error")
    if other not in ("error", "drop"):
        raise TaskError(f"{path}: field 'task.other_classes' must be 'error' or 'drop' (got {other!r})")
    by = split.get("by")
    if by not in SPLIT_BY:
        raise TaskError(f"{path}: field 'split.by' must be one of {', '.join(SPLIT_BY)} (got {by!r})")
    parts: dict[str, tuple] = {k: () for k in SPLITS}
    counts: tuple[int, ...] = ()
    if by == "subject" and "counts" in split:
        counts = _ints(split["counts"], f"{path}: field 'split.counts'")
        if len(counts) != 3 or min(counts) < 1:
            raise TaskError(f"{path}: field 'split.counts' must give three positive counts (train, val, test)")
    else:
        for k in SPLITS:
            if k not in split:
                raise TaskError(f"{path}: field 'split.{k}' is missing")
            if by == "subject":
                values = split[k]
                if not isinstance(values, list) or not values:
                    raise TaskError(f"{path}: field 'split.{k}' must list subject ids")
                parts[k] = tuple(str(v) for v in values)
            else:
                parts[k] = _ints(split[k], f"{path}: field 'split.{k}'")
                if not parts[k]:
                    raise TaskError(f"{path}: field 'split.{k}' is empty")
        seen: dict = {}
        for k in SPLITS:
            for v in parts[k]:
                if v in seen:
                    raise TaskError(f"{path}: {by} {v} is in both split.{seen[v]} and split.{k} (leakage)")
                seen[v] = k
    return Task(
        name=str(head.get("name", path.stem)),
        title=str(head.get("title", head.get("name", path.stem))),
        corpora=tuple(corpora),
        window=float(window),
        stride=float(stride) if stride is not None else None,
        classes=tuple(classes),
        label=str(head.get("label", "class_name")),
        other_classes=other,
        split_by=by,
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        counts=counts,
        path=path,
    )
