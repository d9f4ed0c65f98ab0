"""Ingest speed, memory and store size on a synthetic SEED corpus, as ratios measured in one run.

Prints:
- the time of ``emod_data.ingest`` with the default recipe over the time of a bare script doing the
  same read / filter / reference / write on the same files (target <= 1.3);
- the store's data bytes over the raw float32 bytes of the same samples (target <= 0.6);
- with every processing step switched off (``emod-data ingest --raw``), the time of ingest over the
  time TorchEEG takes to build its cache of the same files (``torcheeg.datasets.SEEDDataset``, no
  transforms, one process; target <= 0.5) when TorchEEG can be imported by ``--torcheeg-python``,
  else over the bare script;
- the peak resident memory of ``--raw`` ingest (a fresh process, imports included) over TorchEEG's
  peak for its cache build (target <= 0.5), and over the largest input file.
- with ``--workers 1`` and TorchEEG, the CPU seconds (all threads) of ``--raw`` ingest over TorchEEG's.

TorchEEG runs in its own interpreter (``--torcheeg-python``, default: this one; TorchEEG pins an old
SciPy, so it is best kept in a separate environment). Its cache is timed in each of
``--torcheeg-io-modes``: ``lmdb`` (TorchEEG's default) and ``pickle`` (one file per window, its
fastest on-disk mode on machines whose disks make LMDB's commits slow).

Usage::

    python benchmarks/ingest_seed.py [--subjects 1] [--duration-scale 1.0] [--workers 1] [--repeat 2]
        [--out bench-out] [--torcheeg-python /path/to/python] [--torcheeg-io-modes lmdb pickle]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
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


_PEAK_PROBE = "print('peak_kb', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"


def peak_rss_mb(code: str, python: str = sys.executable) -> float:
    """Peak resident memory (MB) of a fresh Python process running ``code``.

    Read from VmHWM in /proc (reset by exec, unlike ``ru_maxrss``, which a child inherits
    from the benchmark process it was forked from).
    """
    output = subprocess.run([python, "-c", f"{code}\n{_PEAK_PROBE}"], capture_output=True, text=True, check=True)
    line = [x for x in output.stdout.splitlines() if x.startswith("peak_kb")][-1]
    return int(line.split()[-1]) / 1024


TORCHEEG_BUILD = """
import shutil, time
from torcheeg.datasets import SEEDDataset
shutil.rmtree({io_path!r}, ignore_errors=True)
start, cpu = time.perf_counter(), time.process_time()
dataset = SEEDDataset(root_path={root!r}, io_path={io_path!r}, io_mode={io_mode!r}, num_worker=0, verbose=False)
print('seconds', time.perf_counter() - start, len(dataset), time.process_time() - cpu)
"""


def torcheeg_available(python: str) -> bool:
    """True when ``python`` can import torcheeg."""
    return subprocess.run([python, "-c", "import torcheeg"], capture_output=True).returncode == 0


def torcheeg_build(python: str, root: Path, io_path: Path, io_mode: str) -> tuple[float, float, int, float]:
    """Build TorchEEG's SEED cache in a fresh process: (seconds, peak RSS in MB, windows, CPU seconds).

    The seconds (wall and CPU, all threads) cover the dataset construction only (not the imports); the
    peak covers the process.
    """
    code = TORCHEEG_BUILD.format(root=str(root), io_path=str(io_path), io_mode=io_mode)
    output = subprocess.run([python, "-c", f"{code}\n{_PEAK_PROBE}"], capture_output=True, text=True, check=True)
    fields = [x.split() for x in output.stdout.splitlines()]
    seconds, windows, cpu = next((float(f[1]), int(f[2]), float(f[3])) for f in fields if f and f[0] == "seconds")
    peak = next(int(f[1]) for f in fields if f and f[0] == "peak_kb") / 1024
    return seconds, peak, windows, cpu


def timed(function, *args, **kwargs):
    """Run a function and return (result, wall seconds, CPU seconds of this process's threads)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    """Run the benchmark and print its ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=1)
    parser.add_argument("--duration-scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--torcheeg-python", default=os.environ.get("TORCHEEG_PYTHON", sys.executable))
    parser.add_argument("--repeat", type=int, default=2, help="rounds of all contenders; the fastest of each counts")
    parser.add_argument(
        "--torcheeg-io-modes", nargs="+", default=["lmdb", "pickle"], choices=["lmdb", "pickle", "memory"]
    )
    args = parser.parse_args()

    from emod_data.config import ProcessingConfig
    from emod_data.ingest import ingest
    from emod_data.synth import synthesize

    raw = args.out / "raw_seed"
    if not raw.exists():
        synthesize("seed", raw, subjects=args.subjects, duration_scale=args.duration_scale, seed=0)
    files = sorted(p for p in (raw / "Preprocessed_EEG").glob("*_*.mat"))
    input_bytes = sum(p.stat().st_size for p in files)
    largest = max(p.stat().st_size for p in files) / 1e6
    warm_cache(files)
    ingest("seed", raw, args.out / "warmup.zarr", subjects=["1"], config=ProcessingConfig(), progress=False)
    shutil.rmtree(args.out / "warmup.zarr")

    # Rounds of every contender in turn; each figure is its fastest round, so that a burst of load from
    # other jobs on a shared machine does not land on one contender only.
    recipe = ProcessingConfig(bad_channels="off")  # the bare script has no bad-channel stage: ingest_badchannels.py
    use_torcheeg = torcheeg_available(args.torcheeg_python)
    torch_runs: dict[str, list[tuple[float, float, int, float]]] = {mode: [] for mode in args.torcheeg_io_modes}
    runs: dict[str, list[tuple[float, float]]] = {"recipe": [], "off": []}
    cpu_off: list[float] = []
    sizes = {}
    for _ in range(args.repeat):
        for mode in args.torcheeg_io_modes if use_torcheeg else []:
            warm_cache(files)
            cache = args.out / f"torcheeg-{mode}"
            torch_runs[mode].append(torcheeg_build(args.torcheeg_python, raw / "Preprocessed_EEG", cache, mode))
            shutil.rmtree(cache, ignore_errors=True)
        for name, config in (("recipe", recipe), ("off", ProcessingConfig.raw())):
            for target in ("store", "bare"):
                shutil.rmtree(args.out / f"{target}-{name}.zarr", ignore_errors=True)
            warm_cache(files)
            samples, bare_s, _ = timed(bare_ingest, files, args.out / f"bare-{name}.zarr", config)
            warm_cache(files)
            store = args.out / f"store-{name}.zarr"
            _, ingest_s, ingest_cpu = timed(
                ingest, "seed", raw, store, workers=args.workers, config=config, progress=False
            )
            runs[name].append((bare_s, ingest_s))
            if name == "off" and args.workers == 1:  # in this process: its CPU time is the ingest's
                cpu_off.append(ingest_cpu)
            sizes[name] = folder_bytes(store / "data") / (samples * 4)
    results = {name: (min(b for b, _ in r), min(i for _, i in r), sizes[name]) for name, r in runs.items()}
    torcheeg = {
        mode: (min(t[0] for t in r), min(t[1] for t in r), r[0][2], min(t[3] for t in r))
        for mode, r in torch_runs.items()
        if r
    }

    peaks = {}
    imports = "from emod_data.ingest import ingest\nfrom emod_data.config import ProcessingConfig"
    baseline = peak_rss_mb(imports)
    for name, config in (("recipe", "ProcessingConfig(bad_channels='off')"), ("off", "ProcessingConfig.raw()")):
        shutil.rmtree(args.out / "memory.zarr", ignore_errors=True)
        warm_cache(files)
        call = (
            f"ingest('seed', {str(raw)!r}, {str(args.out / 'memory.zarr')!r}, workers={args.workers}, config={config})"
        )
        peaks[name] = peak_rss_mb(f"{imports}\n{call}")
    shutil.rmtree(args.out / "memory.zarr", ignore_errors=True)

    bare_s, ingest_s, size_ratio = results["recipe"]
    print(
        f"input: {len(files)} SEED .mat files, {input_bytes / 1e9:.3f} GB, largest {largest:.0f} MB; "
        f"workers={args.workers}; times: the fastest of {args.repeat} rounds"
    )
    print(
        f"default recipe (0.3-49 Hz FIR, average reference, 200 Hz, 12-bit mantissa): ingest {ingest_s:.2f} s, "
        f"bare script {bare_s:.2f} s; ingest / bare = {ingest_s / bare_s:.2f}  (target <= 1.3)"
    )
    print(f"size ratio store / raw float32 = {size_ratio:.3f}  (target <= 0.6)")
    bare_off, ingest_off, size_off = results["off"]
    print(
        f"--raw (processing off): ingest {ingest_off:.2f} s ({ingest_off / (input_bytes / 1e9):.2f} s/GB), "
        f"bare script {bare_off:.2f} s; ingest / bare = {ingest_off / bare_off:.2f}; lossless size ratio {size_off:.3f}"
    )
    for mode, (torch_s, torch_peak, windows, torch_cpu) in torcheeg.items():
        print(
            f"TorchEEG cache build (SEEDDataset, io_mode={mode}, {windows} windows, one process): "
            f"{torch_s:.2f} s, peak RSS {torch_peak:.0f} MB; --raw ingest / TorchEEG: time "
            f"{ingest_off / torch_s:.2f} (target <= 0.5), peak RSS {peaks['off'] / torch_peak:.2f} (target <= 0.5); "
            f"default recipe / TorchEEG: time {ingest_s / torch_s:.2f}, peak RSS {peaks['recipe'] / torch_peak:.2f}"
        )
        if cpu_off:
            print(
                f"  CPU seconds (all threads, fewest of the rounds): --raw ingest {min(cpu_off):.2f}, TorchEEG "
                f"{torch_cpu:.2f}; ratio {min(cpu_off) / torch_cpu:.2f}"
            )
    if not torcheeg:
        print(
            f"TorchEEG not importable by {args.torcheeg_python}: time ratio --raw ingest / bare script = "
            f"{ingest_off / bare_off:.2f}"
        )
    print(
        f"peak RSS of ingest (fresh process, imports {baseline:.0f} MB included): --raw {peaks['off']:.0f} MB, "
        f"default recipe {peaks['recipe']:.0f} MB"
    )
    print(
        f"peak RSS over the largest input file: --raw {peaks['off'] / largest:.2f}, default recipe "
        f"{peaks['recipe'] / largest:.2f}; without the imports: --raw {(peaks['off'] - baseline) / largest:.2f}, "
        f"default recipe {(peaks['recipe'] - baseline) / largest:.2f}"
    )


if __name__ == "__main__":
    main()
