"""Runtime of every training loop: devices, the CPU allocator, mixed precision, seeds, loader threads, environment."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import sys

import torch

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


def prepare_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve a device (see :func:`resolve_device`) and tune the CPU allocator when it is the CPU.

    Every training loop starts with it, so CPU runs get :func:`tune_cpu_allocator` alike.
    """
    resolved = resolve_device(device) if isinstance(device, str) else device
    if resolved.type == "cpu":
        tune_cpu_allocator()
    return resolved


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast type of ``--amp`` on ``device``.

    bfloat16 on CUDA devices that support it (no loss scaling needed), float16 on older CUDA devices,
    None (float32) elsewhere: on the CPU bfloat16 was not consistently faster (docs/training.md).
    """
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


def loader_workers(workers: int | None, device: torch.device) -> int:
    """Loader threads: ``workers`` when given, else 4 on CUDA and 0 on the CPU (reading outpaces training there)."""
    if workers is not None:
        return workers
    return 4 if device.type == "cuda" else 0


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
