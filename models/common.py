"""Pieces shared by every model family: argument checks, weight initialisation, feature pairs."""
from __future__ import annotations

import functools
import inspect
import math
from typing import AbstractSet, Callable, Mapping, Sequence, TypeVar, Union

import paddle
import paddle.nn as nn

from paddle_octconv import OctaveFeatures
from paddle_octconv._checks import check_bool, check_int

__all__ = ["check_alpha", "check_int", "check_bool", "check_width", "check_choice",
           "check_options", "options_checked", "scale_channels", "init_weights", "as_features"]

OctaveInput = Union[paddle.Tensor, OctaveFeatures]
Builder = TypeVar("Builder", bound=Callable[..., nn.Layer])


def check_alpha(alpha: float) -> float:
    """Return ``alpha`` as a float if ``0 <= alpha < 1`` (0 builds the plain network).

    Raises:
        TypeError: ``alpha`` is not a real number.
        ValueError: ``alpha`` is outside [0, 1).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be a float in [0, 1), got {type(alpha).__name__} {alpha!r}")
    if not 0.0 <= alpha < 1.0:
        raise ValueError(
            f"alpha (the low-frequency fraction of channels) must satisfy 0 <= alpha < 1 "
            f"(0 gives the plain network), got {alpha}"
        )
    return float(alpha)


def check_width(name: str, value: float) -> float:
    """Return ``value`` as a float if it is a real number > 0 (a channel multiplier)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


Choice = TypeVar("Choice")


def check_choice(name: str, value: Choice, allowed: Sequence[Choice], why: str = "") -> Choice:
    """Return ``value`` if it is one of ``allowed`` (and of their type: 16.0 is not 16, True is
    not 1), else raise a ValueError naming ``name``, the allowed values and ``why``."""
    if type(value) is not type(allowed[0]) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}{why}, "
                         f"got {value!r}")
    return value


def scale_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded to a multiple of 8 (at least 8), as MobileNet V1 does."""
    return max(8, int(channels * width + 4) // 8 * 8)


def check_options(arch: str, options: Mapping[str, object], accepted: AbstractSet[str]) -> None:
    """Raise a TypeError naming every key of ``options`` that ``arch`` does not accept."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"{arch}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"it accepts {', '.join(accepted)}"
        )


def options_checked(builder: Builder) -> Builder:
    """Wrap a builder with explicit (typed) parameters so that unknown keyword arguments give a
    TypeError naming all of them and every accepted one (Python's own names only the first).

    ``inspect.signature`` of the result is the builder's own, so documentation and IDEs show it.
    """
    accepted = list(inspect.signature(builder).parameters)

    @functools.wraps(builder)
    def checked(*args, **kwargs):
        check_options(builder.__name__, kwargs, accepted)
        return builder(*args, **kwargs)

    return checked  # type: ignore[return-value]


def init_weights(model: nn.Layer) -> None:
    """Initialise as the reference training did (torchvision's ResNet recipe).

    Conv weights: Kaiming normal, fan_out mode, ReLU gain (std = sqrt(2 / (C_out * kh * kw))).
    BatchNorm: weight 1, bias 0. Linear: PyTorch's default, weight and bias uniform in
    +-1 / sqrt(in_features). Convs have no bias.
    """
    for layer in model.sublayers(include_self=True):
        if isinstance(layer, nn.Conv2D):
            c_out, _, kh, kw = layer.weight.shape
            nn.initializer.Normal(0.0, math.sqrt(2.0 / (c_out * kh * kw)))(layer.weight)
        elif isinstance(layer, nn.BatchNorm2D):
            nn.initializer.Constant(1.0)(layer.weight)
            nn.initializer.Constant(0.0)(layer.bias)
        elif isinstance(layer, nn.Linear):
            bound = 1.0 / math.sqrt(layer.weight.shape[0])  # Paddle stores [in, out]
            nn.initializer.Uniform(-bound, bound)(layer.weight)
            nn.initializer.Uniform(-bound, bound)(layer.bias)


def as_features(x: OctaveInput) -> OctaveFeatures:
    """A plain (N, C, H, W) Tensor becomes ``OctaveFeatures(x, None)``; a pair is passed through."""
    if isinstance(x, (tuple, list)):
        return OctaveFeatures(*x)
    return OctaveFeatures(x, None)  # a Tensor (or a static-graph value under paddle.jit.to_static)
