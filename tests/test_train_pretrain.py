"""EMOD pretraining on the synthetic corpora: the loss falls, outputs are written, resume is exact."""

from __future__ import annotations

import json

import pytest
import torch

from emod_train.engine.checkpoints import load_checkpoint
from emod_train.errors import CheckpointError, DataError
from emod_train.methods.emod.pretrain import PretrainConfig, pretrain

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

TINY = {"dim": 16, "heads": 4, "ffn": 32, "depth": 1}
SOURCES = ["seed_iv", "seed_vii", "deap"]  # SEED held out, as the target corpora are in the paper


def _config(store, out, cache, **changes):
    values = dict(
        store=str(store), out=str(out), corpora=SOURCES, window=1.0, epochs=3, rounds=2, steps_per_epoch=4,
        lr=2e-3, seed=0, cache_dir=str(cache), model=TINY,
    )  # fmt: skip
    values.update(changes)
    return PretrainConfig(**values)


@pytest.fixture(scope="module")
def full_run(store_all, tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    config = _config(store_all, root / "full", root / "cache")
    return config, pretrain(config, progress=False)


def test_pretraining_lowers_the_loss(full_run):
    _, result = full_run
    assert len(result.epoch_losses) == 3 and result.steps == 12
    assert result.epoch_losses[-1] < result.epoch_losses[0], result.epoch_losses


def test_outputs(full_run):
    config, result = full_run
    out = result.out
    for name in ("config.json", "metrics.jsonl", "last.pt", "loss.png", "checkpoints/epoch-003.pt"):
        assert (out / name).exists(), name
    info = json.loads((out / "config.json").read_text())
    assert info["corpora"] == sorted(SOURCES) and info["parameters_backbone_without_embedding"] == result.parameters
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "step"] == list(range(1, 13))
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [0, 1, 2]
    lrs = [r["lr"] for r in records if r["kind"] == "step"]
    assert lrs[0] == pytest.approx(config.lr) and lrs == sorted(lrs, reverse=True)  # cosine, decreasing
    assert all(r["grad_norm"] >= 0 for r in records if r["kind"] == "step")
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 3 and state["batch_in_epoch"] == 0 and state["step"] == 12
    assert state["model_config"]["dim"] == 16


def test_resume_mid_epoch_is_exact(full_run, store_all, tmp_path):
    config, _ = full_run
    cache = config.cache_dir
    first = pretrain(_config(store_all, tmp_path / "run", cache, stop_after=6), progress=False)
    assert first.steps == 6 and len(first.epoch_losses) == 1
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert (state["epoch"], state["batch_in_epoch"]) == (1, 2)
    second = pretrain(_config(store_all, tmp_path / "run", cache, resume=True), progress=False)
    assert second.steps == 12
    resumed = load_checkpoint(tmp_path / "run" / "last.pt")["backbone"]
    straight = load_checkpoint(config.out + "/last.pt")["backbone"]
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0, msg=key)
    full_losses = [json.loads(x)["loss"] for x in open(config.out + "/metrics.jsonl") if '"step"' in x]
    run_losses = [json.loads(x)["loss"] for x in open(tmp_path / "run" / "metrics.jsonl") if '"step"' in x]
    assert run_losses == full_losses


def test_resume_errors(full_run, store_all, tmp_path):
    config, _ = full_run
    with pytest.raises(CheckpointError, match="nothing to resume"):
        pretrain(_config(store_all, tmp_path / "none", config.cache_dir, resume=True), progress=False)
    with pytest.raises(CheckpointError, match="holds a pretraining run already"):
        pretrain(_config(store_all, config.out, config.cache_dir), progress=False)
    with pytest.raises(CheckpointError, match=r"other settings \(window\)"):
        pretrain(_config(store_all, config.out, config.cache_dir, window=0.5, resume=True), progress=False)


@pytest.mark.parametrize("loss", ["hard", "instance"])
def test_ablations_run(store_all, tmp_path, loss):
    config = _config(store_all, tmp_path / loss, tmp_path / "cache", epochs=1, steps_per_epoch=1, loss=loss)
    result = pretrain(config, progress=False)
    assert result.steps == 1 and torch.isfinite(torch.tensor(result.epoch_losses)).all()


def test_cpu_bfloat16_autocast_pretrains_when_asked(store_all, tmp_path):
    from emod_train.engine.runtime import cpu_has_bfloat16

    runs = {}
    for amp in (False, True):
        config = _config(store_all, tmp_path / str(amp), tmp_path / "cache", epochs=1, steps_per_epoch=2, amp=amp)
        runs[amp] = torch.tensor(pretrain(config, progress=False).epoch_losses)
    assert torch.isfinite(runs[True]).all()
    if cpu_has_bfloat16():  # the run was in bfloat16: the same losses to bfloat16's precision, not bit for bit
        assert not torch.equal(runs[True], runs[False])
    torch.testing.assert_close(runs[True], runs[False], rtol=0.05, atol=0.0)


def test_released_code_options_run(store_all, tmp_path):
    """Released sampler (36 windows per corpus), per-corpus head BatchNorm, hard positives from V-A cells, floor."""
    config = _config(
        store_all, tmp_path / "released", tmp_path / "cache", epochs=1, steps_per_epoch=1, sampler="released",
        rounds=None, head_norm="corpus", loss="hard", hard_positives="cells", floor=1.0,
    )  # fmt: skip
    result = pretrain(config, progress=False)
    assert result.steps == 1 and torch.isfinite(torch.tensor(result.epoch_losses)).all()
    info = json.loads((tmp_path / "released" / "config.json").read_text())
    n_corpora = len(info["corpora"])
    records = [json.loads(x) for x in (tmp_path / "released" / "metrics.jsonl").read_text().splitlines()]
    assert next(r for r in records if r["kind"] == "step")["batch"] == 36 * n_corpora
    with pytest.raises(ValueError, match="head_norm"):
        _config(store_all, tmp_path, tmp_path, head_norm="nope")


def test_per_group_projection_normalises_each_group_alone():
    from emod_train.methods.emod.model import ProjectionHead

    head = ProjectionHead(16, 32, 8).train()
    pooled = torch.randn(10, 16)
    groups = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1, 1, 0])
    together = head.project(pooled, groups)
    for g in (0, 1):
        rows = groups == g
        assert torch.allclose(together[rows], head.project(pooled[rows]), atol=1e-6)
    assert not torch.allclose(together, head.project(pooled), atol=1e-4)


def test_bad_requests(store_all, tmp_path):
    with pytest.raises(DataError, match="corpus 'faced' is not in the store"):
        pretrain(_config(store_all, tmp_path / "a", tmp_path / "c", corpora=["faced"]), progress=False)
    with pytest.raises(DataError, match="no 100 s window"):
        pretrain(_config(store_all, tmp_path / "b", tmp_path / "c", window=100.0), progress=False)
    with pytest.raises(ValueError, match="loss must be one of"):
        _config(store_all, tmp_path, tmp_path, loss="triplet")
    with pytest.raises(ValueError, match="instance-only contrast needs augmentations"):
        _config(store_all, tmp_path, tmp_path, loss="instance", augment=False)
