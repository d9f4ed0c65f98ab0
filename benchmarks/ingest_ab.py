"""``--raw`` ingest of two emod_data source trees, interleaved: the ratio of a change measured in one run.

On a shared machine single timings swing with the other jobs' load; alternating the two versions
round by round and comparing medians (and CPU seconds, which swing less than wall time) isolates the
change itself. Each ingest runs in a fresh process (imports excluded from the timing) on the same
synthetic SEED files, with the page cache warm.

Usage::

    git worktree add /tmp/emod-before <commit>      # or: git archive <commit> | tar -x -C /tmp/emod-before
    python benchmarks/ingest_ab.py --before /tmp/emod-before --after . [--rounds 5] [--out bench-out]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from synthetic_store import warm_seed_subject

RUN = """
import shutil, sys, time
from emod_data.config import ProcessingConfig
import emod_data
from emod_data.ingest import ingest
emod_data_file = emod_data.__file__
shutil.rmtree(sys.argv[2], ignore_errors=True)
start, cpu = time.perf_counter(), time.process_time()
ingest("seed", sys.argv[1], sys.argv[2], config=ProcessingConfig.raw())
print("seconds", time.perf_counter() - start, time.process_time() - cpu)
shutil.rmtree(sys.argv[2], ignore_errors=True)
"""


def run_ingest(source: Path, raw: Path, store: Path) -> tuple[float, float]:
    """One ``--raw`` ingest with emod_data imported from ``source``: (wall seconds, CPU seconds)."""
    env = {**os.environ, "PYTHONPATH": str(source.resolve())}
    command = [sys.executable, "-c", RUN + "\nprint('from', emod_data_file)", str(raw.resolve()), str(store.resolve())]
    # run in the source tree: ``python -c`` puts the working folder first on sys.path
    output = subprocess.run(command, env=env, cwd=source, capture_output=True, text=True, check=True)
    origin = next(line.split(None, 1)[1] for line in output.stdout.splitlines() if line.startswith("from "))
    if not Path(origin).resolve().is_relative_to(source.resolve()):
        raise RuntimeError(f"emod_data was imported from {origin}, not from {source}")
    fields = next(line.split() for line in output.stdout.splitlines() if line.startswith("seconds"))
    return float(fields[1]), float(fields[2])


def main() -> None:
    """Alternate the two versions and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="source tree of the reference version")
    parser.add_argument("--after", type=Path, required=True, help="source tree of the changed version")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    args = parser.parse_args()

    warm_seed_subject(args.out)
    raw = args.out / "raw_seed"
    versions = {"before": args.before, "after": args.after}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in versions}
    for name, source in versions.items():  # warm-up of each version (compiled bytecode, first zarr writes)
        run_ingest(source, raw, args.out / f"ab-{name}.zarr")
    for round_number in range(args.rounds):
        order = list(versions) if round_number % 2 == 0 else list(versions)[::-1]
        for name in order:
            times[name].append(run_ingest(versions[name], raw, args.out / f"ab-{name}.zarr"))
    medians = {
        name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t)) for name, t in times.items()
    }
    for name, (wall, cpu) in medians.items():
        print(f"{name}: {versions[name]}: median wall {wall:.2f} s, median CPU {cpu:.2f} s over {args.rounds} rounds")
    (wall_b, cpu_b), (wall_a, cpu_a) = medians["before"], medians["after"]
    print(f"after / before: wall {wall_a / wall_b:.2f}, CPU {cpu_a / cpu_b:.2f}")


if __name__ == "__main__":
    main()
