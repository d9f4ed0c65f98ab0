"""Shared training machinery: devices, mixed precision, seeds, schedules, checkpoints, logs, progress."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from emod_train.errors import CheckpointError

console = Console(stderr=True)
"""Console of progress bars and messages (standard error)."""

_ALLOCATOR_TUNED = False


def tune_cpu_allocator() -> bool:
    """Keep glibc from returning large freed blocks to the system (once per process).

    Training on the CPU allocates and frees tensors of tens of MB every step; by default glibc
    serves each with a fresh ``mmap`` whose pages are faulted in again, which made elementwise
    operations several times slower on the 2-core reference machines. Raising the mmap and trim
    thresholds keeps those blocks in the heap. It affects only this process; memory is reused,
    not returned to the system until the process ends.

    Returns
    -------
    bool
        True when the thresholds were set (glibc on Linux), False otherwise.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = libc.mallopt(m_mmap_threshold, 1 << 30) == 1 and libc.mallopt(m_trim_threshold, 1 << 31) == 1
    except (OSError, AttributeError):
        return False
    _ALLOCATOR_TUNED = ok
    return ok


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; any other string is passed to ``torch.device``.

    Raises
    ------
    ValueError
        A CUDA device was asked for but CUDA is not available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{device}' requested but CUDA is not available (see `emod-train info`)")
    return resolved


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast type of ``--amp`` on ``device``: bfloat16 on CUDA devices that support it (no loss
    scaling needed), float16 on older CUDA devices, None (float32) elsewhere (on the CPU bfloat16 was not
    consistently faster: docs/training.md)."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """Autocast to :func:`amp_dtype` when ``enabled`` on CUDA; a no-op context on other devices."""
    dtype = amp_dtype(device)
    if enabled and dtype is not None:
        return torch.autocast(device_type=device.type, dtype=dtype)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device, enabled: bool) -> torch.amp.GradScaler:
    """A GradScaler, active only for float16 autocast (CUDA devices without bfloat16)."""
    return torch.amp.GradScaler("cuda", enabled=enabled and amp_dtype(device) == torch.float16)


def derive_seed(*parts: int) -> int:
    """A 63-bit seed derived from integers (stable across processes and platforms)."""
    digest = hashlib.sha256(",".join(str(int(p)) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def cosine_lr(base: float, step: int, total: int, minimum: float = 0.0, warmup: int = 0) -> float:
    """Learning rate of a cosine schedule from ``base`` down to ``minimum`` over ``total`` steps.

    Parameters
    ----------
    base : float
        Peak learning rate.
    step : int
        Current step (0-based).
    total : int
        Steps of the whole schedule.
    minimum : float
        Final learning rate.
    warmup : int
        Linear warm-up steps from 0 to ``base`` (0: none).
    """
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, max(0.0, (step - warmup) / span))
    return minimum + (base - minimum) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_learning_rate(
    optimizer: torch.optim.Optimizer, step: int, total: int, minimum: float = 0.0, warmup: int = 0
) -> float:
    """Set every parameter group's learning rate from the cosine schedule of :func:`cosine_lr`.

    A group's peak rate is its ``base_lr`` entry when present, else its ``initial_lr``, else the
    rate it was created with (remembered as ``base_lr`` on the first call).

    Returns
    -------
    float
        The rate of the last group.
    """
    rate = 0.0
    for group in optimizer.param_groups:
        group.setdefault("base_lr", group.get("initial_lr", group["lr"]))
        rate = group["lr"] = cosine_lr(group["base_lr"], step, total, minimum, warmup)
    return rate


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    parameters,
    clip: float | None,
    reduce: Callable[[], None] | None = None,
) -> float:
    """Backward pass, gradient clipping and one optimiser step (with gradient scaling on CUDA).

    Parameters
    ----------
    loss : torch.Tensor
        Scalar loss of the batch.
    optimizer : torch.optim.Optimizer
    scaler : torch.amp.GradScaler
        From :func:`grad_scaler` (inactive on the CPU).
    parameters : iterable of torch.Tensor
        Parameters whose gradient norm is clipped.
    clip : float or None
        Maximum gradient norm (None: no clipping).
    reduce : callable, optional
        Called between the backward pass and clipping (data-parallel runs all-reduce the
        gradients there, see :mod:`emod_train.distributed`).

    Returns
    -------
    float
        The gradient norm before clipping (NaN when not clipped).
    """
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if reduce is not None:
        reduce()
    norm = float("nan")
    if clip is not None:
        scaler.unscale_(optimizer)
        norm = float(torch.nn.utils.clip_grad_norm_(parameters, clip))
    scaler.step(optimizer)
    scaler.update()
    return norm


def loader_workers(workers: int | None, device: torch.device) -> int:
    """Loader threads: ``workers`` when given, else 4 on CUDA and 0 on the CPU (reading outpaces training there)."""
    if workers is not None:
        return workers
    return 4 if device.type == "cuda" else 0


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write a checkpoint atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by emod-train.

    Raises
    ------
    CheckpointError
        Missing or unreadable file, or not an emod-train checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or "model_config" not in state or "backbone" not in state:
        raise CheckpointError(f"{path}: not an emod-train checkpoint (no model_config / backbone)")
    return state


def checked_run_folder(out: str | Path, resume: bool) -> Path:
    """The ``last.pt`` of a pretraining run in ``out``, after checking that ``resume`` fits the folder.

    Raises
    ------
    CheckpointError
        ``resume`` without a checkpoint, or a folder holding a run without ``resume``.
    """
    last = Path(out) / "last.pt"
    if resume and not last.exists():
        raise CheckpointError(f"{last}: nothing to resume (no checkpoint in the output folder)")
    if not resume and last.exists():
        raise CheckpointError(f"{out}: holds a pretraining run already; pass --resume or choose another --out")
    return last


def resume_state(last: Path, config: dict, fields, map_location) -> dict:
    """Load ``last.pt`` for a resume, refusing one made with other values of ``fields``.

    Raises
    ------
    CheckpointError
        Unreadable checkpoint, or settings that differ.
    """
    state = load_checkpoint(last, map_location=map_location)
    saved = state.get("config", {})
    differ = [k for k in fields if saved.get(k) != config.get(k)]
    if differ:
        raise CheckpointError(f"{last}: was made with other settings ({', '.join(differ)}); cannot resume")
    return state


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


def environment() -> dict:
    """Versions and hardware, recorded in run outputs."""
    info = {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
