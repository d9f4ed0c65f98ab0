"""Registry adapters for the project's own methods: EMOD (raw windows) and SCMM (DE features).

The models themselves stay in :mod:`emod_train.methods.emod.model` and
:mod:`emod_train.methods.scmm.model`; this module only builds their task classifiers under the
registry's contract (see :mod:`emod_train.methods`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from emod_train.errors import CheckpointError
from emod_train.methods import Built, Method, TaskShape, convert_options


def _emod_prepare(store, shape: TaskShape, options: dict, init: str | None, head: dict) -> Built:
    """EMOD: the backbone of a pretraining checkpoint (``init``) or a fresh one, plus a classifier head.

    With ``init`` the checkpoint's configuration is used and only ``dropout`` (the backbone's) may
    be overridden, as the released code raises it from 0.1 in pretraining to 0.25 in fine-tuning.
    """
    from emod_train.engine.checkpoints import load_backbone, load_checkpoint
    from emod_train.methods.emod.model import EMODClassifier, EMODConfig
    from emod_train.methods.emod.pretrain import model_config_for

    options = convert_options(options, EMODConfig().to_dict(), "emod")
    if init is not None:
        state = load_checkpoint(init)
        values = EMODConfig.from_dict(state["model_config"]).to_dict()
        extra = sorted(set(options) - {"dropout"})
        if extra:
            raise ValueError(f"{init}: only the backbone dropout can change at fine-tuning (got {', '.join(extra)})")
        config = EMODConfig(**{**values, **options})
        needed = model_config_for(store).vocab_size
        if config.vocab_size < needed:
            raise CheckpointError(
                f"{init}: channel vocabulary of {config.vocab_size} ids; the store uses ids up to {needed - 1}"
            )
    else:
        config = model_config_for(store, options)

    def make():
        model = EMODClassifier(config, shape.n_classes, head["dropout"], head["kind"])
        if init is not None:
            load_backbone(model, init)
        return model

    return Built(config=config.to_dict(), make=make)


@dataclass
class SCMMOptions:
    """SCMM fine-tuning options.

    Parameters
    ----------
    dropout : float
        Dropout before the classifier (0: the paper's linear probe setting).
    classifier : {"linear", "sigmoid_mlp"}
        A linear layer on the encoder output (default), or the released code's two-layer
        classifier ``Linear(h, 64) -> sigmoid -> Linear(64, K)``.
    """

    dropout: float = 0.0
    classifier: str = "linear"

    def __post_init__(self) -> None:
        if self.classifier not in ("linear", "sigmoid_mlp"):
            raise ValueError(f"scmm: classifier must be 'linear' or 'sigmoid_mlp' (got {self.classifier!r})")


class SCMMTaskClassifier(nn.Module):
    """SCMM encoder plus classifier under the registry's contract.

    ``forward(x, channel_ids, sfreq)`` takes ``(B, C, F)`` DE features (``channel_ids`` and
    ``sfreq`` are ignored: the features already hold the task's channels in the encoder's order).

    Parameters
    ----------
    encoder : emod_train.methods.scmm.model.SCMMEncoder
    n_classes : int
    options : SCMMOptions
    """

    def __init__(self, encoder, n_classes: int, options: SCMMOptions) -> None:
        super().__init__()
        self.backbone = encoder
        if options.classifier == "linear":
            layers = [nn.Dropout(options.dropout), nn.Linear(encoder.out_dim, n_classes)]
        else:
            layers = [nn.Dropout(options.dropout), nn.Linear(encoder.out_dim, 64), nn.Sigmoid()]
            layers.append(nn.Linear(64, n_classes))
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, channel_ids: torch.Tensor | None = None, sfreq: float | None = None):
        """(B, C, F) features -> (B, n_classes) logits."""
        return self.head(self.backbone(x))


def _scmm_prepare(store, shape: TaskShape, options: dict, init: str | None, head: dict) -> Built:
    """SCMM: the encoder of an SCMM checkpoint (``init``) or a fresh one, on the task's DE features."""
    from emod_train.data.features import BANDS
    from emod_train.methods.scmm.model import SCMMEncoder
    from emod_train.methods.scmm.pretrain import encoder_from_checkpoint

    opts = SCMMOptions(**convert_options(options, dataclasses.asdict(SCMMOptions()), "scmm"))
    channels = list(shape.channels)
    if init is not None:
        _, checkpoint_config = encoder_from_checkpoint(init)
        channels = list(checkpoint_config["channels"])
        missing = [c for c in channels if c not in shape.channels]
        if missing:
            raise CheckpointError(f"{init}: the encoder reads channel {missing[0]}, which the task's corpus lacks")

    def make():
        encoder = encoder_from_checkpoint(init)[0] if init is not None else SCMMEncoder(len(channels))
        return SCMMTaskClassifier(encoder, shape.n_classes, opts)

    config = {"method": "scmm", "channels": channels, "bands": [list(b) for b in BANDS], **dataclasses.asdict(opts)}
    return Built(config=config, make=make, backbone_lr_scale=None)


def methods() -> list[Method]:
    """EMOD and SCMM as registry entries."""
    from emod_train.methods.emod.model import EMODConfig
    from emod_train.methods.emod.pretrain import PretrainConfig, pretrain
    from emod_train.methods.emod.transfer import cross_corpus_models as emod_transfer
    from emod_train.methods.scmm.pretrain import SCMMPretrainConfig, pretrain_scmm
    from emod_train.methods.scmm.transfer import cross_corpus_models as scmm_transfer

    emod = "EMOD: triple-domain encoder + spatial-temporal transformer on raw windows (any channels)"
    scmm = "SCMM: convolutional encoder on differential-entropy features of the windows"
    return [
        Method(name="emod", description=emod, inputs="raw", options=EMODConfig, prepare=_emod_prepare,
               pretrain=pretrain, pretrain_config=PretrainConfig, cross_corpus=emod_transfer),
        Method(name="scmm", description=scmm, inputs="de", options=SCMMOptions, prepare=_scmm_prepare,
               pretrain=pretrain_scmm, pretrain_config=SCMMPretrainConfig, cross_corpus=scmm_transfer),
    ]  # fmt: skip
