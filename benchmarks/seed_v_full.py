"""SEED-V at real durations: published window count and peak memory of ingest vs the CNT file size.

Writes full-length synthetic SEED-V subjects (three ~0.9 GB Neuroscan CNT files each, 66 channels at
1000 Hz, the real ``trial_start_end_timestamp.txt``), ingests them in a child process and prints:

- non-overlapping 1 s windows per subject over the stored trials (published: 7,359 per subject,
  117,744 for 16 subjects);
- the child's peak resident memory (``ru_maxrss``) next to the largest CNT file: the reader reads each
  file once, one trial span at a time, so the peak stays well under twice the file size.

Usage::

    python benchmarks/seed_v_full.py [--subjects 1] [--workers 1] [--out bench-seed-v]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

INGEST = """
import json, sys, time
from emod_data.ingest import ingest
start = time.perf_counter()
report = ingest("seed_v_raw", sys.argv[1], sys.argv[2], workers=int(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - start, "ok": report.ok, "recordings": len(report.recordings),
                  "failures": report.failures.to_dict("records")}))
"""


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-seed-v"))
    parser.add_argument("--keep", action="store_true", help="keep the synthetic files and the store")
    args = parser.parse_args()

    from emod_data.synth import synthesize

    raw, store = args.out / "raw", args.out / "store.zarr"
    shutil.rmtree(args.out, ignore_errors=True)
    start = time.perf_counter()
    files = synthesize("seed_v_raw", raw, subjects=args.subjects, duration_scale=1.0, seed=0)
    cnt = [f for f in files if f.suffix == ".cnt"]
    largest = max(f.stat().st_size for f in cnt)
    print(
        f"synthesized {len(cnt)} CNT files, {sum(f.stat().st_size for f in cnt) / 1e9:.2f} GB "
        f"(largest {largest / 1e9:.3f} GB) in {time.perf_counter() - start:.0f} s"
    )

    result = subprocess.run(
        [sys.executable, "-c", INGEST, str(raw), str(store), str(args.workers)],
        capture_output=True,
        text=True,
        check=True,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # kB on Linux
    print(f"ingest: {outcome['recordings']} trials in {outcome['seconds']:.0f} s, ok={outcome['ok']}")
    print(f"peak RSS of ingest {peak / 1e9:.3f} GB = {peak / largest:.2f} x the largest CNT file")

    from emod_data.store import open_store

    windows = open_store(store).windows(1.0, corpora=["seed_v_raw"])
    per_subject = windows.groupby("subject").size()
    print("1 s windows per subject:", per_subject.to_dict(), "(published: 7359)")
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
