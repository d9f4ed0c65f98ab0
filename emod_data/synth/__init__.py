"""Synthetic corpora written in exactly the on-disk layouts of the real releases.

The real corpora need licences, so readers and pipelines are tested on small
synthetic copies: same folders, file names, variable names, axis order, dtype,
units and container quirks as ``docs/corpora.md`` lists, filled with EEG-like
signals whose band powers depend on each trial's valence and arousal (see
:mod:`emod_data.synth.signals`), so that models can genuinely learn from them.

Each corpus is one module named after it (:mod:`emod_data.synth.seed`,
:mod:`emod_data.synth.deap_raw`, ...) whose ``SPEC`` gives its recording
conditions, file layout and writer; :mod:`emod_data.synth.plans` holds the plan
types and the registry (:data:`SYNTH_CORPORA`), :mod:`emod_data.synth.trials` the
trial signals of the file-based corpora and :mod:`emod_data.synth.recordings` the
continuous recordings (CNT, BDF, BIDS).

Example
-------
>>> from emod_data.synth import synthesize
>>> files = synthesize("seed", "/tmp/seed", subjects=1, duration_scale=0.01)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from emod_data.errors import EmodDataError
from emod_data.synth.plans import SYNTH_CORPORA, corpus_spec, get_corpus, write_file

__all__ = ["SYNTH_CORPORA", "SynthError", "synthesize"]


class SynthError(EmodDataError, ValueError):
    """A bad argument to :func:`synthesize`."""


def _check(corpus: str, subjects: int | None, duration_scale: float, seed: int) -> int:
    if corpus not in SYNTH_CORPORA:
        raise SynthError(f"unknown corpus '{corpus}' for synthesis: expected one of {', '.join(SYNTH_CORPORA)}")
    real = corpus_spec(corpus).real_subjects
    if subjects is None:
        subjects = 2
    if isinstance(subjects, bool) or not isinstance(subjects, int) or not 1 <= subjects <= real:
        raise SynthError(f"subjects must be an integer from 1 to {real} for {corpus} (got {subjects!r})")
    if isinstance(duration_scale, bool) or not isinstance(duration_scale, int | float):
        raise SynthError(f"duration_scale must be a number > 0 (got {duration_scale!r})")
    if not math.isfinite(duration_scale) or duration_scale <= 0:
        raise SynthError(f"duration_scale must be a finite number > 0 (got {duration_scale!r})")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SynthError(f"seed must be a non-negative integer (got {seed!r})")
    return subjects


def synthesize(
    corpus: str,
    out_dir: str | Path,
    subjects: int | None = None,
    duration_scale: float = 1.0,
    seed: int = 0,
    progress: Callable[[int, int, Path], object] | None = None,
) -> list[Path]:
    """Write a synthetic corpus in the real layout under ``out_dir``.

    Parameters
    ----------
    corpus : str
        Which corpus layout to write: one of :data:`SYNTH_CORPORA`.
    out_dir : path-like
        Root folder; the corpus' own folders (``Preprocessed_EEG``, ``eeg_raw_data``, ...) are created in it
        and existing files of the same names are overwritten.
    subjects : int, optional
        Number of subjects, 1 up to the real corpus' count (SEED 15, SEED-IV 15, SEED-VII 20, DEAP 32,
        FACED 123, DREAMER 23, AMIGOS 40, MPED 23; SEED-V raw 16, SEED raw 15, DEAP raw 32, MAHNOB-HCI 30,
        FACED raw 123, BIDS example 10); default 2.
    duration_scale : float, optional
        Every real trial duration is multiplied by this factor (samples rounded, at least 1 s worth;
        DEAP's 3 s baseline is kept). Must be > 0.
    seed : int, optional
        Base seed. The same seed gives byte-identical files; a subject's files depend only on
        (seed, corpus, subject), so subject 1 is the same whether 1 or 15 subjects are written (DREAMER's
        single file holds every subject written).
    progress : callable, optional
        Called as ``progress(done_files, total_files, path)`` after each file.

    Returns
    -------
    list of pathlib.Path
        The written files, sorted.

    Raises
    ------
    SynthError
        (a ``ValueError`` and an ``EmodDataError``) for an unknown corpus or a bad argument.
    """
    subjects = _check(corpus, subjects, duration_scale, seed)
    spec = get_corpus(corpus)
    plans = spec.layout(spec, subjects, float(duration_scale), seed)
    out_dir = Path(out_dir)
    written = []
    for done, plan in enumerate(plans, start=1):
        path = write_file(spec, plan, out_dir, seed)
        written.append(path)
        if progress is not None:
            progress(done, len(plans), path)
    return sorted(written)
