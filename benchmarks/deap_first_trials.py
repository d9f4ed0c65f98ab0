"""Class balance of the cross-corpus fine-tuning trials on DEAP: SCMM's "first 9 trials" vs the stratified variant.

Prints, per subject and overall, the low / high valence windows among the fine-tuning trials of
the SEED -> DEAP direction under both selections. Runs on a store holding DEAP (``--store``, e.g.
the real corpus) or, by default, on a synthetic DEAP built here.

Usage::

    python benchmarks/deap_first_trials.py [--store ~/emod.zarr] [--subjects 4] [--out bench-deap]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from synthetic_store import make_store


def main() -> None:
    """Print the balance table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench-deap"))
    parser.add_argument("--direction", default="seed_to_deap")
    args = parser.parse_args()

    from emod_data.store import open_store
    from emod_train.data.windows import window_table
    from emod_train.evaluation.crosscorpus import finetune_class_balance, load_protocol, subject_parts, target_labels

    store_path = args.store or make_store(args.out, args.subjects, 0.02, ("deap",))
    store = open_store(store_path)
    protocol = load_protocol()
    direction = protocol.directions[args.direction]
    present = set(store.recordings["corpus"])
    target = next(c for c in direction.target if c in present)
    windows = window_table(store, protocol.window, None, [target])
    windows = windows[windows["session"] == protocol.target_session].reset_index(drop=True)
    labels = target_labels(windows, direction, protocol.path)
    print(f"{direction.title}: fine-tuning windows per class ({', '.join(direction.classes)}), {store_path}")
    print("| selection | subject | " + " | ".join(direction.classes) + " | largest share |")
    print("| --- | --- |" + " --- |" * (len(direction.classes) + 1))
    for selection in ("first", "stratified"):
        parts = subject_parts(windows, labels, dataclasses.replace(protocol, selection=selection))
        for subject, part in [*parts.items(), ("all", None)]:
            chosen = {subject: part} if part is not None else parts
            b = finetune_class_balance(chosen, labels, direction.classes)
            counts = " | ".join(str(b["windows"][c]) for c in direction.classes)
            flag = " (dominates)" if b["dominates"] else ""
            print(f"| {selection} | {subject} | {counts} | {b['dominant']} {100 * b['dominant_share']:.0f} %{flag} |")


if __name__ == "__main__":
    main()
