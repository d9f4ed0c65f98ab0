"""The ``emod-train`` command line."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Train EMOD and SCMM models on an emod_data store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Train EMOD and SCMM models on an emod_data store."""


@app.command("info")
def info_command() -> None:
    """Show the training environment: torch version, threads and accelerators.

    Use it to check that the CPU or CUDA build of torch you expect is the one
    installed before starting a long run.
    """
    import torch

    table = Table(title="emod-train environment")
    table.add_column("item")
    table.add_column("value")
    table.add_row("torch", torch.__version__)
    table.add_row("CPU threads", str(torch.get_num_threads()))
    table.add_row("CUDA available", str(torch.cuda.is_available()))
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        table.add_row(f"cuda:{index}", f"{props.name}, {props.total_memory / 2**30:.0f} GiB")
    Console().print(table)


def main() -> None:  # pragma: no cover - console entry point
    """Console entry point of ``emod-train``."""
    sys.exit(app())
