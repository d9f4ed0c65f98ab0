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
    method: Annotated[str, typer.Option(help="emod (raw windows, V-A soft contrast) or scmm (DE features).")] = "emod",
    corpora: Annotated[str | None, typer.Option(help="Comma-separated corpora (default: all in the store).")] = None,
    sessions: Annotated[str | None, typer.Option(help="Comma-separated sessions to keep (default: all).")] = None,
    channels: Annotated[str | None, typer.Option(help="Comma-separated channel names to feed (default: all).")] = None,
    window: Annotated[float | None, typer.Option(help="Window length in seconds (emod 10, scmm 1).")] = None,
    stride: Annotated[float | None, typer.Option(help="Step between windows in seconds (default: window).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (emod 100, scmm 200).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (emod 288, sets the rounds; scmm 256).")] = None,
    rounds: Annotated[int | None, typer.Option(help="Rounds m per corpus and batch (overrides --batch-size).")] = None,
    sampler: Annotated[
        str, typer.Option(help="skip (empty regions skipped) or released (filled from the next region, 36/corpus).")
    ] = "skip",
    head_norm: Annotated[
        str, typer.Option(help="Projection-head BatchNorm over the batch, or per 'corpus' sub-batch (released).")
    ] = "batch",
    steps_per_epoch: Annotated[int | None, typer.Option(help="Batches per epoch (default: one pass).")] = None,
    lr: Annotated[float, typer.Option(help="Learning rate (emod: AdamW peak, cosine; scmm: Adam).")] = 5e-4,
    weight_decay: Annotated[float | None, typer.Option(help="Weight decay (emod 1e-4, scmm 3e-4).")] = None,
    grad_clip: Annotated[float, typer.Option(help="Gradient norm clipping (emod).")] = 3.0,
    scmm_a: Annotated[float, typer.Option("--a", help="SCMM soft-weight scale a.")] = 0.75,
    scmm_sigma: Annotated[float, typer.Option("--sigma", help="SCMM soft-weight sharpness sigma.")] = 0.5,
    scmm_t: Annotated[float, typer.Option("--t", help="SCMM temperature t.")] = 0.5,
    mask_ratio: Annotated[float, typer.Option(help="SCMM hybrid masking ratio.")] = 0.5,
    similarity: Annotated[str, typer.Option(help="SCMM projection similarity: cosine, or dot (released).")] = "cosine",
    schedule: Annotated[str, typer.Option(help="SCMM learning rate: constant, or cosine (released).")] = "constant",
    loss: Annotated[str, typer.Option(help="soft (EMOD), hard (SupCon) or instance.")] = "soft",
    d_max: Annotated[float, typer.Option(help="Soft-weight range; 13.49 is the released code's.")] = 5.0,
    hard_positives: Annotated[
        str, typer.Option(help="--loss hard positives: exact V-A point, or 'cells' (integer V-A cells, released).")
    ] = "exact",
    floor: Annotated[
        float | None, typer.Option(help="Replace weight sums below 1e-6 by this (released: 1.0); default skips.")
    ] = None,
    temperature: Annotated[float, typer.Option(help="Contrastive temperature.")] = 0.07,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="EMOD's augmentations.")] = True,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="CUDA autocast: bf16, else fp16.")] = True,
    workers: Annotated[int | None, typer.Option(help="Loader threads (default 0 on CPU, 4 on CUDA).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Signal cache root (default ~/.cache/emod_train).")] = None,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Read windows from the signal cache.")] = True,
    checkpoint_every: Annotated[int, typer.Option(help="Also checkpoint every N steps (0: epoch ends).")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from last.pt.")] = False,
    model: Annotated[str | None, typer.Option(help="Backbone overrides, e.g. 'dim=64,depth=2'.")] = None,
    max_memory: Annotated[
        float | None, typer.Option(help="Memory budget of a step in GB; checkpoints layers to fit (default: free).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print tracebacks of errors.")] = False,
) -> None:
    """Pretrain EMOD (default) or SCMM (--method scmm) on a store.

    EMOD: structured cross-corpus batches of raw windows, soft-weighted supervised contrastive loss.
    SCMM: differential-entropy features of 1 s windows, hybrid masking, soft contrastive and
    reconstruction losses (self-supervised; --a, --sigma, --t, --mask-ratio).
    Writes config.json, metrics.jsonl, last.pt, checkpoints/epoch-NNN.pt and loss.png to --out.
    Exit codes: 0 done, 2 usage or data error (one line on standard error).
    """
    from emod_train.distributed import context_from_environment
    from emod_train.pretrain import PretrainConfig, loss_trend, pretrain

    if method not in ("emod", "scmm"):
        _fail(typer.BadParameter(f"--method must be emod or scmm (got {method!r})"))
    session_list = [int(v) for v in _corpora(sessions)] if sessions else None
    channel_list = _corpora(channels)
    if method == "scmm":
        _pretrain_scmm(
            store, out_dir, corpora, session_list, channel_list, window or 1.0, epochs or 200, batch_size or 256, lr,
            3e-4 if weight_decay is None else weight_decay, scmm_a, scmm_sigma, scmm_t, mask_ratio, seed, device,
            cache_dir, resume, quiet, verbose, similarity=similarity, schedule=schedule,
        )  # fmt: skip
        return
    overrides = _model_overrides(model)
    try:
        config = PretrainConfig(
            store=str(store), out=str(out_dir), corpora=_corpora(corpora), sessions=session_list,
            channels=channel_list, window=window or 10.0, stride=stride, epochs=epochs or 100,
            batch_size=batch_size or 288, rounds=rounds, sampler=sampler, head_norm=head_norm,
            steps_per_epoch=steps_per_epoch, lr=lr,
            weight_decay=1e-4 if weight_decay is None else weight_decay, grad_clip=grad_clip, loss=loss, d_max=d_max,
            temperature=temperature, hard_positives=hard_positives, floor=floor,
            augment=augment, seed=seed, device=device, amp=amp, workers=workers,
            cache_dir=str(cache_dir) if cache_dir else None, cache=cache, checkpoint_every=checkpoint_every,
            resume=resume, model=overrides, max_memory=max_memory,
        )  # fmt: skip
        result = pretrain(config, progress=not quiet)
    except _expected_errors() as exc:
        _fail(exc, verbose)
    if not context_from_environment().is_main:  # under torchrun, rank 0 reports
        return
    losses = ", ".join(f"{v:.3f}" for v in result.epoch_losses[-5:])
    trend = loss_trend(result.epoch_losses)
    out.print(
        f"pretrained {result.steps} steps, {result.samples_per_second:.1f} windows/s; epoch losses (last 5): {losses}"
        + (f"; change since epoch 1: {100 * trend:+.1f} %" if trend == trend else "")
    )
    out.print(f"checkpoint: {result.checkpoint}")


