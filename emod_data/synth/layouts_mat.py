"""Synthetic FACED, DREAMER, AMIGOS and MPED in their real on-disk layouts.

These corpora come as MATLAB structs and cell arrays (DREAMER, AMIGOS, FACED's
ratings), per-trial MATLAB variables (MPED) and pickled arrays (FACED). Each
``*_layout`` function plans the files (:class:`~emod_data.synth.layouts.FilePlan`)
and :func:`write_plan` renders one planned file, generating each trial's signal
with :mod:`emod_data.synth.signals`. Facts come from ``docs/corpora.md``; what the
releases do not publish (clip durations, some field names, folder names) are
fixed, deterministic tables here, listed in each layout's docstring.

MATLAB files are written as MATLAB's default ``save`` does (a v5 container with
compressed variables, header "MATLAB 5.0 MAT-file") with a fixed creation date,
so equal arguments give equal bytes.
"""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.io

from emod_data.channels import canonical_name, channel_positions
from emod_data.lexicon import load_lexicon
from emod_data.synth import signals, writers
from emod_data.synth.layouts import Corpus, FilePlan, Trial, register_corpus, scaled_samples, stream

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy < 2
    from numpy.core.multiarray import _reconstruct

# --- FACED ------------------------------------------------------------------------------------------------
FACED_CLIP_SECONDS = 30
"""The processed release keeps the last 30 s of each clip."""

FACED_CLIPS = 28
FACED_ITEMS = (
    "Joy", "Tenderness", "Inspiration", "Amusement", "Anger", "Disgust", "Fear", "Sadness",
    "Arousal", "Valence", "Familiarity", "Liking",
)  # fmt: skip
"""The 12 items of ``After_remark{i}.score``, in file order."""

FACED_SCALE = (0, 7)
"""Rating scale written into the synthetic ``After_remarks.mat`` (integers; the project's default reading)."""

FACED_DATE = datetime(2021, 6, 1, 9, 0, 0)

# --- DREAMER ----------------------------------------------------------------------------------------------
DREAMER_CLIP_SECONDS = (199, 131, 204, 183, 194, 393, 206, 162, 212, 206, 147, 167, 117, 177, 165, 65, 203, 149)
"""Synthetic clip durations in seconds (in the release's documented range of 65-393 s; not the real table)."""

DREAMER_BASELINE_SECONDS = 61
DREAMER_ECG_SFREQ = 256.0
DREAMER_DATE = datetime(2017, 3, 1, 12, 0, 0)
DREAMER_DC_OFFSET = (4000.0, 4400.0)
"""Range of the per-channel DC offset (µV) of Emotiv EPOC raw values; DREAMER's EEG is not high-passed."""

# --- AMIGOS -----------------------------------------------------------------------------------------------
AMIGOS_VIDEO_IDS = ("4", "5", "9", "10", "13", "18", "19", "20", "23", "30", "31", "34", "36", "58", "80", "138",
                    "N1", "P1", "B1", "U1")  # fmt: skip
"""Video ids of the 16 short and 4 long videos, in the order written (the real files' order is unconfirmed)."""

AMIGOS_SECONDS = (110, 98, 84, 116, 62, 93, 137, 102, 146, 71, 88, 125, 109, 78, 51, 129, 882, 1216, 1397, 1085)
"""Synthetic video durations in seconds: short ones 51-150 s, long ones 14-24 min (not the real table)."""

AMIGOS_NO_LONG_VIDEOS = (8, 24, 28)
"""Participants without the long-videos experiment: their last 4 cells are empty."""

AMIGOS_NO_LONG_RATINGS = (32,)
"""Participants whose long-video self-assessment is missing (empty cells; the signals are there)."""

AMIGOS_DATE = datetime(2017, 9, 1, 10, 0, 0)

# --- MPED -------------------------------------------------------------------------------------------------
MPED_SECONDS = (
    120, 183, 201, 175, 196, 212, 188, 179, 204, 193, 197, 176, 199, 208, 185,
    120, 191, 182, 197, 205, 178, 204, 186, 200, 199, 181, 205, 202, 194, 210,
)  # fmt: skip
"""Synthetic durations in seconds of trials 1..30 (rest trials 1 and 16: 120 s). Not published with the
release: chosen so that 10 s windows over the 28 non-rest trials give 530 per subject, the published
12,190 for 23 subjects."""

