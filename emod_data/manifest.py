"""Corpus manifests: declarative TOML descriptions of how a corpus lies on disk.

A manifest says where a corpus' files are, how subject, session and trial are
read from file names and variable names, which reader handles the format, the
channel list and units, the sampling rate and how labels map into the
valence-arousal plane. Manifests are validated on load; every problem is
reported as one line naming the manifest, the field and what was expected.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from emod_data.errors import ManifestError
from emod_data.readers.base import CONTAINERS, CONTINUOUS_CONTAINERS
from emod_data.segmentation import RecordingSection, check_manifest

MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"
"""Folder of the manifests shipped with the project."""

UNIT_SCALES = {"V": 1e6, "mV": 1e3, "uV": 1.0, "nV": 1e-3}
"""Multiplier that converts each declared unit into microvolts."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusSection(_Section):
    """Identity of the corpus."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    description: str = ""
    reference: str = ""


class FilesSection(_Section):
    """Where the files are and how ids are read from their paths."""

    glob: str
    pattern: str
    exclude: list[str] = []
    session: Literal["group", "date_rank", "fixed", "trial_block", "reader"] = "fixed"
    trials_per_session: int | None = Field(default=None, gt=0, strict=True)

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return value

    subject_from: Literal["pattern", "reader"] = "pattern"

    @model_validator(mode="after")
    def _session_rule(self) -> FilesSection:
        groups = re.compile(self.pattern).groupindex
        if self.subject_from == "pattern" and "subject" not in groups:
            raise ValueError("files.pattern needs a named group 'subject' (or set files.subject_from = 'reader')")
        if self.session == "group" and "session" not in groups:
            raise ValueError("session = 'group' needs a named group 'session' in files.pattern")
        if self.session == "date_rank" and "date" not in groups:
            raise ValueError("session = 'date_rank' needs a named group 'date' in files.pattern")
        if self.session == "trial_block" and self.trials_per_session is None:
            raise ValueError("session = 'trial_block' needs files.trials_per_session")
        return self


class FormatSection(_Section):
    """Which container and layout hold the signals."""

    container: str
    layout: Literal["per_variable", "stacked", "cells"] | None = None  # None for continuous containers
    trial_key: str | None = None
    data_key: str | None = None
    axes: list[Literal["trial", "channel", "time"]] | None = None
    sfreq: float = Field(gt=0, strict=True)
    units: Literal["V", "mV", "uV", "nV"]
    trials: int | None = Field(default=None, gt=0, strict=True)
    trial_ranges: dict[str, tuple[int, int]] = {}
    extra_channels: Literal["error", "drop"] = "error"
    subjects_key: str | None = None
    baseline_key: str | None = None
    stimulus_key: str | None = None

    @field_validator("container")
    @classmethod
    def _registered_container(cls, value: str) -> str:
        if value not in CONTAINERS:
            raise ValueError(f"unknown container '{value}': expected one of {', '.join(CONTAINERS)}")
        return value

    @model_validator(mode="after")
    def _layout_fields(self) -> FormatSection:
        if self.container in CONTINUOUS_CONTAINERS:  # trials are cut by the [recording] section
            if self.layout is not None or self.axes is not None:
                raise ValueError(f"format.layout and format.axes do not apply to container '{self.container}'")
            return self
        if self.layout is None or self.axes is None:
            raise ValueError(f"container '{self.container}' needs format.layout and format.axes")
        if self.layout == "per_variable":
            if not self.trial_key:
                raise ValueError("layout 'per_variable' needs format.trial_key (a regex with group 'trial')")
            try:
                groups = re.compile(self.trial_key).groupindex
            except re.error as exc:
                raise ValueError(f"format.trial_key is not a valid regular expression ({exc})") from None
            if "trial" not in groups:
                raise ValueError("format.trial_key needs a named group 'trial'")
            if sorted(self.axes) != ["channel", "time"]:
                raise ValueError("layout 'per_variable' needs format.axes to name 'channel' and 'time'")
        elif self.layout == "cells":
            if not self.data_key:
                raise ValueError("layout 'cells' needs format.data_key (the cell array of trials)")
            if sorted(self.axes) != ["channel", "time"]:
                raise ValueError("layout 'cells' needs format.axes to name 'channel' and 'time' (each cell's axes)")
        else:
            if sorted(self.axes) != ["channel", "time", "trial"]:
                raise ValueError("layout 'stacked' needs format.axes to name 'trial', 'channel' and 'time'")
        if self.layout != "cells" and (self.subjects_key or self.baseline_key or self.stimulus_key):
            raise ValueError("format.subjects_key, baseline_key and stimulus_key need layout 'cells'")
        if self.trial_ranges and self.trials is not None:
            raise ValueError("format.trials and format.trial_ranges exclude each other")
        for name, (first, last) in self.trial_ranges.items():
            if not 1 <= first <= last:
                raise ValueError(f"format.trial_ranges['{name}'] must be [first, last] with 1 <= first <= last")
        return self


class ChannelsSection(_Section):
    """The channel list as stored in the files, with aliases and exclusions."""

    names: list[str] = Field(min_length=1)
    rename: dict[str, str] = {}
    exclude: list[str] = []
    rename_files: dict[str, dict[str, str]] = {}

    def rename_for(self, relpath: str) -> dict[str, str]:
        """The renames that apply to one file: ``rename``, updated by every ``rename_files`` glob it matches.

        Parameters
        ----------
        relpath : str
            The file's path relative to the corpus folder (``/``-separated).

        Returns
        -------
        dict
            Source name -> vocabulary name; later globs (in manifest order) win.
        """
        from fnmatch import fnmatchcase

        merged = dict(self.rename)
        for pattern, table in self.rename_files.items():
            if fnmatchcase(relpath, pattern):
                merged.update(table)
        return merged

    @model_validator(mode="after")
    def _known_names(self) -> ChannelsSection:
        listed = set(self.names)
        if len(listed) != len(self.names):
            dupes = sorted({n for n in self.names if self.names.count(n) > 1})
            raise ValueError(f"channels.names repeats {dupes}")
        for field, names in (("exclude", self.exclude), ("rename", list(self.rename))):
            missing = [n for n in names if n not in listed]
            if missing:
                raise ValueError(f"channels.{field} names channels not in channels.names: {missing}")
        return self


class SegmentsSection(_Section):
    """How a trial is split into baseline and stimulus segments."""

    baseline_seconds: float = Field(default=0.0, ge=0, strict=True)
    baseline: Literal["keep", "drop"] = "drop"


class BinarizeSection(_Section):
    """Derive a two-class label from a rating (rating > threshold is the second class)."""

    rating: str
    threshold: float = Field(strict=True)
    classes: list[str] = Field(min_length=2, max_length=2)


class LabelsSection(_Section):
    """How trial labels are obtained and projected into the valence-arousal plane."""

    source: Literal["lexicon", "ratings"]
    classes: list[str] = []
    codes: dict[str, str] = {}
    sequence: list[int | str] | None = None
    sequence_by_session: dict[str, list[int | str]] | None = None
    file: str | None = None
    variable: str | None = None
    reader_codes: bool = False
    exclude_codes: list[int | str] = []
    ratings_key: str | list[str] | None = None
    ratings_file: str | None = None
    ratings_trial_key: str | None = None
    rating_names: list[str] = []
    scale: tuple[float, float] | None = None
    binarize: BinarizeSection | None = None
    stimulus: str = "{trial}"

    @field_validator("stimulus")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format(subject="1", session=1, trial=1, position=1, stimulus="1")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"not a valid template ({exc}); use {{subject}}, {{stimulus}} (text), {{session}}, {{trial}}, "
                "{position} (numbers)"
            ) from None
        return value

    @model_validator(mode="after")
    def _by_source(self) -> LabelsSection:
        if self.source == "lexicon":
            given = [self.sequence is not None, self.sequence_by_session is not None, self.file is not None]
            if sum(given) != (0 if self.reader_codes else 1):
                raise ValueError(
                    "a lexicon label source needs exactly one of labels.sequence, "
                    "labels.sequence_by_session or labels.file (none with labels.reader_codes = true)"
                )
            if self.file is not None and not self.variable:
                raise ValueError("labels.file needs labels.variable")
            if not self.classes:
                raise ValueError("a lexicon label source needs labels.classes (the class order)")
            unknown = sorted(set(self.codes.values()) - set(self.classes))
            if unknown:
                raise ValueError(f"labels.codes maps to classes not in labels.classes: {unknown}")
            if (self.ratings_file is not None or self.rating_names) and not (
                self.ratings_file and isinstance(self.ratings_key, str) and self.rating_names and self.scale
            ):
                raise ValueError(
                    "ratings with a lexicon source need labels.ratings_file, labels.ratings_key (one variable), "
                    "labels.rating_names and labels.scale"
                )
            if self.rating_names and not {"valence", "arousal"} <= set(self.rating_names):
                raise ValueError("labels.rating_names must include 'valence' and 'arousal'")
            if self.scale is not None and self.scale[0] >= self.scale[1]:
                raise ValueError("labels.scale must be [low, high] with low < high")
        else:
            if not self.ratings_key or not self.rating_names or self.scale is None:
                raise ValueError(
                    "a ratings label source needs labels.ratings_key, labels.rating_names and labels.scale"
                )
            if not {"valence", "arousal"} <= set(self.rating_names):
                raise ValueError("labels.rating_names must include 'valence' and 'arousal'")
            if self.scale[0] >= self.scale[1]:
                raise ValueError("labels.scale must be [low, high] with low < high")
            if self.reader_codes and not self.classes:
                raise ValueError("labels.reader_codes with ratings needs labels.classes (the class order)")
            if self.binarize is not None and self.binarize.rating not in self.rating_names:
                raise ValueError(f"labels.binarize.rating '{self.binarize.rating}' is not in labels.rating_names")
        if self.ratings_file is not None and not isinstance(self.ratings_key, str):
            raise ValueError("labels.ratings_file needs labels.ratings_key to name one variable")
        if self.ratings_trial_key is not None and self.ratings_file is None:
            raise ValueError("labels.ratings_trial_key needs labels.ratings_file")
        return self

    @property
    def class_names(self) -> list[str]:
        """Class order used for ``class_index`` (empty when the corpus has no classes)."""
        if self.source == "lexicon" or self.reader_codes:
            return list(self.classes)
        return list(self.binarize.classes) if self.binarize else []


class Manifest(_Section):
    """A validated corpus manifest.

    Attributes
    ----------
    corpus, files, format, channels, segments, labels, recording
        The manifest's sections (see ``docs/manifests.md``); ``recording`` only for continuous containers.
    path : pathlib.Path
        Where the manifest was read from.
    sha256 : str
        Hash of the manifest's bytes, stored with every recording it produced.
    """

    corpus: CorpusSection
    files: FilesSection
    format: FormatSection
    channels: ChannelsSection
    segments: SegmentsSection = SegmentsSection()
    labels: LabelsSection
    recording: RecordingSection | None = None
    path: Path
    sha256: str

    @model_validator(mode="after")
    def _across_sections(self) -> Manifest:
        fmt, labels = self.format, self.labels
        if isinstance(labels.ratings_key, list) and fmt.layout != "cells":
            raise ValueError("a list labels.ratings_key (one variable per rating) needs format.layout = 'cells'")
        if fmt.subjects_key and self.files.subject_from != "reader":
            raise ValueError("format.subjects_key needs files.subject_from = 'reader'")
        if "{stimulus" in labels.stimulus and not fmt.stimulus_key:
            raise ValueError("labels.stimulus uses {stimulus}, which needs format.stimulus_key")
        check_manifest(self)  # [recording] with continuous containers (CNT, BDF/EDF, BIDS)
        return self

    @property
    def name(self) -> str:
        """The corpus name (``corpus.name``)."""
        return self.corpus.name

    @property
    def unit_scale(self) -> float:
        """Factor converting the declared units into microvolts."""
        return UNIT_SCALES[self.format.units]


def available_manifests() -> list[str]:
    """List the corpus names of the manifests shipped with the project.

    Returns
    -------
    list of str
        Sorted corpus names, usable wherever a manifest path is accepted.
    """
    return sorted(p.stem for p in MANIFEST_DIR.glob("*.toml") if p.stem != "va_lexicon")


def resolve_manifest_path(corpus_or_path: str | Path) -> Path:
    """Turn a corpus name or a manifest path into the manifest's path.

    Parameters
    ----------
    corpus_or_path : str or path-like
        A shipped corpus name (``"seed"``) or the path of a user's own manifest.

    Returns
    -------
    pathlib.Path
        The manifest file.

    Raises
    ------
    ManifestError
        When neither a shipped manifest nor an existing file matches.
    """
    candidate = Path(corpus_or_path).expanduser()
    shipped = MANIFEST_DIR / f"{corpus_or_path}.toml"
    if candidate.suffix != ".toml" and not candidate.is_file() and shipped.is_file() and shipped.stem != "va_lexicon":
        return shipped
    if candidate.suffix == ".toml" or candidate.is_file():
        if not candidate.is_file():
            raise ManifestError(f"{candidate}: manifest file not found")
        return candidate
    raise ManifestError(
        f"unknown corpus '{corpus_or_path}': not a manifest file and not one of {available_manifests()}"
    )


def _describe(error: dict) -> str:
    field = ".".join(str(p) for p in error["loc"] if p not in ("function-after",))
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
    return f"field '{field}': {message}{shown}" if field else message


def load_manifest(corpus_or_path: str | Path) -> Manifest:
    """Read and validate a corpus manifest.

    Parameters
    ----------
    corpus_or_path : str or path-like
        A shipped corpus name (see :func:`available_manifests`) or a TOML file.

    Returns
    -------
    Manifest
        The validated manifest.

    Raises
    ------
    ManifestError
        One line naming the manifest file, the field and what was expected.
    """
    path = resolve_manifest_path(corpus_or_path)
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not valid TOML ({exc})") from None
    reserved = sorted({"path", "sha256"} & set(data))
    if reserved:
        raise ManifestError(f"{path}: unknown top-level field(s) {reserved}")
    try:
        return Manifest(**data, path=path, sha256=hashlib.sha256(raw).hexdigest())
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise ManifestError(f"{path}: {_describe(first)}{more}") from None
