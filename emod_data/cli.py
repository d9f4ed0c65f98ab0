"""The ``emod-data`` command line: a thin layer over the Python API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from emod_data.config import ProcessingConfig, load_config
from emod_data.errors import EmodDataError

app = typer.Typer(
    help="Harmonize EEG emotion corpora into one quality-checked store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()


def _fail(exc: Exception, verbose: bool) -> None:
    if verbose:
        console.print_exception()
    console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _parse_band(text: str) -> tuple[float | None, float | None] | None:
    if text.lower() in ("off", "none"):
        return None
    try:
        low, high = (part.strip() for part in text.split(","))
        return (float(low) if low else None, float(high) if high else None)
    except ValueError:
        raise typer.BadParameter(f"expected LOW,HIGH in Hz or 'off' (got {text!r})") from None


def _processing(
    config_file: Path | None,
    sfreq: float | None,
    bandpass: str | None,
    notch: str | None,
    reference: str | None,
    raw: bool,
) -> ProcessingConfig | None:
    flags = {"sfreq": sfreq, "bandpass": bandpass, "notch": notch, "reference": reference}
    if config_file is None and not raw and all(v is None for v in flags.values()):
        return None
    base = load_config(config_file) if config_file else (ProcessingConfig.raw() if raw else ProcessingConfig())
    values = base.to_dict()
    values.pop("dtype"), values.pop("units")
    if sfreq is not None:
        values["sfreq"] = sfreq
    if bandpass is not None:
        values["bandpass"] = _parse_band(bandpass)
    if notch is not None:
        values["notch"] = None if notch.lower() in ("off", "none") else float(notch)
    if reference is not None:
        values["reference"] = reference
    try:
        return ProcessingConfig(**values)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _subjects(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [s.strip() for v in values for s in v.split(",") if s.strip()]


def print_summary(summary, title: str = "store summary") -> None:
    """Print a per-corpus summary table (corpus, subjects, sessions, trials, hours, channels, Hz)."""
    table = Table(title=title)
    for column in summary.columns:
        table.add_column(column, justify="left" if column == "corpus" else "right")
    for row in summary.itertuples(index=False):
        table.add_row(*(f"{v:g}" if isinstance(v, float) else str(v) for v in row))
    out.print(table)


def _print_failures(failures, limit: int = 20) -> None:
    for row in failures.head(limit).itertuples(index=False):
        console.print(f"[red]failed[/] [{row.stage}] {row.error}", highlight=False, soft_wrap=True)
    if len(failures) > limit:
        console.print(f"... and {len(failures) - limit} more (see tables/failures/)")


@app.command("ingest")
def ingest_command(
    corpus: Annotated[str, typer.Argument(help="Corpus name (see `emod-data corpora`) or a manifest file.")],
    raw_dir: Annotated[Path, typer.Argument(help="The corpus folder as downloaded.")],
    store: Annotated[Path, typer.Option("--store", help="Store folder (created when missing).")],
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Re-ingest this corpus instead of skipping complete files.")] = False,
    subjects: Annotated[list[str] | None, typer.Option(help="Only these subjects (repeat or comma-separate).")] = None,
    config: Annotated[Path | None, typer.Option(help="Processing configuration (TOML).")] = None,
    sfreq: Annotated[float | None, typer.Option(help="Store rate in Hz (default 200).")] = None,
    bandpass: Annotated[str | None, typer.Option(help="LOW,HIGH in Hz, or 'off' (default 0.3,49).")] = None,
    notch: Annotated[str | None, typer.Option(help="Line frequency in Hz, or 'off' (default off).")] = None,
    reference: Annotated[str | None, typer.Option(help="'average' (default) or 'none'.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Switch every processing step off.")] = False,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address for multi-machine runs.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    """Ingest a raw corpus into a harmonized store.

    Reads every file the manifest describes, harmonizes channels, units, filters,
    rate and labels, and writes arrays and tables into the store. Resumable: a
    rerun skips files already complete. Exits with 1 when any file or trial
    failed (see the failures table), 2 on a usage or setup error.
    """
    from emod_data.ingest import ingest

    try:
        processing = _processing(config, sfreq, bandpass, notch, reference, raw)
        report = ingest(
            corpus,
            raw_dir,
            store,
            workers=workers,
            overwrite=overwrite,
            subjects=_subjects(subjects),
            config=processing,
            scheduler=scheduler,
            progress=True,
        )
    except EmodDataError as exc:
        _fail(exc, verbose)
    console.print(
        f"{report.corpus}: {report.files} files, {report.processed} ingested, "
        f"{report.skipped} already complete"
        + (f", {len(report.ignored)} ignored (not matching the manifest's pattern)" if report.ignored else "")
    )
    print_summary(report.summary(), f"{report.corpus} in {report.store}")
    if not report.ok:
        _print_failures(report.failures)
        if verbose and "traceback" in report.failures:
            for text in report.failures["traceback"].dropna():
                console.print(text)
        raise typer.Exit(1)


@app.command("synth")
def synth_command(
    corpus: Annotated[str, typer.Argument(help="seed, seed_iv, seed_vii or deap.")],
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the corpus into.")],
    subjects: Annotated[int, typer.Option(help="Number of subjects.")] = 2,
    duration_scale: Annotated[float, typer.Option(help="Scale of the real trial durations.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
) -> None:
    """Write a synthetic corpus in exactly the real corpus' layout.

    Signals are EEG-like (1/f background, alpha rhythm, line noise, blinks) with
    band powers that depend on each trial's valence and arousal, and
    subject-specific gains.
    """
    from rich.progress import Progress

    from emod_data.synth import synthesize

    try:
        with Progress(console=console) as bar:
            task = bar.add_task(f"synth {corpus}", total=None)

            def advance(done: int, total: int, path) -> None:
                bar.update(task, completed=done, total=total)

            files = synthesize(
                corpus, out_dir, subjects=subjects, duration_scale=duration_scale, seed=seed, progress=advance
            )
    except (EmodDataError, ValueError) as exc:
        _fail(exc, False)
    size = sum(f.stat().st_size for f in files) / 1e6
    console.print(f"{corpus}: wrote {len(files)} files ({size:.1f} MB) under {out_dir}")


@app.command("corpora")
def corpora_command() -> None:
    """List the corpora whose manifests ship with emod_data."""
    from emod_data.manifest import available_manifests, load_manifest

    table = Table(title="shipped manifests")
    for column in ("name", "title", "files", "rate (Hz)"):
        table.add_column(column)
    for name in available_manifests():
        manifest = load_manifest(name)
        table.add_row(name, manifest.corpus.title, manifest.files.glob, f"{manifest.format.sfreq:g}")
    out.print(table)


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the synthetic corpora and the store.")] = Path("demo"),
    subjects: Annotated[int, typer.Option(help="Subjects per corpus.")] = 2,
    duration_scale: Annotated[float, typer.Option(help="Scale of the real trial durations.")] = 0.1,
    workers: Annotated[int, typer.Option(help="Worker processes for ingest.")] = 2,
) -> None:
    """Run the data chain end to end on the built-in synthetic corpora.

    Synthesizes SEED, SEED-IV, SEED-VII and DEAP in their real layouts, ingests
    them into ``OUT_DIR/store.zarr`` and prints the store summary.
    """
    from emod_data.ingest import ingest, summarize
    from emod_data.store import open_store
    from emod_data.synth import SYNTH_CORPORA, synthesize

    try:
        for corpus in SYNTH_CORPORA:
            raw = out_dir / "raw" / corpus
            files = synthesize(corpus, raw, subjects=subjects, duration_scale=duration_scale)
            console.print(f"synthesized {corpus}: {len(files)} files")
            report = ingest(corpus, raw, out_dir / "store.zarr", workers=workers, progress=True)
            if not report.ok:
                _print_failures(report.failures)
                raise typer.Exit(1)
        store = open_store(out_dir / "store.zarr")
    except EmodDataError as exc:
        _fail(exc, False)
    print_summary(summarize(store.recordings), f"store {store.path}")


def main() -> None:  # pragma: no cover - console entry point
    """Console entry point of ``emod-data``."""
    sys.exit(app())
