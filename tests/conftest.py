"""Shared fixtures: small synthetic corpora in the real layouts, and stores ingested from them.

A corpus test module that sets ``CORPUS`` (a synthesizable corpus) and ``SYNTH`` (the arguments of
:func:`emod_data.synth.synthesize`) gets ``raw`` (the corpus, written once per module), ``report`` (its
ingest into a module store) and ``copy`` (a private copy a test may damage).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emod_data.ingest import ingest
from emod_data.synth import synthesize

SCALE = 0.03  # trial durations at 3% of the real ones: SEED trials of 6-8 s


@pytest.fixture(scope="session")
def raw_corpora(tmp_path_factory) -> dict[str, Path]:
    """The four synthetic corpora, two subjects each, written once per test session."""
    root = tmp_path_factory.mktemp("raw")
    subjects = {"seed": 2, "seed_iv": 1, "seed_vii": 1, "deap": 2}
    for corpus, n in subjects.items():
        synthesize(corpus, root / corpus, subjects=n, duration_scale=SCALE, seed=7)
    return {corpus: root / corpus for corpus in subjects}


@pytest.fixture(scope="session")
def store_all(raw_corpora, tmp_path_factory) -> Path:
    """One store holding all four synthetic corpora (default processing)."""
    store = tmp_path_factory.mktemp("stores") / "all.zarr"
    for corpus, raw in raw_corpora.items():
        report = ingest(corpus, raw, store)
        assert report.ok, report.failures.to_dict("records")
    return store


@pytest.fixture
def seed_copy(raw_corpora, tmp_path) -> Path:
    """A private copy of the synthetic SEED corpus that a test may damage."""
    target = tmp_path / "seed"
    shutil.copytree(raw_corpora["seed"], target)
    return target


@pytest.fixture(scope="module")
def raw(request, tmp_path_factory) -> Path:
    """The test module's synthetic ``CORPUS``, written once per module with its ``SYNTH`` arguments."""
    root = tmp_path_factory.mktemp(request.module.CORPUS)
    synthesize(request.module.CORPUS, root, **request.module.SYNTH)
    return root


@pytest.fixture(scope="module")
def report(raw, request, tmp_path_factory):
    """The ingest report of ``raw`` into a store of the module's own."""
    return ingest(request.module.CORPUS, raw, tmp_path_factory.mktemp(f"{request.module.CORPUS}_store") / "s.zarr")


@pytest.fixture
def copy(raw, request, tmp_path) -> Path:
    """A private copy of ``raw`` that a test may damage."""
    target = tmp_path / request.module.CORPUS
    shutil.copytree(raw, target)
    return target
