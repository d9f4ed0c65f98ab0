"""The end-to-end demo on built-in synthetic corpora: synthesize, ingest, summarize."""

from __future__ import annotations

from pathlib import Path

from emod_data.errors import EmodDataError

DEMO_CORPORA = ("seed", "seed_iv", "seed_vii", "deap", "faced", "dreamer", "seed_v_raw", "deap_raw", "bids_example")
"""One corpus of every reader family: MATLAB v5 and v7.3 variables, pickles (dict and bare array),
MATLAB structs, Neuroscan CNT, BDF with triggers, and BIDS through mne-bids."""


def build_demo_store(
    out_dir: str | Path,
    corpora: tuple[str, ...] = DEMO_CORPORA,
    subjects: int = 2,
    duration_scale: float = 0.05,
    workers: int = 2,
    progress: bool = True,
    log=print,
) -> Path:
    """Synthesize corpora in their real layouts and ingest them into one store.

    Synthetic files already written by an earlier run with the same settings are
    reused, and the ingest resumes, so a second run is fast.

    Parameters
    ----------
    out_dir : path-like
        Folder receiving ``raw/<corpus>/`` and ``store.zarr``.
    corpora : tuple of str
        Corpora to synthesize and ingest (default: one of every reader family).
    subjects : int
        Subjects per corpus.
    duration_scale : float
        Scale of the real trial durations.
    workers : int
        Ingest worker processes.
    progress : bool
        Show rich progress bars.
    log : callable
        Receives one line per corpus.

    Returns
    -------
    pathlib.Path
        The store's path.

    Raises
    ------
    EmodDataError
        When a corpus fails to ingest (the failures are named).
    """
    from emod_data.ingest import ingest
    from emod_data.synth import synthesize

    out_dir = Path(out_dir)
    store = out_dir / "store.zarr"
    for corpus in corpora:
        raw = out_dir / "raw" / corpus
        stamp = raw / ".emod-synth"
        settings = f"subjects={subjects} duration_scale={duration_scale}"
        if not stamp.exists() or stamp.read_text() != settings:
            files = synthesize(corpus, raw, subjects=subjects, duration_scale=duration_scale)
            stamp.write_text(settings)
            log(f"synthesized {corpus}: {len(files)} files")
        report = ingest(corpus, raw, store, workers=workers, progress=progress)
        if not report.ok:
            reasons = "; ".join(report.failures["error"].head(3))
            raise EmodDataError(f"{corpus}: {len(report.failures)} failures in the demo ingest ({reasons})")
    return store
