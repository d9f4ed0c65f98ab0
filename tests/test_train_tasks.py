"""Task files, splits and the metrics of the protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emod_data.store import open_store
from emod_train.data.windows import window_table
from emod_train.errors import TaskError
from emod_train.evaluation.metrics import (
    balanced_accuracy,
    classification_metrics,
    cohen_kappa,
    confusion_matrix,
    weighted_f1,
)
from emod_train.evaluation.tasks import available_tasks, canonical_class, load_task, proportional_counts


def test_shipped_tasks_follow_the_paper():
    assert available_tasks() == ["faced", "seed", "seed_v"]
    seed, seed_v, faced = load_task("seed"), load_task("seed_v"), load_task("faced")
    assert (seed.window, seed.split_by, seed.train, seed.val, seed.test) == (5.0, "session", (1,), (2,), (3,))
    assert seed.classes == ("negative", "neutral", "positive") and seed.corpora[0] == "seed"
    assert (seed_v.window, seed_v.split_by, seed_v.n_classes) == (1.0, "trial", 5)
    assert (seed_v.train, seed_v.val, seed_v.test) == (tuple(range(1, 6)), tuple(range(6, 11)), tuple(range(11, 16)))
    assert (faced.window, faced.split_by, faced.counts, faced.n_classes) == (10.0, "subject", (80, 20, 23), 9)


def test_proportional_subject_counts():
    assert proportional_counts(123, [80, 20, 23]) == [80, 20, 23]
    assert proportional_counts(10, [80, 20, 23]) == [6, 2, 2]  # 6.50, 1.63, 1.87: largest remainders
    assert proportional_counts(3, [80, 20, 23]) == [1, 1, 1]
    assert sum(proportional_counts(57, [80, 20, 23])) == 57
    with pytest.raises(ValueError):
        proportional_counts(2, [80, 20, 23])


def _faced_like(n_subjects):
    rows = [
        {"corpus": "faced", "subject": f"{s:03d}", "session": 1, "trial": t, "class_name": c}
        for s in range(n_subjects)
        for t, c in enumerate(["anger", "joy", "sadness"], start=1)
    ]
    return pd.DataFrame(rows)


def test_subject_split_in_sorted_order_and_proportion():
    task = load_task("faced")
    parts = task.split(_faced_like(10))
    subjects = {k: sorted(v["subject"].unique()) for k, v in parts.items()}
    assert subjects == {
        "train": [f"{s:03d}" for s in range(6)],
        "val": ["006", "007"],
        "test": ["008", "009"],
    }
    # aliases: the store's 'sadness' and 'joy' are the lexicon's 'sad' and 'happy'
    assert sorted(parts["train"]["label"].unique()) == [0, 3, 7]
    with pytest.raises(TaskError, match="at least 3"):
        task.split(_faced_like(2))


@pytest.mark.slow
def test_session_and_trial_splits_on_a_store(store_all):
    store = open_store(store_all)
    windows = window_table(store, 1.0, corpora=["seed"])
    parts = load_task("seed").split(windows)
    assert {k: sorted(v["session"].unique()) for k, v in parts.items()} == {"train": [1], "val": [2], "test": [3]}
    assert sorted(parts["train"]["label"].unique()) == [0, 1, 2]
    for part in parts.values():
        expected = part["class_name"].map({"negative": 0, "neutral": 1, "positive": 2})
        assert (part["label"] == expected).all()
    trial = load_task("seed_v")
    trial_parts = trial.split(windows.assign(corpus="seed_v", class_name="happy"))
    assert sorted(trial_parts["val"]["trial"].unique()) == [6, 7, 8, 9, 10]
    assert set(trial_parts["test"]["session"]) == {1, 2, 3}


@pytest.mark.slow
def test_user_task_file(tmp_path, store_all):
    path = tmp_path / "binary.toml"
    path.write_text(
        '[task]\nname = "pos-neg"\ncorpus = "seed"\nwindow = 2\nclasses = ["Negative", "POSITIVE"]\n'
        'other_classes = "drop"\n[split]\nby = "subject"\ntrain = ["1"]\nval = ["2"]\ntest = ["2"]\n'
    )
    with pytest.raises(TaskError, match=r"subject 2 is in both split\.val and split\.test"):
        load_task(path)
    path.write_text(path.read_text().replace('val = ["2"]', 'val = ["1"]').replace('train = ["1"]', 'train = ["x"]'))
    task = load_task(path)
    windows = window_table(open_store(store_all), 2.0, corpora=["seed"])
    with pytest.raises(TaskError, match="no 2 s window falls in the train part"):
        task.split(windows)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[task]\n", "needs a \\[task\\] and a \\[split\\] table"),
        ('[task]\ncorpus="x"\nwindow=1\n[split]\nby="session"\n', "'task.classes' is missing"),
        ('[task]\ncorpus="x"\nwindow=-1\nclasses=["a","b"]\n[split]\nby="session"\n', "positive number"),
        ('[task]\ncorpus="x"\nwindow=1\nclasses=["a"]\n[split]\nby="session"\n', "at least two"),
        ('[task]\ncorpus="x"\nwindow=1\nclasses=["sad","sadness"]\n[split]\nby="session"\n', "names a class twice"),
        ('[task]\ncorpus="x"\nwindow=1\nclasses=["a","b"]\n[split]\nby="day"\n', "'split.by' must be"),
        ('[task]\ncorpus="x"\nwindow=1\nclasses=["a","b"]\n[split]\nby="trial"\ntrain=[1]\nval=[2]\n', "split.test"),
        ('[task]\ncorpus="x"\nwindow=1\nclasses=["a","b"]\n[split]\nby="trial"\ntrain="1-x"\n', "ranges"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_task_files(tmp_path, text, message):
    path = tmp_path / "task.toml"
    path.write_text(text)
    with pytest.raises(TaskError, match=message) as info:
        load_task(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.slow
def test_unknown_task_and_missing_classes(store_all):
    with pytest.raises(TaskError, match="unknown task 'sead'"):
        load_task("sead")
    with pytest.raises(TaskError, match="holds no corpus 'faced' or 'faced_raw'"):
        load_task("faced").select_corpus(["seed", "deap"])
    windows = window_table(open_store(store_all), 1.0, corpora=["seed_iv"]).assign(corpus="seed")
    with pytest.raises(TaskError, match="class 'fear' is not among the task's classes"):
        load_task("seed").split(windows)
    assert canonical_class(" Happiness ") == "happy"


def test_metrics_against_hand_computed_values():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 2, 1, 0, 2, 2, 2, 1])
    cm = confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[2, 1, 1], [1, 1, 0], [0, 1, 3]]
    assert balanced_accuracy(cm) == pytest.approx((2 / 4 + 1 / 2 + 3 / 4) / 3)
    p_o, p_e = 6 / 10, (3 * 4 + 3 * 2 + 4 * 4) / 100
    assert cohen_kappa(cm) == pytest.approx((p_o - p_e) / (1 - p_e))
    f1 = [2 * 2 / (3 + 4), 2 * 1 / (3 + 2), 2 * 3 / (4 + 4)]
    assert weighted_f1(cm) == pytest.approx((4 * f1[0] + 2 * f1[1] + 4 * f1[2]) / 10)
    perfect = classification_metrics([0, 1, 2], [0, 1, 2], 3)
    assert perfect["balanced_accuracy"] == perfect["kappa"] == perfect["weighted_f1"] == 1.0
    constant = classification_metrics([0, 1, 2, 0], [0, 0, 0, 0], 3)
    assert constant["kappa"] == 0.0 and constant["balanced_accuracy"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="labels must lie"):
        confusion_matrix([0, 3], [0, 1], 3)
