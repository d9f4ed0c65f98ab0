"""Training-step efficiency of the EMOD backbone on the CPU: FLOP utilisation, memory per window, largest batch.

Prints, in one run (paper configuration, 62-channel windows at 200 Hz, ``--seconds`` long):

- ``matmul``: FLOP/s of a 2048 x 2048 float32 matrix product on the same threads (best of 5);
- ``step``: one forward and backward pass of the backbone on a batch of ``--batch`` windows (loss:
  mean square of the tokens), best of ``--repeats``, for the previous formulation of the encoder
  blocks (:meth:`emod_train.methods.emod.model.ConvBlock.layer_by_layer`, which checkpoints them on large
  batches), the current one, and the current one under bfloat16 autocast. Utilisation is the
  step's FLOPs (``torch.utils.flop_counter.FlopCounterMode`` on the layer-by-layer formulation
  without recomputation: the model's nominal work, counted on 2 windows and scaled) over the step
  time, over the matmul FLOP/s;
- ``memory``: peak RSS growth per window of a training step, from fresh child processes that run
  one step at two batch sizes, with and without transformer checkpointing, next to the estimate of
  :mod:`emod_train.engine.memory`; and the largest batch whose step fits ``--budget`` GB.

Usage::

    python benchmarks/train_step.py [--batch 32] [--seconds 10] [--repeats 2] [--budget 24]
    python benchmarks/train_step.py --memory-only [--memory-batches 2,6] [--previous-memory-batches 6,10]
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


def _model(formulation: str, checkpoint: bool):
    import torch

    from emod_train.methods.emod.model import ConvBlock, EMODBackbone, EMODConfig

    if formulation == "layer-by-layer":
        ConvBlock.forward = ConvBlock.layer_by_layer
    torch.manual_seed(0)
    model = EMODBackbone(EMODConfig()).train()
    model.transformer.checkpoint = checkpoint
    return model


def _step(model, batch: int, seconds: float, bf16: bool = False) -> None:
    import torch

    torch.manual_seed(1)
    x = torch.randn(batch, CHANNELS, round(seconds * SFREQ)) * 20
    ids = torch.arange(1, CHANNELS + 1)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        tokens = model(x, ids, SFREQ)
    tokens.float().square().mean().backward()


def matmul_flops(size: int = 2048, repeats: int = 5) -> float:
    """Best float32 matrix-product FLOP/s on the current threads."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def nominal_flops(batch: int, seconds: float) -> float:
    """FLOPs of one step, counted on 2 windows of the layer-by-layer formulation without recomputation."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from emod_train.methods.emod.model import ConvBlock, EMODBackbone, EMODConfig

    torch.manual_seed(0)
    model = EMODBackbone(EMODConfig()).train()
    saved = ConvBlock.forward, ConvBlock.checkpoint
    ConvBlock.forward, ConvBlock.checkpoint = ConvBlock.layer_by_layer, False
    try:
        with FlopCounterMode(display=False) as counter:
            _step(model, 2, seconds)
    finally:
        ConvBlock.forward, ConvBlock.checkpoint = saved
    return counter.get_total_flops() * batch / 2


def child_peak(formulation: str, checkpoint: bool, batch: int, seconds: float) -> int:
    """Peak RSS growth (bytes) of one step at ``batch`` in a fresh process, over a 1-window step."""
    code = (
        "import sys; sys.argv = sys.argv[:1]; "
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import train_step as t; "
        f"t.child_main({formulation!r}, {checkpoint}, {batch}, {seconds})"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(json.loads(done.stdout.strip().splitlines()[-1])["growth"])


def child_main(formulation: str, checkpoint: bool, batch: int, seconds: float) -> None:
    """In a child process: one warm-up step of 1 window, then one of ``batch``; print the RSS growth."""
    from emod_train.engine.runtime import tune_cpu_allocator

    tune_cpu_allocator()
    model = _model(formulation, checkpoint)
    _step(model, 1, seconds)
    model.zero_grad(set_to_none=False)
    before = peak_rss()
    _step(model, batch, seconds)
    print(json.dumps({"growth": peak_rss() - before}))


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2, help="timed steps per formulation (best is kept)")
    parser.add_argument("--budget", type=float, default=24.0, help="memory budget in GB for the largest batch")
    parser.add_argument("--memory-batches", default="2,6", help="two batch sizes for the per-window RSS growth")
    parser.add_argument(
        "--previous-memory-batches", default="6,10",
        help="the same for the layer-by-layer form (both above 4 ten-second windows, where it starts recomputing)",
    )  # fmt: skip
    parser.add_argument("--skip-previous", action="store_true", help="do not time the layer-by-layer formulation")
    parser.add_argument("--memory-only", action="store_true", help="only the memory measurements")
    args = parser.parse_args()

    import torch

    from emod_train.engine.runtime import tune_cpu_allocator

    tune_cpu_allocator()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {args.batch} x {CHANNELS} channels")
    print(f"x {args.seconds:g} s at {SFREQ:g} Hz; memory budget {args.budget:g} GB\n")
    if not args.memory_only:
        time_steps(args)
    memory(args)


def time_steps(args) -> None:
    """Time the step of each formulation and print its FLOP utilisation."""
    from emod_train.methods.emod.model import ConvBlock

    flops = nominal_flops(args.batch, args.seconds)
    print(f"step FLOPs (FlopCounterMode, nominal): {flops / 1e9:.0f} GFLOP")

    rows = [("current", "current", False), ("current, bf16 autocast", "current", True)]
    if not args.skip_previous:
        rows.insert(0, ("previous (layer by layer)", "layer-by-layer", False))
    print(f"\n{'formulation':<28}{'step s':>8}{'GFLOP/s':>9}{'matmul GFLOP/s':>16}{'utilisation':>13}")
    for label, formulation, bf16 in rows:
        saved = ConvBlock.forward
        model = _model(formulation, checkpoint=False)
        _step(model, min(2, args.batch), args.seconds, bf16)  # warm-up
        times = []
        for _ in range(args.repeats):
            model.zero_grad(set_to_none=True)
            times.append(_timed(lambda m=model, b=bf16: _step(m, args.batch, args.seconds, b)))
        ConvBlock.forward = saved
        best = min(times)
        mm = matmul_flops()  # right after the step: the same machine load
        print(f"{label:<28}{best:>8.2f}{flops / best / 1e9:>9.1f}{mm / 1e9:>16.1f}{flops / best / mm:>13.3f}")
        del model


def memory(args) -> None:
    """Measure the peak RSS growth per window in child processes and print the largest batches."""
    from emod_train.engine.memory import GIB, SAFETY, largest_batch, saved_bytes_per_window
    from emod_train.methods.emod.model import EMODBackbone, EMODConfig

    samples = round(args.seconds * SFREQ)
    estimate = saved_bytes_per_window(EMODBackbone(EMODConfig()), CHANNELS, samples, SFREQ)
    print(f"\n{'memory per window':<40}{'measured MB':>12}{'estimate MB':>13}{'largest batch':>15}")
    cases = [("current", False), ("current", True)]
    if not args.skip_previous:
        cases.insert(0, ("layer-by-layer", False))
    for formulation, checkpoint in cases:
        if formulation == "layer-by-layer":
            b1, b2 = (int(v) for v in args.previous_memory_batches.split(","))
        else:
            b1, b2 = (int(v) for v in args.memory_batches.split(","))
        growth = [child_peak(formulation, checkpoint, b, args.seconds) for b in (b1, b2)]
        per_window = (growth[1] - growth[0]) / (b2 - b1)
        label = {"layer-by-layer": "previous (layer by layer)", "current": "current"}[formulation]
        label += ", transformer checkpointed" if checkpoint else ""
        per_window = max(per_window, 1.0)
        fits = int(args.budget * GIB // per_window)
        if formulation == "current":
            predicted = SAFETY * (estimate.checkpointed + estimate.layer if checkpoint else estimate.full)
            predicted_text = f"{predicted / 1e6:>13.0f}"
            fits_estimate = largest_batch(estimate, int(args.budget * GIB), checkpoint)
            fits_text = f"{fits:>8} ({fits_estimate})"
        else:
            predicted_text, fits_text = f"{'':>13}", f"{fits:>8}"
        print(f"{label:<40}{per_window / 1e6:>12.0f}{predicted_text}{fits_text:>15}")
    print(
        f"\nlargest batch: budget / measured growth per window (in brackets: from the estimate used by --max-memory,"
        f" with its {SAFETY:g}x margin); a batch of 288 needs {288 * per_window / GIB:.1f} GiB with checkpointing"
    )


if __name__ == "__main__":
    main()
