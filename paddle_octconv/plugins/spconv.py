"""SPConv: split-based convolution ("Split to Be Slim", Zhang et al., IJCAI 2020).

The input channels are split at ``alpha`` into a representative part (``int(alpha * C_in)``
channels, the first ones) and a redundant part (the rest). The representative part goes through
a k x k group conv (``groups`` 2 in the reference) plus a 1x1 conv, summed; the redundant part
through one 1x1 conv with a bias; each result has its own BatchNorm. The two results are fused
by a parameter-free softmax, per output channel, over their global average pools:

    y = softmax_c(gap(rep), gap(red))[0] * rep + softmax_c(...)[1] * red

Stride s > 1: the k x k conv is strided; the 1x1 convs run after an s x s average pool.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..octconv import _check_alpha
from .._checks import check_int
from ._common import IntPair, check_input, check_pair, global_avg_pool, kaiming_normal_fan_out, same_padding

__all__ = ["SPConv"]


class SPConv(nn.Layer):
    """Split-based convolution (the reference ``SPConv_3x3``, for any odd kernel).

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: kernel of the representative part's group conv (odd; padding keeps size).
        stride: stride; the 1x1 paths average-pool s x s first (ceil mode, a partial window
            averages the pixels it holds, so odd sides work; the reference floors and fails there).
        alpha: fraction of input channels in the representative part (the first
            ``int(alpha * C_in)``); both parts must be non-empty. The reference uses 1/2.
        groups: groups of the representative k x k conv (2 in the reference); must divide its
            input channels and ``out_channels``.
        norm_layer: called with C_out to build each part's norm; ``paddle.nn.BatchNorm2D`` by default.

    Shapes: (N, C_in, H, W) -> (N, C_out, ceil(H / s), ceil(W / s)).

    Parameters (the reference's names): ``gwc`` (k x k group conv), ``pwc`` (1x1) and ``bn1``
    for the representative part; ``conv1x1`` (1x1 with bias) and ``bn2`` for the redundant part.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair = 3,
                 stride: int = 1, alpha: float = 0.5, groups: int = 2,
                 norm_layer: Optional[Callable[[int], nn.Layer]] = None) -> None:
        super().__init__()
        check_int("in_channels", in_channels)
        check_int("out_channels", out_channels)
        check_int("stride", stride)
        check_int("groups", groups)
        _check_alpha("alpha", alpha)
        kernel = check_pair("kernel_size", kernel_size)
        padding = same_padding("SPConv", kernel, (1, 1))
        self.representative = int(alpha * in_channels)
        self.redundant = in_channels - self.representative
        if not 0 < self.representative < in_channels:
            raise ValueError(
                f"SPConv needs both parts non-empty: alpha={alpha} of in_channels={in_channels} "
                f"gives {self.representative} representative and {self.redundant} redundant "
                "channels; choose 0 < alpha < 1 with int(alpha * in_channels) in [1, in_channels - 1]")
        if self.representative % groups or out_channels % groups:
            raise ValueError(
                f"groups={groups} must divide the representative part's {self.representative} "
                f"input channels (alpha={alpha} of {in_channels}) and out_channels={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.alpha, self.groups = kernel, stride, float(alpha), groups
        norm_layer = norm_layer or nn.BatchNorm2D
        self.gwc = nn.Conv2D(self.representative, out_channels, kernel, stride=stride,
                             padding=padding, groups=groups, bias_attr=False)
        self.pwc = nn.Conv2D(self.representative, out_channels, 1, bias_attr=False)
        self.conv1x1 = nn.Conv2D(self.redundant, out_channels, 1)
        self.bn1 = norm_layer(out_channels)
        self.bn2 = norm_layer(out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The reference's initialisation (inside its ResNet): Kaiming normal fan_out on every
        conv weight; the redundant 1x1's bias keeps PyTorch's default, uniform in
        +-1 / sqrt(fan_in); BatchNorm weight 1, bias 0."""
        for conv in (self.gwc, self.pwc, self.conv1x1):
            kaiming_normal_fan_out(conv.weight)
        bound = 1.0 / math.sqrt(self.redundant)
        nn.initializer.Uniform(-bound, bound)(self.conv1x1.bias)
        for bn in (self.bn1, self.bn2):
            if isinstance(bn, nn.BatchNorm2D):
                nn.initializer.Constant(1.0)(bn.weight)
                nn.initializer.Constant(0.0)(bn.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, alpha={self.alpha}, groups={self.groups}")

    def _pool(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.stride == 1:
            return x
        return F.avg_pool2d(x, self.stride, self.stride, ceil_mode=True, exclusive=True)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input("SPConv", x, self.in_channels)
        x_rep = x[:, :self.representative]
        x_red = x[:, self.representative:]
        # The 1x1 conv first: the oneDNN predictor fuses the sum into the first operand's conv,
        # so rep leaves a 1x1 conv, in the same layout as red. Leaving the group conv, rep was
        # in its blocked layout, and every elementwise op of the fusion below mixed two
        # layouts, which oneDNN runs in its reference (scalar) code.
        rep = self.bn1(self.pwc(self._pool(x_rep)) + self.gwc(x_rep))
        red = self.bn2(self.conv1x1(self._pool(x_red)))
        # The softmax of two scores is the sigmoid of their difference: softmax(a, b)[0] =
        # sigmoid(a - b), so the weights are one (N, C_out, 1, 1) tensor instead of a stack,
        # a softmax and two slices of a (N, C_out, 1, 1, 2) one (fewer predictor kernels).
        weight = F.sigmoid(global_avg_pool(rep) - global_avg_pool(red))
        return red + (rep - red) * weight