def _pretrain_scmm(
    store, out_dir, corpora, sessions, channels, window, epochs, batch_size, lr, weight_decay, a, sigma, t, ratio,
    seed, device, cache_dir, resume, quiet, verbose, similarity="cosine", schedule="constant",
) -> None:  # fmt: skip
    from emod_train.scmm_pretrain import SCMMPretrainConfig, pretrain_scmm

    try:
        config = SCMMPretrainConfig(
            store=str(store), out=str(out_dir), corpora=_corpora(corpora), sessions=sessions, channels=channels,
            window=window, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, a=a, sigma=sigma,
            t=t, ratio=ratio, seed=seed, device=device, cache_dir=str(cache_dir) if cache_dir else None,
            resume=resume, similarity=similarity, schedule=schedule,
        )  # fmt: skip
        result = pretrain_scmm(config, progress=not quiet)
    except _expected_errors() as exc:
        _fail(exc, verbose)
    losses = ", ".join(f"{v:.4f}" for v in result.epoch_losses[-5:])
    out.print(
        f"pretrained SCMM on {result.windows} DE samples x {len(result.channels)} channels; "
        f"epoch losses (last 5): {losses}"
    )
    out.print(f"checkpoint: {result.checkpoint}")


@app.command("crosscorpus")
def crosscorpus_command(
    store: Annotated[Path, typer.Option("--store", help="Store holding the source and target corpora.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (results table, plot, pretraining runs).")],
    directions: Annotated[
        str | None, typer.Option(help="Comma-separated directions (default: all of the protocol).")
    ] = None,
    methods: Annotated[str, typer.Option(help="Comma-separated: scmm, scmm_scratch, emod, emod_scratch.")] = (
        "scmm,scmm_scratch,emod"
    ),
    protocol: Annotated[Path | None, typer.Option(help="Protocol TOML (default: SCMM's four directions).")] = None,
    scmm_epochs: Annotated[int, typer.Option(help="SCMM pretraining epochs.")] = 200,
    scmm_batch_size: Annotated[int, typer.Option(help="SCMM pretraining batch size.")] = 256,
    emod_epochs: Annotated[int, typer.Option(help="EMOD pretraining epochs.")] = 20,
    emod_batch_size: Annotated[int, typer.Option(help="EMOD pretraining batch size.")] = 288,
    emod_steps_per_epoch: Annotated[int | None, typer.Option(help="EMOD batches per epoch (default: a pass).")] = None,
    emod_model: Annotated[str | None, typer.Option(help="EMOD backbone overrides, e.g. 'dim=32,depth=1'.")] = None,
    finetune_epochs: Annotated[int, typer.Option(help="Fine-tuning epochs per target subject.")] = 30,
    finetune_batch_size: Annotated[int, typer.Option(help="Fine-tuning batch size.")] = 32,
    finetune_lr: Annotated[float, typer.Option(help="Fine-tuning learning rate (Adam).")] = 5e-4,
    seeds: Annotated[int, typer.Option(help="Fine-tuning runs per subject (seeds seed..seed+N-1).")] = 1,
    seed: Annotated[int, typer.Option(help="First seed (pretraining uses it too).")] = 0,
    selection: Annotated[
        str | None, typer.Option(help="Fine-tuning trials: first (SCMM's rule) or stratified (class by class).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    cache_dir: Annotated[Path | None, typer.Option(help="Cache root (default ~/.cache/emod_train).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print tracebacks of errors.")] = False,
) -> None:
    """Cross-corpus transfer (SCMM's protocol) for SCMM, EMOD and no pretraining on identical splits.

    Per direction (SEED->SEED-IV, SEED-IV->SEED, DEAP->SEED, SEED->DEAP): pretrain on the source
    corpus (session 1) on the channels both corpora share, then per target subject fine-tune on
    its first 9 trials (the last trial of each class selects the epoch) and test on the rest.
    Writes results.md, results.json, subjects.csv and cross_corpus.png to --out and prints the table.
    Exit codes: 0 done, 2 usage or data error.
    """
    from emod_train.crosscorpus import CrossCorpusConfig, run_cross_corpus

    try:
        config = CrossCorpusConfig(
            store=str(store), out=str(out_dir), protocol=str(protocol) if protocol else None,
            directions=_corpora(directions), methods=_corpora(methods) or [], scmm_epochs=scmm_epochs,
            scmm_batch_size=scmm_batch_size, emod_epochs=emod_epochs, emod_batch_size=emod_batch_size,
            emod_steps_per_epoch=emod_steps_per_epoch, emod_model=_model_overrides(emod_model),
            finetune_epochs=finetune_epochs, finetune_batch_size=finetune_batch_size, finetune_lr=finetune_lr,
            seeds=seeds, seed=seed, device=device, cache_dir=str(cache_dir) if cache_dir else None,
            selection=selection,
        )  # fmt: skip
        result = run_cross_corpus(config, progress=not quiet)
    except _expected_errors() as exc:
        _fail(exc, verbose)
    out.print(result.table)
    out.print(f"results: {result.out / 'results.md'}, plot: {result.out / 'cross_corpus.png'}")


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
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="CUDA autocast: bf16, else fp16.")] = True,
    workers: Annotated[int | None, typer.Option(help="Loader threads (default 0 on CPU, 4 on CUDA).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Signal cache root (default ~/.cache/emod_train).")] = None,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Read windows from the signal cache.")] = True,
    model: Annotated[
        str | None, typer.Option(help="Method (emod, scmm, eegnet, ...; see 'methods'), or EMOD overrides 'dim=64'.")
    ] = None,
    model_options: Annotated[
        str | None, typer.Option(help="Model options NAME=VALUE,... (EMOD config, SCMM options, constructor args).")
    ] = None,
    splits: Annotated[Path | None, typer.Option(help="Split file pinning the windows (see 'benchmark').")] = None,
    max_memory: Annotated[
        float | None, typer.Option(help="Memory budget of a step in GB; checkpoints layers to fit (default: free).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print tracebacks of errors.")] = False,
) -> None:
    """Fine-tune a registered method on a task; report test balanced accuracy, Cohen's kappa and weighted F1.

    --model picks the method (default emod; 'emod-train methods' lists them). EMOD and SCMM need
    --init CKPT or --from-scratch; braindecode models always train from scratch. Model selection
    uses validation kappa only. Writes results.md, results.json, confusion.png, curves.png and
    seed-N/ folders to --out, and prints the results table.
    Exit codes: 0 done, 2 usage, task, data or checkpoint error.
    """
    from emod_train.finetune import FinetuneConfig, finetune
    from emod_train.methods import get_method, parse_options

    method_name, overrides = "emod", {}
    if model and "=" in model:  # the EMOD overrides form of earlier releases
        overrides = _model_overrides(model)
    elif model:
        method_name = model
    try:
        method = get_method(method_name)
        overrides.update(parse_options(model_options))
    except _expected_errors() as exc:
        _fail(exc, verbose)
    if method.pretrainable and (init is None) == (not from_scratch):
        _fail(ValueError("give exactly one of --init CKPT and --from-scratch"))
    try:
        config = FinetuneConfig(
            store=str(store), task=task, out=str(out_dir), init=str(init) if init else None,
            from_scratch=from_scratch, epochs=epochs, batch_size=batch_size, lr=lr,
            backbone_lr_scale=backbone_lr_scale, weight_decay=weight_decay, label_smoothing=label_smoothing,
            dropout=dropout, head=head, seeds=seeds, seed=seed, device=device, amp=amp, workers=workers,
            cache_dir=str(cache_dir) if cache_dir else None, cache=cache, model=overrides, method=method_name,
            splits=str(splits) if splits else None,
            max_memory=max_memory,
        )  # fmt: skip
        result = finetune(config, progress=not quiet)
    except _expected_errors() as exc:
        _fail(exc, verbose)
    out.print(result.table, markup=False, highlight=False)
    out.print(f"results: {result.out / 'results.md'}, {result.out / 'results.json'}, {result.out / 'confusion.png'}")


