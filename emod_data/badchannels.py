"""Session-level bad-channel detection and repair, before the reference.

Detection runs once per subject-session on the filtered, unreferenced signal of
all its segments: pyprep's :class:`~pyprep.NoisyChannels` finds flat (or NaN),
deviating, high-frequency-noisy and poorly correlated channels (RANSAC on
request), and bridged pairs are found by their electrical distance (the variance
of their difference, as :func:`mne.preprocessing.compute_bridged_electrodes`
uses, relative to the pair's own variance so that no µV² cutoff is needed).

Repair is one linear operator per session, applied to every segment: the
average reference over the good channels only, then MNE's spherical-spline
interpolation of the bad channels from the good ones (or the bad rows dropped).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from emod_data.channels import montage
from emod_data.config import ProcessingConfig
from emod_data.errors import SignalError

REASONS = ("flat", "deviation", "hf_noise", "correlation", "bridged", "ransac")
"""Detection reasons in the order they are reported."""

_PYPREP_KEYS = {
    "bad_by_nan": "flat",
    "bad_by_flat": "flat",
    "bad_by_deviation": "deviation",
    "bad_by_hf_noise": "hf_noise",
    "bad_by_correlation": "correlation",
    "bad_by_dropout": "correlation",
    "bad_by_ransac": "ransac",
}

MIN_SECONDS = 4.0
"""Shortest session the detection accepts (the correlation criterion needs several 1 s windows)."""

BLOCK_SECONDS = 4.0
"""Length of the blocks spread over a long session that the detection looks at (see ``bad_detect_seconds``)."""


def spread_blocks(data: np.ndarray, sfreq: float, seconds: float) -> np.ndarray:
    """At most ``seconds`` of a session: blocks of :data:`BLOCK_SECONDS` spread evenly over it.

    Parameters
    ----------
    data : numpy.ndarray
        (C, samples).
    sfreq, seconds : float
        Sampling rate in Hz and most seconds to keep, as for :func:`block_starts`.

    Returns
    -------
    numpy.ndarray
        ``data`` itself when it is short enough, else the blocks one after the other.
    """
    return data if block_starts(data.shape[1], sfreq, seconds) is None else session_blocks([data], sfreq, seconds)


def block_starts(samples: int, sfreq: float, seconds: float) -> np.ndarray | None:
    """First samples of the :data:`BLOCK_SECONDS` blocks that :func:`spread_blocks` keeps of a session.

    Parameters
    ----------
    samples : int
        Length of the session in samples.
    sfreq : float
        Sampling rate in Hz.
    seconds : float
        Most seconds to keep.

    Returns
    -------
    numpy.ndarray or None
        Block starts, evenly spread from the first block to the last whole one; None when the
        whole session is kept (not longer than ``seconds``, or not more blocks than wanted).
    """
    block = round(BLOCK_SECONDS * sfreq)
    count = samples // block
    wanted = max(1, int(seconds // BLOCK_SECONDS))
    if samples <= seconds * sfreq or count <= wanted:
        return None
    return np.linspace(0, count - 1, wanted).round().astype(int) * block


def session_blocks(segments: list[np.ndarray], sfreq: float, seconds: float) -> np.ndarray:
    """:func:`spread_blocks` of the segments one after the other, without joining the whole session.

    Parameters
    ----------
    segments : list of numpy.ndarray
        (C, samples_i) segments of one session, in order.
    sfreq, seconds : float
        Sampling rate in Hz and most seconds to keep, as for :func:`block_starts`.

    Returns
    -------
    numpy.ndarray
        Equal to ``spread_blocks(np.concatenate(segments, axis=1), sfreq, seconds)``; only the blocks
        it keeps are copied.
    """
    ends = np.cumsum([segment.shape[1] for segment in segments])
    starts = block_starts(int(ends[-1]) if len(ends) else 0, sfreq, seconds)
    if starts is None:
        return np.concatenate(segments, axis=1)
    block = round(BLOCK_SECONDS * sfreq)
    pieces = []
    for start in starts:  # a block may straddle segments: gather it from each one it covers
        stop = start + block
        first = int(np.searchsorted(ends, start, side="right"))
        while start < stop:
            offset = int(ends[first - 1]) if first else 0
            take = min(stop, int(ends[first])) - start
            pieces.append(segments[first][:, start - offset : start - offset + take])
            start += take
            first += 1
    return np.concatenate(pieces, axis=1)


@dataclass(frozen=True)
class BadChannels:
    """Bad channels of one session and how the session's segments are repaired.

    Attributes
    ----------
    names : tuple of str
        All channel names of the session, in row order.
    bad : dict of str to str
        Bad channel name -> reasons joined by ``+`` (e.g. ``"flat"``, ``"deviation+correlation"``),
        in row order.
    action : str
        ``"interpolated"``, ``"dropped"`` or ``"none"`` (no bad channel).
    operator : numpy.ndarray
        (C_out, C) matrix applied to every (C, samples) segment: reference, ICA removal and
        interpolation (or drop).
    keep : numpy.ndarray
        Row indices of the input channels present in the output.
    ica_removed : list of str or None
        ICA components removed (:func:`emod_data.ica.ica_cleaner`); None without ICA.
    """

    names: tuple[str, ...]
    bad: dict[str, str]
    action: str
    operator: np.ndarray
    keep: np.ndarray
    ica_removed: list[str] | None = None

    def apply(self, data: np.ndarray) -> np.ndarray:
        """Reference and repair one (C, samples) segment; returns (C_out, samples) in the segment's dtype.

        Equal to ``operator @ data``. Rows that only subtract the common reference (every row without ICA,
        except interpolated ones) are computed as ``data[keep] - weights @ data``: one weighted sum over
        the channels instead of one per row.
        """
        operator = self.operator.astype(data.dtype, copy=False)
        if self._shared_reference is None:
            return operator @ data
        weights, mixed = self._shared_reference
        out = data[self.keep]
        out -= weights.astype(data.dtype, copy=False) @ data
        if len(mixed):
            out[mixed] = operator[mixed] @ data
        return out

    @functools.cached_property
    def _shared_reference(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(weights, rows): ``operator @ data`` is ``data[keep] - weights @ data`` except on ``rows``.

        None when most rows mix channels (ICA on every good row).
        """
        offset = self.operator.copy()
        offset[np.arange(len(self.keep)), self.keep] -= 1.0  # each row minus its own channel's unit row
        plain = [row for row, channel in enumerate(self.keep) if self.names[channel] not in self.bad]
        if not plain:
            return None
        weights = -offset[plain[0]]
        mixed = np.flatnonzero(np.abs(offset + weights).max(axis=1) > 1e-12)
        if 2 * len(mixed) > len(self.keep):  # e.g. ICA on every good row
            return None
        return weights, mixed

    def row_values(self, detected: bool = True) -> dict:
        """The recordings-table columns ``bad_channels``, ``bad_reasons``, ``bad_action`` and ``ica_removed``.

        With ``detected`` False (bad-channel detection off) the ``bad_*`` columns are null.
        """
        return {
            "bad_channels": list(self.bad) if detected else None,
            "bad_reasons": list(self.bad.values()) if detected else None,
            "bad_action": self.action if detected else None,
            "ica_removed": self.ica_removed,
        }


