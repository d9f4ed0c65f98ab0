"""Data-parallel pretraining under torchrun: two CPU processes reproduce a single-process run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from emod_train.data.samplers import ShardedBatchSampler
from emod_train.engine.checkpoints import load_checkpoint
from emod_train.engine.distributed import DistributedContext, context_from_environment
from emod_train.methods.emod.pretrain import PretrainConfig, pretrain

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop

TINY = "dim=16,heads=4,ffn=32,depth=1"
SOURCES = "seed_iv,seed_vii,deap"  # three channel counts: three sub-batches per step


def _cli_args(store, out, cache, epochs: int = 2) -> list[str]:
    return [
        "pretrain", "--store", str(store), "--out", str(out), "--corpora", SOURCES, "--window", "1",
        "--epochs", str(epochs), "--rounds", "1", "--steps-per-epoch", "3", "--lr", "2e-3", "--no-augment",
        "--model", TINY,
        "--cache-dir", str(cache), "--quiet",
    ]  # fmt: skip


def _torchrun(args: list[str], processes: int = 2) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    return subprocess.run(
        [*command, "-m", "emod_train", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def _step_losses(out) -> list[float]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if r["kind"] == "step"]


@pytest.fixture(scope="module")
def runs(store_all, tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    single = pretrain(
        PretrainConfig(
            store=str(store_all), out=str(root / "single"), corpora=SOURCES.split(","), window=1.0, epochs=2,
            rounds=1, steps_per_epoch=3, lr=2e-3, augment=False, cache_dir=str(root / "cache"),
            model={"dim": 16, "heads": 4, "ffn": 32, "depth": 1},
        ),
        progress=False,
    )  # fmt: skip
    done = _torchrun(_cli_args(store_all, root / "two", root / "cache"))
    assert done.returncode == 0, done.stderr[-3000:]
    return root, single, done


def test_two_processes_reproduce_the_single_process_run(runs):
    root, single, _ = runs
    losses_one, losses_two = _step_losses(root / "single"), _step_losses(root / "two")
    assert len(losses_two) == len(losses_one) == 6
    assert losses_two == pytest.approx(losses_one, rel=1e-4, abs=1e-5)
    # Weight matrices, kernels and embeddings match. Some biases do not have to: those before a softmax
    # (attention-pool scores) or before the head's BatchNorm have a gradient that is zero analytically, and
    # Adam turns the rounding noise there into steps of the size of the learning rate in either process.
    one, two = load_checkpoint(single.checkpoint), load_checkpoint(root / "two" / "last.pt")
    for part in ("backbone", "head"):
        for name, value in one[part].items():
            if value.is_floating_point() and value.dim() >= 2:
                torch.testing.assert_close(two[part][name], value, rtol=1e-3, atol=1e-4, msg=f"{part}.{name}")
    info = json.loads((root / "two" / "config.json").read_text())
    assert (
        info["processes"] == 2
        and info["batch_size"] == json.loads((root / "single" / "config.json").read_text())["batch_size"]
    )


def test_only_rank_zero_writes_and_prints(runs):
    root, _, done = runs
    assert done.stdout.count("checkpoint:") == 1, done.stdout
    assert sorted(p.name for p in (root / "two" / "checkpoints").iterdir()) == ["epoch-001.pt", "epoch-002.pt"]
    assert not list((root / "two").glob(".*.tmp"))


def test_resume_under_torchrun_continues_the_run(runs, store_all):
    root, _, _ = runs
    resumed = root / "resumed"
    shutil.copytree(root / "two", resumed)
    done = _torchrun([*_cli_args(store_all, resumed, root / "cache", epochs=3), "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    losses = _step_losses(resumed)
    assert len(losses) == 9 and losses[:6] == _step_losses(root / "two")
    assert load_checkpoint(resumed / "last.pt")["epoch"] == 3


def test_context_and_sharding(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert context_from_environment() == DistributedContext()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "6")
    monkeypatch.setenv("LOCAL_RANK", "2")
    context = context_from_environment()
    assert (context.rank, context.world_size, context.local_rank, context.is_main) == (6, 4, 2, False)
    assert context.device(torch.device("cuda")) == torch.device("cuda", 2)
    assert context.device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.delenv("RANK")
    with pytest.raises(ValueError, match="start data-parallel runs with torchrun"):
        context_from_environment()

    class Batches:
        start_batch, num_batches, batch_size = 1, 3, 5

        def __iter__(self):
            yield from ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9])

        def __len__(self):
            return 2

    shards = [list(ShardedBatchSampler(Batches(), rank, 2)) for rank in range(2)]
    assert shards == [[[0, 2, 4], [5, 7, 9]], [[1, 3], [6, 8]]]
    assert ShardedBatchSampler(Batches(), 1, 2).num_batches == 3 and len(ShardedBatchSampler(Batches(), 0, 2)) == 2
    with pytest.raises(ValueError, match="rank must be in"):
        ShardedBatchSampler(Batches(), 2, 2)
