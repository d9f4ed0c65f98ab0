"""The cross-corpus protocol of SCMM, runnable for SCMM, EMOD and no pretraining on identical splits.

Per direction (source -> target, e.g. SEED -> SEED-IV; see ``emod_train/evaluation/protocols/cross_corpus.toml``):

1. channels: those every recording of both corpora holds (:func:`emod_train.data.windows.shared_channels`),
   in vocabulary order; every method sees exactly these;
2. pretraining on the source corpus (session 1, all subjects): SCMM on DE features
   (:func:`emod_train.methods.scmm.pretrain.pretrain_scmm`, the direction's a, sigma, t) and/or EMOD on the
   raw windows (:func:`emod_train.methods.emod.pretrain.pretrain`);
3. per target subject (session 1): the first 9 trials of the direction's classes fine-tune, the
   remaining trials test; of the 9, the last trial of every class that has two or more is held
   out as validation and selects the epoch (highest validation accuracy, the earliest on ties).
   Test data never select anything;
4. accuracy and macro F1 on the test trials per subject, then mean and standard deviation over
   subjects (and seeds) per direction and method.

Methods: ``scmm`` (SCMM-pretrained encoder), ``scmm_scratch`` (the same encoder, random
initialisation: the no-pretraining baseline), ``emod`` (EMOD-pretrained backbone) and
``emod_scratch``. Outputs in ``out``: ``results.json``, ``results.md``, ``subjects.csv`` (one row
per direction, method, subject and seed), ``cross_corpus.png`` and one folder per direction with
the pretraining runs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from emod_train.data.features import scale_with_training
from emod_train.engine.log import progress_bar
from emod_train.engine.runtime import derive_seed, environment, prepare_device
from emod_train.engine.settings import RunResult, Settings
from emod_train.errors import TaskError
from emod_train.evaluation.fit import fit
from emod_train.evaluation.metrics import classification_metrics
from emod_train.evaluation.tasks import Task, natural_key, read_toml
from emod_train.methods.registry import get_method, pretrainable_methods

PROTOCOL_FILE = Path(__file__).parent / "protocols" / "cross_corpus.toml"
"""The shipped protocol (SCMM's four directions)."""

SCRATCH = "_scratch"
"""Suffix of a method's no-pretraining baseline (``scmm_scratch``: SCMM's encoder from a random start)."""

SELECTIONS = ("first", "stratified")
"""Fine-tuning trial selections: the first trials in order, or class by class in turn."""

DOMINANT_SHARE = 2 / 3
"""A class holding more than this share of the fine-tuning trials is reported as dominating."""


@dataclass(frozen=True)
class Direction:
    """One source -> target direction.

    Attributes
    ----------
    name, title : str
    source, target : tuple of str
        Accepted corpus names, in order of preference.
    classes : tuple of str
        Target classes (label k = position k); windows of other classes are dropped.
    a, sigma, t : float
        SCMM's soft-weight scale, sharpness and temperature for this direction.
    """

    name: str
    title: str
    source: tuple[str, ...]
    target: tuple[str, ...]
    classes: tuple[str, ...]
    a: float
    sigma: float
    t: float


@dataclass(frozen=True)
class Protocol:
    """The cross-corpus protocol: windows, sessions, split rule and directions.

    Attributes
    ----------
    window : float
        Seconds per sample.
    source_sessions : tuple of int
        Source sessions used for pretraining.
    target_session : int
        Target session split into fine-tuning and test trials.
    finetune_trials : int
        Leading trials of each target subject that fine-tune (the rest test).
    val_per_class : int
        Trials per class taken from the end of the fine-tuning trials for validation (when the
        class keeps at least one training trial).
    directions : dict of str to Direction
    path : pathlib.Path
    selection : {"first", "stratified"}
        Which trials fine-tune: the first ``finetune_trials`` in trial order (SCMM's rule), or
        the same number taken class by class in turn, each class's trials in trial order
        (balanced when the trial order groups classes, as DEAP's video order may).
    """

    window: float
    source_sessions: tuple[int, ...]
    target_session: int
    finetune_trials: int
    val_per_class: int
    directions: dict[str, Direction]
    path: Path
    selection: str = "first"


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Read a protocol file (the shipped one by default).

    Raises
    ------
    TaskError
        One line naming the file and the problem.
    """
    path = Path(path) if path is not None else PROTOCOL_FILE
    data = read_toml(path, "protocol")
    head, directions = data.get("protocol"), data.get("directions")
    if not isinstance(head, dict) or not isinstance(directions, dict) or not directions:
        raise TaskError(f"{path}: needs a [protocol] table and at least one [directions.NAME] table")
    try:
        parsed = {}
        for name, d in directions.items():
            listed = {k: tuple([d[k]] if isinstance(d[k], str) else d[k]) for k in ("source", "target", "classes")}
            if len(listed["classes"]) < 2:
                raise ValueError("classes needs at least 2 names")
            values = {k: float(d[k]) for k in ("a", "sigma", "t")}
            if min(values.values()) <= 0:
                raise ValueError("a, sigma and t must be positive")
            parsed[name] = Direction(name=name, title=str(d.get("title", name)), **listed, **values)
        protocol = Protocol(
            window=float(head["window"]),
            source_sessions=tuple(int(s) for s in head["source_sessions"]),
            target_session=int(head["target_session"]),
            finetune_trials=int(head["finetune_trials"]),
            val_per_class=int(head.get("val_per_class", 1)),
            directions=parsed,
            path=path,
            selection=str(head.get("selection", "first")),
        )
    except KeyError as exc:
        raise TaskError(f"{path}: field {exc} is missing") from None
    except (TypeError, ValueError) as exc:
        raise TaskError(f"{path}: {exc}") from None
    if protocol.selection not in SELECTIONS:
        raise TaskError(f"{path}: selection must be one of {', '.join(SELECTIONS)} (got {protocol.selection!r})")
    if protocol.window <= 0 or protocol.finetune_trials < 2 or protocol.val_per_class < 0:
        raise TaskError(f"{path}: window must be positive, finetune_trials >= 2 and val_per_class >= 0")
    return protocol


def _first_present(names, present, role: str, direction: Direction, store) -> str:
    for name in names:
        if name in present:
            return name
    raise TaskError(
        f"{store.path}: direction {direction.name} needs a {role} corpus {' or '.join(names)} "
        f"(the store holds {', '.join(sorted(present)) or 'nothing'})"
    )


def target_labels(windows: pd.DataFrame, direction: Direction, path: Path) -> np.ndarray:
    """Class index of each target window under the direction's classes (-1: another class, dropped)."""
    task = Task(
        name=direction.name, title=direction.title, corpora=direction.target, window=1.0, stride=None,
        classes=direction.classes, label="class_name", other_classes="drop", split_by="trial", path=path,
    )  # fmt: skip
    return task.labels(windows)


def subject_parts(windows: pd.DataFrame, labels: np.ndarray, protocol: Protocol) -> dict[str, dict[str, np.ndarray]]:
    """Per target subject, the positions of its train, val and test windows.

    Trials are ordered by number; only trials of the direction's classes count. The first
    ``finetune_trials`` fine-tune (``protocol.selection = "stratified"``: as many, taken class by
    class in turn), the rest test; of the fine-tuning trials, the last ``val_per_class`` trials of
    each class that keeps a training trial validate.

    Returns
    -------
    dict
        ``{subject: {"train": positions, "val": positions, "test": positions, "trials": {...}}}``;
        subjects without a test trial are left out.
    """
    out = {}
    frame = windows.assign(_label=labels, _pos=np.arange(len(windows)))
    frame = frame[frame["_label"] >= 0]
    for subject, rows in frame.groupby("subject", sort=False):
        trial_label = rows.groupby("trial")["_label"].first()
        trials = sorted(trial_label.index, key=lambda v: natural_key(str(v)))
        finetune = _select_trials(trials, trial_label, protocol.finetune_trials, protocol.selection)
        test = [t for t in trials if t not in finetune]
        if not test:
            continue
        val = []
        for label in sorted(set(trial_label[finetune])):
            of_class = [t for t in finetune if trial_label[t] == label]
            if len(of_class) > protocol.val_per_class:
                val += of_class[len(of_class) - protocol.val_per_class :]
        val = [t for t in finetune if t in val]
        train = [t for t in finetune if t not in val]
        positions = {k: rows.loc[rows["trial"].isin(v), "_pos"].to_numpy().copy() for k, v in
                     (("train", train), ("val", val), ("test", test))}  # fmt: skip
        positions["trials"] = {"train": train, "val": val, "test": test}
        out[str(subject)] = positions
    return dict(sorted(out.items(), key=lambda item: natural_key(item[0])))


def _select_trials(trials: list, trial_label: pd.Series, count: int, selection: str) -> list:
    """The fine-tuning trials, in trial order (see :func:`subject_parts`)."""
    if selection == "first":
        return trials[:count]
    queues = {c: [t for t in trials if trial_label[t] == c] for c in sorted(set(trial_label[trials]))}
    chosen: list = []
    while len(chosen) < count and any(queues.values()):
        for queue in queues.values():
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return [t for t in trials if t in chosen]


def finetune_class_balance(parts: dict, labels: np.ndarray, classes) -> dict:
    """Fine-tuning (train + val) windows per class over all subjects, and the largest class share.

    Parameters
    ----------
    parts : dict
        :func:`subject_parts` output.
    labels : numpy.ndarray
        Class index of every window.
    classes : sequence of str
        Class names (index order).

    Returns
    -------
    dict
        ``{"windows": {class: n}, "dominant": class, "dominant_share": float, "dominates": bool}``.
    """
    positions = [np.concatenate([p["train"], p["val"]]) for p in parts.values()]
    chosen = labels[np.concatenate(positions).astype(np.int64)] if positions else np.array([], dtype=np.int64)
    counts = {str(c): int((chosen == i).sum()) for i, c in enumerate(classes)}
    total = max(1, sum(counts.values()))
    dominant = max(counts, key=counts.get)
    share = counts[dominant] / total
    return {"windows": counts, "dominant": dominant, "dominant_share": share, "dominates": share > DOMINANT_SHARE}


def protocol_methods() -> list[str]:
    """Method names the protocol runs: every registered method with a ``cross_corpus`` hook, and its
    ``_scratch`` baseline (the same model from a random initialisation).

    Returns
    -------
    list of str
        ``["emod", "emod_scratch", "scmm", "scmm_scratch"]`` with the shipped registry.
    """
    return [n for m in pretrainable_methods() if m.cross_corpus is not None for n in (m.name, m.name + SCRATCH)]


def protocol_method(name: str):
    """The registered method behind a protocol method name, and whether it is pretrained on the source.

    Returns
    -------
    tuple of (emod_train.methods.Method, bool)
    """
    base = name.removesuffix(SCRATCH)
    return get_method(base), base == name


@dataclass
class CrossCorpusConfig(Settings):
    """Settings of a cross-corpus run.

    Parameters
    ----------
    store : str
        Store holding the source and target corpora.
    out : str
        Output folder.
    protocol : str, optional
        Protocol file (the shipped SCMM protocol by default).
    directions : list of str, optional
        Direction names (all of the protocol by default).
    methods : list of str
        Of :func:`protocol_methods`.
    scmm_epochs, scmm_batch_size : int
        SCMM pretraining: 200 epochs, batch 256 (the paper's).
    emod_epochs, emod_batch_size, emod_steps_per_epoch : int
        EMOD pretraining on the source corpus (default 20 epochs of batch 288, one pass each).
    emod_model : dict
        Overrides of :class:`~emod_train.methods.emod.model.EMODConfig` (e.g. a smaller model on a CPU).
    finetune_epochs, finetune_batch_size : int
        Per-subject fine-tuning: 30 epochs, batch 32.
    finetune_lr, weight_decay : float
        Adam at 5e-4, weight decay 3e-4, for every method.
    seeds, seed : int
        Fine-tuning runs per subject with seeds ``seed, seed + 1, ...`` (pretraining uses ``seed``).
    device : str
    cache_dir : str, optional
        Feature and signal cache root.
    selection : {"first", "stratified"}, optional
        Overrides the protocol's fine-tuning trial selection.
    """

    store: str
    out: str
    protocol: str | None = None
    directions: list[str] | None = None
    methods: list[str] = field(default_factory=lambda: ["scmm", "scmm_scratch", "emod"])
    scmm_epochs: int = 200
    scmm_batch_size: int = 256
    emod_epochs: int = 20
    emod_batch_size: int = 288
    emod_steps_per_epoch: int | None = None
    emod_model: dict = field(default_factory=dict)
    finetune_epochs: int = 30
    finetune_batch_size: int = 32
    finetune_lr: float = 5e-4
    weight_decay: float = 3e-4
    seeds: int = 1
    seed: int = 0
    device: str = "auto"
    cache_dir: str | None = None
    selection: str | None = None

    def __post_init__(self) -> None:
        if self.selection is not None and self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)} (got {self.selection!r})")
        known = protocol_methods()
        unknown = [m for m in self.methods if m not in known]
        if unknown or not self.methods:
            raise ValueError(f"methods must be among {', '.join(known)} (got {', '.join(self.methods) or 'none'})")
        if min(self.scmm_epochs, self.emod_epochs, self.finetune_epochs, self.seeds, self.finetune_batch_size) < 1:
            raise ValueError("epochs, seeds and batch sizes must be at least 1")


