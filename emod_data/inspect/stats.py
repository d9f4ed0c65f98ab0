"""Streaming per-recording statistics: one pass over each array, block by block along time.

A worker opens the store's arrays with plain zarr (lazily, inside its own
process), reads each array once in blocks of whole stored chunks, and folds
every block into running per-channel accumulators:

- counts of finite and non-finite samples, and the first non-finite sample;
- sum and sum of squares (float64, shifted by the first block's channel means
  for numerical stability), giving mean and standard deviation;
- minimum and maximum, and how many samples sit exactly at each;
- a Welch power spectrum (Hann window, non-overlapping segments of
  ``psd_seconds``; segments holding a non-finite sample are skipped);
- a histogram of ``log10 |x|`` over every ``HIST_STRIDE``-th sample.

Only these summaries travel back to the coordinator, never the signal. This
module imports numpy and zarr only, so spawned workers start fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HIST_EDGES = np.linspace(-8.0, 6.0, 141)
"""Bin edges of the amplitude histogram, in log10 µV (1e-8 to 1e6 µV, 0.1 decade bins)."""

HIST_STRIDE = 8
"""The amplitude histogram looks at every 8th sample of each channel (a distribution, not a count)."""

BLOCK_BYTES = 1 << 23
"""Target size of one read: as many whole stored chunks as fit in 8 MiB of float32."""


@dataclass(frozen=True)
class StatsParams:
    """What the streaming pass computes.

    Parameters
    ----------
    sfreq : float
        Store sampling rate in Hz.
    chunk_samples : int
        Samples per stored chunk; reads cover whole chunks.
    psd_seconds : float
        Length of one Welch segment (2 s gives 0.5 Hz resolution).
    line_frequencies : tuple of float
        Mains frequencies whose excess power is measured per channel.
    line_halfwidth : float
        Half-width in Hz of the band counted as line noise around each line frequency.
    line_background : tuple of float
        Inner and outer distance in Hz of the flanks whose median power is the background level.
    """

    sfreq: float
    chunk_samples: int
    psd_seconds: float = 2.0
    line_frequencies: tuple[float, ...] = (50.0, 60.0)
    line_halfwidth: float = 1.0
    line_background: tuple[float, float] = (2.0, 6.0)

    @property
    def nperseg(self) -> int:
        """Samples per Welch segment."""
        return max(8, round(self.psd_seconds * self.sfreq))

    @property
    def freqs(self) -> np.ndarray:
        """Frequencies of the spectrum bins in Hz."""
        return np.fft.rfftfreq(self.nperseg, 1.0 / self.sfreq)


class _Accumulator:
    """Running per-channel statistics of one recording."""

    def __init__(self, n_channels: int, params: StatsParams) -> None:
        self.params = params
        self.shift: np.ndarray | None = None
        self.count = np.zeros(n_channels, dtype=np.int64)
        self.nonfinite = np.zeros(n_channels, dtype=np.int64)
        self.first_nonfinite = np.full(n_channels, -1, dtype=np.int64)
        self.total = np.zeros(n_channels)
        self.total_sq = np.zeros(n_channels)
        self.low = np.full(n_channels, np.inf)
        self.high = np.full(n_channels, -np.inf)
        self.at_low = np.zeros(n_channels, dtype=np.int64)
        self.at_high = np.zeros(n_channels, dtype=np.int64)
        nperseg = params.nperseg
        self.window = np.hanning(nperseg + 2)[1:-1].astype(np.float32)  # symmetric Hann without zero ends
        self.power = np.zeros((n_channels, nperseg // 2 + 1))
        self.segments = np.zeros(n_channels, dtype=np.int64)
        self.carry = np.empty((n_channels, 0), dtype=np.float32)
        self.carry_finite = True
        self.hist = np.zeros(len(HIST_EDGES), dtype=np.int64)  # len(edges) - 1 bins, then exact zeros
        self.position = 0

    def add(self, block: np.ndarray) -> None:
        """Fold one (channels, samples) float32 block into the statistics."""
        n = block.shape[1]
        if n == 0:
            return
        if self.shift is None:
            finite_first = np.isfinite(block)
            with np.errstate(invalid="ignore", divide="ignore"):
                first = np.where(finite_first, block, 0.0).sum(axis=1, dtype=np.float64) / finite_first.sum(axis=1)
            self.shift = np.nan_to_num(first, nan=0.0, posinf=0.0, neginf=0.0)
        data = block.astype(np.float64)
        data -= self.shift[:, None]
        sums = data.sum(axis=1)
        if np.isfinite(sums).all():
            finite = None
            self.count += n
            self.total += sums
            self.total_sq += np.einsum("ij,ij->i", data, data)
            low, high = block.min(axis=1), block.max(axis=1)
            at_low = (block == low[:, None]).sum(axis=1)
            at_high = (block == high[:, None]).sum(axis=1)
        else:
            finite = np.isfinite(block)
            bad = ~finite
            bad_rows = bad.sum(axis=1)
            fresh = (bad_rows > 0) & (self.first_nonfinite < 0)
            if fresh.any():
                self.first_nonfinite[fresh] = self.position + bad[fresh].argmax(axis=1)
            self.nonfinite += bad_rows
            self.count += n - bad_rows
            data[bad] = 0.0
            self.total += data.sum(axis=1)
            self.total_sq += np.einsum("ij,ij->i", data, data)
            low = np.where(finite, block, np.inf).min(axis=1)
            high = np.where(finite, block, -np.inf).max(axis=1)
            at_low = (block == low[:, None]).sum(axis=1)
            at_high = (block == high[:, None]).sum(axis=1)
        self._extremes(low, high, at_low, at_high)
        self._spectrum(block, finite)
        self._histogram(block)
        self.position += n

    def _extremes(self, low, high, at_low, at_high) -> None:
        low = low.astype(np.float64)
        high = high.astype(np.float64)
        self.at_low = np.where(low < self.low, at_low, np.where(low == self.low, self.at_low + at_low, self.at_low))
        self.low = np.minimum(self.low, low)
        self.at_high = np.where(
            high > self.high, at_high, np.where(high == self.high, self.at_high + at_high, self.at_high)
        )
        self.high = np.maximum(self.high, high)

    def _spectrum(self, block: np.ndarray, finite: np.ndarray | None) -> None:
        nperseg = self.params.nperseg
        dirty = finite is not None or not self.carry_finite
        data = np.concatenate([self.carry, block], axis=1) if self.carry.shape[1] else block
        n_seg = data.shape[1] // nperseg
        used = n_seg * nperseg
        self.carry = np.array(data[:, used:], dtype=np.float32)
        self.carry_finite = bool(np.isfinite(self.carry).all())
        if n_seg == 0:
            return
        segments = data[:, :used].reshape(data.shape[0], n_seg, nperseg)
        good = np.isfinite(segments).all(axis=2) if dirty else None
        if good is not None:
            segments = np.where(good[:, :, None], segments, np.float32(0.0))
        centred = segments - segments.mean(axis=2, keepdims=True)
        centred *= self.window
        spectrum = np.fft.rfft(centred, axis=2)
        power = spectrum.real**2 + spectrum.imag**2
        if good is not None:
            power *= good[:, :, None]
            self.segments += good.sum(axis=1)
        else:
            self.segments += n_seg
        self.power += power.sum(axis=1)

    def _histogram(self, block: np.ndarray) -> None:
        sample = np.abs(block[:, ::HIST_STRIDE]).ravel()
        sample = sample[np.isfinite(sample)]
        positive = sample[sample > 0]
        self.hist[-1] += sample.size - positive.size
        width = HIST_EDGES[1] - HIST_EDGES[0]
        index = np.clip(((np.log10(positive) - HIST_EDGES[0]) / width).astype(np.int64), 0, len(HIST_EDGES) - 2)
        self.hist[:-1] += np.bincount(index, minlength=len(HIST_EDGES) - 1)

    def finish(self) -> dict:
        """Per-channel statistics, spectrum and histogram as plain arrays."""
        params = self.params
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_shifted = self.total / self.count
            variance = np.maximum(self.total_sq / self.count - mean_shifted**2, 0.0)
        shift = self.shift if self.shift is not None else np.zeros_like(self.total)
        scale = 1.0 / (params.sfreq * float((self.window.astype(np.float64) ** 2).sum()))
        with np.errstate(invalid="ignore", divide="ignore"):
            psd = self.power * scale / self.segments[:, None]
        psd[:, 1:-1] *= 2.0  # one-sided
        if params.nperseg % 2:
            psd[:, -1] *= 2.0
        return {
            "count": self.count,
            "nonfinite": self.nonfinite,
            "first_nonfinite": self.first_nonfinite,
            "mean": mean_shifted + shift,
            "sd": np.sqrt(variance),
            "min": self.low,
            "max": self.high,
            "at_min": self.at_low,
            "at_max": self.at_high,
            "psd": psd,
            "psd_segments": self.segments,
            "hist": self.hist,
            "samples_read": self.position,
        }


def line_noise_fraction(psd: np.ndarray, params: StatsParams) -> tuple[np.ndarray, np.ndarray]:
    """Share of each channel's power that is excess power at a mains frequency.

    For each line frequency below Nyquist, the excess is the power within
    ``line_halfwidth`` Hz of it above the background level (the median power
    density of the flanks ``line_background`` Hz away); the share is the
    largest excess over the channel's total power.

    Parameters
    ----------
    psd : numpy.ndarray
        (channels, frequencies) one-sided power spectral density.
    params : StatsParams
        Frequencies and band widths.

    Returns
    -------
    share : numpy.ndarray
        (channels,) largest excess share over the line frequencies (NaN without a spectrum).
    frequency : numpy.ndarray
        (channels,) the line frequency with that share.
    """
    freqs = params.freqs
    df = freqs[1] - freqs[0]
    total = psd[:, 1:].sum(axis=1) * df
    best = np.full(psd.shape[0], np.nan)
    where = np.full(psd.shape[0], np.nan)
    inner, outer = params.line_background
    for f0 in params.line_frequencies:
        if f0 + params.line_halfwidth >= freqs[-1]:
            continue
        band = np.abs(freqs - f0) <= params.line_halfwidth
        flank = (np.abs(freqs - f0) > inner) & (np.abs(freqs - f0) <= outer)
        for other in params.line_frequencies:
            if other != f0:
                flank &= np.abs(freqs - other) > inner
        background = np.median(psd[:, flank], axis=1) if flank.any() else np.zeros(psd.shape[0])
        excess = np.clip(psd[:, band] - background[:, None], 0.0, None).sum(axis=1) * df
        with np.errstate(invalid="ignore", divide="ignore"):
            share = excess / total
        better = ~(share <= best) & np.isfinite(share)
        best = np.where(better, share, best)
        where = np.where(better, f0, where)
    return best, where


def recording_stats(store: str, array_path: str, params: StatsParams) -> dict:
    """Statistics of one stored array, read once block by block.

    Parameters
    ----------
    store : str
        Store folder.
    array_path : str
        Array path inside the store (``data/seed/sub-1/ses-1/trial-01``).
    params : StatsParams
        What to compute.

    Returns
    -------
    dict
        ``array_path``, ``shape``, ``complete`` (the completion mark), ``error``
        (one line, or None when the array was read), and the per-channel
        statistics of :meth:`_Accumulator.finish`, plus ``line_share`` and
        ``line_frequency`` per channel.
    """
    import zarr

    result: dict = {"array_path": array_path, "shape": None, "complete": None, "error": None}
    try:
        array = zarr.open_array(store=store, path=array_path, mode="r", zarr_format=3)
    except Exception as exc:  # a missing or corrupt array is a finding, not a crash
        result["error"] = f"{store}/{array_path}: cannot open array ({type(exc).__name__}: {_first_line(exc)})"
        return result
    result["shape"] = tuple(int(s) for s in array.shape)
    result["complete"] = bool(array.attrs.get("complete", False))
    if array.ndim != 2:
        result["error"] = f"{store}/{array_path}: array has {array.ndim} dimensions, expected (channels, samples)"
        return result
    n_channels, n_samples = array.shape
    chunk = int(array.chunks[1]) if array.chunks[1] else params.chunk_samples
    per_block = max(1, BLOCK_BYTES // max(1, n_channels * chunk * 4)) * chunk
    accumulator = _Accumulator(n_channels, params)
    try:
        for start in range(0, n_samples, per_block):
            block = np.asarray(array[:, start : start + per_block], dtype=np.float32)
            accumulator.add(block)
    except Exception as exc:
        result["error"] = f"{store}/{array_path}: cannot read array ({type(exc).__name__}: {_first_line(exc)})"
        return result
    result.update(accumulator.finish())
    share, freq = line_noise_fraction(result["psd"], params)
    result["line_share"], result["line_frequency"] = share, freq
    return result


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def stats_batch(store: str, array_paths: list[str], params: StatsParams) -> list[dict]:
    """:func:`recording_stats` for several arrays (one task of a worker process)."""
    return [recording_stats(store, path, params) for path in array_paths]


def plan_batches(paths: list[str], sizes: list[int], workers: int, max_batch_bytes: int = 1 << 28) -> list[list[str]]:
    """Group arrays into tasks: about eight tasks per worker, none over ``max_batch_bytes``.

    Parameters
    ----------
    paths : list of str
        Array paths in the order to process them.
    sizes : list of int
        Bytes of each array (channels x samples x 4).
    workers : int
        Worker processes.
    max_batch_bytes : int
        Upper bound of one task's bytes (a single larger array is a task of its own).

    Returns
    -------
    list of list of str
    """
    if not paths:
        return []
    target = min(max_batch_bytes, max(1, math.ceil(sum(sizes) / max(1, workers * 8))))
    batches: list[list[str]] = [[]]
    filled = 0
    for path, size in zip(paths, sizes, strict=True):
        if batches[-1] and filled + size > target:
            batches.append([])
            filled = 0
        batches[-1].append(path)
        filled += size
    return batches
