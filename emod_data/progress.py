"""The rich progress bar that ``emod-data ingest`` and ``emod-data inspect`` show on standard error."""

from __future__ import annotations


def progress_bar(total: int, description: str, unit: str = "recordings", **fields):
    """A rich progress bar with one task, not yet started.

    Columns: the description, the bar, done/total, ``unit``, elapsed and remaining time.

    Parameters
    ----------
    total : int
        Steps of the task.
    description : str
        Shown first, in bold.
    unit : str
        Text after the counts; may name the task's ``fields`` as ``{task.fields[name]}``
        (rich markup allowed).
    **fields
        Initial values of the task's fields.

    Returns
    -------
    bar : rich.progress.Progress
        Use as a context manager (or ``start()``/``stop()``).
    task : rich.progress.TaskID
        The task to ``bar.update``.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    bar = Progress(*columns, console=Console(stderr=True), transient=False)
    return bar, bar.add_task(description, total=total, **fields)