@dataclass
class CrossCorpusResult(RunResult):
    """Outcome of a cross-corpus run.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per direction and method: accuracy and macro F1 mean and std (over subjects and seeds).
    subjects : pandas.DataFrame
        One row per direction, method, subject and seed.
    table : str
        The markdown results table.
    """

    summary: pd.DataFrame
    subjects: pd.DataFrame
    table: str


def _fit(make_model, forward, data: dict, n_classes: int, cfg: CrossCorpusConfig, seed: int, device) -> dict:
    """Fine-tune one model on ``data["train"]``, select the epoch on ``data["val"]``, test on ``data["test"]``.

    The shared fit loop (:func:`emod_train.evaluation.fit.fit`) with Adam at a constant rate, batches
    drawn by a numpy permutation per epoch (a last batch of one window is skipped: BatchNorm needs
    two) and validation accuracy selecting the epoch.
    """
    torch.manual_seed(seed)
    model = make_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.finetune_lr, weight_decay=cfg.weight_decay)
    x_train, y_train = data["train"]
    x_val, y_val = data["val"]
    rng = np.random.default_rng(seed)

    def predict(x: torch.Tensor) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return torch.cat([forward(model, x[i : i + 256]) for i in range(0, len(x), 256)]).argmax(1).cpu().numpy()

    def batches(epoch: int):
        order = rng.permutation(len(y_train))
        for start in range(0, len(order), cfg.finetune_batch_size):
            chosen = order[start : start + cfg.finetune_batch_size]
            if len(chosen) >= 2:
                yield chosen

    def validate(model) -> dict | None:
        return {"accuracy": float((predict(x_val) == y_val.cpu().numpy()).mean())} if len(y_val) else None

    fitted = fit(
        model, optimizer, batches, lambda m, chosen: F.cross_entropy(forward(m, x_train[chosen]), y_train[chosen]),
        validate, epochs=cfg.finetune_epochs, score="accuracy",
    )  # fmt: skip
    x_test, y_test = data["test"]
    test = classification_metrics(y_test.cpu().numpy(), predict(x_test), n_classes)
    val_accuracy = fitted.best_val["accuracy"] if fitted.best_val is not None else None
    return {"best_epoch": fitted.best_epoch, "val_accuracy": val_accuracy, **test}


