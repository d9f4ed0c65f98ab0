"""EMOD in the cross-corpus protocol: pretraining on the source corpus and the per-subject classifier.

Registered as the ``emod`` method's ``cross_corpus`` hook (see :mod:`emod_train.methods`), called by
:func:`emod_train.evaluation.crosscorpus.run_cross_corpus`.
"""

from __future__ import annotations

from pathlib import Path

from emod_train.engine.checkpoints import load_backbone, load_checkpoint, resumable_run
from emod_train.methods.emod.model import EMODClassifier, EMODConfig
from emod_train.methods.emod.pretrain import PretrainConfig, model_config_for, pretrain


def cross_corpus_models(cfg, protocol, d, pretrained: bool, progress: bool, info: dict, store, device):
    """``make_model`` and ``forward`` of EMOD in one direction (pretraining on the source first when ``pretrained``).

    Parameters
    ----------
    cfg : emod_train.evaluation.crosscorpus.CrossCorpusConfig
        Run settings (``emod_epochs``, ``emod_batch_size``, ``emod_steps_per_epoch``, ``emod_model``,
        ``seed``, ``device``, ``cache_dir``).
    protocol : emod_train.evaluation.crosscorpus.Protocol
    d : object
        The direction's shared data: ``direction``, ``source``, ``channels``, ``keep`` (their
        vocabulary ids) and ``folder``.
    pretrained : bool
        Pretrain on the source corpus (False: a random initialisation).
    progress : bool
        Show progress bars.
    info : dict
        Filled with the pretraining loss of the first and last epoch.
    store : emod_data.store.Store
    device : torch.device

    Returns
    -------
    tuple of callable
        ``make_model()`` -> a fresh classifier; ``forward(model, x)`` -> logits of raw windows on
        the direction's channels.
    """
    checkpoint = None
    model_config = model_config_for(store, cfg.emod_model)
    if pretrained:

        def run(folder: Path, resume: bool):
            settings = PretrainConfig(
                store=cfg.store, out=str(folder), corpora=[d.source], sessions=list(protocol.source_sessions),
                channels=d.channels, window=protocol.window, epochs=cfg.emod_epochs, batch_size=cfg.emod_batch_size,
                steps_per_epoch=cfg.emod_steps_per_epoch, model=cfg.emod_model, seed=cfg.seed, device=cfg.device,
                cache_dir=cfg.cache_dir, resume=resume,
            )  # fmt: skip
            return pretrain(settings, progress=progress)

        result = resumable_run(d.folder / "emod-pretrain", run)
        checkpoint = result.checkpoint
        model_config = EMODConfig.from_dict(load_checkpoint(checkpoint)["model_config"])
        info["emod_pretrain_loss_first_last"] = [result.epoch_losses[0], result.epoch_losses[-1]]
    n_classes, ids, sfreq = len(d.direction.classes), d.keep.to(device), float(store.processing.sfreq)

    def make_model():
        model = EMODClassifier(model_config, n_classes)
        if checkpoint is not None:
            load_backbone(model, checkpoint)
        return model

    def forward(model, x):
        return model(x, ids.expand(x.shape[0], -1), sfreq)

    return make_model, forward
