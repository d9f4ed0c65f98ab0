"""Training-step efficiency of the EMOD backbone: FLOP utilisation, memory per window, largest batch.

Prints, in one run (paper configuration, 62-channel windows at 200 Hz, ``--seconds`` long), on the CPU
(default) or with ``--device cuda`` on a GPU (an error, exit code 2, when CUDA is not available):

- ``matmul``: FLOP/s of a float32 matrix product on the same device (2048 x 2048 on the CPU,
  8192 x 8192 on CUDA, TF32 off; best of 5);
- ``step``: one forward and backward pass of the backbone on a batch of ``--batch`` windows (loss:
  mean square of the tokens), best of ``--repeats``, for the previous formulation of the encoder
  blocks (:meth:`emod_train.methods.emod.model.ConvBlock.layer_by_layer`, CPU only), the current one in float32,
  the current one with its transformer checkpointed (recomputed in parts of
  :func:`emod_train.engine.memory.recompute_chunk` windows), and the current one under each autocast type of
  ``--precisions``. Utilisation is the step's FLOPs (``torch.utils.flop_counter.FlopCounterMode`` on the
  layer-by-layer formulation without recomputation: the model's nominal work, counted on 2 windows
  and scaled) over the step time, over the float32 matmul FLOP/s; on the CPU also per second of process
  CPU time (step and matmul each on all threads), which a machine shared with other jobs disturbs less;
- ``memory``: growth per window of a training step's peak memory between two batch sizes, next to
  the estimate of :mod:`emod_train.engine.memory`, and the largest batch whose step fits ``--budget`` GB.
  On the CPU it is the peak RSS growth of fresh child processes that run one step each; on CUDA the
  peak of ``torch.cuda.max_memory_allocated`` in this process, per precision.

Usage::

    python benchmarks/train_step.py [--batch 32] [--seconds 10] [--repeats 2] [--budget 24]
    python benchmarks/train_step.py --memory-only [--memory-batches 2,6] [--previous-memory-batches 6,10]
    python benchmarks/train_step.py --skip-memory --skip-previous      # step times only
    python benchmarks/train_step.py --device cuda --batch 64 --precisions bf16,fp16 --skip-previous
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

CHANNELS, SFREQ = 62, 200.0
DTYPES = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}
DEVICE = "cpu"
"""Device of the run (``--device``)."""


def _model(formulation: str, checkpoint: bool, chunk: int | None = None):
    import torch

    from emod_train.methods.emod.model import ConvBlock, EMODBackbone, EMODConfig

    if formulation == "layer-by-layer":
        ConvBlock.forward = ConvBlock.layer_by_layer
    torch.manual_seed(0)
    model = EMODBackbone(EMODConfig()).to(DEVICE).train()
    model.transformer.checkpoint = checkpoint
    model.transformer.chunk = chunk
    return model


def _step(model, batch: int, seconds: float, precision: str = "fp32") -> None:
    import torch

    torch.manual_seed(1)
    x = torch.randn(batch, CHANNELS, round(seconds * SFREQ), device=DEVICE) * 20
    ids = torch.arange(1, CHANNELS + 1, device=DEVICE)
    dtype = DTYPES[precision]
    autocast = torch.autocast(DEVICE, dtype=getattr(torch, dtype)) if dtype else contextlib.nullcontext()
    with autocast:
        tokens = model(x, ids, SFREQ)
    tokens.float().square().mean().backward()


def _sync() -> None:
    if DEVICE == "cuda":
        import torch

        torch.cuda.synchronize()


def matmul_flops(size: int | None = None, repeats: int = 5, dtype: str = "float32", cpu: bool = False) -> float:
    """Best matrix-product FLOP/s on the current device and threads (float32: TF32 off); with ``cpu``,
    FLOPs per second of process CPU time instead of wall time."""
    import torch

    size = size or (8192 if DEVICE == "cuda" else 2048)
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(size, size, device=DEVICE, dtype=getattr(torch, dtype))
    b = torch.randn(size, size, device=DEVICE, dtype=getattr(torch, dtype))
    a @ b
    best = min(_timed(lambda: a @ b, cpu) for _ in range(repeats))
    return 2 * size**3 / best


def _timed(function, cpu: bool = False) -> float:
    """Wall seconds of ``function()``, or process CPU seconds with ``cpu`` (all threads; less sensitive to
    other jobs on a shared machine, since time spent waiting for a core is not counted)."""
    clock = time.process_time if cpu else time.perf_counter
    _sync()
    started = clock()
    function()
    _sync()
    return clock() - started


def nominal_flops(batch: int, seconds: float) -> float:
    """FLOPs of one step, counted on 2 windows of the layer-by-layer formulation without recomputation."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from emod_train.methods.emod.model import ConvBlock, EMODBackbone, EMODConfig

    torch.manual_seed(0)
    model = EMODBackbone(EMODConfig()).to(DEVICE).train()
    saved = ConvBlock.forward, ConvBlock.checkpoint
    ConvBlock.forward, ConvBlock.checkpoint = ConvBlock.layer_by_layer, False
    try:
        with FlopCounterMode(display=False) as counter:
            _step(model, 2, seconds)
    finally:
        ConvBlock.forward, ConvBlock.checkpoint = saved
    return counter.get_total_flops() * batch / 2


