"""Folder layouts of the synthetic corpora, one planning function per corpus.

Each ``*_layout`` function returns the :class:`FilePlan` list of its corpus: file
paths, the trials each file holds (variable name, length, valence, arousal) and
the container. :func:`write_file` renders any plan, generating each trial just
before it is written. Layouts follow ``docs/corpora.md``; constants that the
real releases do not publish (later session dates, SEED-IV and SEED-VII trial
durations) are fixed, deterministic tables here.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np

from emod_data.channels import channel_positions
from emod_data.lexicon import load_lexicon
from emod_data.manifest import Manifest, load_manifest
from emod_data.synth import signals, writers

# --- SEED -------------------------------------------------------------------------------------------------
SEED_FIRST_DATES = (
    "20131027", "20140404", "20140603", "20140621", "20140411", "20130712", "20131027", "20140511",
    "20140620", "20131130", "20140618", "20131127", "20140527", "20140601", "20130709",
)  # fmt: skip
"""Session-1 recording date of SEED subjects 1..15."""

SEED_PREFIXES = tuple("djc jl jj lqj ly mhw phl sxy wk ww wsf wyw xyl ys zjy".split())
"""Variable-name prefix (subject initials) of SEED subjects 1..15."""

SEED_DURATIONS = (235, 233, 206, 238, 185, 195, 237, 216, 265, 237, 235, 233, 235, 238, 206)
"""SEED trial durations in seconds (same in every session); samples = 200 * duration + 1."""

SEED_LABELS = (1, 0, -1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 0, 1, -1)
"""SEED label codes per trial (1 positive, 0 neutral, -1 negative), as in ``label.mat``."""

# --- SEED-IV ----------------------------------------------------------------------------------------------
SEED_IV_PREFIXES = tuple("cz ha hql ldy ly mhw mz qyt rx tyc whh wll wq zjd zjy".split())
"""Variable-name prefix of SEED-IV subjects 1..15."""

SEED_IV_DURATIONS = (
    (
        80,
        238,
        78,
        185,
        117,
        144,
        60,
        277,
        42,
        75,
        273,
        156,
        85,
        190,
        160,
        175,
        178,
        238,
        226,
        223,
        202,
        130,
        211,
        77,
    ),
    (
        125,
        227,
        153,
        284,
        203,
        279,
        48,
        238,
        166,
        51,
        233,
        87,
        215,
        190,
        202,
        42,
        72,
        217,
        151,
        129,
        230,
        50,
        219,
        78,
    ),
    (
        50,
        100,
        42,
        45,
        215,
        165,
        203,
        197,
        220,
        63,
        101,
        78,
        260,
        272,
        193,
        209,
        224,
        82,
        164,
        102,
        187,
        40,
        117,
        252,
    ),
)
"""Synthetic SEED-IV trial durations in seconds per session (the release does not publish them)."""

SEED_IV_FIRST_DATE = date(2015, 9, 1)

# --- SEED-VII ---------------------------------------------------------------------------------------------
SEED_VII_DURATIONS = (
    151, 187, 183, 174, 159, 172, 221, 163, 185, 157, 163, 187, 143, 162, 152, 145, 174, 204, 175, 158,
    128, 192, 175, 151, 193, 213, 123, 186, 193, 185, 214, 187, 144, 239, 173, 210, 224, 194, 120, 121,
    150, 170, 130, 143, 157, 156, 174, 171, 168, 152, 146, 120, 204, 174, 179, 121, 190, 167, 196, 150,
    197, 209, 164, 160, 158, 173, 239, 168, 187, 127, 120, 173, 166, 203, 120, 181, 120, 218, 190, 142,
)  # fmt: skip
"""Synthetic SEED-VII durations in seconds of trials 1..80 (mean about 170 s, range 120-240 s)."""

SEED_VII_DATE = datetime(2024, 3, 1, 10, 0, 0)

# --- DEAP -------------------------------------------------------------------------------------------------
DEAP_BASELINE_SECONDS = 3
DEAP_STIMULUS_SECONDS = 60
DEAP_TRIALS = 40
DEAP_DTYPE = np.float64
"""dtype of DEAP's ``data``. Best knowledge: float64 (each real sNN.dat is about 40*40*8064*8 bytes = 103 MB,
and the MATLAB twin holds doubles); not confirmed against a real file."""

DEAP_DATE = datetime(2012, 1, 1, 12, 0, 0)

REAL_SUBJECTS = {"seed": 15, "seed_iv": 15, "seed_vii": 20, "deap": 32}
"""Number of subjects in each real corpus."""


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
    writer: Callable[[Corpus, FilePlan, Path, int], Path] | None = None

    @property
    def eeg_names(self) -> list[str]:
        """The EEG channel names, in file order (peripheral channels excluded)."""
        excluded = set(self.manifest.channels.exclude)
        return [n for n in self.manifest.channels.names if n not in excluded]


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


def _class_trials(
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


def _session_files(
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


def seed_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """SEED: ``Preprocessed_EEG/<subject>_<YYYYMMDD>.mat`` x 3 sessions plus ``Preprocessed_EEG/label.mat``.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects to write.
    scale : float
        Duration scale applied to every trial.
    seed : int
        Base seed (unused: SEED's labels are fixed).

    Returns
    -------
    list of FilePlan
        Per file: 15 float64 (62, round(200 * duration * scale) + 1) variables ``<prefix>_eeg<k>``; then
        ``label.mat`` with ``label``, a (1, 15) double row.
    """

    def trials(subject: int, session: int) -> list[Trial]:
        keys = [f"{SEED_PREFIXES[subject - 1]}_eeg{k}" for k in range(1, len(SEED_LABELS) + 1)]
        return _class_trials(corpus, session, list(SEED_LABELS), list(SEED_DURATIONS), scale, keys, extra=1)

    plans = _session_files(
        subjects,
        lambda subject: datetime.strptime(SEED_FIRST_DATES[subject - 1], "%Y%m%d").date(),
        lambda subject, session, day: f"Preprocessed_EEG/{subject}_{day:%Y%m%d}.mat",
        trials,
    )
    label = np.asarray(SEED_LABELS, dtype=np.float64)[None, :]
    created = datetime(2014, 7, 1, 12, 0, 0)
    plans.append(FilePlan("Preprocessed_EEG/label.mat", 0, "mat5", created, constants=(("label", label),)))
    return plans


def seed_iv_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """SEED-IV: ``eeg_raw_data/<session>/<subject>_<YYYYMMDD>.mat`` with 24 variables ``<prefix>_eeg<k>``.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects to write.
    scale : float
        Duration scale applied to :data:`SEED_IV_DURATIONS`.
    seed : int
        Base seed (unused: labels come from the manifest).

    Returns
    -------
    list of FilePlan
        Per file: 24 float64 (62, samples) variables at 200 Hz, labelled by the manifest's
        ``sequence_by_session``.
    """
    sequences = corpus.manifest.labels.sequence_by_session

    def trials(subject: int, session: int) -> list[Trial]:
        labels = sequences[str(session)]
        keys = [f"{SEED_IV_PREFIXES[subject - 1]}_eeg{k}" for k in range(1, len(labels) + 1)]
        return _class_trials(corpus, session, labels, list(SEED_IV_DURATIONS[session - 1]), scale, keys)

    return _session_files(
        subjects,
        lambda subject: SEED_IV_FIRST_DATE + timedelta(days=(subject * 53) % 240),
        lambda subject, session, day: f"eeg_raw_data/{session}/{subject}_{day:%Y%m%d}.mat",
        trials,
    )


def seed_vii_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """SEED-VII: ``EEG_preprocessed/<subject>.mat`` (MATLAB v7.3) with variables ``'1'`` .. ``'80'``.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects to write.
    scale : float
        Duration scale applied to :data:`SEED_VII_DURATIONS`.
    seed : int
        Base seed (unused: labels come from the manifest).

    Returns
    -------
    list of FilePlan
        Per subject one file; trial k = (session - 1) * 20 + i is labelled by
        ``sequence_by_session[session][i - 1]``.
    """
    sequences = corpus.manifest.labels.sequence_by_session
    per_session = corpus.manifest.files.trials_per_session or 20
    trials = []
    for session in sorted(int(s) for s in sequences):
        first = (session - 1) * per_session
        keys = [str(first + i) for i in range(1, per_session + 1)]
        durations = list(SEED_VII_DURATIONS[first : first + per_session])
        trials += _class_trials(corpus, session, sequences[str(session)], durations, scale, keys)
    return [
        FilePlan(
            f"EEG_preprocessed/{subject}.mat",
            subject,
            "mat73",
            SEED_VII_DATE + timedelta(days=subject, minutes=subject),
            tuple(trials),
        )
        for subject in range(1, subjects + 1)
    ]


def deap_ratings(rng: np.random.Generator) -> np.ndarray:
    """Draw DEAP-like self-assessment ratings.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        (40, 4) float64 continuous ratings on [1, 9] (valence, arousal, dominance, liking), two decimals,
        spread roughly uniformly with some piling up at the scale's ends as in the real data.
    """
    ratings = rng.uniform(0.6, 9.4, size=(DEAP_TRIALS, 4))
    ratings[:, 3] = 0.6 * ratings[:, 0] + 0.4 * ratings[:, 3]  # liking follows valence
    return np.round(np.clip(ratings, 1.0, 9.0), 2)


def deap_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """DEAP: ``data_preprocessed_python/sNN.dat`` (Python 2 pickle) per subject.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects to write.
    scale : float
        Duration scale of the 60 s stimulus; the 3 s pre-trial baseline keeps its length.
    seed : int
        Base seed: the ratings are drawn from (seed, corpus, subject).

    Returns
    -------
    list of FilePlan
        Per file: ``labels`` (40, 4) and ``data`` (40, 40, 384 + stimulus samples); signals follow
        valence = rating - 5 and arousal = rating - 5.
    """
    sfreq = corpus.config.sfreq
    baseline = round(DEAP_BASELINE_SECONDS * sfreq)
    n = baseline + scaled_samples(sfreq, DEAP_STIMULUS_SECONDS, scale)
    plans = []
    for subject in range(1, subjects + 1):
        ratings = deap_ratings(stream(seed, corpus.name, subject, 0, 1))
        trials = tuple(
            Trial(f"video{i:02d}", 1, i, n, ratings[i - 1, 0] - 5.0, ratings[i - 1, 1] - 5.0, baseline)
            for i in range(1, DEAP_TRIALS + 1)
        )
        created = DEAP_DATE + timedelta(minutes=subject)
        plans.append(
            FilePlan(
                f"data_preprocessed_python/s{subject:02d}.dat",
                subject,
                "deap",
                created,
                trials,
                ratings=ratings,
            )
        )
    return plans


_CORPORA = {
    "seed": (signals.SignalConfig(200.0, (None, 75.0), True, 1.0), seed_layout),
    "seed_iv": (signals.SignalConfig(200.0, (None, 75.0), True, 1.0), seed_iv_layout),
    "seed_vii": (signals.SignalConfig(200.0, (0.1, 70.0), False, 1.0), seed_vii_layout),
    "deap": (signals.SignalConfig(128.0, (4.0, 45.0), False, 0.2), deap_layout),
}


def register_corpus(
    name: str,
    config: signals.SignalConfig,
    layout: Callable[[Corpus, int, float, int], list[FilePlan]],
    real_subjects: int,
    writer: Callable[[Corpus, FilePlan, Path, int], Path] | None = None,
) -> None:
    """Make a corpus synthesizable (modules adding layouts call this on import).

    Parameters
    ----------
    name : str
        Corpus name; its manifest must be shipped.
    config : SignalConfig
        Recording conditions (the rate must equal the manifest's ``format.sfreq``).
    layout : callable
        ``layout(corpus, subjects, scale, seed) -> list of FilePlan``.
    real_subjects : int
        Number of subjects of the real corpus (the most :func:`emod_data.synth.synthesize` writes).
    writer : callable, optional
        ``writer(corpus, plan, out_dir, seed) -> path`` for files :func:`write_file` cannot render itself.
    """
    _CORPORA[name] = (config, layout, writer)
    REAL_SUBJECTS[name] = real_subjects


def get_corpus(name: str) -> Corpus:
    """Describe a synthesizable corpus.

    Parameters
    ----------
    name : str
        A key of :data:`REAL_SUBJECTS`.

    Returns
    -------
    Corpus
        Its manifest, recording conditions and layout function.
    """
    config, layout, *writer = _CORPORA[name]
    manifest = load_manifest(name)
    if manifest.format.sfreq != config.sfreq:
        raise ValueError(f"manifest '{name}' declares {manifest.format.sfreq} Hz, the synthesizer {config.sfreq} Hz")
    return Corpus(name, manifest, config, layout, *writer)


def _render(corpus: Corpus, plan: FilePlan, seed: int) -> Iterator[tuple[str, np.ndarray]]:
    """Generate the plan's variables one at a time (constants first, then trials)."""
    yield from plan.constants
    if not plan.trials:
        return
    positions = channel_positions(corpus.eeg_names)
    profile = signals.make_profile(stream(seed, corpus.name, plan.subject, 0, 0), positions, corpus.config)
    peripheral = len(corpus.manifest.channels.names) - profile.n_channels
    for trial in plan.trials:
        rng = stream(seed, corpus.name, plan.subject, trial.session, trial.index)
        blinks = signals.blink_course(rng, profile, trial.n_samples)
        data = signals.eeg_trial(
            rng, profile, trial.n_samples, trial.valence, trial.arousal, trial.baseline_samples, blinks
        )
        if peripheral:
            data -= data.mean(axis=0)  # DEAP's EEG is common-average referenced
            extra = signals.peripheral_trial(rng, profile, trial.n_samples, trial.arousal, blinks)
            data = np.concatenate([data, extra[:peripheral]])
        yield trial.key, data


def write_file(corpus: Corpus, plan: FilePlan, out_dir: Path, seed: int) -> Path:
    """Write one planned file under ``out_dir``.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    plan : FilePlan
        The file to write.
    out_dir : pathlib.Path
        Root folder of the synthetic corpus.
    seed : int
        Base seed; the file's content depends only on (seed, corpus, subject).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    if corpus.writer is not None:
        return corpus.writer(corpus, plan, out_dir, seed)
    path = out_dir / plan.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    variables = _render(corpus, plan, seed)
    if plan.container == "mat5":
        return writers.write_mat5(path, variables, plan.created)
    if plan.container == "mat73":
        return writers.write_mat73(path, variables, plan.created)
    n_channels = len(corpus.manifest.channels.names)
    data = np.empty((len(plan.trials), n_channels, plan.trials[0].n_samples), dtype=DEAP_DTYPE)
    for row, (_, trial) in zip(data, variables, strict=True):
        row[...] = trial
    return writers.write_py2_pickle(path, {"labels": plan.ratings, "data": data})
