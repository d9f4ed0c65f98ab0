"""Training throughput of the EMOD backbone: samples per second on the CPU, and on a GPU when present.

For each device it times optimiser steps of the full model (0.84 M-parameter backbone, paper
configuration) on 62-channel windows of a synthetic SEED store:

- ``pretrain step``: backbone + projection head + soft contrastive loss + AdamW, with augmentations;
- ``finetune step``: backbone + classification head + cross-entropy + Adam;

each fed two ways: from a batch already in device memory (``model only``), and from the real
loader (window cache -> :class:`emod_train.data.dataset.WindowLoader` -> host-to-device copy), so the
ratio shows whether data loading is a bottleneck. On CUDA the steps run with autocast (bfloat16
where supported, else float16 with gradient scaling), and the GPU utilisation is sampled during the
timed loader-fed steps (``torch.cuda.utilization``, else ``nvidia-smi``).

Usage::

    python benchmarks/train_throughput.py [--batch 16] [--steps 6] [--windows 5,10] [--out bench-train]
    python benchmarks/train_throughput.py --device cuda --batch 288 --steps 30
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
from synthetic_store import make_store


class GpuSampler:
    """Samples GPU utilisation (percent) in a background thread."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval, self.values, self._stop = interval, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> float | None:
        import torch

        try:
            return float(torch.cuda.utilization())
        except Exception:
            try:
                text = subprocess.run(
                    ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"],
                    capture_output=True, text=True, timeout=5, check=True,
                ).stdout  # fmt: skip
                return float(text.strip().splitlines()[0])
            except Exception:
                return None

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self._read()
            if value is not None:
                self.values.append(value)
            time.sleep(self.interval)

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        """Mean utilisation, NaN without samples."""
        return float(np.mean(self.values)) if self.values else float("nan")


def run_steps(kind: str, device, batches, sfreq: float, amp: bool, warmup: int = 2) -> float:
    """Samples per second over ``batches`` (an iterable of Batch), after ``warmup`` untimed steps."""
    import torch
    import torch.nn.functional as F

    from emod_train.engine.runtime import autocast, grad_scaler
    from emod_train.methods.emod.augment import augment
    from emod_train.methods.emod.loss import emod_loss
    from emod_train.methods.emod.model import EMODBackbone, EMODClassifier, EMODConfig, ProjectionHead

    torch.manual_seed(0)
    if kind == "pretrain":
        backbone, head = EMODBackbone(EMODConfig()).to(device), ProjectionHead().to(device)
        parameters = [*backbone.parameters(), *head.parameters()]
        optimizer = torch.optim.AdamW(parameters, lr=5e-4, weight_decay=1e-4)
    else:
        model = EMODClassifier(EMODConfig(), 3).to(device)
        parameters = list(model.parameters())
        optimizer = torch.optim.Adam(parameters, lr=1e-3, weight_decay=1e-4)
    scaler = grad_scaler(device, amp)
    generator = torch.Generator().manual_seed(0)
    count, started = 0, None
    for step, batch in enumerate(batches):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started, count = time.perf_counter(), 0
        batch = batch.to(device, non_blocking=True)
        with autocast(device, amp):
            if kind == "pretrain":
                pooled = []
                for part in batch.parts:
                    x, ids = augment(part.x, part.channel_ids, generator)
                    pooled.append(head.pool_tokens(backbone(x, ids, sfreq), ids))
                loss = emod_loss(head.project(torch.cat(pooled)), va=batch.va)
            else:
                logits = torch.cat([model(p.x, p.channel_ids, sfreq) for p in batch.parts])
                loss = F.cross_entropy(logits.float(), batch.labels, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(parameters, 3.0)
        scaler.step(optimizer)
        scaler.update()
        count += len(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return count / (time.perf_counter() - started)


def main() -> None:
    """Run the benchmark and print one table per device."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="all", help="cpu, cuda or all (cpu, plus cuda when available)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per measurement")
    parser.add_argument("--windows", default="5,10", help="window lengths in seconds")
    parser.add_argument("--workers", type=int, default=None, help="loader threads (default 0 on cpu, 4 on cuda)")
    parser.add_argument("--subjects", type=int, default=1)
    parser.add_argument("--duration-scale", type=float, default=0.2)
    parser.add_argument("--out", type=Path, default=Path("bench-train"))
    args = parser.parse_args()

    import torch

    from emod_data.store import open_store
    from emod_train.data.cache import build_cache
    from emod_train.data.dataset import Batch, WindowDataset, WindowLoader
    from emod_train.data.samplers import ShuffledBatchSampler
    from emod_train.data.windows import window_table
    from emod_train.engine.runtime import tune_cpu_allocator
    from emod_train.methods.emod.model import EMODBackbone, backbone_flops, count_parameters

    tune_cpu_allocator()
    args.out.mkdir(parents=True, exist_ok=True)
    store = open_store(make_store(args.out, args.subjects, args.duration_scale))
    sfreq = float(store.processing.sfreq)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, CUDA: {torch.cuda.is_available()}")
    print(f"backbone: {count_parameters(EMODBackbone(), exclude_embedding=True):,} parameters without the embedding")
    for name in devices:
        device = torch.device(name)
        amp = device.type == "cuda"
        workers = args.workers if args.workers is not None else (4 if device.type == "cuda" else 0)
        print(f"\n{name}: batch {args.batch}, {args.steps} timed steps, amp {amp}, loader threads {workers}")
        header = f"{'step':<10}{'window':>8}{'model only':>14}{'with loader':>14}{'loader/model':>14}"
        print(header + (f"{'GPU util %':>12}" if amp else "") + f"{'GFLOP/s':>10}")
        for seconds in [float(w) for w in args.windows.split(",")]:
            table = window_table(store, seconds)
            table["label"] = table["class_index"].fillna(0).astype(int)
            cache = build_cache(store, table, args.out / "cache")
            dataset = WindowDataset(table, store, cache, labels=table["label"].to_numpy())
            needed = args.steps + 2
            sampler = ShuffledBatchSampler(len(dataset), args.batch, seed=0)
            first_epoch = sampler.batches()
            if len(first_epoch) < needed:
                print(f"  ({seconds:g} s: {len(first_epoch)} batches of {args.batch}; raise --duration-scale)")
                continue
            fixed: Batch = dataset.__getitems__(first_epoch[0]).to(device)
            flops = 3 * backbone_flops(62, round(seconds * sfreq), sfreq)
            for kind in ("pretrain", "finetune"):
                model_only = run_steps(kind, device, [fixed] * needed, sfreq, amp)
                sampler.set_epoch(0)
                loader = WindowLoader(dataset, sampler, workers=workers, pin_memory=amp)
                batches = (b for i, b in zip(range(needed), loader, strict=False))
                if amp:
                    with GpuSampler() as gpu:
                        with_loader = run_steps(kind, device, batches, sfreq, amp)
                    util = f"{gpu.mean:>12.0f}"
                else:
                    with_loader, util = run_steps(kind, device, batches, sfreq, amp), ""
                print(
                    f"{kind:<10}{seconds:>7g}s{model_only:>14.1f}{with_loader:>14.1f}"
                    f"{with_loader / model_only:>14.2f}{util}{model_only * flops / 1e9:>10.1f}"
                )


if __name__ == "__main__":
    main()
