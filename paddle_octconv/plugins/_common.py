"""What the plug-in convolutions share: argument checks, the input check and the kernel holder.

``KernelConv2D`` is an ``nn.Conv2D`` that holds a plug-in layer's main kernel and convolves with
the kernel its owner derives from it (standardised, per sample, deformed). Being a Conv2D, its
forward hooks fire on every call, so :func:`paddle_octconv.count_flops` (and ``paddle.summary``)
count the main convolution at the size it really runs at, as for a plain conv.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..octconv import _TENSOR_TYPES, _pair
from ._deform import deform_conv

__all__ = ["IntPair", "check_pair", "same_padding", "check_input", "global_avg_pool",
           "KernelConv2D", "kaiming_normal_fan_out"]

IntPair = Union[int, Sequence[int]]


def check_pair(name: str, value: IntPair, minimum: int = 1) -> Tuple[int, int]:
    pair = _pair(name, value)
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair


def same_padding(name: str, kernel: Tuple[int, int], dilation: Tuple[int, int]) -> Tuple[int, int]:
    """Padding that keeps the size at stride 1: ``dilation * (k - 1) // 2``; needs an odd kernel."""
    if any(k % 2 == 0 for k in kernel):
        raise ValueError(f"{name} needs an odd kernel_size (its padding keeps the size), got {kernel}")
    return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))


def global_avg_pool(x: paddle.Tensor) -> paddle.Tensor:
    """(N, C, H, W) -> (N, C, 1, 1), the mean over each map.

    A pool rather than ``x.mean(axis=[2, 3])``: the oneDNN predictor runs the mean as a
    reduction, which on its blocked activation layouts falls back to oneDNN's reference
    (scalar) code, while the pool has a vectorised kernel for every layout."""
    return F.adaptive_avg_pool2d(x, 1)


@paddle.jit.not_to_static
def check_input(layer: str, x, channels: int) -> None:
    """A 4-D (N, C, H, W) Tensor with ``channels`` channels (-1 sides of a static graph pass)."""
    if not isinstance(x, _TENSOR_TYPES):
        raise TypeError(f"{layer} expects a paddle.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if len(x.shape) != 4:
        raise ValueError(f"{layer} expects a 4-D (N, C, H, W) input, got shape {list(x.shape)}")
    if x.shape[1] >= 0 and x.shape[1] != channels:
        raise ValueError(f"{layer} was built for {channels} input channels, got {x.shape[1]} "
                         f"(input shape {list(x.shape)})")


def kaiming_normal_fan_out(weight: paddle.Tensor, fan_out: Optional[int] = None) -> None:
    """Kaiming normal, fan_out mode, ReLU gain: std = sqrt(2 / fan_out), by default
    ``fan_out = C_out * kh * kw`` of a (C_out, C_in / groups, kh, kw) weight (torchvision's recipe)."""
    if fan_out is None:
        fan_out = weight.shape[0] * math.prod(weight.shape[2:])
    nn.initializer.Normal(0.0, math.sqrt(2.0 / fan_out))(weight)


class KernelConv2D(nn.Conv2D):
    """An ``nn.Conv2D`` holding a plug-in layer's kernel, called with the weight derived from it.

    ``forward(x, weight, padding, dilation, offset)`` convolves with ``weight`` (default: its own)
    and the layer's stride, groups and bias; ``padding`` / ``dilation`` override the layer's own
    (SAConv runs one kernel at two dilations); with ``offset`` (N, 2 * kh * kw, H', W') it is a
    deformable conv (``_deform.deform_conv``: ``paddle.vision.ops.deform_conv2d``'s, one
    deformable group, no mask).
    Counting hooks see each call as this conv.
    """

    def forward(self, x: paddle.Tensor, weight: Optional[paddle.Tensor] = None,
                padding: Optional[Tuple[int, int]] = None,
                dilation: Optional[Tuple[int, int]] = None,
                offset: Optional[paddle.Tensor] = None) -> paddle.Tensor:
        weight = self.weight if weight is None else weight
        padding = self._updated_padding if padding is None else list(padding)
        dilation = self._dilation if dilation is None else list(dilation)
        if offset is not None:
            mask = None
            if not paddle.in_dynamic_mode():
                # paddle2onnx 2.1 fails on a deform_conv2d without a mask: graphs get ones
                taps = offset.shape[1] // 2
                mask = paddle.ones_like(offset[:, :taps])
            return deform_conv(x, offset, weight, self.bias, self._stride, padding, dilation,
                               1, self._groups, mask)
        return F.conv2d(x, weight, self.bias, self._stride, padding, dilation, self._groups)