@app.command("methods")
def methods_command() -> None:
    """List the registered methods: name, input kind, pretraining, source and description.

    Any model class of the installed braindecode is also available as ``braindecode:<ClassName>``.
    """
    from emod_train.methods import available_methods
    from emod_train.methods.braindecode_models import braindecode_version, missing_short_names

    table = Table(title="registered methods")
    for column in ("name", "inputs", "pretraining", "from", "description"):
        table.add_column(column)
    for method in available_methods():
        pretraining = "yes" if method.pretrainable else "no (from scratch)"
        table.add_row(method.name, method.inputs, pretraining, method.family, method.description)
    out.print(table)
    missing = missing_short_names()
    note = f"braindecode {braindecode_version()}; any of its models as braindecode:<ClassName>"
    if missing:
        note += f"; not in this braindecode: {', '.join(missing)}"
    out.print(note, markup=False, highlight=False)


def _per_model(items: list[str] | None, what: str) -> dict[str, str]:
    """``["emod:dim=32,depth=1", ...]`` -> ``{"emod": "dim=32,depth=1"}``."""
    found: dict[str, str] = {}
    for item in items or []:
        name, sep, rest = item.rpartition(":") if what == "init" else item.partition(":")
        if what != "init" and "=" in name:
            name, sep, rest = "", "", item
        if not sep or not name.strip() or not rest.strip():
            raise typer.BadParameter(f"--{what} expects MODEL:{'CKPT' if what == 'init' else 'NAME=VALUE,...'}")
        found[name.strip()] = rest.strip()
    return found


