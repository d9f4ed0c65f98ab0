"""Streaming per-recording statistics: one pass over each array, block by block along time.

A worker opens the store's arrays with zarr through the strict store of
:mod:`emod_data.storage` (lazily, inside its own process; a damaged or missing
chunk is an error), reads each array once in blocks of whole stored chunks, and folds
every block into running per-channel accumulators:

- counts of finite and non-finite samples, and the first non-finite sample;
- sum and sum of squares (float64, shifted by the first block's channel means
  for numerical stability), giving mean and standard deviation;
- minimum and maximum, and how many samples sit exactly at each;
- a Welch power spectrum (periodic Hann window, non-overlapping segments of
  ``psd_seconds``, each segment's window-weighted mean removed; segments
  holding a non-finite sample are skipped);
- a histogram of ``log10 |x|`` over every ``HIST_STRIDE``-th sample.

Only these summaries travel back to the coordinator, never the signal. This
module imports numpy, zarr and fsspec only, so spawned workers start fast.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from emod_data.errors import first_line

HIST_EDGES = np.linspace(-8.0, 6.0, 141)
"""Bin edges of the amplitude histogram, in log10 µV (1e-8 to 1e6 µV, 0.1 decade bins)."""

HIST_STRIDE = 32
"""The amplitude histogram looks at every 32nd sample of each channel (a distribution, not a count)."""

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
        self.low = np.full(n_channels, np.inf, dtype=np.float32)
        self.high = np.full(n_channels, -np.inf, dtype=np.float32)
        self.at_low = np.zeros(n_channels, dtype=np.int64)
        self.at_high = np.zeros(n_channels, dtype=np.int64)
        nperseg = params.nperseg
        # periodic Hann: its DFT is non-zero in bins 0 and 1 only, so a segment's mean leaks into those two only
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nperseg) / nperseg)).astype(np.float32)
        self.window_dft = np.fft.rfft(self.window.astype(np.float64))[:2]
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
            finite = np.isfinite(block)
            with np.errstate(invalid="ignore", divide="ignore"):
                first = np.where(finite, block, 0.0).sum(axis=1, dtype=np.float64) / finite.sum(axis=1)
            self.shift = np.nan_to_num(first, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        shifted = block - self.shift[:, None]
        sums = shifted.sum(axis=1).astype(np.float64)  # float32 pairwise sums of one block, float64 across blocks
        finite = None
        if np.isfinite(sums).all():
            self.count += n
            low, high = block.min(axis=1), block.max(axis=1)
        else:
            finite = np.isfinite(block)
            bad_rows = n - finite.sum(axis=1)
            fresh = (bad_rows > 0) & (self.first_nonfinite < 0)
            if fresh.any():
                self.first_nonfinite[fresh] = self.position + (~finite[fresh]).argmax(axis=1)
            self.nonfinite += bad_rows
            self.count += n - bad_rows
            shifted[~finite] = 0.0
            sums = shifted.sum(axis=1, dtype=np.float64)
            low = np.where(finite, block, np.inf).min(axis=1)
            high = np.where(finite, block, -np.inf).max(axis=1)
        self.total += sums
        self.total_sq += np.einsum("ij,ij->i", shifted, shifted)
        self._extremes(block, low, high)
        self._spectrum(block, finite)
        self._histogram(block)
        self.position += n

    def _extremes(self, block: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
        """Track each channel's extremes and how many samples sit exactly at them."""
        for values, best, counts, better in (
            (high, self.high, self.at_high, np.greater),
            (low, self.low, self.at_low, np.less),
        ):
            rows = np.flatnonzero(better(values, best) | (values == best))
            if not len(rows):
                continue
            rows_block = block if len(rows) == len(values) else block[rows]
            hits = (rows_block == values[rows, None]).sum(axis=1)
            reset = better(values[rows], best[rows])
            counts[rows] = np.where(reset, hits, counts[rows] + hits)
            best[rows] = values[rows]

    def _spectrum(self, block: np.ndarray, finite: np.ndarray | None) -> None:
        """Welch accumulation over whole segments; a tail waits for the next block."""
        import scipy.fft

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
        spectrum = scipy.fft.rfft(segments * self.window, axis=2)
        # remove each segment's window-weighted mean: bin 0 becomes 0, bin 1 loses the mean's leakage
        means = spectrum[:, :, 0].real / self.window_dft[0].real
        spectrum[:, :, 1] -= (means * self.window_dft[1]).astype(spectrum.dtype)
        spectrum[:, :, 0] = 0
        if good is not None:  # the bad segments were zeroed above
            self.segments += good.sum(axis=1)
        else:
            self.segments += n_seg
        parts = spectrum.view(spectrum.real.dtype)  # (channels, segments, 2 x bins): real, imaginary interleaved
        np.square(parts, out=parts)
        summed = parts.sum(axis=1)
        self.power += summed[:, 0::2] + summed[:, 1::2]

    def _histogram(self, block: np.ndarray) -> None:
        offset = -self.position % HIST_STRIDE  # every HIST_STRIDE-th sample of the recording, whatever the blocks
        sample = np.abs(block[:, offset::HIST_STRIDE]).ravel()
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
            psd = self.power / (params.sfreq * float((self.window.astype(np.float64) ** 2).sum()))
            psd /= self.segments[:, None]
        psd[:, 1:] *= 2.0  # one-sided
        if params.nperseg % 2 == 0:
            psd[:, -1] /= 2.0  # the Nyquist bin has no mirror
        shift = self.shift.astype(np.float64) if self.shift is not None else np.zeros_like(self.total)
        empty = self.count == 0
        return {
            "count": self.count,
            "nonfinite": self.nonfinite,
            "first_nonfinite": self.first_nonfinite,
            "mean": np.where(empty, np.nan, mean_shifted + shift),
            "sd": np.where(empty, np.nan, np.sqrt(variance)),
            "min": np.where(empty, np.nan, self.low.astype(np.float64)),
            "max": np.where(empty, np.nan, self.high.astype(np.float64)),
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


def _array_blocks(
    store: str, array_path: str, params: StatsParams, storage_options: dict | None = None
) -> Iterator[tuple[str, object]]:
    """Read one array block by block.

    Yields ``("meta", info)`` first (``info["error"]`` set when the array cannot
    be opened), then ``("block", ndarray)`` per block, or ``("error", message)``
    when a read fails part-way.
    """
    import zarr

    from emod_data.storage import zarr_store

    info: dict = {"array_path": array_path, "shape": None, "complete": None, "error": None}
    try:  # through the strict store: a missing or empty chunk file is an error, checksums are verified
        array = zarr.open_array(store=zarr_store(store, storage_options), path=array_path, mode="r", zarr_format=3)
        info["shape"] = tuple(int(s) for s in array.shape)
        info["complete"] = bool(array.attrs.get("complete", False))
    except Exception as exc:  # a missing or corrupt array is a finding, not a crash
        info["error"] = f"{store}/{array_path}: cannot open array ({first_line(exc, with_type=True)})"
        yield "meta", info
        return
    if array.ndim != 2:
        info["error"] = f"{store}/{array_path}: array has {array.ndim} dimensions, expected (channels, samples)"
        yield "meta", info
        return
    yield "meta", info
    n_channels, n_samples = array.shape
    chunk = int(array.chunks[1]) or params.chunk_samples
    per_block = max(1, BLOCK_BYTES // max(1, n_channels * chunk * 4)) * chunk
    for start in range(0, n_samples, per_block):
        try:
            block = np.asarray(array[:, start : start + per_block], dtype=np.float32)
        except Exception as exc:
            yield "error", f"{store}/{array_path}: cannot read array ({first_line(exc, with_type=True)})"
            return
        yield "block", block


def _prefetched(items: Iterator, depth: int = 2) -> Iterator:
    """Run an iterator in a reader thread, ``depth`` items ahead of the consumer.

    Reading (zarr, decompression) and the statistics (numpy, FFT) both release
    the GIL, so the next block is read while the current one is summarised.
    """
    import queue
    import threading

    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(("done", done))
        except BaseException as exc:  # handed to the consumer and raised there
            buffer.put(("raise", exc))

    thread = threading.Thread(target=produce, name="emod-inspect-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = buffer.get()
            if kind == "done":
                return
            if kind == "raise":
                raise item
            yield item
    finally:
        stop.set()


def _finish(info: dict, accumulator: _Accumulator | None, params: StatsParams) -> dict:
    if accumulator is None or info["error"] is not None:
        return info
    info.update(accumulator.finish())
    info["line_share"], info["line_frequency"] = line_noise_fraction(info["psd"], params)
    return info


def stats_batch(
    store: str,
    array_paths: list[str],
    params: StatsParams,
    prefetch: bool = True,
    storage_options: dict | None = None,
) -> list[dict]:
    """Statistics of several stored arrays, each read once block by block (one task of a worker).

    Parameters
    ----------
    store : str
        Store folder.
    array_paths : list of str
        Array paths inside the store (``data/seed/sub-1/ses-1/trial-01``).
    params : StatsParams
        What to compute.
    prefetch : bool
        Read the next block in a background thread while the current one is summarised.
    storage_options : dict, optional
        fsspec options of a store URL.

    Returns
    -------
    list of dict
        One per array, in order: ``array_path``, ``shape``, ``complete`` (the
        completion mark), ``error`` (one line naming the array, or None), and
        when it was read the per-channel ``count``, ``nonfinite``,
        ``first_nonfinite``, ``mean``, ``sd``, ``min``, ``max``, ``at_min``,
        ``at_max``, ``line_share``, ``line_frequency``, the (channels,
        frequencies) ``psd`` with ``psd_segments``, the amplitude ``hist`` and
        ``samples_read``.
    """
    source = (item for path in array_paths for item in _array_blocks(store, path, params, storage_options))
    results: list[dict] = []
    info: dict | None = None
    accumulator: _Accumulator | None = None
    for kind, payload in _prefetched(source) if prefetch else source:
        if kind == "meta":
            if info is not None:
                results.append(_finish(info, accumulator, params))
            info = payload
            accumulator = _Accumulator(info["shape"][0], params) if info["error"] is None else None
        elif kind == "block":
            accumulator.add(payload)
        else:
            info["error"] = payload
    if info is not None:
        results.append(_finish(info, accumulator, params))
    return results


def recording_stats(store: str, array_path: str, params: StatsParams) -> dict:
    """Statistics of one stored array, read once block by block (see :func:`stats_batch`)."""
    return stats_batch(store, [array_path], params, prefetch=False)[0]


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
