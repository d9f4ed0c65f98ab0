"""The benchmark: pinned split files and hashes, resumable cells, leaderboard, reproducible reruns."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from emod_train.cli import app
from emod_train.errors import TaskError
from emod_train.evaluation.benchmark import BenchmarkConfig, run_benchmark
from emod_train.evaluation.splits import sha256_of

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

TINY = {"dim": 16, "heads": 4, "ffn": 32, "depth": 1}
MODELS = ["emod", "scmm", "eegnet"]


def _config(store, out, cache) -> BenchmarkConfig:
    return BenchmarkConfig(
        store=str(store), out=str(out), tasks=["seed"], models=MODELS, seeds=2, epochs=2, batch_size=16,
        options={"emod": TINY, "eegnet": {"F1": 4, "D": 2, "F2": 8}}, device="cpu", workers=0, cache_dir=str(cache),
    )  # fmt: skip


@pytest.fixture(scope="module")
def first(store_all, tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return root, run_benchmark(_config(store_all, root / "a", root / "cache"), progress=False)


def _numbers(result) -> dict:
    return {(c["task"], c["model"]): c["per_seed"] for c in result.cells}


def test_outputs_and_split_file(first):
    root, _ = first
    out = root / "a"
    for name in ("leaderboard.md", "leaderboard.json", "leaderboard.png", "splits/seed.tsv"):
        assert (out / name).exists(), name
    split = pd.read_csv(out / "splits" / "seed.tsv", sep="\t")
    assert list(split["part"].unique()) == ["train", "val", "test"]
    # SEED protocol: session 1 trains, 2 validates, 3 tests
    assert split.groupby("part")["session"].unique().map(lambda v: sorted(map(str, v))).to_dict() == {
        "train": ["1"], "val": ["2"], "test": ["3"]
    }  # fmt: skip
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["splits"]["seed"]["sha256"] == sha256_of(out / "splits" / "seed.tsv")
    assert [c["model"] for c in board["cells"]] == MODELS
    for cell in board["cells"]:
        assert len(cell["per_seed"]) == 2 and cell["parameters"] > 0 and cell["seconds"] > 0
        assert set(cell["mean"]) == {"balanced_accuracy", "kappa", "weighted_f1"}
        assert cell["split_sha256"] == board["splits"]["seed"]["sha256"]
        # every model read exactly the pinned windows
        cell_summary = json.loads((out / "cells" / "seed" / cell["model"] / "results.json").read_text())
        assert cell_summary["windows"] == split["part"].value_counts().to_dict()
    table = (out / "leaderboard.md").read_text()
    assert board["splits"]["seed"]["sha256"] in table and "| eegnet |" in table


def test_rerun_skips_finished_cells_and_a_fresh_run_reproduces(first, store_all):
    root, result = first
    again = run_benchmark(_config(store_all, root / "a", root / "cache"), progress=False)
    assert all(c["skipped"] for c in again.cells)
    assert _numbers(again) == _numbers(result)
    fresh = run_benchmark(_config(store_all, root / "b", root / "cache"), progress=False)
    assert not any(c["skipped"] for c in fresh.cells)
    assert fresh.splits["seed"]["sha256"] == result.splits["seed"]["sha256"]
    assert _numbers(fresh) == _numbers(result)  # same seeds on CPU: the same numbers


def test_changed_settings_rerun_the_cell_and_a_broken_split_is_an_error(first, store_all):
    root, _ = first
    out = root / "a"
    changed = _config(store_all, out, root / "cache")
    changed.models, changed.epochs = ["eegnet"], 1
    result = run_benchmark(changed, progress=False)
    assert not result.cells[0]["skipped"]
    split = out / "splits" / "seed.tsv"
    split.write_text(split.read_text().replace(":", ":9", 1))
    with pytest.raises(TaskError, match=r"seed\.tsv: window .* is not in the store"):
        run_benchmark(changed, progress=False)


def test_cli_errors(store_all, tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["benchmark", "--store", str(store_all), "--out", str(tmp_path), "--tasks", "seed",
                              "--models", "eegnet,nope"])  # fmt: skip
    assert bad.exit_code == 2 and "unknown model 'nope'" in bad.output
    bad = runner.invoke(app, ["benchmark", "--store", str(store_all), "--out", str(tmp_path), "--tasks", "seed",
                              "--models", "eegnet", "--init", "emod:x.pt"])  # fmt: skip
    assert bad.exit_code == 2 and "not among the models" in bad.output
