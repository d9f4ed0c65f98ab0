"""The method registry: listing, one training step of every method on every shipped task shape, finetune --model."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from emod_train.cli import app
from emod_train.errors import TaskError
from emod_train.evaluation.finetune import FinetuneConfig
from emod_train.evaluation.tasks import load_task
from emod_train.methods import TaskShape
from emod_train.methods.registry import available_methods, get_method

TINY = {"dim": 16, "heads": 4, "ffn": 32, "depth": 1}
CHANNELS = {"faced": 32, "seed_v": 62, "seed": 62}  # the real corpora's channel counts
SFREQ = 200.0


def _shape(task_name: str) -> TaskShape:
    task = load_task(task_name)
    n = CHANNELS[task_name]
    return TaskShape(
        channels=tuple(f"C{i}" for i in range(n)), channel_ids=tuple(range(3, 3 + n)),
        n_times=round(task.window * SFREQ), sfreq=SFREQ, n_classes=task.n_classes,
    )  # fmt: skip


def _fake_store(shape: TaskShape):
    return SimpleNamespace(recordings=pd.DataFrame({"channel_ids": [list(shape.channel_ids)]}))


def test_registry_lists_emod_scmm_and_braindecode_models():
    names = [m.name for m in available_methods()]
    assert names[:2] == ["emod", "scmm"]
    braindecode = [m.name for m in available_methods() if m.family == "braindecode"]
    assert {"eegnet", "shallow", "deep4", "conformer", "atcnet"} <= set(braindecode)
    assert get_method("braindecode:EEGITNet").family == "braindecode"
    with pytest.raises(TaskError, match="unknown model 'nope'"):
        get_method("nope")
    with pytest.raises(TaskError, match="has no model class 'Nope'"):
        get_method("braindecode:Nope")
    listed = CliRunner().invoke(app, ["methods"])
    assert listed.exit_code == 0, listed.output
    for name in ("emod", "scmm", "eegnet", "shallow", "deep4", "conformer", "atcnet"):
        assert name in listed.output


@pytest.mark.slow
@pytest.mark.parametrize("task_name", ["faced", "seed_v", "seed"])
def test_every_method_trains_one_step_on_each_task_shape(task_name):
    shape = _shape(task_name)
    torch.manual_seed(0)
    ids = torch.tensor(shape.channel_ids).expand(4, -1)
    y = torch.arange(4) % shape.n_classes
    for method in available_methods():
        options = TINY if method.name == "emod" else {}
        built = method.prepare(_fake_store(shape), shape, options, None, {"dropout": 0.25, "kind": "mlp"})
        model = built.make()
        model.train()
        if method.inputs == "de":
            x = torch.rand(4, len(built.config["channels"]), 5)
        else:
            # the store's channels in another order plus one extra: fixed-channel models pick theirs by id
            order = torch.randperm(shape.n_chans)
            x = torch.randn(4, shape.n_chans + 1, shape.n_times) * 20
            ids_in = torch.cat([ids[:, order], torch.full((4, 1), 1)], dim=1)
            if method.name == "emod":
                x, ids_in = x[:, :-1], ids_in[:, :-1]
        before = [p.detach().clone() for p in model.parameters()]
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        logits = model(x, ids if method.inputs == "de" else ids_in, shape.sfreq)
        assert logits.shape == (4, shape.n_classes), method.name
        loss = F.cross_entropy(logits, y)
        assert torch.isfinite(loss), method.name
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
        assert changed > 0, method.name


def test_braindecode_model_picks_channels_by_id():
    """The model sees the task's channels in vocabulary order whatever order a batch holds them in."""
    shape = _shape("seed")
    model = get_method("eegnet").prepare(None, shape, {}, None, {}).make().eval()
    x = torch.randn(2, shape.n_chans, shape.n_times)
    ids = torch.tensor(shape.channel_ids).expand(2, -1)
    order = torch.randperm(shape.n_chans)
    with torch.no_grad():
        assert torch.allclose(model(x, ids, SFREQ), model(x[:, order], ids[:, order], SFREQ), atol=1e-5)