def child_peak(formulation: str, checkpoint: bool, batch: int, seconds: float, chunk: int | None = None) -> int:
    """Peak RSS growth (bytes) of one step at ``batch`` in a fresh process, over a 1-window step."""
    code = (
        "import sys; sys.argv = sys.argv[:1]; "
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import train_step as t; "
        f"t.child_main({formulation!r}, {checkpoint}, {batch}, {seconds}, {chunk})"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(json.loads(done.stdout.strip().splitlines()[-1])["growth"])


def child_main(formulation: str, checkpoint: bool, batch: int, seconds: float, chunk: int | None = None) -> None:
    """In a child process: one warm-up step of 1 window, then one of ``batch``; print the RSS growth."""
    from emod_train.engine.runtime import tune_cpu_allocator

    tune_cpu_allocator()
    model = _model(formulation, checkpoint, chunk)
    _step(model, 1, seconds)
    model.zero_grad(set_to_none=False)
    before = peak_rss()
    _step(model, batch, seconds)
    print(json.dumps({"growth": peak_rss() - before}))


def cuda_peak(checkpoint: bool, batch: int, seconds: float, chunk: int | None, precision: str) -> int:
    """Peak CUDA memory growth (bytes) of one step at ``batch`` over the memory held before it."""
    import torch

    model = _model("current", checkpoint, chunk)
    _step(model, 1, seconds, precision)
    model.zero_grad(set_to_none=False)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    _step(model, batch, seconds, precision)
    torch.cuda.synchronize()
    growth = torch.cuda.max_memory_allocated() - before
    del model
    torch.cuda.empty_cache()
    return growth


def peak_rss() -> int:
    """This process's peak resident set size in bytes (``VmHWM``; ``ru_maxrss`` would start from the
    parent's size after fork and exec)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    """Run the measurements and print them."""
    global DEVICE
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2, help="timed steps per formulation (best is kept)")
    parser.add_argument("--budget", type=float, default=24.0, help="memory budget in GB for the largest batch")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument(
        "--precisions", default="bf16", help="autocast types timed after float32 (comma-separated: bf16, fp16)"
    )
    parser.add_argument("--memory-batches", default="2,6", help="two batch sizes for the per-window growth")
    parser.add_argument(
        "--previous-memory-batches", default="6,10",
        help="the same for the layer-by-layer form (both above 4 ten-second windows, where it starts recomputing)",
    )  # fmt: skip
    parser.add_argument("--skip-previous", action="store_true", help="do not time the layer-by-layer formulation")
    parser.add_argument("--memory-only", action="store_true", help="only the memory measurements")
    parser.add_argument("--skip-memory", action="store_true", help="only the step times")
    args = parser.parse_args()
    precisions = [p for p in args.precisions.split(",") if p]
    unknown = sorted(set(precisions) - set(DTYPES))
    if unknown:
        parser.error(f"unknown precision {unknown[0]!r} (choose from {', '.join(DTYPES)})")

    import torch

    from emod_train.engine.runtime import tune_cpu_allocator

    if args.device == "cuda" and not torch.cuda.is_available():
        print("train_step.py: --device cuda but CUDA is not available (torch reports no GPU)", file=sys.stderr)
        sys.exit(2)
    DEVICE = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    where = torch.cuda.get_device_name() if DEVICE == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}; batch {args.batch} x {CHANNELS} channels")
    print(f"x {args.seconds:g} s at {SFREQ:g} Hz; memory budget {args.budget:g} GB\n")
    if not args.memory_only:
        time_steps(args, precisions)
    if not args.skip_memory:
        memory(args, precisions)


def time_steps(args, precisions: list[str]) -> None:
    """Time the step of each formulation and print its FLOP utilisation."""
    from emod_train.engine.memory import recompute_chunk
    from emod_train.methods.emod.model import ConvBlock

    flops = nominal_flops(args.batch, args.seconds)
    print(f"step FLOPs (FlopCounterMode, nominal): {flops / 1e9:.0f} GFLOP")
    chunk = recompute_chunk(CHANNELS, round(args.seconds * SFREQ), SFREQ)
    rows = [("current", "current", False, None, "fp32")]
    rows.append((f"current, checkpointed ({chunk} at once)", "current", True, chunk, "fp32"))
    rows += [(f"current, {p} autocast", "current", False, None, p) for p in precisions]
    if not args.skip_previous and DEVICE == "cpu":
        rows.insert(0, ("previous (layer by layer)", "layer-by-layer", False, None, "fp32"))
    cpu = DEVICE == "cpu"
    header = f"\n{'formulation':<36}{'step s':>8}{'GFLOP/s':>9}{'matmul GFLOP/s':>16}{'utilisation':>13}"
    print(header + (f"{'CPU s':>8}{'CPU-time utilisation':>22}" if cpu else ""))
    for label, formulation, checkpoint, part, precision in rows:
        saved = ConvBlock.forward
        model = _model(formulation, checkpoint, part)
        _step(model, min(2, args.batch), args.seconds, precision)  # warm-up
        walls, cpus = [], []
        for _ in range(args.repeats):
            model.zero_grad(set_to_none=True)
            started = time.process_time()
            walls.append(_timed(lambda m=model, p=precision: _step(m, args.batch, args.seconds, p)))
            cpus.append(time.process_time() - started)
        ConvBlock.forward = saved
        best = min(walls)
        mm = matmul_flops()  # right after the step: the same machine load
        line = f"{label:<36}{best:>8.2f}{flops / best / 1e9:>9.1f}{mm / 1e9:>16.1f}{flops / best / mm:>13.3f}"
        if cpu:
            line += f"{min(cpus):>8.2f}{flops / min(cpus) / matmul_flops(cpu=True):>22.3f}"
        print(line)
        del model


def memory(args, precisions: list[str]) -> None:
    """Measure the peak memory growth per window and print the largest batches."""
    from emod_train.engine.memory import GIB, largest_batch, recompute_chunk, saved_bytes_per_window, step_estimate
    from emod_train.methods.emod.model import EMODBackbone, EMODConfig

    samples = round(args.seconds * SFREQ)
    estimate = saved_bytes_per_window(EMODBackbone(EMODConfig()).to(DEVICE), CHANNELS, samples, SFREQ)
    chunk = recompute_chunk(CHANNELS, samples, SFREQ)
    kind = "peak CUDA memory" if DEVICE == "cuda" else "peak RSS"
    print(f"\n{'memory per window (' + kind + ')':<52}{'measured MB':>12}{'estimate MB':>13}{'largest batch':>15}")
    cases = [("current", False, None, "fp32"), ("current", True, None, "fp32"), ("current", True, chunk, "fp32")]
    if DEVICE == "cuda":
        cases += [("current", True, chunk, p) for p in precisions]
    elif not args.skip_previous:
        cases.insert(0, ("layer-by-layer", False, None, "fp32"))
    b1, b2 = (int(v) for v in args.memory_batches.split(","))
    for formulation, checkpoint, part, precision in cases:
        if DEVICE == "cuda":
            growth = [cuda_peak(checkpoint, b, args.seconds, part, precision) for b in (b1, b2)]
            lo, hi = b1, b2
        else:
            lo, hi = (b1, b2)
            if formulation == "layer-by-layer":
                lo, hi = (int(v) for v in args.previous_memory_batches.split(","))
            growth = [child_peak(formulation, checkpoint, b, args.seconds, part) for b in (lo, hi)]
        per_window = max((growth[1] - growth[0]) / (hi - lo), 1.0)
        label = {"layer-by-layer": "previous (layer by layer)", "current": "current"}[formulation]
        if checkpoint:
            label += ", transformer checkpointed" + (f" ({part} at once)" if part else " (whole batch)")
        label += "" if precision == "fp32" else f", {precision}"
        fits = int(args.budget * GIB // per_window)
        if formulation == "current" and precision == "fp32":
            predicted = step_estimate(estimate, hi, checkpoint, part) - step_estimate(estimate, lo, checkpoint, part)
            predicted_text = f"{predicted / (hi - lo) / 1e6:>13.0f}"
            fits_estimate = largest_batch(estimate, int(args.budget * GIB), checkpoint, chunk=part)
            fits_text = f"{fits:>8} ({fits_estimate})"
        else:
            predicted_text, fits_text = f"{'':>13}", f"{fits:>8}"
        print(f"{label:<52}{per_window / 1e6:>12.0f}{predicted_text}{fits_text:>15}")
    print(
        "\nlargest batch: budget / measured growth per window (in brackets: from the estimate used by --max-memory);"
        f" a batch of 288 needs {288 * per_window / GIB:.1f} GiB in the last row"
    )


if __name__ == "__main__":
    main()
