"""Build zoo models from a :class:`RunConfig`, load weights of every accepted kind, count costs."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, Mapping, NamedTuple, Optional

import paddle
import paddle.nn as nn

from .checkpoint import is_checkpoint
from .config import RunConfig
from .data import DataSpec
from .errors import UsageError

__all__ = ["check_model_name", "model_options", "build_model", "WeightsFile", "read_weights", "load_into",
           "ModelCost", "model_cost"]

_TORCH_SUFFIXES = (".pth", ".pt")


def check_model_name(name: str) -> None:
    """Raise :class:`UsageError` listing the zoo's models when ``name`` is not one of them."""
    from models import list_models

    if name not in list_models():
        raise UsageError(f"unknown model {name!r}; choose from {', '.join(list_models())}")


def model_options(cfg: RunConfig, spec: DataSpec) -> Dict[str, Any]:
    """Builder keyword arguments: the data set's shape plus the options the config sets."""
    options: Dict[str, Any] = {"num_classes": spec.num_classes, "alpha": cfg.alpha,
                               "in_channels": spec.in_channels}
    for key in ("small_input", "width_mult", "width", "zero_init_residual"):
        if getattr(cfg, key) is not None:
            options[key] = getattr(cfg, key)
    if cfg.pretrained:
        options["pretrained"] = cfg.pretrained
    return options


def build_model(cfg: RunConfig, spec: DataSpec) -> nn.Layer:
    """``models.create_model(cfg.model, **model_options(cfg, spec))``, errors as UsageError."""
    from models import create_model

    try:
        return create_model(cfg.model, **model_options(cfg, spec))
    except (TypeError, ValueError, FileNotFoundError) as error:
        first = str(error).strip().splitlines()[0]
        raise UsageError(f"cannot build {cfg.model}: {first}") from None


class WeightsFile(NamedTuple):
    """What ``--weights`` pointed at: a state dict and, for a train.py checkpoint, its record."""

    state: Mapping[str, Any]
    kind: str  # "checkpoint", "pdparams" or "pytorch"
    checkpoint: Optional[Dict[str, Any]]


def read_weights(path: str) -> WeightsFile:
    """Read a train.py checkpoint, a bare ``.pdparams`` state dict or a PyTorch ``.pth``.

    Raises:
        UsageError: missing or unreadable file, or PyTorch missing for a ``.pth``.
    """
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--weights {path}: no such file (a train.py checkpoint, a .pdparams "
                         f"state dict or a PyTorch .pth)")
    if file.suffix in _TORCH_SUFFIXES:
        from models.convert import load_torch_checkpoint

        try:
            return WeightsFile(load_torch_checkpoint(file), "pytorch", None)
        except ImportError as error:
            raise UsageError(f"--weights {path} is a PyTorch checkpoint: {error}") from None
        except ValueError as error:
            raise UsageError(f"--weights {path}: {str(error).splitlines()[0]}") from None
    try:
        obj = paddle.load(str(file))
    except Exception as error:  # truncated or foreign files raise many kinds
        raise UsageError(f"--weights {path}: cannot be read as a Paddle file "
                         f"({type(error).__name__}): it is truncated or of another kind") from None
    if is_checkpoint(obj):
        return WeightsFile(obj["model"], "checkpoint", obj)
    if not isinstance(obj, Mapping):
        raise UsageError(f"--weights {path}: holds a {type(obj).__name__}, not a state dict")
    return WeightsFile(obj, "pdparams", None)


def load_into(network: nn.Layer, weights: WeightsFile, source: str) -> None:
    """Load ``weights`` into ``network`` strictly (a PyTorch state dict is converted first).

    Raises:
        UsageError: keys or shapes do not fit, including a classifier of another class count.
    """
    from models import IncompatibleWeightsError, load_weights
    from models.convert import convert_state_dict

    state = weights.state
    if weights.kind == "pytorch":
        state = convert_state_dict(state, network)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            skipped = load_weights(network, state, source=source)
    except IncompatibleWeightsError as error:
        raise UsageError(" ".join(str(error).split())) from None
    if skipped:
        raise UsageError(f"{source}: its classifier has another number of classes than the data "
                         f"set; evaluate it on the data it was trained for")


class ModelCost(NamedTuple):
    params: int
    macs: int  # per image


def model_cost(network: nn.Layer, spec: DataSpec) -> ModelCost:
    """Trainable parameters and multiply-accumulates of one image of the data set's size."""
    from paddle_octconv import count_flops, count_params

    shape = (1, spec.in_channels, spec.image_size, spec.image_size)
    return ModelCost(count_params(network), count_flops(network, shape))