def test_option_errors():
    shape = _shape("seed")
    with pytest.raises(ValueError, match="unknown option 'nope'"):
        get_method("eegnet").prepare(None, shape, {"nope": "1"}, None, {})
    with pytest.raises(ValueError, match="has no pretraining"):
        get_method("eegnet").prepare(None, shape, {}, "x.pt", {})
    with pytest.raises(ValueError, match="emod: unknown option 'nope'"):
        get_method("emod").prepare(_fake_store(shape), shape, {"nope": "1"}, None, {})
    with pytest.raises(ValueError, match="has no pretraining"):
        FinetuneConfig(store="s", task="seed", out="o", init="x.pt", method="eegnet")
    assert FinetuneConfig(store="s", task="seed", out="o", method="eegnet").from_scratch


@pytest.mark.slow
def test_finetune_cli_with_a_braindecode_model(store_all, tmp_path):
    """``finetune --model eegnet`` trains from scratch with neither --init nor --from-scratch."""
    out = tmp_path / "eegnet"
    result = CliRunner().invoke(
        app,
        ["finetune", "--store", str(store_all), "--task", "seed", "--out", str(out), "--model", "eegnet",
         "--model-options", "F1=4,D=2,F2=8", "--epochs", "2", "--batch-size", "16", "--cache-dir",
         str(tmp_path / "cache"), "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "results.json").read_text())
    assert summary["method"] == "eegnet" and summary["from_scratch"]
    assert summary["model_config"]["class_name"] == "EEGNetv4" and summary["model_config"]["args"]["F1"] == 4
    assert summary["model_config"]["args"]["n_chans"] == len(summary["model_config"]["channels"]) == 62
    assert summary["parameters"] > 0 and (out / "seed-0" / "best.pt").exists()
    bad = CliRunner().invoke(app, ["finetune", "--store", str(store_all), "--task", "seed", "--out", str(out),
                                   "--model", "nope"])  # fmt: skip
    assert bad.exit_code == 2 and "unknown model 'nope'" in bad.output


def test_emod_backbone_dropout_changes_at_finetuning_from_a_checkpoint(tmp_path):
    from emod_train.engine.checkpoints import save_checkpoint
    from emod_train.methods.emod.model import EMODBackbone, EMODConfig

    shape = _shape("seed")
    config = EMODConfig(**TINY, dropout=0.1)
    backbone = EMODBackbone(config)
    path = tmp_path / "pre.pt"
    save_checkpoint(path, {"model_config": config.to_dict(), "backbone": backbone.state_dict()})
    method = get_method("emod")
    built = method.prepare(_fake_store(shape), shape, {"dropout": "0.25"}, str(path), {"dropout": 0.25, "kind": "mlp"})
    assert built.config["dropout"] == 0.25 and built.config["dim"] == TINY["dim"]
    model = built.make()
    saved = backbone.state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in model.backbone.state_dict().items())
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.25 for m in model.backbone.modules())
    with pytest.raises(ValueError, match="only the backbone dropout can change"):
        method.prepare(_fake_store(shape), shape, {"dim": "8"}, str(path), {"dropout": 0.25, "kind": "mlp"})


