"""The valence-arousal lexicon and the projection of ratings onto the V-A plane.

Both axes span [-4, 4] with neutral at the centre. Discrete classes get their
coordinates from ``manifests/va_lexicon.toml`` (each entry names its source);
continuous ratings are mapped linearly from their scale's ends onto -4 and 4,
so 1-9 ratings become ``rating - 5`` and 1-5 ratings ``(rating - 3) * 2``.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emod_data.errors import LabelError, ManifestError
from emod_data.manifest import MANIFEST_DIR

LEXICON_FILE = MANIFEST_DIR / "va_lexicon.toml"


@dataclass(frozen=True)
class Lexicon:
    """Class coordinates in the valence-arousal plane.

    Attributes
    ----------
    entries : dict
        Class name -> (valence, arousal, source).
    aliases : dict
        Other spelling -> class name.
    low, high : float
        Ends of both axes.
    sha256 : str
        Hash of the lexicon file.
    """

    entries: dict[str, tuple[float, float, str]]
    aliases: dict[str, str]
    low: float
    high: float
    sha256: str

    def resolve(self, class_name: str) -> str:
        """Return the lexicon's name for a class, following aliases (case-insensitive)."""
        key = class_name.strip().lower()
        key = self.aliases.get(key, key)
        if key not in self.entries:
            raise LabelError(f"class '{class_name}' has no entry in the valence-arousal lexicon")
        return key

    def coordinates(self, class_name: str) -> tuple[float, float]:
        """Valence and arousal of a class.

        Parameters
        ----------
        class_name : str
            A class name or one of its aliases.

        Returns
        -------
        tuple of float
            (valence, arousal) on [low, high].

        Raises
        ------
        LabelError
            When the class is not in the lexicon.
        """
        valence, arousal, _ = self.entries[self.resolve(class_name)]
        return valence, arousal

    def source(self, class_name: str) -> str:
        """Where a class' coordinates come from."""
        return self.entries[self.resolve(class_name)][2]


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """Read and validate the valence-arousal lexicon.

    Parameters
    ----------
    path : path-like, optional
        A lexicon TOML file; the shipped ``manifests/va_lexicon.toml`` by default.

    Returns
    -------
    Lexicon

    Raises
    ------
    ManifestError
        One line naming the file and the bad entry.
    """
    path = Path(path) if path is not None else LEXICON_FILE
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: lexicon file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not valid TOML ({exc})") from None
    scale = data.get("scale", {})
    low, high = float(scale.get("low", -4.0)), float(scale.get("high", 4.0))
    entries: dict[str, tuple[float, float, str]] = {}
    for name, entry in data.get("classes", {}).items():
        where = f"{path}: field 'classes.{name}'"
        if not isinstance(entry, dict) or not {"valence", "arousal", "source"} <= set(entry):
            raise ManifestError(f"{where}: needs valence, arousal and source")
        valence, arousal = entry["valence"], entry["arousal"]
        if not all(isinstance(v, int | float) and low <= v <= high for v in (valence, arousal)):
            raise ManifestError(f"{where}: valence and arousal must be numbers on [{low}, {high}]")
        if not str(entry["source"]).strip():
            raise ManifestError(f"{where}: source must not be empty")
        entries[name.lower()] = (float(valence), float(arousal), str(entry["source"]))
    aliases = {str(k).lower(): str(v).lower() for k, v in data.get("aliases", {}).items()}
    for alias, target in aliases.items():
        if target not in entries:
            raise ManifestError(f"{path}: field 'aliases.{alias}': '{target}' is not a class of the lexicon")
    return Lexicon(entries, aliases, low, high, hashlib.sha256(raw).hexdigest())


def ratings_to_va(ratings: np.ndarray, scale: tuple[float, float], low: float = -4.0, high: float = 4.0) -> np.ndarray:
    """Map ratings linearly from their scale onto the V-A axis range.

    Parameters
    ----------
    ratings : array-like
        Ratings on ``scale``.
    scale : tuple of float
        The rating scale's ends, e.g. (1, 9) or (1, 5).
    low, high : float
        The V-A axis range (default [-4, 4]).

    Returns
    -------
    numpy.ndarray
        Ratings on [low, high]: 1-9 ratings give ``rating - 5``, 1-5 ratings ``(rating - 3) * 2``.
    """
    ratings = np.asarray(ratings, dtype=float)
    lo, hi = scale
    return low + (ratings - lo) * (high - low) / (hi - lo)
