"""Trial labels: class name and index, raw ratings, and valence / arousal / dominance.

Labels, the lexicon and any label file are resolved once per ingest, before any
parallel work (:class:`LabelResolver`); workers only look up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emod_data.errors import LabelError, ManifestError
from emod_data.lexicon import Lexicon, ratings_to_va
from emod_data.manifest import Manifest
from emod_data.readers import open_container, read_variable


def _code_text(code: object) -> str:
    if isinstance(code, float | np.floating) and float(code).is_integer():
        return str(int(code))
    if isinstance(code, np.integer):
        return str(int(code))
    return str(code)


@dataclass
class LabelResolver:
    """Looks up a trial's labels from the manifest, the lexicon and label files.

    Build it with :meth:`from_manifest`; it is small and picklable, so it is sent
    to the workers as is.
    """

    manifest: Manifest
    lexicon: Lexicon
    sequences: dict[int | None, list[str]] = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, manifest: Manifest, lexicon: Lexicon, raw_dir: str | Path) -> LabelResolver:
        """Resolve label sequences (reading a label file if the manifest names one) and check them.

        Raises
        ------
        ManifestError
            A class of the manifest has no lexicon entry, or a code has no class.
        ReaderError
            The label file cannot be read.
        """
        spec = manifest.labels
        sequences: dict[int | None, list[str]] = {}
        if spec.source == "lexicon":
            if spec.sequence is not None:
                sequences[None] = [_code_text(c) for c in spec.sequence]
            elif spec.sequence_by_session is not None:
                sequences = {int(k): [_code_text(c) for c in v] for k, v in spec.sequence_by_session.items()}
            elif spec.file is not None:
                path = Path(raw_dir) / spec.file
                with open_container(path, manifest.format.container, spec.file) as container:
                    codes = np.asarray(read_variable(container, spec.variable, spec.file)).ravel()
                sequences[None] = [_code_text(c) for c in codes]
            excluded = {_code_text(c) for c in spec.exclude_codes}
            for codes in sequences.values():
                for code in codes:
                    if code in excluded:
                        continue
                    name = spec.codes.get(code, code)
                    if name not in spec.classes:
                        raise ManifestError(
                            f"{manifest.path}: label code '{code}' maps to no class of labels.classes {spec.classes}"
                        )
        if spec.source == "lexicon":
            for name in spec.classes:
                try:
                    lexicon.resolve(name)
                except LabelError:
                    raise ManifestError(
                        f"{manifest.path}: class '{name}' has no entry in the valence-arousal lexicon"
                    ) from None
        return cls(manifest, lexicon, sequences)

    def position(self, session: int | None, trial: int) -> tuple[int, int]:
        """(session, position within the session) of a trial number."""
        per = self.manifest.files.trials_per_session
        if self.manifest.files.session == "trial_block":
            return (trial - 1) // per + 1, (trial - 1) % per + 1
        return session, trial

    def stimulus(self, subject: str, session: int, trial: int, stimulus: str | None = None) -> str:
        """The corpus-qualified stimulus id of a trial (``seed/clip03``); ``stimulus`` is the file's own id."""
        _, position = self.position(session, trial)
        text = self.manifest.labels.stimulus.format(
            subject=subject, session=session, trial=trial, position=position, stimulus=stimulus
        )
        return f"{self.manifest.name}/{text}"

    def excluded(self, session: int | None, trial: int, code: str | None = None) -> bool:
        """Whether the manifest excludes this trial's label code (``labels.exclude_codes``, e.g. MPED's rest).

        Parameters
        ----------
        session, trial : int
            Where the trial is.
        code : str, optional
            The label code read from the file (``labels.reader_codes``).

        Returns
        -------
        bool
            True when the trial's code is one of ``labels.exclude_codes``; such trials are not ingested.
        """
        spec = self.manifest.labels
        if not spec.exclude_codes:
            return False
        if spec.reader_codes:
            found = None if code is None else _code_text(code)
        else:
            codes = self.sequences.get(session if session in self.sequences else None)
            _, position = self.position(session, trial)
            found = codes[position - 1] if codes is not None and 1 <= position <= len(codes) else None
        return found is not None and found in {_code_text(c) for c in spec.exclude_codes}

    def _class(self, session: int, trial: int, code: str | None) -> tuple[str, str]:
        spec = self.manifest.labels
        if spec.reader_codes:
            if code is None:
                raise LabelError(f"no label code for session {session} trial {trial} in the file")
            code = _code_text(code)
        else:
            codes = self.sequences.get(session if session in self.sequences else None)
            _, position = self.position(session, trial)
            if codes is None or not 1 <= position <= len(codes):
                raise LabelError(f"no label for session {session} trial {trial} in the manifest's label sequence")
            code = codes[position - 1]
        name = spec.codes.get(code, code)
        if name not in spec.classes:
            raise LabelError(f"label code '{code}' of session {session} trial {trial} maps to no class")
        return name, code

    def labels(self, session: int, trial: int, ratings: np.ndarray | None, code: str | None = None) -> dict:
        """Label columns of one trial.

        Parameters
        ----------
        session, trial : int
            Where the trial is.
        ratings : numpy.ndarray or None
            Raw ratings read from the file (ratings source).
        code : str or None
            Label code read from the file (``labels.reader_codes``).

        Returns
        -------
        dict
            ``class_name``, ``class_index``, ``valence``, ``arousal``, ``dominance``,
            ``label_source``, ``raw_code`` and ``raw_ratings`` (rating name -> raw value).

        Raises
        ------
        LabelError
            No label for this trial position, or ratings missing, NaN or off the scale.
        """
        spec = self.manifest.labels
        if spec.source == "lexicon":
            name, code = self._class(session, trial, code)
            valence, arousal = self.lexicon.coordinates(name)
            row = {
                "class_name": name,
                "class_index": spec.classes.index(name),
                "valence": valence,
                "arousal": arousal,
                "dominance": math.nan,
                "label_source": "lexicon",
                "raw_code": code,
            }
            if ratings is not None and spec.rating_names:  # labels.ratings_file: the subject's own ratings
                row.update(self._rated(trial, ratings))
            return row
        if ratings is None:
            raise LabelError(f"no ratings for trial {trial}")
        rated = self._rated(trial, ratings)
        values = rated.pop("raw_ratings")
        row = {"class_name": None, "class_index": -1, **rated, "raw_code": None, "raw_ratings": values}
        if spec.reader_codes:
            row["class_name"], row["raw_code"] = self._class(session, trial, code)
            row["class_index"] = spec.classes.index(row["class_name"])
        elif spec.binarize is not None:
            high = values[spec.binarize.rating] > spec.binarize.threshold
            row["class_name"] = spec.binarize.classes[int(high)]
            row["class_index"] = int(high)
        return row

    def _rated(self, trial: int, ratings: np.ndarray) -> dict:
        """Valence, arousal, dominance and raw ratings of a trial from its ratings (checked on labels.scale)."""
        spec = self.manifest.labels
        lo, hi = spec.scale
        if not np.all(np.isfinite(ratings)) or np.any((ratings < lo) | (ratings > hi)):
            raise LabelError(f"trial {trial} ratings {ratings.tolist()} are missing or off the scale {lo}-{hi}")
        values = dict(zip(spec.rating_names, ratings.tolist(), strict=True))
        va = ratings_to_va(ratings, spec.scale, self.lexicon.low, self.lexicon.high)
        mapped = dict(zip(spec.rating_names, va.tolist(), strict=True))
        return {
            "valence": mapped["valence"],
            "arousal": mapped["arousal"],
            "dominance": mapped.get("dominance", math.nan),
            "label_source": "rating",
            "raw_ratings": values,
        }


def unrated(labels: dict) -> dict:
    """Label columns of a segment nobody rated (a baseline or rest), from its trial's labels.

    Class, valence, arousal and dominance become null (``class_index`` -1, as for a corpus without
    classes) and ``label_source`` ``"unrated"``; the trial's raw code and ratings stay, as provenance.

    Parameters
    ----------
    labels : dict
        The trial's label columns (:meth:`LabelResolver.labels`).

    Returns
    -------
    dict
        A new dict; ``labels`` is unchanged.
    """
    return {
        **labels,
        "class_name": None,
        "class_index": -1,
        "valence": None,
        "arousal": None,
        "dominance": None,
        "label_source": "unrated",
    }
