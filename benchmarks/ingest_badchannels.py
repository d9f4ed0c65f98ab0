"""Cost of the session-level stage: ingest time with bad-channel detection and with ICA, as ratios.

On the same synthetic files (SEED: 62 channels at 200 Hz; DEAP: 32 channels at 128 Hz), ingests each corpus
three times into fresh stores and prints the times and their ratios to the recipe without the stage:

- ``bad_channels="off"`` (the plain recipe: 0.3-49 Hz, average reference, 200 Hz);
- ``bad_channels="interpolate"`` (the default: detection per session, interpolation; target <= 1.3x);
- ``bad_channels="interpolate", ica="eog"`` (plus one FastICA per session, 15 components).

Usage::

    python benchmarks/ingest_badchannels.py [--duration-scale 0.1] [--out bench-out]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path


def main() -> None:
    """Run the benchmark and print its ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration-scale", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--corpora", default="seed,deap", help="Comma-separated: seed, deap.")
    parser.add_argument("--no-ica", action="store_true", help="Skip the ICA variant (for real durations).")
    args = parser.parse_args()

    from emod_data.config import ProcessingConfig
    from emod_data.ingest import ingest
    from emod_data.synth import synthesize

    variants = {
        "off": ProcessingConfig(bad_channels="off"),
        "detect": ProcessingConfig(),
    }
    if not args.no_ica:
        variants["detect+ica"] = ProcessingConfig(ica="eog")
    for corpus in args.corpora.split(","):
        raw = args.out / f"raw_{corpus}_{args.duration_scale:g}"
        if not raw.exists():
            synthesize(corpus, raw, subjects=1, duration_scale=args.duration_scale, seed=0)
        ingest(corpus, raw, args.out / "warmup.zarr", config=variants["off"])  # page cache
        import pyprep  # noqa: F401  the one-time import cost (seconds) is not the stage's

        shutil.rmtree(args.out / "warmup.zarr")
        seconds = {}
        for name, config in variants.items():
            store = args.out / f"bad-{corpus}-{name}.zarr"
            shutil.rmtree(store, ignore_errors=True)
            start = time.perf_counter()
            report = ingest(corpus, raw, store, config=config)
            seconds[name] = time.perf_counter() - start
            if not report.ok:
                raise SystemExit(f"{corpus} {name}: {report.failures['error'].iloc[0]}")
            hours = report.recordings["duration_s"].sum() / 3600
        print(
            f"{corpus}: {hours:.2f} h of EEG in {report.recordings[['subject', 'session']].drop_duplicates().shape[0]} "
            f"sessions; " + ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
        )
        print(
            f"{corpus}: ratio detect / off = {seconds['detect'] / seconds['off']:.2f} (target <= 1.3)"
            + (
                f"; ratio detect+ica / off = {seconds['detect+ica'] / seconds['off']:.2f}"
                if "detect+ica" in seconds
                else ""
            )
        )


if __name__ == "__main__":
    main()
