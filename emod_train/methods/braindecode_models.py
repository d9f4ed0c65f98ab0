"""braindecode's models as registry methods, trained from scratch on a task's windows.

The models come from the installed braindecode (pinned in ``pyproject.toml``; nothing is copied).
Each is built per task with the task corpus's channel count (the channels every recording of the
corpus holds, in vocabulary order), the window length in samples and the store's sampling rate.
Inputs are z-scored per window and channel, as EMOD's default input normalisation does.

Short names map to classes with the few constructor settings that make them fit any window length
(e.g. ``final_conv_length="auto"``); ``braindecode:<ClassName>`` builds any other model class of
the installed braindecode with its defaults. Options given with ``--model-options`` go to the
constructor (names checked against its signature).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field

import torch
from torch import nn

from emod_train.errors import TaskError
from emod_train.methods import Built, Method, TaskShape

SHORT_NAMES: dict[str, tuple[str, dict, str]] = {
    "eegnet": ("EEGNetv4", {}, "EEGNet v4 (Lawhern et al. 2018), compact depthwise-separable CNN"),
    "shallow": ("ShallowFBCSPNet", {"final_conv_length": "auto"}, "Shallow ConvNet (Schirrmeister et al. 2017)"),
    "deep4": ("Deep4Net", {"final_conv_length": "auto"}, "Deep4Net (Schirrmeister et al. 2017), four conv-pool blocks"),
    "conformer": ("EEGConformer", {"final_fc_length": "auto"}, "EEG Conformer (Song et al. 2022), CNN + transformer"),
    "atcnet": ("ATCNet", {}, "ATCNet (Altaheri et al. 2022), attention temporal convolutional network"),
    "eeginception": ("EEGInceptionERP", {}, "EEG-Inception (Santamaria-Vazquez et al. 2020)"),
    "eegitnet": ("EEGITNet", {}, "EEG-ITNet (Salami et al. 2022), inception + dilated TCN"),
    # foundation architectures, trained from scratch; registered when the installed braindecode ships them
    "labram": ("Labram", {}, "LaBraM (Jiang et al. 2024) architecture, from scratch"),
    "biot": ("BIOT", {}, "BIOT (Yang et al. 2023) architecture, from scratch"),
    "cbramod": ("CBraMod", {}, "CBraMod (Wang et al. 2025) architecture, from scratch"),
}
"""Short name -> (braindecode class, constructor settings, description)."""


def _deep4_pooling(shape: TaskShape) -> dict:
    """Deep4Net's pooling for short windows: stride 3 (its default) when four blocks fit, else 2, else 1.

    Each of the four blocks convolves with a 10-sample kernel then pools; 1 s windows at 200 Hz
    are too short for the default pooling.
    """
    for pool in (3, 2, 1):
        length = shape.n_times
        for _ in range(4):
            length = (length - 9 - pool) // pool + 1
        if length >= 1:
            return {} if pool == 3 else {"pool_time_length": pool, "pool_time_stride": pool}
    return {}


def _atcnet_windows(shape: TaskShape) -> dict:
    """ATCNet's sliding windows: at most as many as the 8 x 7 pooled sequence has steps (5 by default)."""
    steps = shape.n_times // 56
    return {} if steps >= 5 else {"n_windows": max(1, steps)}


ADAPT = {"Deep4Net": _deep4_pooling, "ATCNet": _atcnet_windows}
"""Class -> settings that depend on the task's shape (window length)."""


def _models_module():
    try:
        return importlib.import_module("braindecode.models")
    except Exception as exc:  # braindecode missing or failing at import: say which and why
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TaskError(f"braindecode models are unavailable: import braindecode.models failed ({first})") from None


def braindecode_version() -> str:
    """Version of the installed braindecode (``"unavailable"`` when it does not import)."""
    try:
        import braindecode
    except Exception:
        return "unavailable"
    return str(getattr(braindecode, "__version__", "unknown"))


def missing_short_names() -> list[str]:
    """Short names whose class the installed braindecode does not ship (e.g. foundation models in 0.8)."""
    try:
        module = _models_module()
    except TaskError:
        return list(SHORT_NAMES)
    return [name for name, (cls, _, _) in SHORT_NAMES.items() if not hasattr(module, cls)]


@dataclass
class BraindecodeOptions:
    """Options of a braindecode method.

    Parameters
    ----------
    class_name : str
        The braindecode model class.
    settings : dict
        Constructor settings of the short name (e.g. ``final_conv_length="auto"``).
    input_norm : {"zscore", "scale", "none"}
        Input normalisation (:func:`emod_train.methods.emod.model.normalize_input`).
    kwargs : dict
        Further constructor arguments (checked against the class's signature).
    """

    class_name: str
    settings: dict = field(default_factory=dict)
    input_norm: str = "zscore"
    kwargs: dict = field(default_factory=dict)


class _NoHead(nn.Module):
    """Empty head: braindecode models end in their own classification layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Identity."""
        return x


