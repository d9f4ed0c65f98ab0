"""The ``emod-train`` command line: a thin layer over :mod:`emod_train`'s Python API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Train EMOD and SCMM models on an emod_data store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()


@app.callback()
def _root() -> None:
    """Train EMOD and SCMM models on an emod_data store."""


def _fail(exc: BaseException, verbose: bool = False) -> None:
    if verbose:
        console.print_exception()
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _expected_errors() -> tuple[type[BaseException], ...]:
    from emod_data.errors import EmodDataError
    from emod_train.errors import TrainError

    return (TrainError, EmodDataError, ValueError, FileNotFoundError)


def _corpora(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    return names or None


def _model_overrides(text: str | None) -> dict:
    """Parse ``dim=64,depth=2`` into EMODConfig overrides."""
    from emod_train.model import EMODConfig

    if not text:
        return {}
    fields = EMODConfig.__dataclass_fields__
    overrides: dict = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in fields or not value.strip():
            raise typer.BadParameter(f"expected NAME=VALUE with NAME one of {', '.join(fields)} (got {item!r})")
        kind = type(getattr(EMODConfig(), key))
        try:
            overrides[key] = kind(value.strip())
        except ValueError:
            raise typer.BadParameter(f"{key} must be a {kind.__name__} (got {value!r})") from None
    return overrides


def _ranges(values) -> str:
    """``(1, 2, 3, 5)`` -> ``1-3,5``; non-integers joined as they are."""
    if not all(isinstance(v, int) for v in values):
        return ",".join(map(str, values))
    parts, start = [], None
    ordered = sorted(values)
    for i, v in enumerate(ordered):
        start = v if start is None else start
        if i + 1 == len(ordered) or ordered[i + 1] != v + 1:
            parts.append(str(v) if start == v else f"{start}-{v}")
            start = None
    return ",".join(parts)


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


@app.command("tasks")
def tasks_command() -> None:
    """List the shipped fine-tuning tasks (corpus, window, classes, split rule).

    A task is a TOML file; pass your own file's path to ``emod-train finetune --task``.
    """
    from emod_train.tasks import available_tasks, load_task

    table = Table(title="shipped tasks")
    for column in ("name", "corpus", "window (s)", "classes", "split"):
        table.add_column(column)
    for name in available_tasks():
        task = load_task(name)
        if task.counts:
            split = f"subjects {'/'.join(map(str, task.counts))} (sorted, proportional)"
        else:
            split = f"{task.split_by} " + " / ".join(_ranges(getattr(task, k)) for k in ("train", "val", "test"))
        table.add_row(name, " or ".join(task.corpora), f"{task.window:g}", str(task.n_classes), split)
    out.print(table)


@app.command("pretrain")
def pretrain_command(
    store: Annotated[Path, typer.Option("--store", help="Store folder written by emod-data ingest.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (checkpoints, metrics, plots).")],
    corpora: Annotated[str | None, typer.Option(help="Comma-separated corpora (default: all in the store).")] = None,
    window: Annotated[float, typer.Option(help="Window length in seconds.")] = 10.0,
    stride: Annotated[float | None, typer.Option(help="Step between windows in seconds (default: window).")] = None,
    epochs: Annotated[int, typer.Option(help="Epochs.")] = 100,
    batch_size: Annotated[int, typer.Option(help="Target batch size (sets the rounds per corpus).")] = 288,
    rounds: Annotated[int | None, typer.Option(help="Rounds m per corpus and batch (overrides --batch-size).")] = None,
    steps_per_epoch: Annotated[int | None, typer.Option(help="Batches per epoch (default: one pass).")] = None,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, cosine).")] = 5e-4,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 1e-4,
    grad_clip: Annotated[float, typer.Option(help="Gradient norm clipping.")] = 3.0,
    loss: Annotated[str, typer.Option(help="soft (EMOD), hard (SupCon) or instance.")] = "soft",
    d_max: Annotated[float, typer.Option(help="Soft-weight range; 13.49 is the released code's.")] = 5.0,
    temperature: Annotated[float, typer.Option(help="Contrastive temperature.")] = 0.07,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="EMOD's augmentations.")] = True,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="float16 autocast on CUDA.")] = True,
    workers: Annotated[int | None, typer.Option(help="Loader threads (default 0 on CPU, 4 on CUDA).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Signal cache root (default ~/.cache/emod_train).")] = None,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Read windows from the signal cache.")] = True,
    checkpoint_every: Annotated[int, typer.Option(help="Also checkpoint every N steps (0: epoch ends).")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from last.pt.")] = False,
    model: Annotated[str | None, typer.Option(help="Backbone overrides, e.g. 'dim=64,depth=2'.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print tracebacks of errors.")] = False,
) -> None:
    """Pretrain EMOD on a store: structured cross-corpus batches, soft-weighted contrastive loss.

    Writes config.json, metrics.jsonl, last.pt, checkpoints/epoch-NNN.pt and loss.png to --out.
    Exit codes: 0 done, 2 usage or data error (one line on standard error).
    """
    from emod_train.pretrain import PretrainConfig, loss_trend, pretrain

    overrides = _model_overrides(model)
    try:
        config = PretrainConfig(
            store=str(store), out=str(out_dir), corpora=_corpora(corpora), window=window, stride=stride,
            epochs=epochs, batch_size=batch_size, rounds=rounds, steps_per_epoch=steps_per_epoch, lr=lr,
            weight_decay=weight_decay, grad_clip=grad_clip, loss=loss, d_max=d_max, temperature=temperature,
            augment=augment, seed=seed, device=device, amp=amp, workers=workers,
            cache_dir=str(cache_dir) if cache_dir else None, cache=cache, checkpoint_every=checkpoint_every,
            resume=resume, model=overrides,
        )  # fmt: skip
        result = pretrain(config, progress=not quiet)
    except _expected_errors() as exc:
        _fail(exc, verbose)
    losses = ", ".join(f"{v:.3f}" for v in result.epoch_losses[-5:])
    trend = loss_trend(result.epoch_losses)
    out.print(
        f"pretrained {result.steps} steps, {result.samples_per_second:.1f} windows/s; epoch losses (last 5): {losses}"
        + (f"; change since epoch 1: {100 * trend:+.1f} %" if trend == trend else "")
    )
    out.print(f"checkpoint: {result.checkpoint}")


@app.command("finetune")
def finetune_command(
    store: Annotated[Path, typer.Option("--store", help="Store folder written by emod-data ingest.")],
    task: Annotated[str, typer.Option("--task", help="faced, seed_v, seed, or a task TOML file.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (results, plots, checkpoints).")],
    init: Annotated[Path | None, typer.Option(help="Pretraining checkpoint (last.pt or epoch-NNN.pt).")] = None,
    from_scratch: Annotated[bool, typer.Option("--from-scratch", help="Random init (no pretraining).")] = False,
    epochs: Annotated[int, typer.Option(help="Epochs.")] = 100,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 64,
    lr: Annotated[float, typer.Option(help="Head learning rate (Adam, cosine).")] = 1e-3,
    backbone_lr_scale: Annotated[float, typer.Option(help="Backbone learning rate / head learning rate.")] = 0.5,
    weight_decay: Annotated[float, typer.Option(help="Adam weight decay.")] = 1e-4,
    label_smoothing: Annotated[float, typer.Option(help="Cross-entropy label smoothing.")] = 0.1,
    dropout: Annotated[float, typer.Option(help="Head dropout.")] = 0.25,
    head: Annotated[str, typer.Option(help="mlp or linear.")] = "mlp",
    seeds: Annotated[int, typer.Option(help="Runs with seeds seed..seed+N-1; mean and std reported.")] = 1,
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="float16 autocast on CUDA.")] = True,
    workers: Annotated[int | None, typer.Option(help="Loader threads (default 0 on CPU, 4 on CUDA).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Signal cache root (default ~/.cache/emod_train).")] = None,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Read windows from the signal cache.")] = True,
    model: Annotated[str | None, typer.Option(help="Backbone overrides with --from-scratch ('dim=64').")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print tracebacks of errors.")] = False,
) -> None:
    """Fine-tune on a task and report test balanced accuracy, Cohen's kappa and weighted F1.

    Model selection uses validation kappa only. Writes results.md, results.json, confusion.png,
    curves.png and seed-N/ folders to --out, and prints the results table.
    Exit codes: 0 done, 2 usage, task, data or checkpoint error.
    """
    from emod_train.finetune import FinetuneConfig, finetune

    if (init is None) == (not from_scratch):
        _fail(ValueError("give exactly one of --init CKPT and --from-scratch"))
    overrides = _model_overrides(model)
    try:
        config = FinetuneConfig(
            store=str(store), task=task, out=str(out_dir), init=str(init) if init else None,
            from_scratch=from_scratch, epochs=epochs, batch_size=batch_size, lr=lr,
            backbone_lr_scale=backbone_lr_scale, weight_decay=weight_decay, label_smoothing=label_smoothing,
            dropout=dropout, head=head, seeds=seeds, seed=seed, device=device, amp=amp, workers=workers,
            cache_dir=str(cache_dir) if cache_dir else None, cache=cache, model=overrides,
        )  # fmt: skip
        result = finetune(config, progress=not quiet)
    except _expected_errors() as exc:
        _fail(exc, verbose)
    out.print(result.table, markup=False, highlight=False)
    out.print(f"results: {result.out / 'results.md'}, {result.out / 'results.json'}, {result.out / 'confusion.png'}")


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the corpora, store, cache and runs.")] = Path(
        "demo-train"
    ),
    subjects: Annotated[int, typer.Option(help="Synthetic subjects per corpus.")] = 2,
    duration_scale: Annotated[float, typer.Option(help="Scale of the real trial durations.")] = 0.05,
    pretrain_steps: Annotated[int, typer.Option(help="Pretraining steps (one epoch).")] = 8,
    finetune_epochs: Annotated[int, typer.Option(help="Fine-tuning epochs.")] = 8,
    workers: Annotated[int, typer.Option(help="Ingest worker processes.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the data and the runs.")] = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print tracebacks of errors.")] = False,
) -> None:
    """The whole chain on synthetic data: synthesize, ingest, inspect, pretrain briefly, fine-tune briefly.

    Builds OUT_DIR/store.zarr as `emod-data demo` does (one synthetic corpus of every reader family)
    and inspects it, pretrains the EMOD backbone on SEED-IV, SEED-VII and DEAP (SEED held out, as in
    the paper), fine-tunes on SEED with the SEED protocol (session split 1/2/3, 5 s windows) and
    prints the results table. Exit codes: 0 done, 1 ingest failure, 2 error.
    """
    from emod_train.demo import run_demo

    try:
        result = run_demo(
            out_dir, subjects=subjects, duration_scale=duration_scale, pretrain_steps=pretrain_steps,
            finetune_epochs=finetune_epochs, workers=workers, seed=seed, console=console,
        )  # fmt: skip
    except _expected_errors() as exc:
        _fail(exc, verbose)
    if result is None:
        raise typer.Exit(1)
    out.print(result.table, markup=False, highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    """Console entry point of ``emod-train``."""
    sys.exit(app())
