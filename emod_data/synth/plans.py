"""What the synthesizer plans and how corpora register: file plans, random streams, the corpus registry.

Every synthetic corpus is one module of this package named after it (``emod_data.synth.seed``,
``emod_data.synth.deap_raw``, ...) that defines ``SPEC``, a :class:`CorpusSpec`: its recording conditions,
its layout function (which files, which trials) and its file writer. :data:`SYNTH_CORPORA` names those
modules; :func:`get_corpus` imports one and pairs its spec with the shipped manifest.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np

from emod_data.lexicon import Lexicon, load_lexicon
from emod_data.manifest import Manifest, load_manifest
from emod_data.synth import signals

SYNTH_CORPORA = ("seed", "seed_iv", "seed_vii", "deap", "faced", "dreamer", "amigos", "mped")
SYNTH_CORPORA += ("seed_v_raw", "seed_raw", "deap_raw", "mahnob_hci", "faced_raw", "bids_example")
"""Corpora :func:`emod_data.synth.synthesize` can write: each is a module ``emod_data.synth.<name>`` with a ``SPEC``."""


@dataclass(frozen=True)
class Trial:
    """One trial to synthesize.

    Attributes
    ----------
    key : str
        Variable name in the file (unused for stacked layouts).
    session, index : int
        Session and position of the trial; with the subject they seed the trial's random stream.
    n_samples : int
        Length in samples.
    valence, arousal : float
        Position in the V-A plane on [-4, 4].
    baseline_samples : int
        Length of a leading neutral baseline (DEAP).
    """

    key: str
    session: int
    index: int
    n_samples: int
    valence: float
    arousal: float
    baseline_samples: int = 0


@dataclass(frozen=True)
class FilePlan:
    """One file to write.

    Attributes
    ----------
    relpath : str
        Path relative to the output folder, with forward slashes.
    subject : int
        Subject number (0 for files shared by all subjects).
    container : {"mat5", "mat73", "deap"}
        How the file is written.
    created : datetime.datetime
        Creation time stored in MATLAB headers.
    trials : tuple of Trial
        Trials in file order.
    constants : tuple of (str, numpy.ndarray)
        Variables written before the trials (``label`` of SEED's label.mat).
    ratings : numpy.ndarray or None
        DEAP's (40, 4) ratings.
    """

    relpath: str
    subject: int
    container: str
    created: datetime
    trials: tuple[Trial, ...] = ()
    constants: tuple[tuple[str, np.ndarray], ...] = field(default=())
    ratings: np.ndarray | None = None


@dataclass(frozen=True)
class Corpus:
    """What :func:`write_file` needs to know about a corpus besides its plans."""

    name: str
    manifest: Manifest
    config: signals.SignalConfig
    layout: Callable[[Corpus, int, float, int], list[FilePlan]]
    writer: Callable[[Corpus, FilePlan, Path, int], Path]

    @property
    def eeg_names(self) -> list[str]:
        """The EEG channel names, in file order (peripheral channels excluded)."""
        excluded = set(self.manifest.channels.exclude)
        return [n for n in self.manifest.channels.names if n not in excluded]


@dataclass(frozen=True)
class CorpusSpec:
    """What a corpus module declares (its ``SPEC``) to be synthesizable.

    Attributes
    ----------
    config : SignalConfig
        Recording conditions (the rate must equal the manifest's ``format.sfreq``).
    layout : callable
        ``layout(corpus, subjects, scale, seed) -> list of FilePlan``: the files of subjects 1 to ``subjects``,
        every real trial duration multiplied by ``scale``; random choices (ratings, presentation orders) are
        drawn from streams of ``seed`` (:func:`stream`), so a subject's files do not depend on how many are
        written. The layout functions' docstrings say what ``scale`` and ``seed`` change for their corpus.
    writer : callable
        ``writer(corpus, plan, out_dir, seed) -> path``: writes one planned file under ``out_dir`` (its bytes
        depend only on the seed, the corpus and the subject) and returns its path.
    real_subjects : int
        Number of subjects of the real corpus (the most :func:`emod_data.synth.synthesize` writes).
    """

    config: signals.SignalConfig
    layout: Callable[[Corpus, int, float, int], list[FilePlan]]
    writer: Callable[[Corpus, FilePlan, Path, int], Path]
    real_subjects: int


def corpus_spec(name: str) -> CorpusSpec:
    """The ``SPEC`` of the corpus module ``emod_data.synth.<name>`` (``name`` in :data:`SYNTH_CORPORA`).

    Raises
    ------
    KeyError
        When ``name`` is not a synthesizable corpus.
    """
    if name not in SYNTH_CORPORA:
        raise KeyError(name)
    return importlib.import_module(f"emod_data.synth.{name}").SPEC


def get_corpus(name: str) -> Corpus:
    """Describe a synthesizable corpus.

    Parameters
    ----------
    name : str
        A name of :data:`SYNTH_CORPORA`.

    Returns
    -------
    Corpus
        Its manifest, recording conditions, layout function and writer.
    """
    spec = corpus_spec(name)
    manifest = load_manifest(name)
    if manifest.format.sfreq != spec.config.sfreq:
        raise ValueError(
            f"manifest '{name}' declares {manifest.format.sfreq} Hz, the synthesizer {spec.config.sfreq} Hz"
        )
    return Corpus(name, manifest, spec.config, spec.layout, spec.writer)


def write_file(corpus: Corpus, plan: FilePlan, out_dir: Path, seed: int) -> Path:
    """Write one planned file under ``out_dir`` with the corpus' writer (:attr:`Corpus.writer`)."""
    return corpus.writer(corpus, plan, out_dir, seed)


def target_path(out_dir: Path, plan: FilePlan) -> Path:
    """The path a plan is written to, its folder created."""
    path = Path(out_dir) / plan.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def stream(seed: int, corpus: str, *key: int) -> np.random.Generator:
    """An independent random stream for (seed, corpus, key...).

    Parameters
    ----------
    seed : int
        Base seed given to :func:`emod_data.synth.synthesize`.
    corpus : str
        Corpus name (hashed with CRC-32 so streams differ between corpora).
    *key : int
        Further non-negative integers, e.g. (subject, session, trial).

    Returns
    -------
    numpy.random.Generator
        The same key always gives the same numbers, whatever else is generated.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(corpus.encode()), *key]))


def scaled_samples(sfreq: float, seconds: float, scale: float) -> int:
    """Number of samples of a scaled trial.

    Parameters
    ----------
    sfreq : float
        Sampling rate in Hz.
    seconds : float
        Real duration of the trial.
    scale : float
        Duration scale.

    Returns
    -------
    int
        ``round(sfreq * seconds * scale)``, but at least one second of samples.
    """
    return max(round(sfreq * seconds * scale), int(sfreq))


def later_dates(first: date, subject: int, count: int) -> list[date]:
    """Recording dates of a subject's sessions.

    Parameters
    ----------
    first : datetime.date
        Date of session 1.
    subject : int
        Subject number; fixes the gaps.
    count : int
        Number of sessions.

    Returns
    -------
    list of datetime.date
        ``count`` strictly increasing dates starting at ``first``, 7-40 days apart, so that session k is the
        subject's k-th date.
    """
    dates = [first]
    for k in range(1, count):
        dates.append(dates[-1] + timedelta(days=7 + (subject * 7 + k * 11) % 34))
    return dates


def class_va(corpus: Corpus, code: object, lexicon: Lexicon | None = None) -> tuple[float, float]:
    """Lexicon coordinates of a label code or class name of the corpus."""
    labels = corpus.manifest.labels
    return (lexicon or load_lexicon()).coordinates(labels.codes.get(str(code), str(code)))


def class_trials(
    corpus: Corpus, session: int, labels: list, durations: list[int], scale: float, keys: list[str], extra: int = 0
) -> list[Trial]:
    """Trials labelled by class codes or names (via the manifest's codes and the V-A lexicon)."""
    lexicon = load_lexicon()
    codes = corpus.manifest.labels.codes
    trials = []
    for index, (label, seconds, key) in enumerate(zip(labels, durations, keys, strict=True), start=1):
        valence, arousal = lexicon.coordinates(codes.get(str(label), str(label)))
        n_samples = scaled_samples(corpus.config.sfreq, seconds, scale) + extra
        trials.append(Trial(key, session, index, n_samples, valence, arousal))
    return trials


def session_files(
    subjects: int,
    first_date: Callable[[int], date],
    path: Callable[[int, int, date], str],
    trials: Callable[[int, int], list[Trial]],
    sessions: int = 3,
) -> list[FilePlan]:
    """The shared helper of SEED and SEED-IV: one MATLAB v5 file per subject and session.

    ``first_date(subject)`` gives session 1's date, ``path(subject, session, date)`` the file's relative path
    and ``trials(subject, session)`` its trials.
    """
    plans = []
    for subject in range(1, subjects + 1):
        for session, day in enumerate(later_dates(first_date(subject), subject, sessions), start=1):
            created = datetime.combine(day, time(18, 0, 0))
            plans.append(
                FilePlan(path(subject, session, day), subject, "mat5", created, tuple(trials(subject, session)))
            )
    return plans
