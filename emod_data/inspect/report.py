"""The self-contained HTML report of an inspection (figures embedded, also written as PNG files)."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from pathlib import Path

import pandas as pd

from emod_data import __version__
from emod_data.inspect.figures import FIGURES, make_figures

MAX_ROWS_PER_CHECK = 200
"""Findings listed per check in the HTML; every finding is in ``findings.csv``."""

CAPTIONS = {
    "va_scatter": "Trial labels in the valence-arousal plane, one panel per corpus; marker area grows with the "
    "number of trials at that point.",
    "spectra": "Mean power spectral density per corpus (Welch, 2 s Hann segments, channels and recordings "
    "averaged; unreadable recordings and recordings with an amplitude-scale error left out).",
    "channel_coverage": "The store's channel vocabulary on a head outline (MNE): each corpus' channels in red, "
    "and every site coloured by the number of corpora that record it.",
    "bad_channels": "Electrodes the ingest found bad (flat, noisy, poorly correlated or bridged) on a head "
    "outline, per corpus: colour and size grow with the number of subject-sessions; grey: never bad.",
    "amplitude": "Left: distribution of |sample| (log10 µV) per corpus. Right: distribution of channel "
    "standard deviations. Shaded: the plausible EEG amplitude scale.",
}

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 24px auto; max-width: 1280px;
       color: #1d1d1f; padding: 0 16px; }
h1 { font-size: 1.6em; margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; }
h3 { margin-bottom: 4px; }
table { border-collapse: collapse; font-size: 0.86em; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f6; } tr:nth-child(even) td { background: #fafafa; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; color: #fff; font-weight: 600;
         margin-right: 6px; }
.error { background: #c62828; } .warning { background: #ef6c00; }
.info { background: #1565c0; } .ok { background: #2e7d32; }
figure { margin: 12px 0 28px; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; } .muted { color: #666; font-size: 0.9em; }
code { background: #f4f4f6; padding: 0 3px; }
tr.hit-error td { background: #fdecea; } tr.hit-warning td { background: #fff4e5; }
tr.hit-info td { background: #e8f1fb; }
details { margin: 10px 0; } summary { cursor: pointer; font-size: 1.05em; }
"""

SCRIPT = """
(function () {
  var images = document.querySelectorAll('figure img');
  var shown = 0;
  images.forEach(function (img) {
    var ok = img.complete && img.naturalWidth > 0;
    img.setAttribute('data-loaded', ok ? 'yes' : 'no');
    if (ok) { shown += 1; }
  });
  var status = document.getElementById('figure-status');
  if (status) { status.textContent = shown + ' of ' + images.length + ' figures shown'; }
  document.body.setAttribute('data-figures-shown', String(shown));
})();
"""