MPED_LABELS = (0, 2, 1, 4, 3, 5, 6, 7, 1, 2, 3, 6, 7, 4, 5, 0, 1, 5, 6, 2, 2, 1, 7, 6, 4, 4, 3, 5, 3, 7)
"""MPED label codes of trials 1..30 (0 rest, 1 neutral, 2 joy, 3 funny, 4 anger, 5 fear, 6 disgust, 7 sadness)."""

MPED_FIRST_FILE_TRIALS = 17
"""``<name>_d.mat`` holds raw_eeg1..raw_eeg17, ``<name>_dd.mat`` the rest."""

MPED_DATE = datetime(2018, 2, 6, 15, 42, 29)
MPED_PLATFORM = "PCWIN64"


def _profile(corpus: Corpus, subject: int, seed: int, names: list[str] | None = None) -> signals.SubjectProfile:
    positions = channel_positions(names if names is not None else corpus.eeg_names)
    return signals.make_profile(stream(seed, corpus.name, subject, 0, 0), positions, corpus.config)


def _eeg(corpus: Corpus, profile: signals.SubjectProfile, subject: int, trial: Trial, seed: int) -> np.ndarray:
    rng = stream(seed, corpus.name, subject, trial.session, trial.index)
    blinks = signals.blink_course(rng, profile, trial.n_samples)
    return signals.eeg_trial(rng, profile, trial.n_samples, trial.valence, trial.arousal, 0, blinks)


def ecg_like(rng: np.random.Generator, n_samples: int, sfreq: float, heart_rate: float) -> np.ndarray:
    """An ECG-like trace: QRS spikes and T waves at a slowly varying heart rate, plus noise.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n_samples : int
        Length in samples.
    sfreq : float
        Sampling rate in Hz.
    heart_rate : float
        Mean beats per second (about 1-1.4).

    Returns
    -------
    numpy.ndarray
        (n_samples,) float64, R peaks of about 1000 (µV-like units) on a wandering baseline.
    """
    t = np.arange(n_samples) / sfreq
    rate = heart_rate * (1.0 + 0.05 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 2 * np.pi)))
    phase = np.cumsum(rate) / sfreq + rng.uniform(0, 1)
    within = phase - np.floor(phase)
    qrs = 1000.0 * np.exp(-(((within - 0.2) / 0.012) ** 2))
    t_wave = 250.0 * np.exp(-(((within - 0.5) / 0.06) ** 2))
    wander = 50.0 * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 2 * np.pi))
    return qrs + t_wave + wander + rng.normal(0.0, 10.0, n_samples)