def _scaled(features: np.ndarray, parts: dict) -> np.ndarray:
    """Min-max scaling per feature column fitted on the subject's fine-tuning windows only (no test data)."""
    return scale_with_training(features, np.concatenate([parts["train"], parts["val"]]))


@dataclass
class _Direction:
    """What the methods of one direction share: corpora, channels, target windows, labels and parts."""

    direction: Direction
    source: str
    target: str
    channels: list[str]
    keep: torch.Tensor
    windows: pd.DataFrame
    labels: np.ndarray
    parts: dict
    folder: Path


def _direction_inputs(kind: str, store, d: _Direction, cache_dir):
    """The target windows of a direction as a method reads them: DE features (``"de"``) or raw windows."""
    if kind == "de":
        from emod_train.data.features import de_features

        return np.asarray(de_features(store, d.windows, d.channels, cache_dir=cache_dir))
    return _raw_inputs(store, d, cache_dir)


def _raw_inputs(store, d: _Direction, cache_dir) -> torch.Tensor:
    """Raw target windows on the shared channels, (n_windows, channels, samples); zeros for dropped classes."""
    from emod_train.data.cache import build_cache
    from emod_train.data.dataset import WindowDataset

    positions = np.flatnonzero(d.labels >= 0)
    labelled = d.windows.iloc[positions].reset_index(drop=True)
    dataset = WindowDataset(labelled, store, build_cache(store, labelled, cache_dir))
    raw = torch.zeros((len(d.windows), len(d.channels), dataset.length))
    for part in dataset.__getitems__(np.arange(len(labelled))).parts:
        raw[torch.from_numpy(positions)[part.index]] = part.select(d.keep).x
    return raw