def _bridged(data: np.ndarray, cutoff: float) -> set[int]:
    """Rows of channels whose electrical distance to another live channel is below ``cutoff`` µV².

    The electrical distance of a pair is the variance of their difference (µV² on the filtered signal):
    independent of the reference, near 0 for a gel bridge. A fixed cutoff, as MNE's
    ``compute_bridged_electrodes`` uses, and not one relative to the other pairs, since a large common
    mode in raw recordings shrinks every relative distance.
    """
    centred = data - data.mean(axis=1, keepdims=True)
    cov = centred @ centred.T / centred.shape[1]
    var = np.diag(cov)
    distance = var[:, None] + var[None, :] - 2 * cov
    alive = var > 0
    pairs = alive[:, None] & alive[None, :] & ~np.eye(len(var), dtype=bool)
    rows, cols = np.nonzero(pairs & (distance < cutoff))
    return set(rows.tolist()) | set(cols.tolist())


def detect(data: np.ndarray, names: list[str], sfreq: float, config: ProcessingConfig, where: str) -> dict[str, str]:
    """Find a session's bad channels.

    Parameters
    ----------
    data : numpy.ndarray
        (C, samples) filtered, unreferenced signal in µV: all segments of the session one after
        the other. Of a session longer than ``config.bad_detect_seconds`` the detection looks at
        that many seconds, in blocks spread evenly over it (:func:`spread_blocks`).
    names : list of str
        Channel names (in the channel vocabulary) of the rows.
    sfreq : float
        Sampling rate in Hz.
    config : ProcessingConfig
        Thresholds (``bad_*`` fields).
    where : str
        What to name in errors (the file and session).

    Returns
    -------
    dict of str to str
        Bad channel -> reasons joined by ``+``, in row order; empty when all are good.

    Raises
    ------
    SignalError
        A session shorter than :data:`MIN_SECONDS`.
    """
    import mne
    from pyprep import NoisyChannels

    seconds = data.shape[1] / sfreq
    if seconds < MIN_SECONDS:
        raise SignalError(
            f"{where}: session of {seconds:.2g} s is too short for bad-channel detection "
            f"(needs {MIN_SECONDS:g} s; use --bad-channels off)"
        )
    data = spread_blocks(data, sfreq, config.bad_detect_seconds)
    info = mne.create_info(list(names), sfreq, "eeg")
    # flat (or NaN) channels on the unreferenced signal: NoisyChannels finds them when it is built
    unreferenced = NoisyChannels(mne.io.RawArray(data * 1e-6, info, verbose="error"), do_detrend=False)
    flat = [*unreferenced.bad_by_nan, *unreferenced.bad_by_flat]
    # the other criteria on a robust reference (the median of the live channels), as PREP does: a large
    # common mode (raw, reference-free recordings such as BioSemi's) would otherwise hide every channel
    live = np.array([name not in flat for name in names])
    reference = np.median(data[live], axis=0) if live.any() else 0.0
    raw = mne.io.RawArray((data - reference) * 1e-6, info, verbose="error")
    if config.bad_ransac:
        raw.set_montage(montage(names), verbose="error")
    noisy = NoisyChannels(raw, do_detrend=False, random_state=0, ransac=config.bad_ransac, bad_by_manual=flat or None)
    noisy.find_bad_by_deviation(deviation_threshold=config.bad_deviation)
    noisy.find_bad_by_hfnoise(HF_zscore_threshold=config.bad_hf_noise)
    noisy.find_bad_by_correlation(correlation_threshold=config.bad_correlation, frac_bad=config.bad_correlation_share)
    if config.bad_ransac:
        noisy.find_bad_by_ransac()
    reasons: dict[str, list[str]] = {name: (["flat"] if name in flat else []) for name in names}
    for key, found in noisy.get_bads(as_dict=True).items():
        reason = _PYPREP_KEYS.get(key)
        for name in found if reason else ():
            if reason not in reasons[name]:
                reasons[name].append(reason)
    flat = {i for i, name in enumerate(names) if "flat" in reasons[name]}
    for row in sorted(_bridged(data, config.bad_bridge) - flat):
        reasons[names[row]].append("bridged")
    return {name: "+".join(sorted(found, key=REASONS.index)) for name, found in reasons.items() if found}