def save_mat(path: Path, variables: dict, created: datetime, platform: str = writers.PLATFORM) -> Path:
    """Write a MATLAB file as MATLAB's default ``save`` does (v5 container, compressed variables).

    Parameters
    ----------
    path : pathlib.Path
        File to (over)write.
    variables : dict
        Variable name -> value; dicts become structs, object arrays cell arrays, str char arrays.
    created : datetime.datetime
        Creation time written into the header.
    platform : str, optional
        Platform string of the header.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    scipy.io.savemat(path, variables, format="5", do_compression=True, oned_as="row")
    with path.open("r+b") as handle:
        handle.write(writers.matlab_header("5.0", created, platform)[:116])
    return path


def cell(values: list, shape: tuple[int, int]) -> np.ndarray:
    """A MATLAB cell array (object array) of the given shape, filled in column-major order."""
    out = np.empty(len(values), dtype=object)
    for index, value in enumerate(values):
        out[index] = value
    return out.reshape(shape, order="F")


class _NumpyV1Pickler(pickle._Pickler):
    """Protocol-4 pickler naming ``numpy.core.multiarray._reconstruct`` as NumPy 1.x did (FACED's pickles)."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_global(self, obj, name=None):
        if obj is _reconstruct:
            self.save("numpy.core.multiarray")
            self.save("_reconstruct")
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def write_numpy1_pickle(path: Path, array: np.ndarray) -> Path:
    """Pickle an array as ``pickle.dump(array, f)`` did under Python 3.8+ and NumPy 1.x (protocol 4).

    Parameters
    ----------
    path : pathlib.Path
        File to (over)write.
    array : numpy.ndarray
        A plain numeric array.

    Returns
    -------
    pathlib.Path
        The written file; ``pickle.load`` reads it back with any NumPy.
    """
    with path.open("wb") as handle:
        _NumpyV1Pickler(handle, protocol=4).dump(np.ascontiguousarray(array))
    return path


# --- FACED ------------------------------------------------------------------------------------------------
def faced_ratings(rng: np.random.Generator, classes: list[str]) -> np.ndarray:
    """Draw one subject's After_remarks scores, in clip (video index) order.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    classes : list of str
        The class of clips 1..28.

    Returns
    -------
    numpy.ndarray
        (28, 12) integers on 0-7 as float64: the clip's own emotion item high (4-7), other emotion items low
        (0-2), arousal and valence around the class' lexicon coordinates mapped onto 0-7, familiarity and
        liking at random.
    """
    lexicon = load_lexicon()
    items = [i.lower() for i in FACED_ITEMS]
    low, high = FACED_SCALE
    out = np.zeros((len(classes), len(items)))
    for row, name in enumerate(classes):
        out[row, :8] = rng.integers(0, 3, size=8)
        if name in items[:8]:
            out[row, items.index(name)] = rng.integers(4, 8)
        valence, arousal = lexicon.coordinates(name)
        for column, value in ((8, arousal), (9, valence)):
            on_scale = low + (value + 4.0) * (high - low) / 8.0 + rng.normal(0.0, 0.8)
            out[row, column] = np.clip(np.round(on_scale), low, high)
        out[row, 10:] = rng.integers(0, 8, size=2)
    return out


def faced_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """FACED: ``Processed_Data/subNNN.pkl`` and the raw release's ``Data/subNNN/After_remarks.mat``.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects (sub000 is subject 1).
    scale : float
        Duration scale of the 30 s clips.
    seed : int
        Base seed: ratings and presentation order come from (seed, corpus, subject).

    Returns
    -------
    list of FilePlan
        Per subject a pickle of a float64 array (28 clips, 32 channels, samples) in µV at 250 Hz, clips in
        video-index order, channels Fp1 ... O2 A2 A1 average-referenced; and ``After_remarks.mat`` with a
        (28, 1) struct array ``After_remark`` in presentation order, fields ``score`` (1, 12), ``trial``
        (presentation position; a placeholder name: the real struct's other field names are unconfirmed)
        and ``vid`` (video index; public loaders read it as the third field). Trial valence and arousal
        follow the subject's own ratings mapped from 0-7 onto [-4, 4], as the manifest does.
    """
    classes = [str(c) for c in corpus.manifest.labels.sequence]
    n = scaled_samples(corpus.config.sfreq, FACED_CLIP_SECONDS, scale)
    low, high = FACED_SCALE
    plans = []
    for subject in range(1, subjects + 1):
        ratings = faced_ratings(stream(seed, corpus.name, subject, 0, 1), classes)
        order = stream(seed, corpus.name, subject, 0, 2).permutation(FACED_CLIPS) + 1
        va = -4.0 + (ratings[:, [9, 8]] - low) * 8.0 / (high - low)
        trials = tuple(Trial(f"clip{k:02d}", 1, k, n, float(va[k - 1, 0]), float(va[k - 1, 1])) for k in range(1, 29))
        created = FACED_DATE + timedelta(days=subject)
        plans.append(FilePlan(f"Processed_Data/sub{subject - 1:03d}.pkl", subject, "faced", created, trials))
        plans.append(
            FilePlan(
                f"Data/sub{subject - 1:03d}/After_remarks.mat",
                subject,
                "faced_remarks",
                created,
                constants=(("order", order),),
                ratings=ratings,
            )
        )
    return plans


def _write_faced(corpus: Corpus, plan: FilePlan, path: Path, seed: int) -> Path:
    names = [canonical_name(n) or n for n in corpus.manifest.channels.names]  # A1/A2 too: they carry signal
    profile = _profile(corpus, plan.subject, seed, names)
    data = np.empty((len(plan.trials), len(names), plan.trials[0].n_samples))
    for row, trial in zip(data, plan.trials, strict=True):
        row[...] = _eeg(corpus, profile, plan.subject, trial, seed)
        row -= row.mean(axis=0)  # the release is common-average referenced
    return write_numpy1_pickle(path, data)


def _write_faced_remarks(plan: FilePlan, path: Path) -> Path:
    order = dict(plan.constants)["order"]
    remarks = np.empty((FACED_CLIPS, 1), dtype=[("score", object), ("trial", object), ("vid", object)])
    for position, vid in enumerate(order, start=1):
        remarks[position - 1, 0] = (
            plan.ratings[vid - 1][None, :],
            np.array([[float(position)]]),
            np.array([[float(vid)]]),
        )
    return save_mat(path, {"After_remark": remarks}, plan.created)


# --- DREAMER ----------------------------------------------------------------------------------------------
def dreamer_scores(rng: np.random.Generator) -> np.ndarray:
    """Draw one subject's scores: (18, 3) integers on 1-5 (valence, arousal, dominance) as float64."""
    return rng.integers(1, 6, size=(len(DREAMER_CLIP_SECONDS), 3)).astype(np.float64)


def dreamer_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """DREAMER: one ``DREAMER.mat`` holding every subject.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects in the file.
    scale : float
        Duration scale of the clips (:data:`DREAMER_CLIP_SECONDS`); the 61 s baselines keep their length.
    seed : int
        Base seed: scores come from (seed, corpus, subject).

    Returns
    -------
    list of FilePlan
        One plan. The file holds the struct ``DREAMER`` with fields ``Data`` ((1, subjects) cell of subject
        structs), ``EEG_SamplingRate`` 128, ``ECG_SamplingRate`` 256, ``EEG_Electrodes`` and
        ``ECG_Electrodes`` (cells of names), ``noOfSubjects``, ``noOfVideoSequences``, ``Disclaimer``,
        ``Provider``, ``Version``, ``Acknowledgement``. Each subject struct: ``Age``, ``Gender`` (text),
        ``EEG`` and ``ECG`` structs with ``baseline`` and ``stimuli`` ((18, 1) cells of (samples, 14) EEG at
        128 Hz and (samples, 2) ECG at 256 Hz, time first), ``ScoreValence``, ``ScoreArousal``,
        ``ScoreDominance`` ((18, 1) doubles holding integers 1-5). EEG values carry an Emotiv-like DC offset.
    """
    sfreq = corpus.config.sfreq
    trials = []
    for subject in range(1, subjects + 1):
        scores = dreamer_scores(stream(seed, corpus.name, subject, 0, 1))
        va = (scores - 3.0) * 2.0
        for k, seconds in enumerate(DREAMER_CLIP_SECONDS, start=1):
            n = scaled_samples(sfreq, seconds, scale)
            trials.append(Trial(f"s{subject}", subject, k, n, float(va[k - 1, 0]), float(va[k - 1, 1])))
    return [FilePlan("DREAMER.mat", 0, "dreamer", DREAMER_DATE, tuple(trials))]


def _write_dreamer(corpus: Corpus, plan: FilePlan, path: Path, seed: int) -> Path:
    sfreq = corpus.config.sfreq
    n_base = round(DREAMER_BASELINE_SECONDS * sfreq)
    subjects = sorted({t.session for t in plan.trials})
    data = []
    for subject in subjects:
        profile = _profile(corpus, subject, seed)
        offset = stream(seed, corpus.name, subject, 0, 3).uniform(*DREAMER_DC_OFFSET, size=profile.n_channels)
        mine = [t for t in plan.trials if t.session == subject]
        eeg = {"baseline": [], "stimuli": []}
        ecg = {"baseline": [], "stimuli": []}
        for trial in mine:
            base = Trial(trial.key, 100 + subject, trial.index, n_base, 0.0, 0.0)
            for part, spec in (("baseline", base), ("stimuli", trial)):
                signal = _eeg(corpus, profile, subject, spec, seed) + offset[:, None]
                eeg[part].append(np.ascontiguousarray(signal.T))
                rng = stream(seed, corpus.name, subject, 200 + (part == "stimuli"), trial.index)
                n_ecg = round(spec.n_samples * DREAMER_ECG_SFREQ / sfreq)
                leads = [ecg_like(rng, n_ecg, DREAMER_ECG_SFREQ, profile.heart_rate) for _ in range(2)]
                ecg[part].append(np.stack(leads, axis=1))
        scores = dreamer_scores(stream(seed, corpus.name, subject, 0, 1))
        rng = stream(seed, corpus.name, subject, 0, 4)
        data.append(
            {
                "Age": str(int(rng.integers(22, 34))),
                "Gender": "male" if rng.random() < 0.6 else "female",
                "EEG": {part: cell(values, (len(values), 1)) for part, values in eeg.items()},
                "ECG": {part: cell(values, (len(values), 1)) for part, values in ecg.items()},
                "ScoreValence": scores[:, [0]],
                "ScoreArousal": scores[:, [1]],
                "ScoreDominance": scores[:, [2]],
            }
        )
    electrodes = list(corpus.manifest.channels.names)
    dreamer = {
        "Data": cell(data, (1, len(data))),
        "EEG_SamplingRate": float(sfreq),
        "ECG_SamplingRate": DREAMER_ECG_SFREQ,
        "EEG_Electrodes": cell(electrodes, (1, len(electrodes))),
        "ECG_Electrodes": cell(["ECG1", "ECG2"], (1, 2)),
        "noOfSubjects": float(len(data)),
        "noOfVideoSequences": float(len(DREAMER_CLIP_SECONDS)),
        "Disclaimer": "Synthetic data written by emod_data.synth in the layout of the DREAMER release.",
        "Provider": "emod_data.synth",
        "Version": "1.0.2",
        "Acknowledgement": "Layout after Katsigiannis & Ramzan (2018); the signals are synthetic.",
    }
    return save_mat(path, {"DREAMER": dreamer}, plan.created)


# --- AMIGOS -----------------------------------------------------------------------------------------------
def amigos_ratings(rng: np.random.Generator) -> np.ndarray:
    """Draw one participant's self-assessment: (20, 12) = arousal, valence, dominance, liking, familiarity on
    1-9 (two decimals), then seven 0/1 basic-emotion flags."""
    out = np.zeros((len(AMIGOS_VIDEO_IDS), 12))
    out[:, :5] = np.round(np.clip(rng.uniform(0.6, 9.4, size=(len(AMIGOS_VIDEO_IDS), 5)), 1.0, 9.0), 2)
    flags = rng.integers(0, 7, size=len(AMIGOS_VIDEO_IDS))
    out[np.arange(len(flags)), 5 + flags] = 1.0
    return out


def amigos_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """AMIGOS: ``Data_Preprocessed_PNN/Data_Preprocessed_PNN.mat`` per participant.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of participants (P01 upwards).
    scale : float
        Duration scale of :data:`AMIGOS_SECONDS`.
    seed : int
        Base seed: ratings come from (seed, corpus, participant).

    Returns
    -------
    list of FilePlan
        Per participant (1, 20) cell arrays ``VideoIDs`` (text), ``joined_data`` ((samples, 17) at 128 Hz,
        time first: 14 EEG columns average-referenced, ECG right and left, GSR), ``labels_selfassessment``
        ((1, 12): arousal first, then valence) and ``labels_ext_annotation`` ((segments, 3): 20 s segment
        number, valence, arousal; layout unconfirmed, not read). Participants of
        :data:`AMIGOS_NO_LONG_VIDEOS` have empty cells for the long videos, those of
        :data:`AMIGOS_NO_LONG_RATINGS` empty self-assessment cells for them. Trial valence and arousal follow
        the ratings (``rating - 5``).
    """
    sfreq = corpus.config.sfreq
    plans = []
    for subject in range(1, subjects + 1):
        ratings = amigos_ratings(stream(seed, corpus.name, subject, 0, 1))
        count = 16 if subject in AMIGOS_NO_LONG_VIDEOS else len(AMIGOS_VIDEO_IDS)
        trials = tuple(
            Trial(AMIGOS_VIDEO_IDS[k - 1], 1, k, scaled_samples(sfreq, AMIGOS_SECONDS[k - 1], scale),
                  ratings[k - 1, 1] - 5.0, ratings[k - 1, 0] - 5.0)
            for k in range(1, count + 1)
        )  # fmt: skip
        name = f"Data_Preprocessed_P{subject:02d}"
        created = AMIGOS_DATE + timedelta(minutes=subject)
        plans.append(FilePlan(f"{name}/{name}.mat", subject, "amigos", created, trials, ratings=ratings))
    return plans


def _write_amigos(corpus: Corpus, plan: FilePlan, path: Path, seed: int) -> Path:
    profile = _profile(corpus, plan.subject, seed)
    n_videos = len(AMIGOS_VIDEO_IDS)
    empty = np.zeros((0, 0))
    joined, selfs, external = [empty] * n_videos, [empty] * n_videos, [empty] * n_videos
    for trial in plan.trials:
        k = trial.index
        eeg = _eeg(corpus, profile, plan.subject, trial, seed)
        eeg -= eeg.mean(axis=0)  # the release is common-average referenced
        rng = stream(seed, corpus.name, plan.subject, 2, k)
        ecg = [ecg_like(rng, trial.n_samples, corpus.config.sfreq, profile.heart_rate) for _ in range(2)]
        gsr = signals.peripheral_trial(rng, profile, trial.n_samples, trial.arousal, np.zeros(trial.n_samples))[4]
        joined[k - 1] = np.ascontiguousarray(np.vstack([eeg, *ecg, gsr]).T)
        if plan.subject not in AMIGOS_NO_LONG_RATINGS or k <= 16:
            selfs[k - 1] = plan.ratings[k - 1][None, :]
        segments = max(int(trial.n_samples / corpus.config.sfreq // 20), 1)
        annotation = np.column_stack([np.arange(1, segments + 1), rng.uniform(-1, 1, (segments, 2))])
        external[k - 1] = annotation
    variables = {
        "VideoIDs": cell(list(AMIGOS_VIDEO_IDS), (1, n_videos)),
        "joined_data": cell(joined, (1, n_videos)),
        "labels_selfassessment": cell(selfs, (1, n_videos)),
        "labels_ext_annotation": cell(external, (1, n_videos)),
    }
    return save_mat(path, variables, plan.created)


# --- MPED -------------------------------------------------------------------------------------------------
def mped_names(subjects: int) -> list[str]:
    """Folder names of the synthetic MPED subjects (the real ones are subject names; these are placeholders)."""
    return [f"s{subject:02d}" for subject in range(1, subjects + 1)]


def mped_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """MPED: ``raw_EEG_signals/<name>/<name>_d.mat`` (raw_eeg1..17) and ``<name>_dd.mat`` (raw_eeg18..30).

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    subjects : int
        Number of subjects.
    scale : float
        Duration scale of :data:`MPED_SECONDS`.
    seed : int
        Base seed (unused: labels are fixed).

    Returns
    -------
    list of FilePlan
        Two files per subject of float64 (62, samples) variables at 1000 Hz in µV, rows in the channel
        order of the manifest (exactly 62 rows: whether the real files hold further rows is unconfirmed).
        Rest trials (code 0) get neutral signals; the others their class' lexicon coordinates.
    """
    lexicon = load_lexicon()
    codes = corpus.manifest.labels.codes
    sfreq = corpus.config.sfreq
    trials = []
    for k, (code, seconds) in enumerate(zip(MPED_LABELS, MPED_SECONDS, strict=True), start=1):
        valence, arousal = (0.0, 0.0) if code == 0 else lexicon.coordinates(codes[str(code)])
        trials.append(Trial(f"raw_eeg{k}", 1, k, scaled_samples(sfreq, seconds, scale), valence, arousal))
    plans = []
    for subject, name in enumerate(mped_names(subjects), start=1):
        created = MPED_DATE + timedelta(days=subject)
        for suffix, part in (("d", trials[:MPED_FIRST_FILE_TRIALS]), ("dd", trials[MPED_FIRST_FILE_TRIALS:])):
            relpath = f"raw_EEG_signals/{name}/{name}_{suffix}.mat"
            plans.append(FilePlan(relpath, subject, "mped", created, tuple(part)))
    return plans


def _write_mped(corpus: Corpus, plan: FilePlan, path: Path, seed: int) -> Path:
    profile = _profile(corpus, plan.subject, seed)
    variables = {trial.key: _eeg(corpus, profile, plan.subject, trial, seed) for trial in plan.trials}
    return save_mat(path, variables, plan.created, MPED_PLATFORM)


def write_plan(corpus: Corpus, plan: FilePlan, out_dir: Path, seed: int) -> Path:
    """Write one planned file of FACED, DREAMER, AMIGOS or MPED.

    Parameters
    ----------
    corpus : Corpus
        The corpus description.
    plan : FilePlan
        The file to write (``plan.container`` names the kind).
    out_dir : pathlib.Path
        Root folder of the synthetic corpus.
    seed : int
        Base seed; a file's content depends only on (seed, corpus, subject).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = out_dir / plan.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    if plan.container == "faced":
        return _write_faced(corpus, plan, path, seed)
    if plan.container == "faced_remarks":
        return _write_faced_remarks(plan, path)
    if plan.container == "dreamer":
        return _write_dreamer(corpus, plan, path, seed)
    if plan.container == "amigos":
        return _write_amigos(corpus, plan, path, seed)
    if plan.container == "mped":
        return _write_mped(corpus, plan, path, seed)
    raise ValueError(f"unknown file kind '{plan.container}' for corpus {corpus.name}")


register_corpus("faced", signals.SignalConfig(250.0, (0.05, 47.0), False, 0.2), faced_layout, 123, write_plan)
register_corpus("dreamer", signals.SignalConfig(128.0, (0.16, 43.0), False, 1.0), dreamer_layout, 23, write_plan)
register_corpus("amigos", signals.SignalConfig(128.0, (4.0, 45.0), False, 0.2), amigos_layout, 40, write_plan)
register_corpus("mped", signals.SignalConfig(1000.0, (None, None), True, 1.0), mped_layout, 23, write_plan)
