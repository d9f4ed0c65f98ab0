"""Time of the encoder's convolution block against its block size (values computed at once).

:func:`emod_train.methods.emod.conv_tokens.conv_norm_gelu_pool` computes the full-resolution values of
the temporal and spectral blocks a block at a time (``BLOCK_VALUES`` on the CPU, ``DEVICE_BLOCK_VALUES``
elsewhere). This prints, for each size of ``--sizes`` (powers of two), the forward and backward time
of one block on a batch of ``--batch`` windows of 62 channels, ``--seconds`` long at 200 Hz: the
temporal block (2000 samples for 10 s, 50 tokens, even pooling) and the spectral one (1001 rFFT bins,
uneven pooling). The sizes are run in turn, ``--repeats`` rounds after a warm-up round, and the best
round of each is kept (shared machines are noisy).

Usage::

    python benchmarks/conv_block.py [--batch 32] [--sizes 17,18,19,20,22] [--repeats 5]
    python benchmarks/conv_block.py --device cuda --batch 64 --sizes 19,22,24,25,26
"""

from __future__ import annotations

import argparse
import sys
import time

CHANNELS, SFREQ, DIM, KERNEL = 62, 200.0, 128, 25


def main() -> None:
    """Parse the arguments, time the block for each size and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sizes", default="17,18,19,20,22", help="log2 of the values per block, comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds after one warm-up round")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()

    import torch

    from emod_train.engine.runtime import tune_cpu_allocator
    from emod_train.methods.emod import conv_tokens

    if args.device == "cuda" and not torch.cuda.is_available():
        print("conv_block.py: --device cuda but CUDA is not available (torch reports no GPU)", file=sys.stderr)
        sys.exit(2)
    tune_cpu_allocator()
    device = torch.device(args.device)
    setting = "BLOCK_VALUES" if device.type == "cpu" else "DEVICE_BLOCK_VALUES"
    default = getattr(conv_tokens, setting)
    try:
        sizes = [int(v) for v in args.sizes.split(",") if v]
    except ValueError:
        parser.error(f"--sizes takes comma-separated integers (got {args.sizes!r})")
    torch.manual_seed(0)
    params = [torch.randn(DIM, KERNEL), torch.randn(DIM), 1 + torch.randn(DIM) / 2, torch.randn(DIM) / 2]
    params = [p.to(device).requires_grad_(True) for p in params]
    samples = round(args.seconds * SFREQ)
    tokens = round(args.seconds * 5)
    shapes = {"temporal": samples, "spectral": samples // 2 + 1}
    grad = torch.randn(args.batch, CHANNELS, tokens, DIM, device=device)
    data = {name: (torch.randn(args.batch, CHANNELS, length, device=device), grad) for name, length in shapes.items()}

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    times: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for round_ in range(args.repeats + 1):
        for name, (x, grad) in data.items():
            for size in sizes:
                setattr(conv_tokens, setting, 1 << size)
                sync()
                started = time.perf_counter()
                out = conv_tokens.conv_norm_gelu_pool(x, *params, 4, 1e-5, tokens)
                sync()
                middle = time.perf_counter()
                out.backward(grad)
                sync()
                if round_:
                    times.setdefault((name, size), []).append((middle - started, time.perf_counter() - middle))
    setattr(conv_tokens, setting, default)
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}; batch {args.batch} x {CHANNELS} channels x {args.seconds:g} s")
    print(f"{setting} is 2^{default.bit_length() - 1}; best of {args.repeats} rounds\n")
    print(f"{'block':<10}{'values':>8}{'forward s':>11}{'backward s':>12}{'total s':>9}")
    for (name, size), rounds in times.items():
        forward, backward = min(f for f, _ in rounds), min(b for _, b in rounds)
        total = min(f + b for f, b in rounds)
        print(f"{name:<10}{'2^' + str(size):>8}{forward:>11.3f}{backward:>12.3f}{total:>9.3f}")


if __name__ == "__main__":
    main()