def _prepare(store, protocol: Protocol, direction: Direction, out: Path) -> _Direction:
    """Corpora, shared channels, target windows, labels and per-subject parts of a direction."""
    from emod_train.data.windows import channel_ids_of, shared_channels, window_table

    present = set(store.recordings["corpus"].unique()) if len(store.recordings) else set()
    source = _first_present(direction.source, present, "source", direction, store)
    target = _first_present(direction.target, present, "target", direction, store)
    channels = shared_channels(store, [source, target])
    windows = window_table(store, protocol.window, None, [target])
    windows = windows[windows["session"] == protocol.target_session].reset_index(drop=True)
    labels = target_labels(windows, direction, protocol.path)
    parts = subject_parts(windows, labels, protocol)
    if not parts:
        raise TaskError(
            f"{store.path}: no {target} subject has more than {protocol.finetune_trials} trials of the classes "
            f"{', '.join(direction.classes)} in session {protocol.target_session}"
        )
    keep = torch.from_numpy(channel_ids_of(store, channels))
    return _Direction(direction, source, target, channels, keep, windows, labels, parts, out / direction.name)


def run_cross_corpus(config: CrossCorpusConfig, progress: bool = True) -> CrossCorpusResult:
    """Run the cross-corpus protocol for every direction and method and write the results table.

    Parameters
    ----------
    config : CrossCorpusConfig
    progress : bool
        Show rich progress bars on standard error.

    Returns
    -------
    CrossCorpusResult

    Raises
    ------
    TaskError
        Bad protocol file, unknown direction, or a store lacking a corpus or a usable subject.
    """
    from emod_data.store import open_store
    from emod_train.engine.plots import plot_cross_corpus

    cfg = config
    protocol = load_protocol(cfg.protocol)
    if cfg.selection is not None:
        protocol = dataclasses.replace(protocol, selection=cfg.selection)
    names = cfg.directions or list(protocol.directions)
    unknown = [n for n in names if n not in protocol.directions]
    if unknown:
        raise TaskError(f"{protocol.path}: no direction '{unknown[0]}' (it has {', '.join(protocol.directions)})")
    device = prepare_device(cfg.device)
    store = open_store(cfg.store)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    prepared = [_prepare(store, protocol, protocol.directions[name], out) for name in names]  # fail early
    rows, details, started = [], {}, time.perf_counter()
    for d in prepared:
        info = details[d.direction.name] = {
            "source": d.source, "target": d.target, "channels": d.channels, "a": d.direction.a,
            "sigma": d.direction.sigma, "t": d.direction.t, "subjects": {s: p["trials"] for s, p in d.parts.items()},
            "selection": protocol.selection,
            "finetune_balance": finetune_class_balance(d.parts, d.labels, d.direction.classes),
        }  # fmt: skip
        inputs: dict[str, object] = {}  # per input kind, computed once per direction
        for name in cfg.methods:
            method, pretrained = protocol_method(name)
            if method.inputs not in inputs:
                inputs[method.inputs] = _direction_inputs(method.inputs, store, d, cfg.cache_dir)
            models = method.cross_corpus(cfg, protocol, d, pretrained, progress, info, store, device)
            rows += _method_rows(cfg, d, name, method.inputs, inputs[method.inputs], models, device, progress)
    subjects = pd.DataFrame(rows)
    summary = (
        subjects.groupby(["direction", "method"], sort=False)
        .agg(
            accuracy=("accuracy", "mean"), accuracy_std=("accuracy", lambda v: float(np.std(v))),
            macro_f1=("macro_f1", "mean"), macro_f1_std=("macro_f1", lambda v: float(np.std(v))),
            runs=("accuracy", "size"),
        )
        .reset_index()
    )  # fmt: skip
    table = results_table(summary, protocol, cfg, {k: v["finetune_balance"] for k, v in details.items()})
    subjects.to_csv(out / "subjects.csv", index=False)
    (out / "results.md").write_text(table)
    (out / "results.json").write_text(
        json.dumps(
            {
                "config": cfg.to_dict(), "protocol": str(protocol.path), "directions": details,
                "summary": summary.to_dict("records"), "seconds": round(time.perf_counter() - started, 1),
                "device": str(device), "environment": environment(),
            },
            indent=1, default=str,
        )
    )  # fmt: skip
    plot_cross_corpus(summary, out / "cross_corpus.png")
    return CrossCorpusResult(out=out, summary=summary, subjects=subjects, table=table)


