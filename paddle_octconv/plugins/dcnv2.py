"""DCNv2: modulated deformable convolution (Zhu et al., "Deformable ConvNets v2", CVPR 2019).

Each of the k x k kernel taps samples the input at its regular place plus a learned offset
(bilinear interpolation, zero outside the map) and is scaled by a learned mask in (0, 1):

    y(p) = sum_k w_k * m_k(p) * x(p * stride - padding + dilation * p_k + dp_k(p))

The offsets and masks come from a plain conv over the same input with 3 * G * k^2 output
channels (G deformable groups): the first 2 * G * k^2 are the offsets, (dy, dx) per tap, the
last G * k^2 go through a sigmoid to give the masks (PaddleDetection's ``DeformableConvV2``
layout). That conv starts at zero, so the layer starts as a plain conv with masks 0.5.
The sampling is ``paddle.vision.ops.deform_conv2d``'s, computed by ``_deform.deform_conv``
(Paddle's op, or the same sampling by differentiable ops where a gradient is needed).

Export: ``jit.save`` and the oneDNN predictor run it. paddle2onnx 2.1 writes ONNX's
``DeformConv`` (opset 19, raised from a lower opset by itself), which onnxruntime runs, but only
with ``deformable_groups == 1``: it drops the ``offset_group`` attribute, so more deformable
groups give a model onnxruntime refuses.
"""
from __future__ import annotations

import math
from typing import Optional

import paddle
import paddle.nn as nn

from .._checks import check_bool, check_int
from ._common import IntPair, check_input, check_pair, same_padding
from ._deform import deform_conv

__all__ = ["DCNv2"]


class DeformKernel(nn.Conv2D):
    """The deformable conv's kernel as an ``nn.Conv2D`` (so counting hooks see each call), run
    by ``deform_conv`` with the offsets and masks it is given."""

    def __init__(self, *args, deformable_groups: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.deformable_groups = deformable_groups

    def forward(self, x: paddle.Tensor, offset: paddle.Tensor,
                mask: Optional[paddle.Tensor] = None) -> paddle.Tensor:
        return deform_conv(x, offset, self.weight, self.bias, self._stride, self._updated_padding,
                           self._dilation, self.deformable_groups, self._groups, mask)


class DCNv2(nn.Layer):
    """Modulated deformable convolution with its own offset-and-mask conv.

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: odd kernel; padding is ``dilation * (k - 1) // 2``.
        stride: stride of the deformable conv and of the offset conv.
        dilation: dilation of both.
        groups: groups of the deformable conv; must divide C_in and C_out.
        deformable_groups: G, input-channel groups with their own offsets and masks; divides C_in
            and C_out.
        bias: a learned bias on the deformable conv (False before a BatchNorm, as in backbones).

    Shapes: (N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride)).

    Parameters: ``conv_offset`` (the zero-initialised offset-and-mask conv, with bias) and
    ``conv.weight`` / ``conv.bias`` (the deformable kernel).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair = 3,
                 stride: int = 1, dilation: IntPair = 1, groups: int = 1,
                 deformable_groups: int = 1, bias: bool = False) -> None:
        super().__init__()
        check_int("in_channels", in_channels)
        check_int("out_channels", out_channels)
        check_int("stride", stride)
        check_int("groups", groups)
        check_int("deformable_groups", deformable_groups)
        check_bool("bias", bias)
        kernel = check_pair("kernel_size", kernel_size)
        dilation = check_pair("dilation", dilation)
        padding = same_padding("DCNv2", kernel, dilation)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        if in_channels % deformable_groups or out_channels % deformable_groups:
            raise ValueError(f"deformable_groups={deformable_groups} must divide in_channels="
                             f"{in_channels} and out_channels={out_channels} (deform_conv2d's rule)")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation = kernel, stride, dilation
        self.groups, self.deformable_groups = groups, deformable_groups
        self.taps = deformable_groups * kernel[0] * kernel[1]
        self.conv_offset = nn.Conv2D(in_channels, 3 * self.taps, kernel, stride=stride,
                                     padding=padding, dilation=dilation)
        self.conv = DeformKernel(in_channels, out_channels, kernel, stride=stride, padding=padding,
                                 dilation=dilation, groups=groups, bias_attr=None if bias else False,
                                 deformable_groups=deformable_groups)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The reference's initialisation: the offset-and-mask conv all zero (offsets 0, masks
        0.5); the kernel Kaiming normal fan_in, as Paddle's ``DeformConv2D`` and ``Conv2D``
        default (std = sqrt(2 / (C_in / groups * kh * kw))); its bias 0."""
        zero = nn.initializer.Constant(0.0)
        zero(self.conv_offset.weight)
        zero(self.conv_offset.bias)
        _, fan_in_per_tap, kh, kw = self.conv.weight.shape
        nn.initializer.Normal(0.0, math.sqrt(2.0 / (fan_in_per_tap * kh * kw)))(self.conv.weight)
        if self.conv.bias is not None:
            zero(self.conv.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, dilation={self.dilation}, groups={self.groups}, "
                f"deformable_groups={self.deformable_groups}")

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input("DCNv2", x, self.in_channels)
        offset, mask = paddle.split(self.conv_offset(x), [2 * self.taps, self.taps], axis=1)
        return self.conv(x, offset, paddle.nn.functional.sigmoid(mask))
