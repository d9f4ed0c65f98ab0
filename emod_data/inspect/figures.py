"""Figures of the inspection report (matplotlib, Agg backend; PNG files).

- ``va_scatter.png``: valence-arousal labels per corpus;
- ``spectra.png``: mean power spectrum per corpus;
- ``channel_coverage.png``: the channel vocabulary on a head outline (MNE), coloured by coverage;
- ``amplitude.png``: distributions of sample amplitude and of channel SD per corpus;
- ``bad_channels.png``: per corpus, how many subject-sessions had each electrode bad, on a head outline.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from emod_data.inspect.stats import HIST_STRIDE

FIGURES = ("va_scatter", "spectra", "channel_coverage", "amplitude", "bad_channels")
"""File stems of the figures, in report order."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int, width: float = 3.4, height: float = 3.2, columns: int = 4):
    plt = _pyplot()
    cols = max(1, min(columns, n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def _colors(n: int) -> list:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def va_scatter(recordings: pd.DataFrame, path: Path) -> Path:
    """Valence-arousal scatter of trial labels, one panel per corpus; marker area grows with the count.

    Parameters
    ----------
    recordings : pandas.DataFrame
        Recordings table rows (stimulus segments are plotted).
    path : pathlib.Path
        PNG file to write (the function returns it).
    """
    plt = _pyplot()
    stim = recordings[recordings["segment"] == "stimulus"] if len(recordings) else recordings
    corpora = sorted(stim["corpus"].unique()) if len(stim) else []
    fig, axes = _grid(max(1, len(corpora)))
    for ax, corpus in zip(axes, corpora or [None], strict=False):
        ax.axhline(0, color="0.8", lw=0.8, zorder=0)
        ax.axvline(0, color="0.8", lw=0.8, zorder=0)
        ax.set(xlabel="valence", ylabel="arousal", aspect="equal")
        if corpus is None:
            ax.set(xlim=(-4.3, 4.3), ylim=(-4.3, 4.3), title="no labels")
            continue
        recs = stim[stim["corpus"] == corpus]
        labelled = recs.dropna(subset=["valence", "arousal"])
        values = labelled[["valence", "arousal"]].to_numpy(dtype=float)
        reach = max(4.0, float(np.abs(values).max()) if len(values) else 4.0) + 0.3  # out-of-range labels stay visible
        ax.set(xlim=(-reach, reach), ylim=(-reach, reach))
        classes = labelled["class_name"].astype(object).where(labelled["class_name"].notna(), "(no class)")
        names = sorted(classes.unique())
        for color, name in zip(_colors(len(names)), names, strict=True):
            points = labelled[classes == name].groupby(["valence", "arousal"]).size().reset_index(name="n")
            ax.scatter(
                points["valence"],
                points["arousal"],
                s=12 + 60 * np.sqrt(points["n"] / max(1, points["n"].max())),
                color=color,
                alpha=0.7,
                edgecolors="none",
                label=f"{name} ({int(points['n'].sum())})",
            )
        missing = len(recs) - len(labelled)
        ax.set_title(f"{corpus}: {len(recs)} trials" + (f", {missing} unlabelled" if missing else ""), fontsize=10)
        if names:
            ax.legend(fontsize=7, loc="best", framealpha=0.7, markerscale=0.6)
    fig.suptitle("Labels in the valence-arousal plane")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def spectra(spectra_table: pd.DataFrame, recordings: pd.DataFrame, excluded: set[str], path: Path) -> Path:
    """Mean power spectral density per corpus (log scale), mains frequencies marked.

    Parameters
    ----------
    spectra_table : pandas.DataFrame
        Per-recording mean spectra (``StoreStats.spectra``).
    recordings : pandas.DataFrame
        Recordings table rows (for the corpus of each recording).
    excluded : set of str
        Recording ids left out of the means (unreadable or with an amplitude scale error).
    path : pathlib.Path
        PNG file to write (the function returns it).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    freqs = spectra_table.columns.to_numpy(dtype=float)
    corpus_of = recordings.set_index("recording_id")["corpus"] if len(recordings) else pd.Series(dtype=str)
    keep = ~spectra_table.index.isin(list(excluded))
    table = spectra_table[keep]
    corpora = sorted(corpus_of.unique())
    drawn = 0
    for color, corpus in zip(_colors(len(corpora)), corpora, strict=True):
        rows = table[table.index.map(corpus_of) == corpus].to_numpy(dtype=float)
        rows = rows[np.isfinite(rows).all(axis=1)] if len(rows) else rows
        if not len(rows):
            continue
        mean = rows.mean(axis=0)
        ax.semilogy(freqs[1:], np.maximum(mean[1:], 1e-12), color=color, lw=1.6, label=f"{corpus} ({len(rows)})")
        drawn += 1
    for f0 in (50.0, 60.0):
        if len(freqs) and f0 < freqs[-1]:
            ax.axvline(f0, color="0.6", ls=":", lw=1)
            ax.text(f0, 1.0, f" {f0:g} Hz", transform=ax.get_xaxis_transform(), va="top", fontsize=8, color="0.4")
    ax.set(xlabel="frequency (Hz)", ylabel="power spectral density (µV²/Hz)")
    ax.set_title("Mean power spectrum per corpus (recordings averaged, channels averaged)")
    if drawn:
        ax.legend(fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "no recording long enough for a spectrum", transform=ax.transAxes, ha="center")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _head_panels(vocabulary: pd.DataFrame, panels: list, paint, title: str, colorbar, path: Path) -> Path:
    """Draw one head outline (MNE) per panel with the vocabulary's sites; ``paint(panel, names)`` gives each
    panel's dot colours, sizes and title; ``colorbar(fig, axes, plt)`` adds the legend; the figure goes to ``path``."""
    import mne

    plt = _pyplot()
    vocabulary_names = vocabulary["name"].tolist()
    positions = vocabulary[["x", "y", "z"]].to_numpy(dtype=float)
    info = mne.create_info(vocabulary_names, 100.0, "eeg", verbose="error")
    sites = dict(zip(vocabulary_names, positions, strict=True))
    info.set_montage(mne.channels.make_dig_montage(ch_pos=sites, coord_frame="head"), verbose="error")
    fig, axes = _grid(max(1, len(panels)), width=3.6, height=3.8, columns=5)
    for ax, panel in zip(axes, panels, strict=False):
        mne.viz.plot_sensors(info, kind="topomap", axes=ax, show=False, pointsize=4, linewidth=1)
        dots = ax.collections[0]
        colors, sizes, panel_title = paint(panel, vocabulary_names)
        dots.set_facecolors(colors)
        dots.set_edgecolors("none")
        dots.set_sizes(sizes)
        ax.set_title(panel_title, fontsize=10)
    if not panels:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no recordings", ha="center", va="center")
    colorbar(fig, axes, plt)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def channel_coverage(vocabulary: pd.DataFrame, recordings: pd.DataFrame, path: Path) -> Path:
    """The channel vocabulary on a head outline (MNE), per corpus and for all corpora together.

    Each panel draws every vocabulary site; the corpus' channels are large coloured dots, the
    others small grey ones. The last panel colours each site by how many corpora record it.

    Parameters
    ----------
    vocabulary : pandas.DataFrame
        The store's channel vocabulary (``name``, ``x``, ``y``, ``z``).
    recordings : pandas.DataFrame
        Recordings table rows (``corpus``, ``channel_names``).
    path : pathlib.Path
        PNG file to write (the function returns it).
    """
    from matplotlib.colors import BoundaryNorm

    plt = _pyplot()
    covered: dict[str, set[str]] = {}
    for corpus, recs in recordings.groupby("corpus", sort=True) if len(recordings) else []:
        covered[corpus] = {name for names_ in recs["channel_names"] for name in names_}
    most = max(1, len(covered))
    cmap = plt.get_cmap("viridis", most)
    norm = BoundaryNorm(np.arange(0.5, most + 1.5), most)

    def paint(panel: str, names: list[str]):
        if panel == "all corpora":
            counts = np.array([sum(name in chans for chans in covered.values()) for name in names])
            colors = [cmap(norm(c)) if c else (0.82, 0.82, 0.82, 1.0) for c in counts]
            return colors, np.where(counts > 0, 16, 3), f"all corpora: {int((counts > 0).sum())} of {len(names)} sites"
        hit = np.array([name in covered[panel] for name in names])
        colors = [(0.84, 0.15, 0.16, 1.0) if h else (0.82, 0.82, 0.82, 1.0) for h in hit]
        return colors, np.where(hit, 16, 3), f"{panel}: {int(hit.sum())} channels"

    def colorbar(fig, axes, plt):
        if covered:
            mappable = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
            bar = fig.colorbar(mappable, ax=axes[-1], fraction=0.046, pad=0.04, label="corpora recording the site")
            bar.set_ticks(range(1, most + 1))

    return _head_panels(
        vocabulary, [*covered, "all corpora"], paint, "Channel coverage of the vocabulary", colorbar, path
    )


def bad_channel_map(vocabulary: pd.DataFrame, recordings: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
    """Bad-channel counts per electrode on a head outline (MNE), one panel per corpus.

    Each panel draws the corpus' electrodes; an electrode's colour and size grow with the number of
    subject-sessions in which the ingest found it bad (grey: never).

    Parameters
    ----------
    vocabulary, recordings : pandas.DataFrame
        As for :func:`channel_coverage`.
    summary : pandas.DataFrame
        :func:`emod_data.inspect.summary.bad_channel_summary`.
    path : pathlib.Path
        PNG file to write (the function returns it).
    """
    plt = _pyplot()
    corpora = sorted(set(recordings["corpus"])) if len(recordings) else []
    most = int(summary["sessions_bad"].max()) if len(summary) else 1
    cmap = plt.get_cmap("Reds")

    def paint(corpus: str, names: list[str]):
        recs = recordings[recordings["corpus"] == corpus]
        recorded = {n for chans in recs["channel_names"] for n in chans}
        if "bad_channels" in recs.columns:
            recorded |= {n for chans in recs["bad_channels"].dropna() for n in chans}
        rows = summary[summary["corpus"] == corpus].set_index("channel")["sessions_bad"] if len(summary) else {}
        counts = np.array([int(rows.get(name, 0)) if name in recorded else -1 for name in names])
        colors = [
            (1, 1, 1, 0) if c < 0 else (0.75, 0.75, 0.75, 1.0) if c == 0 else cmap(0.35 + 0.65 * c / most)
            for c in counts
        ]
        sizes = np.where(counts > 0, 14 + 40 * np.clip(counts, 0, None) / most, np.where(counts == 0, 8, 0))
        return colors, sizes, f"{corpus}: {int((counts > 0).sum())} electrodes ever bad"

    def colorbar(fig, axes, plt):
        mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, most))
        fig.colorbar(mappable, ax=axes[-1], fraction=0.046, pad=0.04, label="subject-sessions with the electrode bad")

    return _head_panels(vocabulary, corpora, paint, "Bad channels found at ingest", colorbar, path)


def amplitude(
    amplitude_table: pd.DataFrame, channels: pd.DataFrame, recordings: pd.DataFrame, limits: tuple, path: Path
) -> Path:
    """Distributions of |sample| and of channel SD per corpus, on log axes, with the plausible range shaded.

    Parameters
    ----------
    amplitude_table : pandas.DataFrame
        Per-recording histograms of log10 |sample| (``StoreStats.amplitude``).
    channels : pandas.DataFrame
        Per-channel statistics (``recording_id``, ``sd``).
    recordings : pandas.DataFrame
        Recordings table rows (for the corpus of each recording).
    limits : tuple of float
        Plausible range of the median channel SD in µV (shaded).
    path : pathlib.Path
        PNG file to write (the function returns it).
    """
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    corpus_of = recordings.set_index("recording_id")["corpus"] if len(recordings) else pd.Series(dtype=str)
    corpora = sorted(corpus_of.unique())
    edges = np.array([float(c) for c in amplitude_table.columns[:-1]])
    width = edges[1] - edges[0] if len(edges) > 1 else 0.1
    centres = edges + width / 2
    sd = channels[["recording_id", "sd"]].copy() if len(channels) else pd.DataFrame(columns=["recording_id", "sd"])
    sd["corpus"] = sd["recording_id"].map(corpus_of)
    bins = np.arange(-8.0, 6.01, 0.1)
    for color, corpus in zip(_colors(len(corpora)), corpora, strict=True):
        counts = amplitude_table[amplitude_table.index.map(corpus_of) == corpus].iloc[:, :-1].to_numpy().sum(axis=0)
        if counts.sum():
            left.plot(centres, counts / counts.sum() / width, color=color, lw=1.5, label=corpus)
        values = sd.loc[(sd["corpus"] == corpus), "sd"].to_numpy(dtype=float)
        values = values[np.isfinite(values) & (values > 0)]
        if len(values):
            right.hist(np.log10(values), bins=bins, color=color, alpha=0.45, label=corpus, density=True)
    for ax in (left, right):
        ax.axvspan(np.log10(limits[0]), np.log10(limits[1]), color="0.92", zorder=0)
        ax.set_xlim(-8, 6)
        ax.grid(alpha=0.3)
    left.set(xlabel="log10 |sample| (µV)", ylabel="density", title=f"Sample amplitude (1 sample in {HIST_STRIDE})")
    left.set_yscale("log")
    right.set(xlabel="log10 channel SD (µV)", ylabel="density", title="Channel standard deviation")
    if corpora:
        left.legend(fontsize=8, frameon=False)
        right.legend(fontsize=8, frameon=False)
    fig.suptitle("Amplitude distributions (shaded: plausible EEG scale)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def make_figures(report, folder: str | Path) -> dict[str, Path]:
    """Draw every figure of an :class:`~emod_data.inspect.core.InspectReport` into a folder.

    Parameters
    ----------
    report : InspectReport
        The inspection result.
    folder : path-like
        Output folder (created).

    Returns
    -------
    dict
        Figure stem (:data:`FIGURES`) -> PNG path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    findings = report.findings
    excluded = set(report.stats.recordings.loc[report.stats.recordings["error"].notna(), "recording_id"])
    if len(findings):
        scale = findings[(findings["check"] == "amplitude_scale") & (findings["severity"] == "error")]
        excluded |= set(scale["where"])
    recs = report.recordings
    return {
        "va_scatter": va_scatter(recs, folder / "va_scatter.png"),
        "spectra": spectra(report.stats.spectra, recs, excluded, folder / "spectra.png"),
        "channel_coverage": channel_coverage(report.vocabulary, recs, folder / "channel_coverage.png"),
        "amplitude": amplitude(
            report.stats.amplitude,
            report.stats.channels,
            recs,
            report.thresholds.amplitude_error_uv,
            folder / "amplitude.png",
        ),
        "bad_channels": bad_channel_map(report.vocabulary, recs, report.bad_channels, folder / "bad_channels.png"),
    }
