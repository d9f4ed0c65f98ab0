"""Logging of runs: a JSON-lines metrics log and rich progress bars on standard error."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)
"""Console of progress bars and messages (standard error)."""


class JsonlLog:
    """Append-only JSON-lines metrics log (one object per line, flushed at once)."""

    def __init__(self, path: str | Path, truncate: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if truncate:
            self.path.write_text("")

    def write(self, **record) -> None:
        """Append one record (a ``time`` field is added)."""
        record = {"time": round(time.time(), 3), **record}
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record, default=float) + "\n")

    def read(self) -> list[dict]:
        """All records so far."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def truncate_after(self, kind: str, step: int) -> None:
        """Drop records of ``kind`` with ``step`` > ``step`` (and epochs logged after them), before a resume."""
        kept = []
        for record in self.read():
            if record.get("step", -1) > step and record.get("kind") in (kind, "epoch"):
                continue
            kept.append(record)
        self.path.write_text("".join(json.dumps(r, default=float) + "\n" for r in kept))


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress | None]:
    """A rich progress display on standard error (None when disabled)."""
    if not enabled:
        yield None
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as progress:
        yield progress
