"""The ``emod-data`` command line: a thin layer over the Python API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
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

ClusterTimeout = Annotated[
    float, typer.Option(help="Seconds to wait for the Dask scheduler and workers before giving up.")
]
StorageOption = Annotated[
    list[str] | None,
    typer.Option("--storage-option", help="fsspec option of a store URL, KEY=VALUE (repeat)."),
]


def _fail(exc: Exception, verbose: bool) -> None:
    if verbose:
        console.print_exception()
    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
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
    bad_channels: str | None = None,
    ica: str | None = None,
) -> ProcessingConfig | None:
    flags = {
        "sfreq": sfreq,
        "bandpass": bandpass,
        "notch": notch,
        "reference": reference,
        "bad": bad_channels,
        "ica": ica,
    }
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
    if bad_channels is not None:
        values["bad_channels"] = bad_channels
    if ica is not None:
        values["ica"] = ica
    try:
        return ProcessingConfig(**values)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _storage_options(items: list[str] | None) -> dict | None:
    from emod_data.storage import parse_storage_options

    try:
        return parse_storage_options(items) or None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--storage-option") from None


def _run_options(workers: int, storage_option: list[str] | None, scheduler: str | None, cluster_timeout: float) -> dict:
    """The keyword arguments ingest and inspect share: workers, progress, storage options and the cluster."""
    options = _storage_options(storage_option)
    return {"workers": workers, "progress": True, "storage_options": options, "scheduler": scheduler,
            "cluster_timeout": cluster_timeout}  # fmt: skip


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
        console.print(f"[red]failed[/] {escape(f'[{row.stage}] {row.error}')}", highlight=False, soft_wrap=True)
    if len(failures) > limit:
        console.print(f"... and {len(failures) - limit} more (see tables/failures/)")


@app.command("ingest")
def ingest_command(
    corpus: Annotated[str, typer.Argument(help="Corpus name (see `emod-data corpora`) or a manifest file.")],
    raw_dir: Annotated[Path, typer.Argument(help="The corpus folder as downloaded.")],
    store: Annotated[
        str, typer.Option("--store", help="Store folder or fsspec URL (s3://bucket/x.zarr); created when missing.")
    ],
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Re-ingest this corpus instead of skipping complete files.")] = False,
    subjects: Annotated[list[str] | None, typer.Option(help="Only these subjects (repeat or comma-separate).")] = None,
    config: Annotated[Path | None, typer.Option(help="Processing configuration (TOML).")] = None,
    sfreq: Annotated[float | None, typer.Option(help="Store rate in Hz (default 200).")] = None,
    bandpass: Annotated[str | None, typer.Option(help="LOW,HIGH in Hz, or 'off' (default 0.3,49).")] = None,
    notch: Annotated[str | None, typer.Option(help="Line frequency in Hz, or 'off' (default off).")] = None,
    reference: Annotated[str | None, typer.Option(help="'average' (default) or 'none'.")] = None,
    bad_channels: Annotated[
        str | None,
        typer.Option(
            "--bad-channels",
            help="Bad channels found per session: 'interpolate' (default), 'drop' or 'off'.",
        ),
    ] = None,
    ica: Annotated[
        str | None,
        typer.Option(
            "--ica",
            help="ICA per session: 'eog' (frontal EOG proxies), 'iclabel' (eye/muscle components) or 'off' (default).",
        ),
    ] = None,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw", help="Switch filters, reference and precision rounding off (still resampled to --sfreq)."
        ),
    ] = False,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address for multi-machine runs.")] = None,
    cluster_timeout: ClusterTimeout = 30.0,
    storage_option: StorageOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    """Ingest a raw corpus into a harmonized store.

    Reads every file the manifest describes, harmonizes channels, units, filters,
    rate and labels, and writes arrays and tables into the store. Resumable: a
    rerun skips files already complete. The store may be a local folder or
    any fsspec URL (S3, GCS, memory) with --storage-option KEY=VALUE for its
    endpoint and credentials. Exits with 1 when any file or trial failed (see
    the failures table), 2 on a usage or setup error (one line).
    """
    from emod_data.ingest import ingest

    try:
        run = _run_options(workers, storage_option, scheduler, cluster_timeout)
        processing = _processing(config, sfreq, bandpass, notch, reference, raw, bad_channels, ica)
        report = ingest(
            corpus, raw_dir, store, overwrite=overwrite, subjects=_subjects(subjects), config=processing, **run
        )
    except (EmodDataError, OSError) as exc:
        _fail(exc, verbose)
    console.print(
        f"{report.corpus}: {report.files} files, {report.processed - len(report.skipped_inputs)} ingested, "
        f"{report.skipped} already complete"
        + (f", {len(report.ignored)} ignored (not matching the manifest's pattern)" if report.ignored else "")
        + (
            f", {len(report.skipped_inputs)} skipped as not inputs (e.g. {report.skipped_inputs[0]['reason']})"
            if report.skipped_inputs
            else ""
        )
    )
    print_summary(report.summary(), f"{report.corpus} in {report.store}")
    if not report.ok:
        _print_failures(report.failures)
        if verbose:
            for text in report.tracebacks:
                console.print(escape(text), highlight=False)
        raise typer.Exit(1)


@app.command("synth")
def synth_command(
    corpus: Annotated[str, typer.Argument(help="A name of emod_data.synth.SYNTH_CORPORA (seed, deap_raw, ...).")],
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
    duration_scale: Annotated[float, typer.Option(help="Scale of the real trial durations.")] = 0.05,
    workers: Annotated[int, typer.Option(help="Worker processes for ingest.")] = 2,
) -> None:
    """Run the data chain end to end on the built-in synthetic corpora.

    Synthesizes one corpus of every reader family in its real layout (SEED,
    SEED-IV, SEED-VII, DEAP, FACED, DREAMER, SEED-V raw CNT, DEAP raw BDF and a
    BIDS dataset), ingests them into ``OUT_DIR/store.zarr``, inspects the store
    (HTML report in ``OUT_DIR/report``) and prints the store summary and the
    inspection's findings. A second run reuses the files and resumes the store.
    """
    from emod_data.demo import build_demo_store
    from emod_data.ingest import summarize
    from emod_data.inspect import inspect_store
    from emod_data.store import open_store

    try:
        path = build_demo_store(
            out_dir,
            subjects=subjects,
            duration_scale=duration_scale,
            workers=workers,
            log=lambda line: console.print(line, highlight=False),
        )
        store = open_store(path)
        report = inspect_store(path, report_dir=out_dir / "report", workers=workers, progress=True)
    except EmodDataError as exc:
        _fail(exc, False)
    print_summary(summarize(store.recordings), f"store {store.path}")
    severity = report.findings["severity"].value_counts() if len(report.findings) else {}
    found = ", ".join(f"{severity.get(level, 0)} {level}s" for level in ("error", "warning", "info"))
    out.print(f"inspection: {found}; report at {out_dir / 'report' / 'report.html'}", highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    """Console entry point of ``emod-data``."""
    sys.exit(app())


def _read_split_file(path: Path):
    """A proposed split from CSV or parquet with columns recording_id and split."""
    import pandas as pd

    from emod_data.errors import StoreError

    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: cannot read the split file ({exc})") from None
    if not {"recording_id", "split"} <= set(table.columns):
        raise StoreError(f"{path}: a split file needs columns recording_id and split (has {', '.join(table.columns)})")
    return table


@app.command("inspect")
def inspect_command(
    store: Annotated[str, typer.Argument(help="Store folder (or fsspec URL).")],
    report: Annotated[Path | None, typer.Option("--report", help="Write report.html, figures and CSV here.")] = None,
    corpus: Annotated[list[str] | None, typer.Option(help="Only these corpora (repeat or comma-separate).")] = None,
    fail_on: Annotated[
        str, typer.Option("--fail-on", help="Exit 1 on any 'error', on any 'warning' or error, or 'none'.")
    ] = "none",
    window: Annotated[float, typer.Option(help="Window length in seconds for the window counts.")] = 5.0,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per CPU, max 8).")] = None,
    split: Annotated[
        str | None, typer.Option(help="Draw a split on 'subject', 'session' or 'trial' and audit it for leakage.")
    ] = None,
    split_file: Annotated[
        Path | None, typer.Option(help="Audit this proposed split (CSV or parquet: recording_id, split).")
    ] = None,
    split_by: Annotated[str, typer.Option(help="The unit a --split-file keeps whole.")] = "subject",
    split_fractions: Annotated[str, typer.Option(help="Fractions of a drawn split (train,val,test).")] = "0.8,0.1,0.1",
    split_seed: Annotated[int, typer.Option(help="Seed of a drawn split.")] = 0,
    show: Annotated[int, typer.Option(help="Findings listed on the terminal (all are in the report).")] = 20,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address whose workers read the arrays.")] = None,
    cluster_timeout: ClusterTimeout = 30.0,
    storage_option: StorageOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    """Inspect a store: per-corpus summary, quality checks, split audit and an HTML report.

    Reads every array once (in parallel, streaming) and checks for NaN/Inf,
    flat, clipped or outlying channels, implausible amplitude scale, line
    noise, deviating trial lengths, missing or out-of-range labels, missing
    trials and ingest failures. Exit codes: 0, or 1 when --fail-on is met,
    2 on a usage or store error.
    """
    from rich.markup import escape

    from emod_data.inspect import inspect_store

    if fail_on not in ("none", "error", "warning"):
        raise typer.BadParameter(f"expected error, warning or none (got {fail_on!r})", param_hint="--fail-on")
    if split is not None and split_file is not None:
        raise typer.BadParameter("give --split or --split-file, not both", param_hint="--split")
    try:
        fractions = tuple(float(f) for f in split_fractions.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected numbers like 0.8,0.1,0.1 (got {split_fractions!r})") from None
    try:
        run = _run_options(workers, storage_option, scheduler, cluster_timeout)
        proposed = _read_split_file(split_file) if split_file is not None else split
        split_args = {"split": proposed, "split_by": split_by, "split_fractions": fractions, "split_seed": split_seed}
        result = inspect_store(
            store, corpora=_subjects(corpus), report_dir=report, window_seconds=window, **split_args, **run
        )
    except (EmodDataError, ValueError, OSError) as exc:
        _fail(exc, verbose)
    summary = result.summary[["corpus", "subjects", "sessions", "trials", "hours", "channels", "hz", "windows"]]
    print_summary(summary.rename(columns={"windows": f"windows {window:g}s"}), f"store {result.store}")
    counts = result.check_counts()
    counts = counts[(counts["errors"] + counts["warnings"] + counts["infos"]) > 0]
    if len(counts):
        table = Table(title="checks that hit")
        for column in ("check", "errors", "warnings", "infos"):
            table.add_column(column, justify="left" if column == "check" else "right")
        for row in counts.itertuples(index=False):
            table.add_row(row.check, str(row.errors), str(row.warnings), str(row.infos))
        out.print(table)
    shown = result.findings.head(max(0, show))
    colours = {"error": "red", "warning": "yellow", "info": "blue"}
    for row in shown.itertuples(index=False):
        colour = colours.get(row.severity, "white")
        console.print(
            f"[{colour}]{row.severity}[/] {escape(row.check)}: {escape(row.message)}", highlight=False, soft_wrap=True
        )
    if len(result.findings) > len(shown):
        console.print(f"... and {len(result.findings) - len(shown)} more findings (see the report or findings.csv)")
    console.print(
        f"{result.count('error')} errors, {result.count('warning')} warnings, {result.count('info')} infos "
        f"over {len(result.recordings)} recordings of {len(result.corpora)} corpora "
        f"({result.stats.bytes_read / 1e9:.2f} GB read in {result.stats.seconds:.1f} s)"
    )
    if result.report_path is not None:
        console.print(f"report: {result.report_path}")
    if result.failed(fail_on):
        raise typer.Exit(1)
