"""The processing configuration: every parameter that shapes the stored signals.

One :class:`ProcessingConfig` is stored at the store root together with its
hash. A second ingest into the same store must use the same configuration; a
different one is refused with a message saying what differs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emod_data.errors import ManifestError, StoreError


@dataclass(frozen=True)
class ProcessingConfig:
    """How raw signals become stored signals.

    The default is EMOD's recipe: 0.3-49 Hz zero-phase band-pass, average
    reference, 200 Hz. Every step can be switched off.

    Parameters
    ----------
    sfreq : float
        Store sampling rate in Hz; signals are resampled (polyphase, anti-aliased) to it.
    bandpass : tuple of float or None
        (low, high) edges of the zero-phase band-pass in Hz; either may be None
        for a pure high- or low-pass; None switches the band-pass off.
    notch : float or None
        Line frequency in Hz; a zero-phase notch removes it and its harmonics below
        Nyquist. None (default) switches it off.
    reference : {"average", "none"}
        Re-reference to the common average, or keep the source reference.
    filter_method : {"fir", "iir"}
        MNE filter design: windowed-sinc FIR (default) or 4th-order Butterworth,
        both applied forward and backward (zero phase).
    resample : bool
        Resample to ``sfreq``. When False every source must already be at ``sfreq``.
    precision_bits : int or None
        Mantissa bits kept when storing float32 (numcodecs BitRound; 12 bits is a
        relative error below 1.3e-4, far under any EEG amplifier's noise). None
        stores float32 losslessly.
    chunk_seconds : float
        Length of a stored chunk along time.
    compressor : {"lz4", "zstd"}
        Blosc codec (always with bit-shuffle). LZ4 (default) writes several times
        faster; Zstandard gives files about 5 % smaller.
    compression_level : int
        Blosc compression level (1-9).
    bad_channels : {"interpolate", "drop", "off"}
        Session-level bad-channel stage before the reference (:mod:`emod_data.badchannels`):
        channels found flat, noisy, poorly correlated or bridged are left out of the
        average reference and then interpolated from their neighbours (MNE spherical
        splines, default) or dropped; "off" skips detection.
    bad_max_share : float
        Largest share of a session's channels that may be bad; a session with more fails.
    bad_deviation : float
        Robust z-score of a channel's amplitude above which it is bad (pyprep's deviation criterion).
    bad_hf_noise : float
        Robust z-score of a channel's high-frequency noise ratio above which it is bad (pyprep's
        criterion; its default 5 flags channels with merely more line noise than the others when no
        notch filter runs, as the 0.3-49 Hz band-pass leaves part of the 50 Hz line in, hence 8).
    bad_correlation : float
        A 1 s window in which a channel's highest correlation with any other channel is
        below this value is a bad window (pyprep's correlation criterion) ...
    bad_correlation_share : float
        ... and a channel with more than this share of bad windows is bad.
    bad_bridge : float
        Two channels whose electrical distance (the variance of their filtered difference, independent
        of the reference) is below this many µV² are bridged; both are bad. Neighbouring electrodes of
        clean EEG stay well above 5 µV².
    bad_ransac : bool
        Also run pyprep's RANSAC criterion (slow; off by default).
    bad_detect_seconds : float
        Most seconds of a session the detection looks at: 4 s blocks spread evenly over a longer
        session (bounds its cost; a channel bad for a whole session is bad in every block).
    ica : {"off", "eog", "iclabel"}
        Session-level ICA artifact removal (:mod:`emod_data.ica`), fitted once per session on the
        filtered good channels: components correlated with frontal EOG proxies (Fp1/Fp2, else
        AF3/AF4) or labelled eye/muscle by ICLabel are removed. Off by default.
    ica_method : {"fastica", "infomax"}
        MNE ICA algorithm (infomax is extended infomax, the decomposition ICLabel was trained on).
    ica_components : int
        Most ICA components (at most the good channels less one).
    ica_eog_threshold : float
        Absolute correlation of a component with an EOG proxy (both filtered 1-10 Hz) at or above
        which it is removed (MNE's ``find_bads_eog`` with ``measure="correlation"``).
    ica_iclabel_threshold : float
        ICLabel eye-blink or muscle probability at or above which a component is removed.
    """

    sfreq: float = 200.0
    bandpass: tuple[float | None, float | None] | None = (0.3, 49.0)
    notch: float | None = None
    reference: str = "average"
    filter_method: str = "fir"
    resample: bool = True
    precision_bits: int | None = 12
    chunk_seconds: float = 10.0
    compressor: str = "lz4"
    compression_level: int = 5
    bad_channels: str = "interpolate"
    bad_max_share: float = 0.25
    bad_deviation: float = 5.0
    bad_hf_noise: float = 8.0
    bad_correlation: float = 0.4
    bad_correlation_share: float = 0.2
    bad_bridge: float = 5.0
    bad_ransac: bool = False
    bad_detect_seconds: float = 60.0
    ica: str = "off"
    ica_method: str = "fastica"
    ica_components: int = 15
    ica_eog_threshold: float = 0.5
    ica_iclabel_threshold: float = 0.8
    dtype: str = field(default="float32", init=False)
    units: str = field(default="uV", init=False)

    def __post_init__(self) -> None:
        # numbers are normalised so that 200 and 200.0 give the same hash
        for name in (
            "sfreq",
            "notch",
            "chunk_seconds",
            "bad_max_share",
            "bad_deviation",
            "bad_hf_noise",
            "bad_correlation",
            "bad_correlation_share",
            "bad_bridge",
            "bad_detect_seconds",
            "ica_eog_threshold",
            "ica_iclabel_threshold",
        ):
            value = getattr(self, name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        if self.bandpass is not None:
            object.__setattr__(self, "bandpass", tuple(None if v is None else float(v) for v in self.bandpass))
        if self.sfreq <= 0:
            raise ValueError(f"sfreq must be positive (got {self.sfreq})")
        if self.bandpass is not None:
            low, high = self.bandpass
            if low is None and high is None:
                raise ValueError("bandpass needs a low or a high edge; use None to switch it off")
            if any(edge is not None and edge <= 0 for edge in (low, high)):
                raise ValueError(f"bandpass edges must be positive (got {self.bandpass})")
            if high is not None and high >= self.sfreq / 2:
                raise ValueError(f"bandpass high edge {high} Hz must be below Nyquist ({self.sfreq / 2} Hz)")
            if low is not None and high is not None and not 0 < low < high:
                raise ValueError(f"bandpass must satisfy 0 < low < high (got {self.bandpass})")
            object.__setattr__(self, "bandpass", (low, high))
        if self.notch is not None and not 0 < self.notch < self.sfreq / 2:
            raise ValueError(f"notch {self.notch} Hz must be between 0 and Nyquist ({self.sfreq / 2} Hz)")
        if self.reference not in ("average", "none"):
            raise ValueError(f"reference must be 'average' or 'none' (got {self.reference!r})")
        if self.filter_method not in ("fir", "iir"):
            raise ValueError(f"filter_method must be 'fir' or 'iir' (got {self.filter_method!r})")
        if self.precision_bits is not None and not 4 <= self.precision_bits <= 23:
            raise ValueError(f"precision_bits must be between 4 and 23, or None (got {self.precision_bits})")
        if self.compressor not in ("lz4", "zstd"):
            raise ValueError(f"compressor must be 'lz4' or 'zstd' (got {self.compressor!r})")
        if not 1 <= self.compression_level <= 9:
            raise ValueError(f"compression_level must be between 1 and 9 (got {self.compression_level})")
        if self.chunk_seconds <= 0:
            raise ValueError(f"chunk_seconds must be positive (got {self.chunk_seconds})")
        if self.bad_channels not in ("interpolate", "drop", "off"):
            raise ValueError(f"bad_channels must be 'interpolate', 'drop' or 'off' (got {self.bad_channels!r})")
        for name in ("bad_max_share", "bad_correlation", "bad_correlation_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1 (got {getattr(self, name)})")
        if self.ica not in ("off", "eog", "iclabel"):
            raise ValueError(f"ica must be 'off', 'eog' or 'iclabel' (got {self.ica!r})")
        if self.ica_method not in ("fastica", "infomax"):
            raise ValueError(f"ica_method must be 'fastica' or 'infomax' (got {self.ica_method!r})")
        if not isinstance(self.ica_components, int) or self.ica_components < 2:
            raise ValueError(f"ica_components must be an integer of at least 2 (got {self.ica_components!r})")
        for name in ("ica_iclabel_threshold", "ica_eog_threshold"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1] (got {getattr(self, name)})")
        if self.bad_bridge < 0:
            raise ValueError(f"bad_bridge must not be negative (got {self.bad_bridge})")
        for name in ("bad_deviation", "bad_hf_noise", "bad_detect_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive (got {getattr(self, name)})")

    @classmethod
    def raw(cls, sfreq: float = 200.0) -> ProcessingConfig:
        """A configuration with every processing step switched off (lossless, no filter, no reference, no
        bad-channel stage)."""
        return cls(sfreq=sfreq, bandpass=None, notch=None, reference="none", precision_bits=None, bad_channels="off")

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON-compatible values."""
        data = dataclasses.asdict(self)
        data["bandpass"] = list(self.bandpass) if self.bandpass is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessingConfig:
        """Rebuild a configuration from :meth:`to_dict` output (store root attributes)."""
        values = {k: v for k, v in data.items() if k not in ("dtype", "units")}
        if values.get("bandpass") is not None:
            values["bandpass"] = tuple(values["bandpass"])
        return cls(**values)

    @property
    def hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON form."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def differences(self, other: ProcessingConfig) -> list[str]:
        """Human-readable differences, ``"name: self -> other"``, in field order."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{k}: {mine[k]!r} -> {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]

    @property
    def chunk_samples(self) -> int:
        """Samples per stored chunk."""
        return max(1, round(self.chunk_seconds * self.sfreq))


def load_config(path: str | Path) -> ProcessingConfig:
    """Read a processing configuration from a TOML file.

    The file holds the fields of :class:`ProcessingConfig` at top level (or in a
    ``[processing]`` table); ``bandpass = false``, ``notch = false`` and
    ``precision_bits = false`` switch a step off.

    Parameters
    ----------
    path : path-like
        The TOML file.

    Returns
    -------
    ProcessingConfig

    Raises
    ------
    ManifestError
        One line naming the file and the bad field.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: processing configuration not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: not valid TOML ({exc})") from None
    data = data.get("processing", data)
    names = {f.name for f in dataclasses.fields(ProcessingConfig) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ManifestError(f"{path}: unknown field(s) {unknown}; expected some of {sorted(names)}")
    values = {k: (None if v is False and k in ("bandpass", "notch", "precision_bits") else v) for k, v in data.items()}
    if isinstance(values.get("bandpass"), list):
        values["bandpass"] = tuple(values["bandpass"])
    try:
        return ProcessingConfig(**values)
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"{path}: {exc}") from None


def check_same(stored: ProcessingConfig, requested: ProcessingConfig, where: str) -> None:
    """Refuse a requested configuration that differs from a store's.

    Raises
    ------
    StoreError
        Naming the store and every parameter that differs.
    """
    if stored.hash != requested.hash:
        diff = "; ".join(stored.differences(requested))
        raise StoreError(
            f"{where}: store was made with other processing parameters ({diff}); "
            "ingest with the store's parameters or into a new store"
        )
