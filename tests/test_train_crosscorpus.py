"""SCMM pretraining on a store, the cross-corpus protocol's splits, and the protocol end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from emod_data.store import open_store
from emod_train.cli import app
from emod_train.data.dataset import SubBatch
from emod_train.data.windows import channel_ids_of, shared_channels
from emod_train.errors import CheckpointError, DataError, TaskError
from emod_train.evaluation.crosscorpus import (
    CrossCorpusConfig,
    Direction,
    load_protocol,
    run_cross_corpus,
    subject_parts,
    target_labels,
)
from emod_train.methods.scmm.pretrain import SCMMPretrainConfig, encoder_from_checkpoint, pretrain_scmm

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

TINY_EMOD = {"dim": 16, "heads": 4, "ffn": 32, "depth": 1}
DEAP_32 = {
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1", "Oz", "Pz", "Fp2",
    "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2",
}  # fmt: skip


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cross")


def test_shipped_protocol_has_the_papers_directions():
    protocol = load_protocol()
    assert list(protocol.directions) == ["seed_to_seed_iv", "seed_iv_to_seed", "deap_to_seed", "seed_to_deap"]
    values = {n: (d.a, d.sigma, d.t) for n, d in protocol.directions.items()}
    assert values == {
        "seed_to_seed_iv": (0.75, 0.5, 0.5),
        "seed_iv_to_seed": (0.5, 0.05, 0.5),
        "deap_to_seed": (0.5, 0.05, 0.5),
        "seed_to_deap": (0.5, 0.2, 0.05),
    }
    assert protocol.finetune_trials == 9 and protocol.source_sessions == (1,) and protocol.target_session == 1
    assert len(protocol.directions["seed_to_deap"].classes) == 2
    assert len(protocol.directions["seed_to_seed_iv"].classes) == 3


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[protocol\nwindow = 1", "not valid TOML"),
        ("[protocol]\nwindow = 1.0\n", "needs a .protocol. table"),
        (
            "[protocol]\nwindow = 1.0\nsource_sessions = [1]\ntarget_session = 1\nfinetune_trials = 9\n"
            "[directions.x]\nsource = 'seed'\ntarget = 'deap'\nclasses = ['a', 'b']\na = 0.5\nsigma = 0.2\n",
            "field 't' is missing",
        ),
        (
            "[protocol]\nwindow = 1.0\nsource_sessions = [1]\ntarget_session = 1\nfinetune_trials = 9\n"
            "[directions.x]\nsource = 'seed'\ntarget = 'deap'\nclasses = ['a', 'b']\na = 0.5\nsigma = 0\nt = 1\n",
            "must be positive",
        ),
    ],
)
def test_bad_protocol_files_name_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "protocol.toml"
    path.write_text(text)
    with pytest.raises(TaskError, match=problem) as info:
        load_protocol(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_subject_parts_take_the_first_trials_and_hold_out_the_last_of_each_class():
    protocol = load_protocol()
    # one subject, 14 trials (1..14) of two windows each; trial 5 is of a class outside the task
    trials = np.repeat(np.arange(1, 15), 2)
    classes = {1: "a", 2: "b", 3: "a", 4: "b", 5: "x", 6: "a", 7: "c", 8: "b", 9: "a", 10: "a", 11: "c"}
    names = [classes.get(t, "b") for t in trials]
    windows = pd.DataFrame({"subject": "7", "trial": trials, "class_name": names})
    direction = Direction("d", "d", ("t",), ("t",), ("a", "b", "c"), 0.5, 0.2, 0.1)
    labels = target_labels(windows, direction, protocol.path)
    assert (labels[trials == 5] == -1).all()
    parts = subject_parts(windows, labels, protocol)["7"]
    # kept trials: 1 2 3 4 6 7 8 9 10 | 11 12 13 14; classes a: 1 3 6 9 10, b: 2 4 8, c: 7 (alone: stays in train)
    assert parts["trials"] == {"train": [1, 2, 3, 4, 6, 7, 9], "val": [8, 10], "test": [11, 12, 13, 14]}
    for part, expected in parts["trials"].items():
        assert sorted(set(trials[parts[part]])) == expected
    assert not set(parts["train"]) & set(parts["test"]) and not set(parts["val"]) & set(parts["test"])


def test_grouped_trial_order_dominates_and_the_stratified_selection_balances():
    """Trials grouped by class (as a video order may group quadrants): the first 9 are all of one class."""
    import dataclasses

    from emod_train.evaluation.crosscorpus import finetune_class_balance

    protocol = load_protocol()
    trials = np.arange(1, 21)
    windows = pd.DataFrame({"subject": "1", "trial": trials, "class_name": ["high"] * 10 + ["low"] * 10})
    direction = Direction("d", "d", ("t",), ("t",), ("low", "high"), 0.5, 0.2, 0.1)
    labels = target_labels(windows, direction, protocol.path)
    first = subject_parts(windows, labels, protocol)
    assert first["1"]["trials"]["train"] + first["1"]["trials"]["val"] == list(range(1, 10))
    balance = finetune_class_balance(first, labels, direction.classes)
    assert balance == {"windows": {"low": 0, "high": 9}, "dominant": "high", "dominant_share": 1.0, "dominates": True}
    stratified = subject_parts(windows, labels, dataclasses.replace(protocol, selection="stratified"))["1"]
    chosen = stratified["trials"]["train"] + stratified["trials"]["val"]
    # class by class in turn (class index order: low first), each class's trials in trial order
    assert sorted(chosen) == [1, 2, 3, 4, 11, 12, 13, 14, 15]
    assert stratified["trials"]["val"] == [4, 15]  # the last trial of each class validates
    assert stratified["trials"]["test"] == [5, 6, 7, 8, 9, 10, 16, 17, 18, 19, 20]
    balanced = finetune_class_balance({"1": stratified}, labels, direction.classes)
    assert balanced["windows"] == {"low": 5, "high": 4} and not balanced["dominates"]


def test_trials_are_ordered_by_number_not_text():
    protocol = load_protocol()
    trials = np.arange(1, 13)
    windows = pd.DataFrame({"subject": "1", "trial": trials.astype(str), "class_name": ["a", "b"] * 6})
    direction = Direction("d", "d", ("t",), ("t",), ("a", "b"), 0.5, 0.2, 0.1)
    parts = subject_parts(windows, target_labels(windows, direction, protocol.path), protocol)["1"]
    assert parts["trials"]["test"] == ["10", "11", "12"]


def test_shared_channels_and_channel_selection(store_all):
    store = open_store(store_all)
    shared = shared_channels(store, ["seed", "deap"])
    assert set(shared) == DEAP_32
    ids = channel_ids_of(store, shared)
    assert list(ids) == sorted(ids)  # vocabulary order
    recording = store.recordings[store.recordings["corpus"] == "seed"].iloc[0]
    data = store.read(recording["recording_id"], 0, 50)
    part = SubBatch(
        torch.from_numpy(np.stack([data, data[:, ::-1].copy()])),
        torch.from_numpy(np.stack([recording["channel_ids"]] * 2).astype(np.int64)),
        torch.arange(2),
    )
    chosen = part.select(torch.from_numpy(ids))
    names = list(recording["channel_names"])
    expected = data[[names.index(n) for n in shared]]
    assert np.array_equal(chosen.x[0].numpy(), expected)
    assert chosen.x.shape == (2, 32, 50) and (chosen.channel_ids == torch.from_numpy(ids)).all()
    with pytest.raises(DataError, match="is not in the store"):
        shared_channels(store, ["seed", "nope"])


def test_scmm_pretraining_lowers_the_loss_and_resumes_exactly(store_all, workdir):
    store = open_store(store_all)
    channels = shared_channels(store, ["seed", "deap"])
    common = dict(
        store=str(store_all), corpora=["seed"], sessions=[1], channels=channels, batch_size=64, seed=3,
        cache_dir=str(workdir / "cache"),
    )  # fmt: skip
    whole = pretrain_scmm(SCMMPretrainConfig(out=str(workdir / "whole"), epochs=6, **common), progress=False)
    assert whole.channels == channels and whole.windows > 100
    assert whole.epoch_losses[-1] < whole.epoch_losses[0], whole.epoch_losses
    for name in ("config.json", "metrics.jsonl", "last.pt", "checkpoints/epoch-006.pt", "loss.png"):
        assert (workdir / "whole" / name).exists(), name
    config = json.loads((workdir / "whole" / "config.json").read_text())
    assert config["model_config"]["method"] == "scmm" and config["model_config"]["channels"] == channels
    # stop after 4 epochs, resume to 6: the same weights as one run of 6
    pretrain_scmm(SCMMPretrainConfig(out=str(workdir / "parts"), epochs=4, **common), progress=False)
    with pytest.raises(CheckpointError, match="pass --resume"):
        pretrain_scmm(SCMMPretrainConfig(out=str(workdir / "parts"), epochs=6, **common), progress=False)
    resumed = pretrain_scmm(SCMMPretrainConfig(out=str(workdir / "parts"), epochs=6, resume=True, **common), False)
    assert resumed.epoch_losses == pytest.approx(whole.epoch_losses, rel=1e-5)
    a, _ = encoder_from_checkpoint(whole.checkpoint)
    b, _ = encoder_from_checkpoint(resumed.checkpoint)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.allclose(p.float(), q.float(), atol=1e-5), name
    other = {**common, "seed": 4}
    with pytest.raises(CheckpointError, match="other settings"):
        pretrain_scmm(SCMMPretrainConfig(out=str(workdir / "parts"), epochs=7, resume=True, **other), False)


def test_cross_corpus_protocol_end_to_end(store_all, workdir):
    out = workdir / "protocol"
    config = CrossCorpusConfig(
        store=str(store_all), out=str(out), directions=["seed_iv_to_seed", "seed_to_deap"],
        methods=["scmm", "scmm_scratch", "emod"], scmm_epochs=3, scmm_batch_size=64, emod_epochs=1,
        emod_batch_size=16, emod_steps_per_epoch=2, emod_model=TINY_EMOD, finetune_epochs=3, seeds=1,
        cache_dir=str(workdir / "cache"),
    )  # fmt: skip
    result = run_cross_corpus(config, progress=False)
    assert set(result.summary["direction"]) == {"seed_iv_to_seed", "seed_to_deap"}
    assert set(result.summary["method"]) == {"scmm", "scmm_scratch", "emod"}
    # 2 SEED subjects and 2 DEAP subjects, one seed, for each method
    assert (result.summary["runs"] == 2).all()
    assert result.subjects[["accuracy", "macro_f1"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (result.subjects["best_epoch"].between(1, 3)).all()
    for name in ("results.md", "results.json", "subjects.csv", "cross_corpus.png"):
        assert (out / name).exists(), name
    assert (out / "seed_iv_to_seed" / "scmm-pretrain" / "last.pt").exists()
    assert (out / "seed_to_deap" / "emod-pretrain" / "last.pt").exists()
    details = json.loads((out / "results.json").read_text())["directions"]
    assert details["seed_to_deap"]["channels"] == shared_channels(open_store(store_all), ["seed", "deap"])
    for subject in details["seed_iv_to_seed"]["subjects"].values():
        assert len(subject["train"]) + len(subject["val"]) == 9 and subject["test"]
    assert "| SEED-IV -> SEED |" in result.table and "| SEED -> DEAP |" in result.table
    # a second run reuses the finished pretraining runs (no new epochs written)
    before = (out / "seed_iv_to_seed" / "scmm-pretrain" / "metrics.jsonl").read_text()
    run_cross_corpus(config, progress=False)
    after = (out / "seed_iv_to_seed" / "scmm-pretrain" / "metrics.jsonl").read_text()
    assert after.count('"kind": "epoch"') == before.count('"kind": "epoch"') == 3


def test_cross_corpus_command_line_errors(store_all, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app, ["crosscorpus", "--store", str(store_all), "--out", str(tmp_path), "--directions", "seed_to_mars"]
    )
    assert result.exit_code == 2 and "no direction 'seed_to_mars'" in result.output
    result = runner.invoke(app, ["crosscorpus", "--store", str(store_all), "--out", str(tmp_path), "--methods", "x"])
    assert result.exit_code == 2 and "methods must be among" in result.output
    result = runner.invoke(app, ["pretrain", "--store", str(store_all), "--out", str(tmp_path), "--method", "bert"])
    assert result.exit_code == 2 and "--method must be emod or scmm" in result.output


def test_pretrain_command_with_scmm(store_all, workdir):
    out = workdir / "cli-scmm"
    result = CliRunner().invoke(
        app,
        [
            "pretrain", "--method", "scmm", "--store", str(store_all), "--out", str(out), "--corpora", "deap",
            "--epochs", "2", "--batch-size", "32", "--a", "0.5", "--sigma", "0.2", "--t", "0.05", "--quiet",
            "--cache-dir", str(workdir / "cache"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pretrained SCMM on" in result.output and "x 32 channels" in result.output
    config = json.loads((out / "config.json").read_text())["config"]
    assert (config["a"], config["sigma"], config["t"], config["epochs"]) == (0.5, 0.2, 0.05, 2)
