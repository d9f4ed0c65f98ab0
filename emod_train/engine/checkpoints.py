"""Checkpoints and run folders: atomic writes, checked reads, resumable pretraining runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from emod_train.engine.log import JsonlLog
from emod_train.engine.plots import plot_loss_curves
from emod_train.errors import CheckpointError


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write a checkpoint atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by emod-train.

    Raises
    ------
    CheckpointError
        Missing or unreadable file, or not an emod-train checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or "model_config" not in state or "backbone" not in state:
        raise CheckpointError(f"{path}: not an emod-train checkpoint (no model_config / backbone)")
    return state


def load_backbone(model: torch.nn.Module, path: str | Path) -> dict:
    """Copy a pretraining checkpoint's backbone weights into ``model.backbone`` (strict).

    Raises
    ------
    CheckpointError
        The checkpoint's backbone does not match the model.
    """
    state = load_checkpoint(path)
    try:
        model.backbone.load_state_dict(state["backbone"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: backbone does not fit the model ({first})") from None
    return state


def checked_run_folder(out: str | Path, resume: bool) -> Path:
    """The ``last.pt`` of a pretraining run in ``out``, after checking that ``resume`` fits the folder.

    Raises
    ------
    CheckpointError
        ``resume`` without a checkpoint, or a folder holding a run without ``resume``.
    """
    last = Path(out) / "last.pt"
    if resume and not last.exists():
        raise CheckpointError(f"{last}: nothing to resume (no checkpoint in the output folder)")
    if not resume and last.exists():
        raise CheckpointError(f"{out}: holds a pretraining run already; pass --resume or choose another --out")
    return last


def resume_state(last: Path, config: dict, fields, map_location) -> dict:
    """Load ``last.pt`` for a resume, refusing one made with other values of ``fields``.

    Raises
    ------
    CheckpointError
        Unreadable checkpoint, or settings that differ.
    """
    state = load_checkpoint(last, map_location=map_location)
    saved = state.get("config", {})
    differ = [k for k in fields if saved.get(k) != config.get(k)]
    if differ:
        raise CheckpointError(f"{last}: was made with other settings ({', '.join(differ)}); cannot resume")
    return state


class RunFolder:
    """The output folder of a resumable pretraining run.

    Holds ``config.json`` (run information), ``metrics.jsonl`` (the log), ``last.pt`` (the full
    state a resume reads), ``checkpoints/epoch-NNN.pt`` (weights after each epoch) and
    ``loss.png``. In a data-parallel run only the main process writes.

    Parameters
    ----------
    out : str or pathlib.Path
        Output folder.
    resume : bool
        Continue the run the folder holds (its ``last.pt`` must exist); without it the folder must
        not hold a run.
    resume_fields : sequence of str
        Configuration fields that must equal the saved run's for a resume.
    main : bool
        Whether this process writes (rank 0).

    Raises
    ------
    CheckpointError
        ``resume`` without a checkpoint, or a folder holding a run without ``resume``.
    """

    def __init__(self, out: str | Path, resume: bool, resume_fields, main: bool = True) -> None:
        self.out = Path(out)
        self.resume = resume
        self.fields = tuple(resume_fields)
        self.main = main
        self.last = checked_run_folder(self.out, resume)
        self.log: JsonlLog | None = None

    def open(self, config: dict, map_location) -> dict | None:
        """Start the metrics log; on a resume, return the checked ``last.pt`` state (None otherwise).

        On a resume the log loses the records written after the saved step, so a resumed run
        logs every step once.

        Raises
        ------
        CheckpointError
            Unreadable checkpoint, or one made with other values of the resume fields.
        """
        self.log = JsonlLog(self.out / "metrics.jsonl", truncate=not self.resume and self.main)
        if not self.resume:
            return None
        state = resume_state(self.last, config, self.fields, map_location)
        if self.main:
            self.log.truncate_after("step", state["step"])
        return state

    def write_info(self, info: dict) -> None:
        """Write ``config.json`` (the run's configuration, model configuration and environment)."""
        self.out.mkdir(parents=True, exist_ok=True)
        if self.main:
            (self.out / "config.json").write_text(json.dumps(info, indent=1, default=str))

    def write(self, **record) -> None:
        """Append a record to ``metrics.jsonl``."""
        if self.main:
            self.log.write(**record)

    def save(self, state: dict, epoch: int | None = None, weights: dict | None = None) -> None:
        """Write ``last.pt`` and, with ``weights``, ``checkpoints/epoch-<epoch>.pt``."""
        if not self.main:
            return
        save_checkpoint(self.last, state)
        if weights is not None:
            save_checkpoint(self.out / "checkpoints" / f"epoch-{epoch:03d}.pt", weights)

    def plot(self, title: str = "EMOD pretraining") -> None:
        """Draw ``loss.png`` from the log."""
        if self.main:
            plot_loss_curves(self.log.read(), self.out / "loss.png", title=title)


def resumable_run(folder: Path, make_run):
    """Run ``make_run(folder, resume)``, resuming an interrupted run; restart one made with other settings.

    Parameters
    ----------
    folder : pathlib.Path
        The run's output folder (it is resumed when it holds ``last.pt``).
    make_run : callable
        ``make_run(folder, resume)`` -> the run's result; raises :class:`CheckpointError` when the
        folder's run cannot be resumed (then the folder is deleted and the run starts afresh).
    """
    import shutil

    try:
        return make_run(folder, (folder / "last.pt").exists())
    except CheckpointError:
        shutil.rmtree(folder, ignore_errors=True)
        return make_run(folder, False)