class BraindecodeClassifier(nn.Module):
    """A braindecode model under the registry's contract.

    ``forward(x, channel_ids, sfreq)`` picks the task's channels (by vocabulary id, in order) from
    the sub-batch, normalises them and runs the model. The model is ``backbone``; ``head`` is empty.

    Parameters
    ----------
    net : torch.nn.Module
        The braindecode model, built for ``len(keep)`` channels.
    keep : sequence of int
        Vocabulary ids of the channels the model reads.
    input_norm : str
        See :func:`emod_train.methods.emod.model.normalize_input`.
    """

    def __init__(self, net: nn.Module, keep, input_norm: str = "zscore") -> None:
        super().__init__()
        self.backbone = net
        self.head = _NoHead()
        self.input_norm = input_norm
        self.register_buffer("keep", torch.as_tensor(list(keep), dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor, channel_ids: torch.Tensor, sfreq: float | None = None) -> torch.Tensor:
        """(B, C, T) µV -> (B, n_classes) logits."""
        from emod_train.data.dataset import SubBatch
        from emod_train.methods.emod.model import normalize_input

        if channel_ids.shape[1] != len(self.keep) or not bool((channel_ids == self.keep).all()):
            x = SubBatch(x, channel_ids, torch.empty(0)).select(self.keep).x
        out = self.backbone(normalize_input(x, self.input_norm))
        if out.dim() == 3:  # a cropped-decoding output (B, K, crops): average the crops
            out = out.mean(dim=-1)
        return out


def _constructor_args(cls, shape: TaskShape, settings: dict, kwargs: dict) -> dict:
    params = inspect.signature(cls.__init__).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    base = {
        "n_chans": shape.n_chans,
        "n_outputs": shape.n_classes,
        "n_times": shape.n_times,
        "sfreq": shape.sfreq,
        "input_window_seconds": shape.n_times / shape.sfreq,
        "add_log_softmax": False,
    }
    args = {k: v for k, v in base.items() if k in params}
    if "n_chans" not in args or "n_outputs" not in args:
        raise TaskError(f"braindecode:{cls.__name__} does not take n_chans and n_outputs; it is not a decoding model")
    unknown = [k for k in kwargs if k not in params and not accepts_any]
    if unknown:
        names = ", ".join(p for p in params if p != "self")
        raise ValueError(f"braindecode:{cls.__name__}: unknown option {unknown[0]!r} (known: {names})")
    return {**args, **settings, **kwargs}


def _prepare(options: BraindecodeOptions):
    def prepare(store, shape: TaskShape, overrides: dict, init: str | None, head: dict) -> Built:
        from emod_train.methods import parse_number

        if init is not None:
            raise ValueError(f"braindecode:{options.class_name} has no pretraining; it trains from scratch (no init)")
        extra = {k: parse_number(v) if isinstance(v, str) else v for k, v in overrides.items()}
        input_norm = str(extra.pop("input_norm", options.input_norm))
        cls = getattr(_models_module(), options.class_name)
        settings = {**options.settings, **ADAPT.get(options.class_name, lambda _: {})(shape)}
        args = _constructor_args(cls, shape, settings, {**options.kwargs, **extra})

        def make():
            try:
                net = cls(**args)
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise TaskError(
                    f"braindecode:{options.class_name} cannot be built for {shape.n_chans} channels x "
                    f"{shape.n_times} samples at {shape.sfreq:g} Hz ({first})"
                ) from None
            return BraindecodeClassifier(net, shape.channel_ids, input_norm)

        config = {
            "method": f"braindecode:{options.class_name}",
            "braindecode": braindecode_version(),
            "class_name": options.class_name,
            "input_norm": input_norm,
            "channels": list(shape.channels),
            "args": {k: v for k, v in args.items()},
        }
        return Built(config=config, make=make, backbone_lr_scale=1.0)

    return prepare


def _method(name: str, class_name: str, settings: dict, description: str) -> Method:
    options = BraindecodeOptions(class_name=class_name, settings=dict(settings))
    return Method(
        name=name,
        description=description,
        inputs="raw",
        options=BraindecodeOptions,
        prepare=_prepare(options),
        pretrain=None,
        family="braindecode",
        extra={"class_name": class_name},
    )


def methods() -> list[Method]:
    """The short names whose class the installed braindecode ships (none when it does not import)."""
    try:
        module = _models_module()
    except TaskError:
        return []
    return [
        _method(name, cls, settings, f"braindecode {cls}: {text}")
        for name, (cls, settings, text) in SHORT_NAMES.items()
        if hasattr(module, cls)
    ]


def method_for_class(class_name: str) -> Method:
    """``braindecode:<ClassName>`` as a method (the short name's settings when it has one).

    Raises
    ------
    TaskError
        braindecode does not import, or has no model class of that name.
    """
    module = _models_module()
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        names = sorted(n for n in dir(module) if isinstance(getattr(module, n), type) and n[0].isupper())
        raise TaskError(f"braindecode {braindecode_version()} has no model class {class_name!r} ({', '.join(names)})")
    settings = next((s for c, s, _ in SHORT_NAMES.values() if c == class_name), {})
    return _method(f"braindecode:{class_name}", class_name, settings, f"braindecode {class_name}")
