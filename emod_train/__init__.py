"""emod_train: streams windows from an emod_data store into EMOD models.

The training half of the toolkit; it depends on torch, which emod_data never imports.
The main entry points are importable from the package itself (loaded lazily)::

    import emod_train

    result = emod_train.methods.emod.pretrain(emod_train.PretrainConfig(store="emod.zarr", out="runs/pre"))
    scores = emod_train.evaluation.finetune(
        emod_train.FinetuneConfig(store="emod.zarr", task="seed", init="runs/pre/last.pt", out="runs/seed")
    )

See ``docs/training.md``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "PretrainConfig": "emod_train.methods.emod.pretrain",
    "pretrain": "emod_train.methods.emod.pretrain",
    "FinetuneConfig": "emod_train.evaluation.finetune",
    "finetune": "emod_train.evaluation.finetune",
    "EMODConfig": "emod_train.methods.emod.model",
    "EMODBackbone": "emod_train.methods.emod.model",
    "EMODClassifier": "emod_train.methods.emod.model",
    "emod_loss": "emod_train.methods.emod.loss",
    "load_task": "emod_train.evaluation.tasks",
    "available_tasks": "emod_train.evaluation.tasks",
    "window_table": "emod_train.data.windows",
    "WindowDataset": "emod_train.data.dataset",
    "StructuredBatchSampler": "emod_train.methods.emod.sampler",
    "build_cache": "emod_train.data.cache",
    "run_demo": "emod_train.demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'emod_train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