@app.command("benchmark")
def benchmark_command(
    store: Annotated[Path, typer.Option("--store", help="Store holding the tasks' corpora.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (splits, cells, leaderboard); resumable.")],
    tasks: Annotated[str, typer.Option(help="Comma-separated tasks (faced, seed_v, seed or task files).")],
    models: Annotated[str, typer.Option(help="Comma-separated methods (see 'emod-train methods').")],
    seeds: Annotated[int, typer.Option(help="Runs per cell (seeds seed..seed+N-1).")] = 5,
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs per run.")] = 100,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 64,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    model_options: Annotated[
        list[str] | None, typer.Option(help="MODEL:NAME=VALUE,... (repeatable), e.g. emod:dim=32,depth=1.")
    ] = None,
    init: Annotated[list[str] | None, typer.Option(help="MODEL:CKPT pretraining checkpoint (repeatable).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    workers: Annotated[int | None, typer.Option(help="Loader threads (default 0 on CPU, 4 on CUDA).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Cache root (default ~/.cache/emod_train).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print tracebacks of errors.")] = False,
) -> None:
    """Every model on every task with identical pinned splits; writes and prints the leaderboard.

    Each task's split is written once to OUT/splits/<task>.tsv (its sha256 is in the leaderboard)
    and reused by reruns; finished cells (OUT/cells/<task>/<model>/) are skipped. Writes
    leaderboard.md, leaderboard.json and leaderboard.png. Models start from scratch unless --init
    gives a checkpoint. Exit codes: 0 done, 2 usage, task, data or checkpoint error.
    """
    from emod_train.benchmark import BenchmarkConfig, run_benchmark
    from emod_train.methods import parse_options

    try:
        options = {name: parse_options(text) for name, text in _per_model(model_options, "model-options").items()}
        config = BenchmarkConfig(
            store=str(store), out=str(out_dir), tasks=_corpora(tasks) or [], models=_corpora(models) or [],
            seeds=seeds, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr, options=options,
            init=_per_model(init, "init"), device=device, workers=workers,
            cache_dir=str(cache_dir) if cache_dir else None,
        )  # fmt: skip
        result = run_benchmark(config, progress=not quiet, log=lambda line: console.print(line, highlight=False))
    except (*_expected_errors(), typer.BadParameter) as exc:
        _fail(exc, verbose)
    out.print(result.table, markup=False, highlight=False)
    out.print(f"leaderboard: {result.out / 'leaderboard.md'}, {result.out / 'leaderboard.json'}, "
              f"{result.out / 'leaderboard.png'}")  # fmt: skip


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
