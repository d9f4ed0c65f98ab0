"""Ingest speed and store size on a synthetic SEED corpus, as ratios measured in one run.

Prints:
- the time of ``emod_data.ingest`` over the time of a bare script doing the same
  read / filter / reference / resample / write on the same files (target <= 1.3);
- the store's data bytes over the raw float32 bytes of the same samples (target <= 0.6);
- with every processing step switched off, seconds per GB of input (for scale:
  TorchEEG builds its unfiltered SEED cache, 964 MB of .mat, in 4.7 s with one worker
  on the reference machines, i.e. 4.9 s/GB; the target is at most half of that).

Usage::

    python benchmarks/ingest_seed.py [--subjects 1] [--duration-scale 1.0] [--workers 1] [--out bench-out]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np


def folder_bytes(path: Path) -> int:
    """Total size of the files below a folder."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def warm_cache(files: list[Path]) -> None:
    """Read every file once so that both contenders start from the page cache."""
    for path in files:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass


def bare_ingest(files: list[Path], out: Path, config) -> int:
    """The same numeric work as ingest, written plainly: read, filter, reference, round, write.

    Returns the number of raw samples read (channels x time, over all trials).
    """
    import mne
    import scipy.io
    import zarr
    from numcodecs import BitRound
    from zarr.codecs import BloscCodec

    root = zarr.open_group(out, mode="w")
    compressor = BloscCodec(cname=config.compressor, clevel=config.compression_level, shuffle="bitshuffle", typesize=4)
    samples = 0
    for index, path in enumerate(files):
        variables = scipy.io.loadmat(path)
        for key, value in variables.items():
            if key.startswith("__"):
                continue
            x = np.asarray(value, dtype=np.float64)
            samples += x.size
            if config.bandpass is not None:
                x = mne.filter.filter_data(
                    x,
                    200.0,
                    *config.bandpass,
                    phase="zero",
                    fir_design="firwin",
                    pad="reflect_limited",
                    copy=False,
                    verbose="error",
                )
            if config.reference == "average":
                x = x - x.mean(axis=0, keepdims=True)
            x = x.astype(np.float32)
            if config.precision_bits is not None:
                x = BitRound(keepbits=config.precision_bits).encode(x).view(np.float32)
            chunk = min(config.chunk_samples, x.shape[1])
            shard = -(-x.shape[1] // chunk) * chunk
            array = root.create_array(
                f"f{index}/{key}",
                shape=x.shape,
                dtype="float32",
                chunks=(x.shape[0], chunk),
                shards=(x.shape[0], shard),
                compressors=compressor,
                config={"write_empty_chunks": True},
            )
            array[:] = x
    return samples


def peak_rss_mb(code: str) -> float:
    """Peak resident memory (MB) of a fresh Python process running ``code``.

    Read from VmHWM in /proc (reset by exec, unlike ``ru_maxrss``, which a child inherits
    from the benchmark process it was forked from).
    """
    import subprocess
    import sys

    probe = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    script = f"{code}\n{probe}"
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return int(output.strip().splitlines()[-1]) / 1024


def timed(function, *args, **kwargs):
    """Run a function and return (result, seconds)."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print its ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=1)
    parser.add_argument("--duration-scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    args = parser.parse_args()

    from emod_data.config import ProcessingConfig
    from emod_data.ingest import ingest
    from emod_data.synth import synthesize

    raw = args.out / "raw_seed"
    if not raw.exists():
        synthesize("seed", raw, subjects=args.subjects, duration_scale=args.duration_scale, seed=0)
    files = sorted(p for p in (raw / "Preprocessed_EEG").glob("*_*.mat"))
    input_bytes = sum(p.stat().st_size for p in files)
    warm_cache(files)
    ingest("seed", raw, args.out / "warmup.zarr", subjects=["1"], config=ProcessingConfig(), progress=False)
    shutil.rmtree(args.out / "warmup.zarr")

    recipe = ProcessingConfig(bad_channels="off")  # the bare script has no bad-channel stage: ingest_badchannels.py
    results = {}
    for name, config in (("recipe", recipe), ("off", ProcessingConfig.raw())):
        for target in ("store", "bare"):
            shutil.rmtree(args.out / f"{target}-{name}.zarr", ignore_errors=True)
        warm_cache(files)
        samples, bare_s = timed(bare_ingest, files, args.out / f"bare-{name}.zarr", config)
        warm_cache(files)
        _, ingest_s = timed(
            ingest, "seed", raw, args.out / f"store-{name}.zarr", workers=args.workers, config=config, progress=False
        )
        store_bytes = folder_bytes(args.out / f"store-{name}.zarr" / "data")
        results[name] = (bare_s, ingest_s, store_bytes / (samples * 4))

    bare_s, ingest_s, size_ratio = results["recipe"]
    print(f"input: {len(files)} SEED .mat files, {input_bytes / 1e9:.3f} GB; workers={args.workers}")
    print(
        f"recipe (0.3-49 Hz FIR, average reference, 200 Hz, 12-bit mantissa): ingest {ingest_s:.2f} s, "
        f"bare script {bare_s:.2f} s"
    )
    print(f"time ratio ingest / bare = {ingest_s / bare_s:.2f}  (target <= 1.3)")
    print(f"size ratio store / raw float32 = {size_ratio:.3f}  (target <= 0.6)")
    imports = "from emod_data.ingest import ingest\nimport mne, zarr, scipy.io, numcodecs"
    baseline = peak_rss_mb(imports)
    shutil.rmtree(args.out / "memory.zarr", ignore_errors=True)
    peak = peak_rss_mb(f"{imports}\ningest('seed', {str(raw)!r}, {str(args.out / 'memory.zarr')!r})")
    largest = max(p.stat().st_size for p in files) / 1e6
    print(
        f"peak memory of ingest (one worker): {peak:.0f} MB, of which {baseline:.0f} MB is the imported "
        f"libraries; largest input file {largest:.0f} MB; (peak - imports) / largest file = "
        f"{(peak - baseline) / largest:.2f}"
    )
    bare_off, ingest_off, size_off = results["off"]
    per_gb = ingest_off / (input_bytes / 1e9)
    print(
        f"processing off: ingest {ingest_off:.2f} s, bare {bare_off:.2f} s, ratio {ingest_off / bare_off:.2f}; "
        f"{per_gb:.2f} s per GB of input (TorchEEG reference 4.88 s/GB; target <= 2.44); "
        f"lossless size ratio {size_off:.3f}"
    )


if __name__ == "__main__":
    main()
