"""The shared supervised fit loop: epoch selection on validation, restored weights, no validation data."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from emod_train.cli import app
from emod_train.evaluation.fit import fit


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = torch.nn.Identity()
        self.head = torch.nn.Linear(2, 2)
        self.resets = 0
        self.head.reset_batch_statistics = self._count  # called at every epoch start

    def _count(self) -> None:
        self.resets += 1

    def forward(self, x):
        return self.head(self.backbone(x))


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=g)
    return x, (x[:, 0] > 0).long()


def test_fit_keeps_the_best_validation_epoch_and_its_weights():
    torch.manual_seed(0)
    model, (x, y) = _Tiny(), _data()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scores = iter([0.2, 0.9, 0.9, 0.1])  # epoch 2 wins; the tie at epoch 3 keeps the earlier one
    states, seen = {}, []

    def validate(m):
        states[len(states) + 1] = {k: v.clone() for k, v in m.state_dict().items()}
        return {"accuracy": next(scores)}

    fitted = fit(
        model, optimizer, lambda epoch: [slice(0, 32), slice(32, 64)],
        lambda m, s: F.cross_entropy(m(x[s]), y[s]), validate, epochs=4, score="accuracy",
        step_seed=lambda step: 100 + step, on_epoch=lambda *args: seen.append(args),
    )  # fmt: skip
    assert fitted.best_epoch == 2 and fitted.best_val == {"accuracy": 0.9}
    assert len(fitted.train_losses) == 4 and model.resets == 4
    assert [s[0] for s in seen] == [1, 2, 3, 4] and seen[-1][3] == {"accuracy": 0.9}
    for key, value in model.state_dict().items():
        assert torch.equal(value, states[2][key])  # the epoch-2 weights are back
    assert not torch.equal(model.head.weight, states[4]["head.weight"])


def test_fit_without_validation_keeps_the_last_epoch():
    model, (x, y) = _Tiny(), _data()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    fitted = fit(model, optimizer, lambda epoch: [slice(0, 64)], lambda m, s: F.cross_entropy(m(x[s]), y[s]),
                 lambda m: None, epochs=3, score="accuracy")  # fmt: skip
    assert fitted.best_epoch == 3 and fitted.best_val is None


def test_pretrain_refuses_an_option_the_method_lacks(tmp_path):
    """CLI defaults come from the settings dataclass; an option it has no field for is a one-line error."""
    result = CliRunner().invoke(
        app, ["pretrain", "--store", str(tmp_path / "s.zarr"), "--out", str(tmp_path / "o"), "--method", "scmm",
              "--rounds", "2"],
    )  # fmt: skip
    assert result.exit_code == 2 and "--rounds is not an option of scmm pretraining" in result.output
    result = CliRunner().invoke(
        app, ["pretrain", "--store", str(tmp_path / "s.zarr"), "--out", str(tmp_path / "o"), "--a", "0.5"]
    )
    assert result.exit_code == 2 and "--a is not an option of emod pretraining" in result.output