@pytest.mark.slow
def test_scmm_released_options_pretrain(store_all, tmp_path):
    """Cosine learning-rate schedule and raw dot-product similarity (the released code's choices)."""
    from emod_train.engine.checkpoints import load_checkpoint
    from emod_train.methods.scmm.pretrain import SCMMPretrainConfig, pretrain_scmm

    config = SCMMPretrainConfig(
        store=str(store_all), out=str(tmp_path / "scmm"), corpora=["seed"], epochs=2, batch_size=64, seed=0,
        schedule="cosine", similarity="dot", cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    result = pretrain_scmm(config, progress=False)
    assert all(v == v for v in result.epoch_losses)
    lr = load_checkpoint(result.checkpoint)["optimizer"]["param_groups"][0]["lr"]
    assert 0 <= lr < config.lr / 2  # decayed along the cosine (constant would stay at 5e-4)
    with pytest.raises(ValueError, match="schedule"):
        SCMMPretrainConfig(store="s", out="o", schedule="nope")


def test_adding_a_method_example_registers_and_finetunes(store_all, tmp_path):
    """The worked example of docs/adding_a_method.md, run as written: registered, listed, fine-tuned."""
    from pathlib import Path

    from emod_train.evaluation.finetune import finetune
    from emod_train.methods.registry import register, unregister

    page = (Path(__file__).parent.parent / "docs" / "adding_a_method.md").read_text()
    example = page.split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(compile(example, "adding_a_method.md", "exec"), namespace)
    try:
        assert "de_mlp" in [m.name for m in available_methods()]
        method = get_method("de_mlp")
        assert method.inputs == "de" and not method.pretrainable
        with pytest.raises(ValueError, match="registered already"):
            register(method)
        config = FinetuneConfig(
            store=str(store_all), task="seed", out=str(tmp_path / "run"), method="de_mlp", model={"hidden": "16"},
            epochs=3, batch_size=16, cache_dir=str(tmp_path / "cache"),
        )  # fmt: skip
        result = finetune(config, progress=False)
        summary = json.loads((tmp_path / "run" / "results.json").read_text())
        assert summary["method"] == "de_mlp" and summary["model_config"]["hidden"] == 16
        assert summary["parameters"] == (62 * 5 + 1) * 16 + (16 + 1) * 3
        assert 1 <= result.runs[0]["best_epoch"] <= 3 and 0.0 <= result.mean["balanced_accuracy"] <= 1.0
        with pytest.raises(ValueError, match="de_mlp: unknown option 'depth'"):
            method.prepare(None, _shape("seed"), {"depth": "2"}, None, {})
    finally:
        unregister("de_mlp")
    assert "de_mlp" not in [m.name for m in available_methods()]


PLUGIN = """
from dataclasses import dataclass

from torch import nn

from emod_train.methods import Built, Method


@dataclass
class Options:
    hidden: int = 8


def _prepare(store, shape, options, init, head):
    return Built(config={"channels": list(shape.channels)}, make=lambda: nn.Linear(shape.n_chans * 5, shape.n_classes))


def methods():
    return [Method(name="plugin_linear", description="linear map of DE features (plugin)", inputs="de",
                   options=Options, prepare=_prepare)]
"""


def _install_plugin(root, name: str, entry: str, module: str = "") -> None:
    """An installed distribution in ``root`` (a sys.path entry) declaring one ``emod_train.methods`` entry point."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[emod_train.methods]\n{name} = {entry}\n")
    if module:
        (root / f"{entry.split(':')[0]}.py").write_text(module)


@pytest.mark.parametrize("broken", [False, True], ids=["plugin", "broken-plugin"])
def test_installed_packages_add_methods_through_entry_points(tmp_path, monkeypatch, broken):
    from emod_train.methods import registry

    if broken:
        _install_plugin(tmp_path, "emod_broken", "emod_missing_module:methods")
    else:
        _install_plugin(tmp_path, "emod_plugin", "emod_plugin_methods:methods", PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_PLUGINS_LOADED", False)
    try:
        outcome = CliRunner().invoke(app, ["methods"], terminal_width=200)
        if broken:
            assert outcome.exit_code == 2
            message = outcome.output.strip()
            assert "\n" not in message and "method entry point 'emod_broken'" in message, message
            assert "ModuleNotFoundError" in message
            with pytest.raises(TaskError, match="emod_broken"):  # again on the next use, never silently skipped
                available_methods()
        else:
            assert outcome.exit_code == 0, outcome.output
            assert "plugin_linear" in outcome.output
            assert get_method("plugin_linear").inputs == "de"
    finally:
        registry.unregister("plugin_linear")  # monkeypatch restores the load flag and sys.path
