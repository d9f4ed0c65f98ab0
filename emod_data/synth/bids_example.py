"""An example EEG-BIDS dataset written through mne-bids: EDF recordings with an events table of films.

Not a real corpus: it shows a BIDS dataset read by the ``bids`` container (10 subjects at most).
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from emod_data.lexicon import load_lexicon
from emod_data.synth import signals
from emod_data.synth.plans import Corpus, CorpusSpec, FilePlan, scaled_samples, stream, target_path
from emod_data.synth.recordings import RecordingPlan, Segment, render

BIDS_CHANNELS = (
    "Fp1 Fp2 F7 F3 Fz F4 F8 FC5 FC1 FC2 FC6 T7 C3 Cz C4 T8 TP9 CP5 CP1 CP2 CP6 TP10 P7 P3 Pz P4 "
    "P8 PO9 O1 Oz O2 PO10 HEOG VEOG"
).split()

BIDS_FILMS = (
    ("happy", 1),
    ("sad", 2),
    ("fear", 3),
    ("neutral", 4),
    ("happy", 5),
    ("sad", 6),
    ("fear", 7),
    ("neutral", 8),
    ("happy", 9),
    ("sad", 10),
    ("fear", 11),
    ("neutral", 12),
)

BIDS_EMOTIONS = tuple(emotion for emotion, _ in BIDS_FILMS)

BIDS_FILM_SECONDS = 60.0

BIDS_REST_SECONDS = 10.0


def bids_example_layout(corpus: Corpus, subjects: int, scale: float, seed: int) -> list[FilePlan]:
    """An example BIDS dataset: ``sub-XX/eeg/sub-XX_task-emotion_eeg.edf`` with events.tsv, via mne-bids.

    Parameters
    ----------
    scale : float
        Duration scale of the 60 s films and 10 s rests (each at least 1 s).
    seed : int
        Base seed: film order and ratings.

    Returns
    -------
    list of FilePlan
        Per subject one EDF recording at 250 Hz (32 EEG, HEOG, VEOG); its events table has a ``rest`` row
        before each ``film`` row; film rows carry ``stim_id``, ``emotion``, ``valence`` and ``arousal``
        (integers 1-9). mne-bids also writes the dataset's sidecars.
    """
    sfreq = corpus.config.sfreq
    film = scaled_samples(sfreq, BIDS_FILM_SECONDS, scale)
    rest = scaled_samples(sfreq, BIDS_REST_SECONDS, scale)
    lexicon = load_lexicon()
    plans: list[FilePlan] = []
    for subject in range(1, subjects + 1):
        rng = stream(seed, corpus.name, subject, 0, 1)
        segments, rows, position = [], [], 0
        for k in rng.permutation(len(BIDS_FILMS)):
            emotion, stim_id = BIDS_FILMS[k]
            valence, arousal = lexicon.coordinates(emotion)
            rated = np.clip(np.round([5 + valence + rng.normal(0, 1), 5 + arousal + rng.normal(0, 1)]), 1, 9)
            rows.append({"onset": position / sfreq, "duration": rest / sfreq, "trial_type": "rest"})
            segments.append(Segment(rest, 0.0, 0.0, 1, 100 + stim_id))
            position += rest
            rows.append(
                {
                    "onset": position / sfreq,
                    "duration": film / sfreq,
                    "trial_type": "film",
                    "stim_id": stim_id,
                    "emotion": emotion,
                    "valence": int(rated[0]),
                    "arousal": int(rated[1]),
                }
            )
            segments.append(Segment(film, rated[0] - 5.0, rated[1] - 5.0, 1, stim_id))
            position += film
        segments.append(Segment(rest, 0.0, 0.0, 1, 99))
        relpath, created = f"sub-{subject:02d}/eeg/sub-{subject:02d}_task-emotion_eeg.edf", datetime(2024, 2, 1, 10)
        recording = {"channel_names": tuple(BIDS_CHANNELS), "segments": tuple(segments), "events_table": tuple(rows)}
        plans.append(RecordingPlan(relpath, subject, "bids", created + timedelta(days=subject), **recording))
    return plans


def _write_bids(corpus: Corpus, plan: RecordingPlan, out_dir: Path, seed: int, chunks) -> Path:
    """Write one BIDS recording with mne-bids (EDF), then add the label columns to its events table."""
    import mne
    from mne_bids import BIDSPath, write_raw_bids

    data = np.concatenate(list(chunks), axis=1) * 1e-6
    types = ["eog" if name.endswith("EOG") else "eeg" for name in plan.channel_names]
    info = mne.create_info(list(plan.channel_names), corpus.config.sfreq, types)
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.set_meas_date(plan.created.replace(tzinfo=UTC))
    raw.info["line_freq"] = 50.0
    onsets = [row["onset"] for row in plan.events_table]
    durations = [row["duration"] for row in plan.events_table]
    raw.set_annotations(mne.Annotations(onsets, durations, [row["trial_type"] for row in plan.events_table]))
    subject = f"{plan.subject:02d}"
    bids_path = BIDSPath(subject=subject, task="emotion", datatype="eeg", root=out_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_raw_bids(raw, bids_path, format="EDF", allow_preload=True, overwrite=True, verbose="error")
    events_path = bids_path.copy().update(suffix="events", extension=".tsv").fpath
    columns = ["onset", "duration", "trial_type", "stim_id", "emotion", "valence", "arousal"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, delimiter="\t", lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in plan.events_table:
        writer.writerow({k: row.get(k, "n/a") for k in columns})
    Path(events_path).write_text(buffer.getvalue(), encoding="utf-8")
    sidecar = {
        "trial_type": {"LongName": "Event category", "Levels": {"rest": "Rest between films", "film": "Film clip"}},
        "stim_id": {"Description": "Number of the film shown (1-12)"},
        "emotion": {"Description": "Emotion the film targets", "Levels": {e: e for e in sorted(set(BIDS_EMOTIONS))}},
        "valence": {"Description": "Self-rated valence after the film", "Units": "1-9 SAM scale"},
        "arousal": {"Description": "Self-rated arousal after the film", "Units": "1-9 SAM scale"},
    }
    Path(events_path).with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    return Path(bids_path.fpath)


def write_bids(corpus: Corpus, plan: FilePlan, out_dir: Path, seed: int) -> Path:
    """Write one subject's recording, its events table and sidecars (a ``CorpusSpec.writer``)."""
    target_path(out_dir, plan)
    return _write_bids(corpus, plan, out_dir, seed, render(corpus, plan, seed))


SPEC = CorpusSpec(signals.SignalConfig(250.0, (None, None), True, 1.0), bids_example_layout, write_bids, 10)
"""How the BIDS example is synthesized."""
