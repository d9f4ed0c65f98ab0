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


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX, as oneDNN reports it)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def amp_dtype(device: torch.device, amp: bool | None = None) -> torch.dtype | None:
    """The autocast type of ``amp`` (``--amp``) on ``device``, or None for float32.

    Parameters
    ----------
    device : torch.device
        Where the model runs.
    amp : bool, optional
        None (the default, "automatic"): autocast on CUDA only, to bfloat16 where the GPU supports it
        (no loss scaling needed), else float16. True (``--amp`` given): the same on CUDA, and bfloat16
        on a CPU that computes it natively (:func:`cpu_has_bfloat16`; 1.3-1.6x faster backbone steps on
        the 2-core reference machine, docs/training.md); without it float32. False (``--no-amp``):
        float32 everywhere.

    Returns
    -------
    torch.dtype or None
        The autocast type, or None for no autocast.
    """
    if amp is False:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and amp is True and cpu_has_bfloat16():
        return torch.bfloat16
    return None


def autocast(device: torch.device, amp: bool | None = None) -> contextlib.AbstractContextManager:
    """Autocast to :func:`amp_dtype` of ``amp`` on ``device``; a no-op context when that is None."""
    dtype = amp_dtype(device, amp)
    if dtype is not None:
        return torch.autocast(device_type=device.type, dtype=dtype)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device, amp: bool | None = None) -> torch.amp.GradScaler:
    """A GradScaler, active only for float16 autocast (CUDA devices without bfloat16)."""
    return torch.amp.GradScaler("cuda", enabled=amp_dtype(device, amp) == torch.float16)


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
