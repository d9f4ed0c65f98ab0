"""Finding a corpus' files and reading subject and session from their paths.

Files are ordered by stable ids (subject, session, path with numbers compared
as numbers), never by directory listing order.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from emod_data.errors import ReaderError
from emod_data.manifest import Manifest


@dataclass(frozen=True)
class SourceFile:
    """One raw file of a corpus.

    Attributes
    ----------
    path : pathlib.Path
        Absolute path.
    relpath : str
        Path relative to the corpus root, with forward slashes (stored in the tables).
    subject : str
        Subject id as written in the file name ("" when the reader supplies it per trial).
    session : int or None
        Session number, or None when sessions come from trial numbers or from the reader.
    """

    path: Path
    relpath: str
    subject: str
    session: int | None


def natural_key(text: object) -> tuple:
    """Sort key comparing digit runs as numbers (``s2`` before ``s10``); any value is compared as its text."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(text)))


def discover(
    manifest: Manifest, raw_dir: str | Path, subjects: list[str] | None = None
) -> tuple[list[SourceFile], list[str]]:
    """List a corpus' files in stable order.

    Parameters
    ----------
    manifest : Manifest
        The corpus manifest (``[files]`` section).
    raw_dir : path-like
        The corpus root folder.
    subjects : list of str, optional
        Keep only these subjects (compared as written, and as numbers when both are numeric).

    Returns
    -------
    files : list of SourceFile
        Matching files ordered by subject, session and path.
    ignored : list of str
        Relative paths found by ``files.glob`` that do not match ``files.pattern``.

    Raises
    ------
    ReaderError
        When the folder does not exist or no file matches.
    """
    root = Path(raw_dir)
    if not root.is_dir():
        raise ReaderError(f"{root}: corpus folder not found")
    spec = manifest.files
    pattern = re.compile(spec.pattern)
    matched, ignored = [], []
    for path in root.glob(spec.glob):
        relpath = path.relative_to(root).as_posix()
        if not path.is_file() or any(fnmatch.fnmatch(path.name, ex) for ex in spec.exclude):
            continue
        hit = pattern.fullmatch(relpath)
        if hit is None:
            ignored.append(relpath)
        else:
            matched.append((path, relpath, hit.groupdict()))
    if not matched:
        raise ReaderError(
            f"{root}: no file matches '{spec.glob}' and pattern '{spec.pattern}' of manifest {manifest.path.name}"
        )

    ranks: dict[tuple[str, str], int] = {}
    if spec.session == "date_rank":
        by_subject: dict[str, set[str]] = {}
        for _, _, groups in matched:
            by_subject.setdefault(groups.get("subject") or "", set()).add(groups["date"])
        for subject, dates in by_subject.items():
            for rank, date in enumerate(sorted(dates), start=1):
                ranks[subject, date] = rank

    files = []
    for path, relpath, groups in matched:
        subject = groups.get("subject") or ""
        if spec.session == "group":
            session = int(groups["session"])
        elif spec.session == "date_rank":
            session = ranks[subject, groups["date"]]
        elif spec.session == "fixed":
            session = 1
        else:
            session = None
        files.append(SourceFile(path.resolve(), relpath, subject, session))

    if subjects and spec.subject_from == "pattern":  # otherwise the ingest filters trials
        wanted = {s.lstrip("0") or "0" for s in subjects} | set(subjects)
        files = [f for f in files if f.subject in wanted or (f.subject.lstrip("0") or "0") in wanted]
    files.sort(key=lambda f: (natural_key(f.subject), f.session or 0, natural_key(f.relpath)))
    return files, sorted(ignored, key=natural_key)
