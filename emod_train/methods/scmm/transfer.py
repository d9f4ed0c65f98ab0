"""SCMM in the cross-corpus protocol: pretraining on the source corpus and the per-subject classifier.

Registered as the ``scmm`` method's ``cross_corpus`` hook (see :mod:`emod_train.methods`), called by
:func:`emod_train.evaluation.crosscorpus.run_cross_corpus`.
"""

from __future__ import annotations

import copy
from pathlib import Path

from emod_train.engine.checkpoints import resumable_run
from emod_train.methods.scmm.model import SCMMClassifier, SCMMEncoder
from emod_train.methods.scmm.pretrain import SCMMPretrainConfig, encoder_from_checkpoint, pretrain_scmm


def cross_corpus_models(cfg, protocol, d, pretrained: bool, progress: bool, info: dict, store, device):
    """``make_model`` and ``forward`` of SCMM in one direction (pretraining on the source first when ``pretrained``).

    Parameters
    ----------
    cfg : emod_train.evaluation.crosscorpus.CrossCorpusConfig
        Run settings (``scmm_epochs``, ``scmm_batch_size``, ``seed``, ``device``, ``cache_dir``).
    protocol : emod_train.evaluation.crosscorpus.Protocol
    d : object
        The direction's shared data: ``direction`` (with a, sigma, t and classes), ``source``,
        ``channels`` and ``folder``.
    pretrained : bool
        Pretrain on the source corpus (False: the same encoder from a random initialisation).
    progress : bool
        Show progress bars.
    info : dict
        Filled with the pretraining loss of the first and last epoch.
    store, device
        Unused (the features already hold the direction's channels).

    Returns
    -------
    tuple of callable
        ``make_model()`` -> a fresh classifier; ``forward(model, x)`` -> logits of (B, C, 5) features.
    """
    encoder = None
    if pretrained:

        def run(folder: Path, resume: bool):
            settings = SCMMPretrainConfig(
                store=cfg.store, out=str(folder), corpora=[d.source], sessions=list(protocol.source_sessions),
                channels=d.channels, window=protocol.window, epochs=cfg.scmm_epochs, batch_size=cfg.scmm_batch_size,
                a=d.direction.a, sigma=d.direction.sigma, t=d.direction.t, seed=cfg.seed, device=cfg.device,
                cache_dir=cfg.cache_dir, resume=resume,
            )  # fmt: skip
            return pretrain_scmm(settings, progress=progress)

        result = resumable_run(d.folder / "scmm-pretrain", run)
        encoder, _ = encoder_from_checkpoint(result.checkpoint)
        info["scmm_pretrain_loss_first_last"] = [result.epoch_losses[0], result.epoch_losses[-1]]
    n_channels, n_classes = len(d.channels), len(d.direction.classes)

    def make_model():
        return SCMMClassifier(copy.deepcopy(encoder) if encoder is not None else SCMMEncoder(n_channels), n_classes)

    def forward(model, x):
        return model(x)

    return make_model, forward
