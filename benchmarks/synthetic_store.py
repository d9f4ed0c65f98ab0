"""Synthetic stores shared by the benchmarks (imported by the scripts next to it)."""

from __future__ import annotations

from pathlib import Path


def make_store(
    out: Path,
    subjects: int,
    scale: float | dict[str, float],
    corpora: tuple[str, ...] = ("seed",),
    workers: int = 2,
    seed: int = 0,
) -> Path:
    """Synthesize corpora into ``out/raw/<corpus>`` and ingest them into ``out/store.zarr``.

    Skipped when the store exists already (delete ``out`` to rebuild it).

    Parameters
    ----------
    out : pathlib.Path
        Benchmark folder.
    subjects : int
        Subjects per corpus.
    scale : float or dict
        Trial durations as a fraction of the real ones (per corpus name when a dict).
    corpora : tuple of str
        Synthetic corpus names (``emod-data synth --list``).
    workers : int
        Ingest processes.
    seed : int
        Seed of the synthetic signals.

    Returns
    -------
    pathlib.Path
        The store.
    """
    from emod_data.ingest import ingest
    from emod_data.synth import synthesize

    store = out / "store.zarr"
    if not (store / "zarr.json").exists():
        for corpus in corpora:
            factor = scale[corpus] if isinstance(scale, dict) else scale
            synthesize(corpus, out / "raw" / corpus, subjects=subjects, duration_scale=factor, seed=seed)
            report = ingest(corpus, out / "raw" / corpus, store, workers=workers)
            assert report.ok, report.failures
    return store


def warm_seed_subject(out: Path) -> list[Path]:
    """One synthetic SEED subject at real durations in ``out/raw_seed`` (made once), read once into the page cache.

    Parameters
    ----------
    out : Path
        Benchmark output folder.

    Returns
    -------
    list of Path
        The subject's three ``.mat`` files.
    """
    from emod_data.synth import synthesize

    raw = out / "raw_seed"
    if not raw.exists():
        synthesize("seed", raw, subjects=1, duration_scale=1.0, seed=0)
    files = sorted((raw / "Preprocessed_EEG").glob("*.mat"))
    for path in files:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass
    return files
