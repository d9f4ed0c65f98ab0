"""The registry of inspection checks: each check declared once, where its findings are made.

A function that makes findings is decorated with :func:`check` once per check it makes (name, severity,
what it looks at, its rule, and the text of its row in ``docs/inspect.md``). :data:`CHECKS` holds them in
declaration order; :func:`emod_data.inspect.catalog.check_table` writes out the rules with the thresholds in
force, and :func:`emod_data.inspect.catalog.checks_markdown` the documentation table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")
"""Severity levels, most severe first."""


@dataclass(frozen=True)
class Check:
    """A named check: its severity, what it looks at and its rule (with the thresholds in force)."""

    name: str
    severity: str
    what: str
    rule: str = field(default="")


@dataclass(frozen=True)
class CheckSpec:
    """A registered check.

    Attributes
    ----------
    name : str
        The check's name, as findings carry it.
    severity : str or callable
        ``"error"``, ``"warning"``, ``"info"`` or a combination (``"error / warning"``), or a function of the
        :class:`~emod_data.inspect.checks.Thresholds` when the severity is configurable.
    what : str
        What it looks at (``array``, ``signal``, ``channel``, ``recording``, ``labels``, ``split``, ...).
    rule : str or callable
        One line: the rule, or a function of the thresholds that writes it with their values.
    doc : str
        The rule as ``docs/inspect.md`` states it, with the default thresholds and the fine print.
    meaning : str
        Why it matters and what to do.
    """

    name: str
    severity: str | Callable[[Any], str]
    what: str
    rule: str | Callable[[Any], str]
    doc: str
    meaning: str

    def resolve(self, thresholds: Any) -> Check:
        """The check with its severity and rule written for ``thresholds``."""
        severity = self.severity(thresholds) if callable(self.severity) else self.severity
        rule = self.rule(thresholds) if callable(self.rule) else self.rule
        return Check(self.name, severity, self.what, rule)


CHECKS: dict[str, CheckSpec] = {}
"""Every registered check by name, in declaration order."""


def check(
    name: str,
    severity: str | Callable[[Any], str],
    what: str,
    rule: str | Callable[[Any], str],
    doc: str,
    meaning: str,
) -> Callable[[Callable], Callable]:
    """Register a check made by the decorated function (stack one per check the function makes).

    Parameters
    ----------
    name, severity, what, rule, doc, meaning
        The fields of :class:`CheckSpec`.

    Returns
    -------
    callable
        A decorator that returns the function unchanged, with the names of its checks in ``checks``.

    Raises
    ------
    ValueError
        When a check of that name is already registered, or the severity is not a known level.
    """
    if name in CHECKS:
        raise ValueError(f"check '{name}' is registered twice")
    if isinstance(severity, str) and not set(severity.split(" / ")) <= set(SEVERITIES):
        raise ValueError(f"check '{name}': unknown severity {severity!r}")
    CHECKS[name] = CheckSpec(name, severity, what, rule, doc, meaning)  # here, so that order follows the source

    def register(function: Callable) -> Callable:
        function.checks = (name, *getattr(function, "checks", ()))
        return function

    return register