def interpolation_matrix(names: list[str], bad: list[str]) -> np.ndarray:
    """Spherical-spline interpolation of ``bad`` channels from the others, as a (C, C) matrix.

    Built with MNE's public :meth:`mne.io.Raw.interpolate_bads` applied to the identity
    (one unit impulse per channel), so row ``i`` holds the weights channel ``i`` gets from
    every channel: the identity on good rows, interpolation weights over the good channels
    on bad rows.
    """
    import mne

    size = len(names)
    info = mne.create_info(list(names), 1000.0, "eeg")
    raw = mne.io.RawArray(np.eye(size), info, verbose="error")
    raw.set_montage(montage(names), verbose="error")
    raw.info["bads"] = list(bad)
    raw.interpolate_bads(reset_bads=True, mode="accurate", verbose="error")
    return raw.get_data()


def repair_plan(
    names: list[str],
    bad: dict[str, str],
    config: ProcessingConfig,
    where: str,
    data: np.ndarray | None = None,
) -> BadChannels:
    """The operator that references, cleans and repairs every segment of a session.

    Parameters
    ----------
    names : list of str
        Channel names of the rows.
    bad : dict of str to str
        Output of :func:`detect` (empty when detection is off).
    config : ProcessingConfig
        ``reference``, ``bad_channels``, ``bad_max_share`` and the ``ica*`` fields.
    where : str
        What to name in errors.
    data : numpy.ndarray, optional
        (C, samples) filtered, unreferenced session signal in µV; needed with ICA.

    Returns
    -------
    BadChannels

    Raises
    ------
    SignalError
        When more than ``bad_max_share`` of the channels are bad, or ICA fails
        (see :func:`emod_data.ica.ica_cleaner`).
    """
    size = len(names)
    if len(bad) > config.bad_max_share * size:
        listed = ", ".join(f"{name} ({reason})" for name, reason in bad.items())
        raise SignalError(
            f"{where}: {len(bad)} of {size} channels are bad, more than bad_max_share "
            f"{config.bad_max_share:g} allows: {listed}"
        )
    good = np.array([name not in bad for name in names])
    operator = np.eye(size)
    if config.reference == "average":
        operator -= np.outer(np.ones(size), good / good.sum())  # mean over the good channels only
    removed = None
    if config.ica != "off":
        from emod_data.ica import ica_cleaner

        rows = np.flatnonzero(good)
        referenced = operator[rows] @ data
        cleaner, removed = ica_cleaner(referenced, [names[i] for i in rows], config.sfreq, config, where)
        del referenced
        operator[rows] = cleaner @ operator[rows]
    if not bad:
        return BadChannels(tuple(names), {}, "none", operator, np.arange(size), removed)
    if config.bad_channels == "drop":
        keep = np.flatnonzero(good)
        return BadChannels(tuple(names), dict(bad), "dropped", operator[keep], keep, removed)
    operator = interpolation_matrix(names, list(bad)) @ operator
    return BadChannels(tuple(names), dict(bad), "interpolated", operator, np.arange(size), removed)
