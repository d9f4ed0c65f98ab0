"""Cost of the session-level stage: ingest time with bad-channel detection and with ICA, as ratios.

On the same synthetic files (SEED: 62 channels at 200 Hz, one file per session; DEAP: 32 channels at
128 Hz, one file per subject), ingests each corpus into fresh stores, one variant after the other in
every round, and prints the wall and CPU times and their ratios to the recipe without the stage:

- ``bad_channels="off"`` (the plain recipe: 0.3-49 Hz, average reference, 200 Hz);
- ``bad_channels="interpolate"`` (the default: detection per session, interpolation; target <= 1.3x);
- ``bad_channels="interpolate", ica="eog"`` (plus one FastICA per session, 15 components).

Each round's ratio is taken within the round (the variants run back to back), and the medians over the
rounds are printed with the load average, since the machine may be shared.

Usage::

    python benchmarks/ingest_badchannels.py [--duration-scale 0.1] [--rounds 3] [--corpora seed,deap]
        [--no-ica] [--out bench-out]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path


def timed_ingest(corpus: str, raw: Path, store: Path, config) -> tuple[float, float, object]:
    """Ingest ``raw`` into a fresh ``store``; returns (wall seconds, CPU seconds of this process, report)."""
    from emod_data.ingest import ingest

    shutil.rmtree(store, ignore_errors=True)
    wall, cpu = time.perf_counter(), time.process_time()
    report = ingest(corpus, raw, store, config=config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if not report.ok:
        raise SystemExit(f"{corpus}: {report.failures['error'].iloc[0]}")
    shutil.rmtree(store)
    return wall, cpu, report


def main() -> None:
    """Run the benchmark and print its ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration-scale", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of all variants, back to back.")
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--corpora", default="seed,deap", help="Comma-separated: seed, deap.")
    parser.add_argument("--no-ica", action="store_true", help="Skip the ICA variant (for real durations).")
    args = parser.parse_args()

    from emod_data.config import ProcessingConfig
    from emod_data.synth import synthesize

    variants = {"off": ProcessingConfig(bad_channels="off"), "detect": ProcessingConfig()}
    if not args.no_ica:
        variants["detect+ica"] = ProcessingConfig(ica="eog")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    for corpus in args.corpora.split(","):
        raw = args.out / f"raw_{corpus}_{args.duration_scale:g}"
        if not raw.exists():
            synthesize(corpus, raw, subjects=1, duration_scale=args.duration_scale, seed=0)
        timed_ingest(corpus, raw, args.out / "warmup.zarr", variants["off"])  # page cache
        import pyprep  # noqa: F401  the one-time import cost (seconds) is not the stage's

        wall: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(args.rounds):
            for name, config in variants.items():
                seconds, cpu_seconds, report = timed_ingest(corpus, raw, args.out / f"bad-{corpus}-{name}.zarr", config)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
            print(
                f"{corpus} round {round_ + 1}: "
                + ", ".join(f"{name} {wall[name][-1]:.1f} s (CPU {cpu[name][-1]:.1f} s)" for name in variants)
                + "; ratio detect / off "
                + f"{wall['detect'][-1] / wall['off'][-1]:.2f}",
                flush=True,
            )
        hours = report.recordings["duration_s"].sum() / 3600
        sessions = len(report.recordings[["subject", "session"]].drop_duplicates())
        print(f"{corpus}: {hours:.2f} h of EEG in {sessions} sessions, {args.rounds} rounds (medians)")
        for name in variants:
            if name == "off":
                continue
            ratios = [a / b for a, b in zip(wall[name], wall["off"], strict=True)]
            cpu_ratios = [a / b for a, b in zip(cpu[name], cpu["off"], strict=True)]
            target = " (target <= 1.3)" if name == "detect" else ""
            print(
                f"{corpus}: {name} / off: wall {statistics.median(wall[name]):.1f} / "
                f"{statistics.median(wall['off']):.1f} s, ratio {statistics.median(ratios):.2f}{target} "
                f"[{min(ratios):.2f}-{max(ratios):.2f}]; CPU ratio {statistics.median(cpu_ratios):.2f}"
            )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
