"""SAConv: switchable atrous convolution (DetectoRS, Qiao et al., CVPR 2021).

One weight-standardised kernel W looks at the input at two dilations, d and 3d, and a per-pixel
switch S mixes the two results; a global context is added before and after:

    x'  = x + pre_context(gap(x))
    S   = switch(avg_pool_5x5(reflect_pad_2(x')))            (N, 1, H', W')
    y   = S * conv(x', ws(W), d) + (1 - S) * conv(x', ws(W) + dW, 3d)
    out = y + post_context(gap(y))

``ws`` standardises each output filter: minus its mean, over sqrt(unbiased variance + 1e-5).
At initialisation S = 1 and dW = 0 and both contexts are zero, so the layer starts as a plain
weight-standardised conv at dilation d. With ``deformable=True`` (the reference's
``use_deform``) both convs are deformable (DCNv1: offsets, no mask), each with its own offsets
from a zero-initialised 3x3 conv over the switch's smoothed input.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .._checks import check_bool, check_int
from ._common import (IntPair, KernelConv2D, check_input, check_pair, global_avg_pool,
                      kaiming_normal_fan_out, same_padding)

__all__ = ["SAConv", "standardize_weight"]

#: Added to the filter variance before the square root (the reference's ConvAWS2d).
WS_EPS = 1e-5


def standardize_weight(weight: paddle.Tensor) -> paddle.Tensor:
    """Each output filter of a (C_out, C_in / groups, kh, kw) weight to zero mean and unit
    (unbiased) variance: ``(w - mean) / sqrt(var + 1e-5)``."""
    count = weight.shape[1] * weight.shape[2] * weight.shape[3]
    centred = weight - weight.mean(axis=[1, 2, 3], keepdim=True)
    # unbiased, by hand: paddle.var warns of a type promotion on every call
    variance = (centred * centred).sum(axis=[1, 2, 3], keepdim=True) / (count - 1)
    return centred / paddle.sqrt(variance + WS_EPS)


@paddle.jit.not_to_static
def _check_switch_size(x) -> None:
    if any(0 <= side < 3 for side in x.shape[2:]):
        raise ValueError(f"SAConv's switch reflect-pads by 2, so H and W must be >= 3; got input "
                         f"shape {list(x.shape)}")


class SAConv(nn.Layer):
    """Switchable atrous convolution (the reference ``SAConv2d`` on ``ConvAWS2d``).

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: odd kernel; padding is ``dilation * (k - 1) // 2`` for the small dilation and
            three times that for the large one, so both keep the size.
        stride: stride of both convs and of the switch.
        dilation: the small dilation d (the large one is 3d).
        groups: groups of the conv; each filter must hold at least two weights to be standardised.
        bias: a learned bias of the conv (shared by both dilations; the reference's default is
            True, its ResNet passes False before a BatchNorm).
        deformable: both convs deformable, offsets (2 * kh * kw channels each, ``offset_s`` for
            dilation d, ``offset_l`` for 3d) from 3x3 convs (stride ``stride``) over the 5x5
            average the switch sees, zero-initialised: the layer starts as without it.

    Shapes: (N, C_in, H, W) with H, W >= 3 -> (N, C_out, ceil(H / stride), ceil(W / stride)).

    Parameters: ``conv.weight`` (W), ``conv.bias``, ``weight_diff`` (dW), ``switch`` (1x1 conv,
    C_in -> 1), ``pre_context`` (1x1, C_in -> C_in) and ``post_context`` (1x1, C_out -> C_out);
    with ``deformable``, ``offset_s`` and ``offset_l``.
    The reference's ``weight_gamma`` / ``weight_beta`` buffers (1 and 0 unless a plain conv
    checkpoint is converted into them) are left out: standardised weights are used as they are.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair = 3,
                 stride: int = 1, dilation: IntPair = 1, groups: int = 1, bias: bool = False,
                 deformable: bool = False) -> None:
        super().__init__()
        check_int("in_channels", in_channels)
        check_int("out_channels", out_channels)
        check_int("stride", stride)
        check_int("groups", groups)
        check_bool("bias", bias)
        check_bool("deformable", deformable)
        kernel = check_pair("kernel_size", kernel_size)
        dilation = check_pair("dilation", dilation)
        padding = same_padding("SAConv", kernel, dilation)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        if in_channels // groups * kernel[0] * kernel[1] < 2:
            raise ValueError(
                "weight standardisation needs at least two weights per filter; "
                f"in_channels / groups * kh * kw = {in_channels // groups} * {kernel[0]} * {kernel[1]}"
                " = 1: use fewer groups or a larger kernel")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation, self.groups = kernel, stride, dilation, groups
        self.padding = padding
        self.large_padding = tuple(3 * p for p in padding)
        self.large_dilation = tuple(3 * d for d in dilation)
        self.conv = KernelConv2D(in_channels, out_channels, kernel, stride=stride, padding=padding,
                                 dilation=dilation, groups=groups, bias_attr=None if bias else False)
        self.weight_diff = self.create_parameter(self.conv.weight.shape)
        self.switch = nn.Conv2D(in_channels, 1, 1, stride=stride)
        self.pre_context = nn.Conv2D(in_channels, in_channels, 1)
        self.post_context = nn.Conv2D(out_channels, out_channels, 1)
        self.deformable = deformable
        self.offset_s = self.offset_l = None
        if deformable:
            taps = 2 * kernel[0] * kernel[1]
            self.offset_s = nn.Conv2D(in_channels, taps, 3, stride=stride, padding=1)
            self.offset_l = nn.Conv2D(in_channels, taps, 3, stride=stride, padding=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The reference's initialisation: S = 1 (switch weight 0, bias 1), dW = 0, both contexts
        0. W: Kaiming normal fan_out as in its ResNet (any scale gives the same standardised
        kernel); the conv bias 0."""
        kaiming_normal_fan_out(self.conv.weight)
        zero, one = nn.initializer.Constant(0.0), nn.initializer.Constant(1.0)
        if self.conv.bias is not None:
            zero(self.conv.bias)
        zero(self.weight_diff)
        zero(self.switch.weight)
        one(self.switch.bias)
        for context in (self.pre_context, self.post_context, self.offset_s, self.offset_l):
            if context is not None:  # the offsets too: a deformable SAConv starts undeformed
                zero(context.weight)
                zero(context.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, dilation={self.dilation} and {self.large_dilation}, "
                f"groups={self.groups}" + (", deformable" if self.deformable else ""))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input("SAConv", x, self.in_channels)
        _check_switch_size(x)
        x = x + self.pre_context(global_avg_pool(x))
        smooth = F.avg_pool2d(F.pad(x, [2, 2, 2, 2], mode="reflect"), 5, 1)
        switch = self.switch(smooth)
        weight = standardize_weight(self.conv.weight)
        offsets = ((self.offset_s(smooth), self.offset_l(smooth)) if self.deformable
                   else (None, None))
        small = self.conv(x, weight, offset=offsets[0])
        large = self.conv(x, weight + self.weight_diff, self.large_padding, self.large_dilation,
                          offset=offsets[1])
        y = switch * small + (1.0 - switch) * large
        return y + self.post_context(global_avg_pool(y))
