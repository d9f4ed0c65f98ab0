"""The bases of every run's settings and result dataclasses (pretraining, fine-tuning, benchmark, cross-corpus)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path


class Settings:
    """Mixin of the settings dataclasses: their plain-value form, written to run outputs and checkpoints."""

    def to_dict(self) -> dict:
        """Plain-value form (written to ``config.json``, ``results.json`` and checkpoints).

        Returns
        -------
        dict
        """
        return dataclasses.asdict(self)


@dataclass
class RunResult:
    """Base of every run's result dataclass.

    Attributes
    ----------
    out : pathlib.Path
        The run's output folder.
    """

    out: Path


@dataclass
class PretrainingResult(RunResult):
    """Base of the pretraining results: what every pretraining run leaves (the CLI reports these).

    Attributes
    ----------
    checkpoint : pathlib.Path
        ``last.pt`` (its ``backbone`` entry initialises fine-tuning).
    epoch_losses : list of float
        Mean loss of each epoch (of the whole run, resumed parts included).
    """

    checkpoint: Path
    epoch_losses: list[float]