def _method_rows(cfg: CrossCorpusConfig, d: _Direction, name: str, kind: str, x_all, models, device, progress) -> list:
    """Fine-tune and test one method on every target subject and seed of a direction; one row per run."""
    make_model, forward = models
    y_all = torch.from_numpy(d.labels)
    rows = []
    with progress_bar(progress) as bar:
        task = bar.add_task(f"{d.direction.name} {name}", total=len(d.parts) * cfg.seeds, info="") if bar else None
        for number, (subject, part) in enumerate(d.parts.items()):
            x = torch.from_numpy(_scaled(x_all, part)) if kind == "de" else x_all
            data = {k: (x[part[k]].to(device), y_all[part[k]].to(device)) for k in ("train", "val", "test")}
            for seed in range(cfg.seed, cfg.seed + cfg.seeds):
                fitted = _fit(
                    make_model, forward, data, len(d.direction.classes), cfg, derive_seed(seed, number), device
                )
                rows.append({
                    "direction": d.direction.name, "method": name, "subject": subject, "seed": seed,
                    "train_windows": len(part["train"]), "val_windows": len(part["val"]),
                    "test_windows": len(part["test"]), **{k: v for k, v in fitted.items() if k != "confusion"},
                })  # fmt: skip
                if bar is not None:
                    bar.update(task, advance=1, info=f"subject {subject} acc {fitted['accuracy']:.3f}")
    return rows


