"""Classification metrics of the EMOD protocol: balanced accuracy, Cohen's kappa, weighted F1.

Plain NumPy, computed from the confusion matrix; they agree with scikit-learn's
``balanced_accuracy_score``, ``cohen_kappa_score`` and ``f1_score(average="weighted")``.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts; rows are true classes, columns predictions."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape ({y_true.shape} vs {y_pred.shape})")
    if len(y_true) and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def balanced_accuracy(cm: np.ndarray) -> float:
    """Mean recall over the classes present in the true labels."""
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float(np.mean(np.diag(cm)[present] / support[present]))


def cohen_kappa(cm: np.ndarray) -> float:
    """Cohen's kappa: agreement beyond chance, (p_o - p_e) / (1 - p_e); 0 when p_e = 1."""
    total = cm.sum()
    if total == 0:
        return float("nan")
    observed = np.trace(cm) / total
    expected = float((cm.sum(axis=0) * cm.sum(axis=1)).sum()) / total**2
    return 0.0 if expected == 1.0 else float((observed - expected) / (1.0 - expected))


def weighted_f1(cm: np.ndarray) -> float:
    """F1 per class weighted by its support (classes without predictions or support count as F1 = 0)."""
    tp = np.diag(cm).astype(float)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    denominator = predicted + support
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    if support.sum() == 0:
        return float("nan")
    return float((f1 * support).sum() / support.sum())


def macro_f1(cm: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 over the classes that occur in the labels or the predictions.

    As scikit-learn's ``f1_score(average="macro")`` without a ``labels`` argument: a class absent
    from both does not count; one that is predicted but never true counts with F1 = 0.
    """
    tp = np.diag(cm).astype(float)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    denominator = predicted + support
    present = denominator > 0
    if not present.any():
        return float("nan")
    return float((2 * tp[present] / denominator[present]).mean())


def classification_metrics(y_true, y_pred, n_classes: int) -> dict:
    """All three metrics and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : array-like
        Integer labels in ``0..n_classes-1``.
    n_classes : int

    Returns
    -------
    dict
        ``balanced_accuracy``, ``kappa``, ``weighted_f1``, ``macro_f1``, ``accuracy`` (floats in [0, 1] or
        [-1, 1] for kappa) and ``confusion`` (list of lists).
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    total = cm.sum()
    return {
        "balanced_accuracy": balanced_accuracy(cm),
        "kappa": cohen_kappa(cm),
        "weighted_f1": weighted_f1(cm),
        "macro_f1": macro_f1(cm),
        "accuracy": float(np.trace(cm) / total) if total else float("nan"),
        "confusion": cm.tolist(),
    }


METRIC_TITLES = {"balanced_accuracy": "balanced accuracy", "kappa": "Cohen's kappa", "weighted_f1": "weighted F1"}
"""Column titles of the reported test metrics, in table order."""


def table_head(title: str, note: str, columns: list[str]) -> list[str]:
    """The first lines of a markdown results section: a ``###`` title, a note, the header and its rule.

    Parameters
    ----------
    title : str
    note : str
        One paragraph under the title.
    columns : list of str
        Column titles; ``"metrics"`` stands for the :data:`METRIC_TITLES` columns.

    Returns
    -------
    list of str
    """
    names = [n for c in columns for n in (METRIC_TITLES.values() if c == "metrics" else [c])]
    return [f"### {title}", "", note, "", "| " + " | ".join(names) + " |", "|" + " --- |" * len(names)]
