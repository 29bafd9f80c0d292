"""Pieces shared by every model family: argument checks, weight initialisation, feature pairs."""
from __future__ import annotations

import math
from typing import AbstractSet, Mapping, Union

import paddle
import paddle.nn as nn

from paddle_octconv import OctaveFeatures

__all__ = ["check_alpha", "check_positive_int", "check_bool", "check_options", "init_weights",
           "as_features"]

OctaveInput = Union[paddle.Tensor, OctaveFeatures]


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


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is a positive int; else TypeError (not an int) or ValueError (< 1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return value


def check_bool(name: str, value: bool) -> bool:
    """Return ``value`` if it is a bool, else raise a TypeError naming ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def check_options(arch: str, options: Mapping[str, object], accepted: AbstractSet[str]) -> None:
    """Raise a TypeError naming every key of ``options`` that ``arch`` does not accept."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"{arch}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"it accepts pretrained, num_classes, alpha and {', '.join(sorted(accepted))}"
        )


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