def results_table(
    summary: pd.DataFrame, protocol: Protocol, cfg: CrossCorpusConfig, balance: dict | None = None
) -> str:
    """Markdown table: one row per direction, accuracy / macro F1 (mean ± std, %) per method.

    With ``balance`` (direction -> :func:`finetune_class_balance`), a last column gives the largest
    class share of the fine-tuning windows and says when one class dominates.
    """
    methods = list(dict.fromkeys(summary["method"]))
    lines = [
        "### Cross-corpus transfer",
        "",
        f"Accuracy / macro F1 in % on each target subject's trials after the first {protocol.finetune_trials} "
        f"(session {protocol.target_session}; fine-tuning trials: {protocol.selection}), "
        f"mean ± std over subjects × {cfg.seeds} seed(s); "
        "epochs selected on validation trials only.",
        "",
        "| direction | " + " | ".join(methods) + (" | fine-tuning class balance |" if balance else " |"),
        "| --- |" + " --- |" * (len(methods) + (1 if balance else 0)),
    ]
    for direction, rows in summary.groupby("direction", sort=False):
        cells = []
        for method in methods:
            row = rows[rows["method"] == method]
            if not len(row):
                cells.append("")
                continue
            r = row.iloc[0]
            accuracy = f"{100 * r.accuracy:.1f} ± {100 * r.accuracy_std:.1f}"
            cells.append(f"{accuracy} / {100 * r.macro_f1:.1f} ± {100 * r.macro_f1_std:.1f}")
        title = protocol.directions[direction].title
        if balance and direction in balance:
            b = balance[direction]
            note = f"{b['dominant']} {100 * b['dominant_share']:.0f} %" + (" (dominates)" if b["dominates"] else "")
            cells.append(note)
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
