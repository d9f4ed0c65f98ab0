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
    from emod_train.methods.registry import load_plugins

    try:  # methods of other installed packages (entry points); a broken one is one line, exit code 2
        load_plugins()
    except _expected_errors() as exc:
        _fail(exc)


def _fail(exc: BaseException, verbose: bool = False) -> None:
    if verbose:
        console.print_exception()
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _expected_errors() -> tuple[type[BaseException], ...]:
    from emod_data.errors import EmodDataError
    from emod_train.errors import TrainError

    return (TrainError, EmodDataError, ValueError, FileNotFoundError, typer.BadParameter)


def _corpora(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    return names or None


def _model_overrides(text: str | None) -> dict:
    """Parse ``dim=64,depth=2`` into EMODConfig overrides."""
    from emod_train.methods.emod.model import EMODConfig

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


_OPTION_NAMES = {"a": "--a", "sigma": "--sigma", "t": "--t", "ratio": "--mask-ratio"}
"""Command-line names of settings whose option is not the field name with dashes."""


_AMP_HELP = "autocast (unset: CUDA only, bf16 else fp16; --amp: also bf16 on CPUs with native bf16)."


def _given(**options) -> dict:
    """The options given on the command line; the others (None) take the settings dataclass' defaults."""
    return {name: value for name, value in options.items() if value is not None}


def _settings(kind: type, what: str, **values):
    """``kind(**values)``, refusing an option that ``kind`` has no field for (one line, naming the option).

    Raises
    ------
    typer.BadParameter
        An option the settings do not have (e.g. an EMOD option with ``--method scmm``).
    """
    import dataclasses

    fields = {f.name for f in dataclasses.fields(kind)}
    stray = [name for name in values if name not in fields]
    if stray:
        option = _OPTION_NAMES.get(stray[0], "--" + stray[0].replace("_", "-"))
        raise typer.BadParameter(f"{option} is not an option of {what}")
    return kind(**values)


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
    """Show the training environment: torch version, threads, accelerators and their autocast types.

    Use it to check that the CPU or CUDA build of torch you expect is the one
    installed before starting a long run.
    """
    import torch

    from emod_train.engine.runtime import cpu_has_bfloat16

    table = Table(title="emod-train environment")
    table.add_column("item")
    table.add_column("value")
    table.add_row("torch", torch.__version__)
    table.add_row("CPU threads", str(torch.get_num_threads()))
    table.add_row("CPU bfloat16 (--amp on the CPU)", "native" if cpu_has_bfloat16() else "no (float32)")
    table.add_row("CUDA available", str(torch.cuda.is_available()))
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        precision = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        table.add_row(f"cuda:{index}", f"{props.name}, {props.total_memory / 2**30:.0f} GiB, autocast {precision}")
    Console().print(table)


@app.command("tasks")
def tasks_command() -> None:
    """List the shipped fine-tuning tasks (corpus, window, classes, split rule).

    A task is a TOML file; pass your own file's path to ``emod-train finetune --task``.
    """
    from emod_train.evaluation.tasks import available_tasks, load_task

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
    method: Annotated[str, typer.Option(help="A pretrainable method: emod (raw windows) or scmm (DE features).")] = (
        "emod"
    ),
    corpora: Annotated[str | None, typer.Option(help="Comma-separated corpora (default: all in the store).")] = None,
    sessions: Annotated[str | None, typer.Option(help="Comma-separated sessions to keep (default: all).")] = None,
    channels: Annotated[str | None, typer.Option(help="Comma-separated channel names to feed (default: all).")] = None,
    window: Annotated[float | None, typer.Option(help="Window length in seconds.")] = None,
    stride: Annotated[
        float | None, typer.Option(help="emod: step between windows in seconds (default: window).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (emod: sets the rounds).")] = None,
    rounds: Annotated[
        int | None, typer.Option(help="emod: rounds m per corpus and batch (overrides --batch-size).")
    ] = None,
    sampler: Annotated[
        str | None, typer.Option(help="emod: skip (empty regions skipped) or released (filled from the next region).")
    ] = None,
    head_norm: Annotated[
        str | None, typer.Option(help="emod: projection-head BatchNorm over the 'batch', or per 'corpus' sub-batch.")
    ] = None,
    steps_per_epoch: Annotated[int | None, typer.Option(help="emod: batches per epoch (default: one pass).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (emod: AdamW peak, cosine; scmm: Adam).")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Weight decay.")] = None,
    grad_clip: Annotated[float | None, typer.Option(help="Gradient norm clipping.")] = None,
    scmm_a: Annotated[float | None, typer.Option("--a", help="scmm: soft-weight scale a.")] = None,
    scmm_sigma: Annotated[float | None, typer.Option("--sigma", help="scmm: soft-weight sharpness sigma.")] = None,
    scmm_t: Annotated[float | None, typer.Option("--t", help="scmm: temperature t.")] = None,
    mask_ratio: Annotated[float | None, typer.Option(help="scmm: hybrid masking ratio.")] = None,
    similarity: Annotated[str | None, typer.Option(help="scmm: projection similarity, cosine or dot.")] = None,
    schedule: Annotated[str | None, typer.Option(help="scmm: learning rate, constant or cosine.")] = None,
    loss: Annotated[str | None, typer.Option(help="emod: soft (EMOD), hard (SupCon) or instance.")] = None,
    d_max: Annotated[float | None, typer.Option(help="emod: soft-weight range; 13.49 is the released code's.")] = None,
    hard_positives: Annotated[
        str | None, typer.Option(help="emod --loss hard positives: exact V-A point, or 'cells' (released).")
    ] = None,
    floor: Annotated[
        float | None, typer.Option(help="emod: replace weight sums below 1e-6 by this (released: 1.0).")
    ] = None,
    temperature: Annotated[float | None, typer.Option(help="emod: contrastive temperature.")] = None,
    augment: Annotated[bool | None, typer.Option("--augment/--no-augment", help="emod: EMOD's augmentations.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
    amp: Annotated[bool | None, typer.Option("--amp/--no-amp", help="emod: " + _AMP_HELP)] = None,
    workers: Annotated[int | None, typer.Option(help="emod: loader threads (default 0 on CPU, 4 on CUDA).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Cache root (default ~/.cache/emod_train).")] = None,
    cache: Annotated[bool | None, typer.Option("--cache/--no-cache", help="emod: read the signal cache.")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="emod: also checkpoint every N steps.")] = None,
    resume: Annotated[bool | None, typer.Option("--resume", help="Continue the run in --out from last.pt.")] = None,
    model: Annotated[str | None, typer.Option(help="emod: backbone overrides, e.g. 'dim=64,depth=2'.")] = None,
    max_memory: Annotated[
        float | None, typer.Option(help="emod: memory budget of a step in GB; checkpoints layers to fit.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print tracebacks of errors.")] = False,
) -> None:
    """Pretrain a registered method on a store: EMOD (default) or SCMM (--method scmm).

    EMOD: structured cross-corpus batches of raw windows, soft-weighted supervised contrastive loss.
    SCMM: differential-entropy features of 1 s windows, hybrid masking, soft contrastive and
    reconstruction losses (self-supervised; --a, --sigma, --t, --mask-ratio). Options left out take
    the defaults of the method's pretraining settings (PretrainConfig, SCMMPretrainConfig; listed in
    docs/cli.md); an option the method does not have is an error. Writes config.json, metrics.jsonl, last.pt,
    checkpoints/epoch-NNN.pt and loss.png to --out.
    Exit codes: 0 done, 2 usage or data error (one line on standard error).
    """
    from emod_train.engine.distributed import context_from_environment
    from emod_train.methods.registry import pretrainable_methods

    methods = {m.name: m for m in pretrainable_methods()}
    if method not in methods:
        _fail(typer.BadParameter(f"--method must be {' or '.join(methods)} (got {method!r})"))
    given = _given(
        corpora=_corpora(corpora), sessions=[int(v) for v in _corpora(sessions)] if sessions else None,
        channels=_corpora(channels), window=window, stride=stride, epochs=epochs, batch_size=batch_size,
        rounds=rounds, sampler=sampler, head_norm=head_norm, steps_per_epoch=steps_per_epoch, lr=lr,
        weight_decay=weight_decay, grad_clip=grad_clip, a=scmm_a, sigma=scmm_sigma, t=scmm_t, ratio=mask_ratio,
        similarity=similarity, schedule=schedule, loss=loss, d_max=d_max, hard_positives=hard_positives,
        floor=floor, temperature=temperature, augment=augment, seed=seed, device=device, amp=amp, workers=workers,
        cache_dir=str(cache_dir) if cache_dir else None, cache=cache, checkpoint_every=checkpoint_every,
        resume=resume, model=_model_overrides(model) if model else None, max_memory=max_memory,
    )  # fmt: skip
    try:
        config = _settings(methods[method].pretrain_config, f"{method} pretraining", store=str(store),
                           out=str(out_dir), **given)  # fmt: skip
        result = methods[method].pretrain(config, progress=not quiet)
    except _expected_errors() as exc:
        _fail(exc, verbose)
    if not context_from_environment().is_main:  # under torchrun, rank 0 reports
        return
    out.print(result.summary())
    out.print(f"checkpoint: {result.checkpoint}")


@app.command("crosscorpus")
def crosscorpus_command(
    store: Annotated[Path, typer.Option("--store", help="Store holding the source and target corpora.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (results table, plot, pretraining runs).")],
    directions: Annotated[
        str | None, typer.Option(help="Comma-separated directions (default: all of the protocol).")
    ] = None,
    methods: Annotated[
        str | None,
        typer.Option(help="Comma-separated: scmm, scmm_scratch, emod, emod_scratch."),
    ] = None,
    protocol: Annotated[Path | None, typer.Option(help="Protocol TOML (default: SCMM's four directions).")] = None,
    scmm_epochs: Annotated[int | None, typer.Option(help="SCMM pretraining epochs.")] = None,
    scmm_batch_size: Annotated[int | None, typer.Option(help="SCMM pretraining batch size.")] = None,
    emod_epochs: Annotated[int | None, typer.Option(help="EMOD pretraining epochs.")] = None,
    emod_batch_size: Annotated[int | None, typer.Option(help="EMOD pretraining batch size.")] = None,
    emod_steps_per_epoch: Annotated[int | None, typer.Option(help="EMOD batches per epoch (default: a pass).")] = None,
    emod_model: Annotated[str | None, typer.Option(help="EMOD backbone overrides, e.g. 'dim=32,depth=1'.")] = None,
    finetune_epochs: Annotated[int | None, typer.Option(help="Fine-tuning epochs per target subject.")] = None,
    finetune_batch_size: Annotated[int | None, typer.Option(help="Fine-tuning batch size.")] = None,
    finetune_lr: Annotated[float | None, typer.Option(help="Fine-tuning learning rate (Adam).")] = None,
    seeds: Annotated[int | None, typer.Option(help="Fine-tuning runs per subject (seeds seed..seed+N-1).")] = None,
    seed: Annotated[int | None, typer.Option(help="First seed (pretraining uses it too).")] = None,
    selection: Annotated[
        str | None, typer.Option(help="Fine-tuning trials: first (SCMM's rule) or stratified (class by class).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
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
    from emod_train.evaluation.crosscorpus import CrossCorpusConfig, run_cross_corpus

    try:
        config = CrossCorpusConfig(store=str(store), out=str(out_dir), **_given(
            protocol=str(protocol) if protocol else None, directions=_corpora(directions),
            methods=None if methods is None else _corpora(methods) or [], scmm_epochs=scmm_epochs,
            scmm_batch_size=scmm_batch_size, emod_epochs=emod_epochs, emod_batch_size=emod_batch_size,
            emod_steps_per_epoch=emod_steps_per_epoch, emod_model=_model_overrides(emod_model) if emod_model else None,
            finetune_epochs=finetune_epochs, finetune_batch_size=finetune_batch_size, finetune_lr=finetune_lr,
            seeds=seeds, seed=seed, device=device, cache_dir=str(cache_dir) if cache_dir else None,
            selection=selection,
        ))  # fmt: skip
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
    from_scratch: Annotated[bool | None, typer.Option("--from-scratch", help="Random init (no pretraining).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size.")] = None,
    lr: Annotated[float | None, typer.Option(help="Head learning rate (Adam, cosine).")] = None,
    backbone_lr_scale: Annotated[
        float | None, typer.Option(help="Backbone learning rate / head learning rate.")
    ] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Adam weight decay.")] = None,
    label_smoothing: Annotated[float | None, typer.Option(help="Cross-entropy label smoothing.")] = None,
    dropout: Annotated[float | None, typer.Option(help="Head dropout.")] = None,
    head: Annotated[str | None, typer.Option(help="mlp or linear.")] = None,
    seeds: Annotated[int | None, typer.Option(help="Runs with seeds seed..seed+N-1; mean and std reported.")] = None,
    seed: Annotated[int | None, typer.Option(help="First seed.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
    amp: Annotated[bool | None, typer.Option("--amp/--no-amp", help=_AMP_HELP)] = None,
    workers: Annotated[int | None, typer.Option(help="Loader threads (default 0 on CPU, 4 on CUDA).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Signal cache root (default ~/.cache/emod_train).")] = None,
    cache: Annotated[
        bool | None, typer.Option("--cache/--no-cache", help="Read windows from the signal cache.")
    ] = None,
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
    from emod_train.evaluation.finetune import FinetuneConfig, finetune
    from emod_train.methods import parse_options
    from emod_train.methods.registry import get_method

    method_name, overrides = FinetuneConfig.method, {}
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
        config = FinetuneConfig(store=str(store), task=task, out=str(out_dir), model=overrides, method=method_name,
                                **_given(
            init=str(init) if init else None, from_scratch=from_scratch, epochs=epochs, batch_size=batch_size, lr=lr,
            backbone_lr_scale=backbone_lr_scale, weight_decay=weight_decay, label_smoothing=label_smoothing,
            dropout=dropout, head=head, seeds=seeds, seed=seed, device=device, amp=amp, workers=workers,
            cache_dir=str(cache_dir) if cache_dir else None, cache=cache, splits=str(splits) if splits else None,
            max_memory=max_memory,
        ))  # fmt: skip
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
    from emod_train.methods.braindecode_models import braindecode_version, missing_short_names
    from emod_train.methods.registry import available_methods

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
    seeds: Annotated[int | None, typer.Option(help="Runs per cell (seeds seed..seed+N-1).")] = None,
    seed: Annotated[int | None, typer.Option(help="First seed.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Fine-tuning epochs per run.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    model_options: Annotated[
        list[str] | None, typer.Option(help="MODEL:NAME=VALUE,... (repeatable), e.g. emod:dim=32,depth=1.")
    ] = None,
    init: Annotated[list[str] | None, typer.Option(help="MODEL:CKPT pretraining checkpoint (repeatable).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
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
    from emod_train.evaluation.benchmark import BenchmarkConfig, run_benchmark
    from emod_train.methods import parse_options

    try:
        options = {name: parse_options(text) for name, text in _per_model(model_options, "model-options").items()}
        config = BenchmarkConfig(
            store=str(store), out=str(out_dir), tasks=_corpora(tasks) or [], models=_corpora(models) or [],
            options=options, init=_per_model(init, "init"), **_given(
                seeds=seeds, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr, device=device, workers=workers,
                cache_dir=str(cache_dir) if cache_dir else None,
            ),
        )  # fmt: skip
        result = run_benchmark(config, progress=not quiet, log=lambda line: console.print(line, highlight=False))
    except _expected_errors() as exc:
        _fail(exc, verbose)
    out.print(result.table, markup=False, highlight=False)
    out.print(f"leaderboard: {result.out / 'leaderboard.md'}, {result.out / 'leaderboard.json'}, "
              f"{result.out / 'leaderboard.png'}")  # fmt: skip


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the corpora, store, cache and runs.")] = Path(
        "demo-train"
    ),
    subjects: Annotated[int | None, typer.Option(help="Synthetic subjects per corpus.")] = None,
    duration_scale: Annotated[float | None, typer.Option(help="Scale of the real trial durations.")] = None,
    pretrain_steps: Annotated[int | None, typer.Option(help="Pretraining steps (one epoch).")] = None,
    finetune_epochs: Annotated[int | None, typer.Option(help="Fine-tuning epochs.")] = None,
    workers: Annotated[int | None, typer.Option(help="Ingest worker processes.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the data and the runs.")] = None,
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
        result = run_demo(out_dir, console=console, **_given(
            subjects=subjects, duration_scale=duration_scale, pretrain_steps=pretrain_steps,
            finetune_epochs=finetune_epochs, workers=workers, seed=seed,
        ))  # fmt: skip
    except _expected_errors() as exc:
        _fail(exc, verbose)
    if result is None:
        raise typer.Exit(1)
    out.print(result.table, markup=False, highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    """Console entry point of ``emod-train``."""
    sys.exit(app())