def _table(frame: pd.DataFrame, float_format: str = "{:.4g}", row_class=None) -> str:
    if frame is None or not len(frame):
        return '<p class="muted">none</p>'

    def cell(value) -> str:
        if isinstance(value, float):
            return "" if pd.isna(value) else float_format.format(value)
        if value is None:
            return ""
        return str(value)

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        css = row_class(row) if row_class is not None else ""
        attr = f' class="{css}"' if css else ""
        rows.append(f"<tr{attr}>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>")
    body = "".join(rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pairs(values: dict) -> str:
    frame = pd.DataFrame({"parameter": list(values), "value": [json.dumps(v) for v in values.values()]})
    return _table(frame)


def _hit_class(row) -> str:
    if row.errors:
        return "hit-error"
    if row.warnings:
        return "hit-warning"
    return "hit-info" if row.infos else ""


def _figure(name: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure id="fig-{name}"><img alt="{name}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(CAPTIONS.get(name, name))} (<code>figures/{path.name}</code>)</figcaption></figure>"
    )


def _verdict(report) -> str:
    parts = []
    for severity in ("error", "warning", "info"):
        n = report.count(severity)
        if n:
            parts.append(f'<span class="badge {severity}">{n} {severity}{"s" if n != 1 else ""}</span>')
    if not report.failed("warning"):
        parts.insert(0, '<span class="badge ok">no errors or warnings</span>')
    return "".join(parts)


def _failing_checks(findings: pd.DataFrame, counts: pd.DataFrame) -> str:
    """One collapsible section per check that hit anything: its rule and (up to a limit) its findings."""
    sections = []
    hit = counts[(counts["errors"] + counts["warnings"] + counts["infos"]) > 0]
    for check in hit["check"]:
        rows = findings[findings["check"] == check]
        shown = rows.head(MAX_ROWS_PER_CHECK)[["severity", "corpus", "where", "channels", "value", "message"]]
        more = (
            f'<p class="muted">{len(rows) - MAX_ROWS_PER_CHECK} more in findings.csv</p>'
            if len(rows) > MAX_ROWS_PER_CHECK
            else ""
        )
        rule = counts.loc[counts["check"] == check, "rule"].iloc[0]
        worst = "error" if (rows["severity"] == "error").any() else rows["severity"].iloc[0]
        opened = " open" if worst in ("error", "warning") else ""
        sections.append(
            f'<details id="check-{check}"{opened}><summary><span class="badge {worst}">{worst}</span>'
            f"<b>{html.escape(check)}</b> ({len(rows)})</summary>"
            f'<p class="muted">{html.escape(rule)}</p>{_table(shown)}{more}</details>'
        )
    return "".join(sections) or '<p class="muted">No check hit any recording.</p>'


def render_html(report, figures: dict[str, Path]) -> str:
    """The report as one HTML document with the figures embedded as data URIs.

    Parameters
    ----------
    report : InspectReport
        The inspection result.
    figures : dict
        Figure stem -> PNG path (from :func:`emod_data.inspect.figures.make_figures`).

    Returns
    -------
    str
    """
    counts = report.check_counts()
    failing = _failing_checks(report.findings, counts)
    processing = report.processing.to_dict() if hasattr(report.processing, "to_dict") else {}
    split_html = ""
    if report.split is not None:
        split_html = (
            f"<h2>Split audit (kept whole: {html.escape(report.split.by)})</h2>"
            f"<h3>Parts</h3>{_table(report.split.sizes)}"
            f"<h3>Overlaps</h3>{_table(report.split.overlaps)}"
        )
    figure_html = {name: _figure(name, path) for name, path in figures.items()}
    stats = report.stats
    throughput = stats.bytes_read / 1e6 / stats.seconds if stats.seconds > 0 else float("nan")
    created = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>emod-data inspect: {html.escape(str(report.store))}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Store inspection</h1>
<p class="muted"><code>{html.escape(str(report.store))}</code> · {created} · emod_data {__version__}
 · corpora: {html.escape(", ".join(report.corpora) or "none")}</p>
<p>{_verdict(report)} <span class="muted" id="figure-status"></span></p>

<h2>Summary</h2>
<p class="muted">Trials and hours count stimulus segments; windows are non-overlapping
{report.window_seconds:g} s windows of stimulus segments; valence and arousal are mean ± SD on [-4, 4].</p>
{_table(report.summary)}

<h2>Checks</h2>
{_table(counts, row_class=_hit_class)}

<h2>Failing checks and the recordings they hit</h2>
{failing}

<h2>Ingest failures</h2>
{_table(report.failures)}

<h2>Labels</h2>
{figure_html.get("va_scatter", "")}
{_table(report.labels)}

<h2>Power spectra</h2>
{figure_html.get("spectra", "")}

<h2>Channel coverage</h2>
{figure_html.get("channel_coverage", "")}

<h2>Amplitude distributions</h2>
{figure_html.get("amplitude", "")}

<h2>Bad channels</h2>
<p class="muted">Per corpus and electrode: the subject-sessions in which the ingest found it bad, and why.</p>
{figure_html.get("bad_channels", "")}
{_table(report.bad_channels)}
{split_html}

<h2>How this was made</h2>
<p class="muted">Statistics from one streaming pass over {len(stats.recordings)} arrays
({stats.bytes_read / 1e9:.3f} GB of float32 in {stats.seconds:.1f} s, {throughput:.0f} MB/s).</p>
<h3>Store processing</h3>{_pairs(processing)}
<h3>Thresholds</h3>{_pairs(report.thresholds.to_dict())}
<script>{SCRIPT}</script>
</body>
</html>
"""


def write_report(report, folder: str | Path) -> Path:
    """Write ``report.html``, ``figures/*.png`` and the tables into a folder.

    Files: ``report.html`` (self-contained), ``figures/<name>.png``, ``summary.csv``, ``checks.csv``,
    ``findings.csv``, ``labels.csv``, ``failures.csv``, ``bad_channels.csv``, ``recording_stats.csv``,
    ``channel_stats.parquet``, and with a split ``split.csv`` and ``split_overlaps.csv``.

    Parameters
    ----------
    report : InspectReport
        The inspection result.
    folder : path-like
        Output folder (created; existing files of the same names are replaced).

    Returns
    -------
    pathlib.Path
        The HTML file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    figures = make_figures(report, folder / "figures")
    report.figures = {name: figures[name] for name in FIGURES if name in figures}
    report.summary.to_csv(folder / "summary.csv", index=False)
    report.check_counts().to_csv(folder / "checks.csv", index=False)
    report.findings.to_csv(folder / "findings.csv", index=False)
    report.labels.to_csv(folder / "labels.csv", index=False)
    report.failures.to_csv(folder / "failures.csv", index=False)
    report.bad_channels.to_csv(folder / "bad_channels.csv", index=False)
    report.stats.recordings.to_csv(folder / "recording_stats.csv", index=False)
    report.stats.channels.to_parquet(folder / "channel_stats.parquet", index=False)
    if report.split is not None:
        report.split.assignment.to_csv(folder / "split.csv", index=False)
        report.split.overlaps.to_csv(folder / "split_overlaps.csv", index=False)
    target = folder / "report.html"
    temporary = folder / ".report.html.tmp"
    temporary.write_text(render_html(report, report.figures), encoding="utf-8")
    temporary.replace(target)
    return target
