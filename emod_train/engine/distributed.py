"""Data-parallel pretraining across processes launched by ``torchrun``.

Every rank builds the same structured sampler from the same seed, so all ranks agree on each
global batch; rank r reads and forwards only its share (``batch[r::world_size]``,
:class:`~emod_train.data.samplers.ShardedBatchSampler`): each rank draws disjoint samples. The
pooled features of all ranks are then gathered (:func:`DistributedContext.gather`, differentiable),
and every rank applies the projection head and the contrastive loss to the whole batch, so the loss, the BatchNorm
statistics of the head and the negatives of each anchor are those of a single-process run on the
global batch. After the backward pass :meth:`DistributedContext.reduce_gradients` sums the
gradients of the parts that saw only the local share (backbone, pooling) and averages those of the
parts that saw the whole batch (projection MLP), which gives every rank the gradient of the
single-process run; the optimiser steps then keep the replicas identical.

This is the arithmetic of ``torch.nn.parallel.DistributedDataParallel`` (all-reduced gradients)
without its module wrapper, which assumes one forward per step: an EMOD step forwards one
sub-batch per channel count and couples samples across ranks in the loss.

Launch (CPU processes use the gloo backend, CUDA devices NCCL, one device per local rank)::

    torchrun --standalone --nproc-per-node 4 -m emod_train pretrain --store emod.zarr --out runs/pre
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a ``torchrun`` job.

    Attributes
    ----------
    rank : int
        Global rank (0 is the main process: it alone writes logs, checkpoints and plots).
    world_size : int
        Number of processes (1: not distributed).
    local_rank : int
        Rank on this machine (selects the CUDA device).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """The device of this rank: ``cuda:LOCAL_RANK`` when ``device`` is CUDA and the job is distributed."""
        if self.enabled and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def start(self, device: torch.device) -> bool:
        """Join the process group (NCCL on CUDA, gloo otherwise) unless already joined or not distributed.

        Returns
        -------
        bool
            True when this call created the process group (the caller then ends it with :meth:`stop`).
        """
        if not self.enabled or dist.is_initialized():
            return False
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        return True

    def stop(self) -> None:
        """Leave the process group."""
        if dist.is_initialized():
            dist.destroy_process_group()

    def barrier(self) -> None:
        """Wait for every rank (no-op when not distributed)."""
        if self.enabled:
            dist.barrier()

    def broadcast_parameters(self, modules: Iterable[torch.nn.Module]) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        if not self.enabled:
            return
        for module in modules:
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """Rows of ``x`` from every rank, concatenated in rank order; ranks may hold different row counts.

        Differentiable: the gradient flowing back to this rank is that of its own rows.
        Returns ``x`` unchanged when not distributed.
        """
        if not self.enabled:
            return x
        sizes = _all_sizes(x.shape[0], x.device, self.world_size)
        if x.requires_grad:
            return _GatherRows.apply(x, sizes, self.rank)
        return _gather_rows(x, sizes)

    def reduce_gradients(self, summed: Iterable[torch.Tensor], averaged: Iterable[torch.Tensor] = ()) -> None:
        """All-reduce gradients in one flat buffer: sum over ranks for ``summed``, mean for ``averaged``.

        A parameter without a gradient counts as zeros (its gradient is then set), so that every
        rank sends buffers of the same layout.
        """
        if not self.enabled:
            return
        summed, averaged = list(summed), list(averaged)
        parameters = summed + averaged
        for p in parameters:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in parameters])
        dist.all_reduce(flat)
        offset = 0
        for number, p in enumerate(parameters):
            n = p.grad.numel()
            chunk = flat[offset : offset + n].view_as(p.grad)
            p.grad.copy_(chunk / self.world_size if number >= len(summed) else chunk)
            offset += n


def context_from_environment() -> DistributedContext:
    """The context of ``torchrun``'s ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (one process without them).

    Raises
    ------
    ValueError
        ``WORLD_SIZE`` > 1 without an integer ``RANK``, or a variable that is not an integer.
    """
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return DistributedContext()
        rank = int(os.environ["RANK"])
        return DistributedContext(rank, world, int(os.environ.get("LOCAL_RANK", rank)))
    except (KeyError, ValueError) as exc:
        raise ValueError(
            f"WORLD_SIZE, RANK and LOCAL_RANK must be integers set by torchrun (problem with {exc}); "
            "start data-parallel runs with torchrun"
        ) from None


def _all_sizes(n: int, device: torch.device, world: int) -> list[int]:
    local = torch.tensor([n], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(local) for _ in range(world)]
    dist.all_gather(sizes, local)
    return [int(s) for s in sizes]


def _gather_rows(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    padded = x.new_zeros((max(sizes), *x.shape[1:]))
    padded[: x.shape[0]] = x
    buffers = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(buffers, padded.contiguous())
    return torch.cat([b[:n] for b, n in zip(buffers, sizes, strict=True)])


class _GatherRows(torch.autograd.Function):
    """All-gather of rows whose backward keeps this rank's rows of the gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int], rank: int) -> torch.Tensor:
        ctx.start, ctx.stop = sum(sizes[:rank]), sum(sizes[: rank + 1])
        return _gather_rows(x, sizes)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad[ctx.start : ctx.stop], None, None
