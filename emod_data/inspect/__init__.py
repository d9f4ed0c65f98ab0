"""Quality control of a store: what is in it, what is broken, what looks wrong.

``inspect_store`` reads every array once (block by block, in parallel worker
processes), runs named checks with severities and thresholds on the
statistics and the tables, summarises each corpus, optionally audits a
train / val / test split for leakage, and writes a self-contained HTML report.

Modules: :mod:`~emod_data.inspect.stats` (the streaming pass),
:mod:`~emod_data.inspect.checks` (checks and thresholds),
:mod:`~emod_data.inspect.summary` (per-corpus tables),
:mod:`~emod_data.inspect.splits` (split and leakage audit),
:mod:`~emod_data.inspect.figures` and :mod:`~emod_data.inspect.report` (the report),
:mod:`~emod_data.inspect.core` (``inspect_store``).

Example
-------
>>> from emod_data.inspect import inspect_store
>>> report = inspect_store("demo/store.zarr", report_dir="demo/report")  # doctest: +SKIP
>>> report.findings[["check", "severity", "where", "message"]]  # doctest: +SKIP
"""

from __future__ import annotations

from emod_data.lazy import lazy_exports

_EXPORTS = {
    "emod_data.inspect.registry": "SEVERITIES Check CHECKS check",
    "emod_data.inspect.checks": "Thresholds",
    "emod_data.inspect.catalog": "check_table checks_markdown",
    "emod_data.inspect.core": "InspectReport StoreStats compute_stats inspect_store",
    "emod_data.inspect.splits": "SPLIT_LEVELS SplitAudit audit_split make_split",
}
"""Public names, loaded on first use so that worker processes import only the streaming statistics."""

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
