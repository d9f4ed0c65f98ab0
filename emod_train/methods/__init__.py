"""Methods: every model that fine-tunes on a task, under one name (the registry is :mod:`emod_train.methods.registry`).

A :class:`Method` bundles what the fine-tuning loop and the benchmark need to know about a model:
its option dataclass, a builder of the task classifier, its pretraining step (or None), the kind
of input it reads (``"raw"`` windows or ``"de"`` differential-entropy features of the windows)
and a one-line description. The registry holds EMOD and SCMM (adapters over
:mod:`emod_train.methods.emod.model` and :mod:`emod_train.methods.scmm.model`) and braindecode's
models (short names such as ``eegnet`` plus ``braindecode:<ClassName>`` for any model class of the
installed braindecode).

Every classifier a method builds follows one contract: ``forward(x, channel_ids, sfreq)`` maps a
sub-batch (:class:`emod_train.data.dataset.SubBatch` fields) to ``(B, n_classes)`` logits, and it has two
sub-modules ``backbone`` and ``head`` (the fine-tuning loop gives them separate learning rates;
``head.reset_batch_statistics()`` is called at each epoch start when the head has it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

INPUT_KINDS = ("raw", "de")
"""Input kinds: raw µV windows, or differential-entropy features of the same windows."""


@dataclass(frozen=True)
class TaskShape:
    """What a classifier is built for: the task's channels, window and classes on a store.

    Attributes
    ----------
    channels : tuple of str
        Channels every recording of the task's corpus holds, in vocabulary order (fixed-channel
        models read exactly these, in this order).
    channel_ids : tuple of int
        Their vocabulary ids.
    n_times : int
        Window length in samples.
    sfreq : float
        Store sampling rate (Hz).
    n_classes : int
        Number of classes.
    """

    channels: tuple[str, ...]
    channel_ids: tuple[int, ...]
    n_times: int
    sfreq: float
    n_classes: int

    @property
    def n_chans(self) -> int:
        """Number of channels."""
        return len(self.channels)


@dataclass
class Built:
    """A method prepared for one task.

    Attributes
    ----------
    config : dict
        Plain-value model configuration (written to checkpoints and results).
    make : callable
        ``make()`` returns a fresh classifier (the registry's contract, see the module docstring).
    backbone_lr_scale : float or None
        Overrides the fine-tuning backbone learning-rate scale (None: the run's setting).
    """

    config: dict
    make: Callable[[], object]
    backbone_lr_scale: float | None = None


@dataclass(frozen=True)
class Method:
    """One registered method.

    Attributes
    ----------
    name : str
        Registry name (``emod``, ``scmm``, ``eegnet``, ``braindecode:EEGITNet``, ...).
    description : str
        One line for ``emod-train methods``.
    inputs : {"raw", "de"}
        Raw windows, or DE features of the windows.
    options : type
        Dataclass of the method's model options (overrides are validated against its fields).
    prepare : callable
        ``prepare(store, shape, options, init, head) -> Built`` with ``options`` a dict of
        overrides, ``init`` a pretraining checkpoint or None and ``head`` a dict with the head
        ``dropout`` and ``kind``.
    pretrain : callable or None
        The pretraining entry point, ``pretrain(config, progress) -> result`` (``None``: trained
        from scratch only); the result has ``checkpoint`` and a one-line ``summary()``.
    pretrain_config : type or None
        The dataclass of the pretraining settings (``emod-train pretrain`` builds it from the
        options given; the CLI's defaults are its defaults).
    cross_corpus : callable or None
        ``cross_corpus(cfg, protocol, direction, pretrained, progress, info, store, device) ->
        (make_model, forward)``: the method in the cross-corpus protocol
        (:mod:`emod_train.evaluation.crosscorpus`); None: not part of it.
    family : str
        ``emod_train`` or ``braindecode``.
    """

    name: str
    description: str
    inputs: str
    options: type
    prepare: Callable
    pretrain: Callable | None = None
    pretrain_config: type | None = None
    cross_corpus: Callable | None = None
    family: str = "emod_train"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def pretrainable(self) -> bool:
        """Whether the method has a pretraining step (and so accepts ``init``)."""
        return self.pretrain is not None


def parse_options(text: str | None) -> dict:
    """``"dim=64,depth=2"`` -> ``{"dim": "64", "depth": "2"}`` (values are converted by the method).

    Raises
    ------
    ValueError
        An item without ``=`` or without a value.
    """
    options: dict = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"model options must be NAME=VALUE items (got {item!r})")
        options[key.strip()] = value.strip()
    return options


def convert_options(options: dict, defaults: dict, where: str) -> dict:
    """Convert string option values to the types of ``defaults`` (unknown names raise).

    Parameters
    ----------
    options : dict
        Overrides; strings are converted, other values kept.
    defaults : dict
        Known option names and their default values (their types decide the conversion; a None
        default accepts an int, a float or the string).
    where : str
        Named in errors (e.g. the method).

    Raises
    ------
    ValueError
        Unknown option or a value that does not convert.
    """
    out = {}
    for key, value in options.items():
        if key not in defaults:
            raise ValueError(f"{where}: unknown option {key!r} (known: {', '.join(sorted(defaults))})")
        if not isinstance(value, str):
            out[key] = value
            continue
        default = defaults[key]
        try:
            if isinstance(default, bool):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                out[key] = value.lower() in ("true", "1")
            elif isinstance(default, int):
                out[key] = int(value)
            elif isinstance(default, float):
                out[key] = float(value)
            elif default is None:
                out[key] = parse_number(value)
            else:
                out[key] = value
        except ValueError:
            raise ValueError(f"{where}: option {key} must be a {type(default).__name__} (got {value!r})") from None
    return out


def parse_number(text: str):
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, anything else stays the string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
