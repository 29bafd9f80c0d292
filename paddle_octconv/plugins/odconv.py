"""ODConv: omni-dimensional dynamic convolution (Li et al., ICLR 2022).

A small attention branch reads the global average pool of the input and produces, per sample,
four attentions over the kernel space; n kernels W_1..W_n are mixed into one per sample:

    a     = relu(bn(fc(gap(x))))                              fc: C_in -> A channels, no bias
    ch    = sigmoid(channel_fc(a) / T)      (N, C_in)          scales the input channels
    filt  = sigmoid(filter_fc(a) / T)       (N, C_out)         scales the output channels
    sp    = sigmoid(spatial_fc(a) / T)      (N, kh, kw)        scales every kernel tap
    ker   = softmax(kernel_fc(a) / T)       (N, n)             mixes the n kernels
    y[i]  = filt[i] * conv(x[i] * ch[i], sum_j ker[i, j] * sp[i] * W_j)

with A = max(int(C_in * reduction), min_channels). The filter head is absent for a depthwise
conv (C_in == groups == C_out), the spatial head for a 1x1 kernel and the kernel head for n = 1
(each attention is then 1).
"""
from __future__ import annotations

from typing import Optional, Tuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .._checks import check_int
from ._common import IntPair, check_input, check_pair, global_avg_pool, kaiming_normal_fan_out, same_padding

__all__ = ["ODConv", "ODAttention"]


class ODAttention(nn.Layer):
    """The four attention heads of an :class:`ODConv` (the reference's ``Attention``).

    Shapes: (N, C_in, H, W) -> ``(channel, filter, spatial, kernel)``: (N, C_in, 1, 1),
    (N, C_out, 1, 1), (N, 1, kh, kw) and (N, n, 1, 1), or None for a head that is absent.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Tuple[int, int],
                 groups: int, kernel_num: int, reduction: float, min_channels: int,
                 temperature: float) -> None:
        super().__init__()
        self.kernel_size, self.temperature = kernel_size, temperature
        hidden = max(int(in_channels * reduction), min_channels)
        self.fc = nn.Conv2D(in_channels, hidden, 1, bias_attr=False)
        self.bn = nn.BatchNorm2D(hidden)
        self.channel_fc = nn.Conv2D(hidden, in_channels, 1)
        depthwise = in_channels == groups == out_channels
        self.filter_fc = None if depthwise else nn.Conv2D(hidden, out_channels, 1)
        taps = kernel_size[0] * kernel_size[1]
        self.spatial_fc = None if taps == 1 else nn.Conv2D(hidden, taps, 1)
        self.kernel_fc = None if kernel_num == 1 else nn.Conv2D(hidden, kernel_num, 1)

    def reset_parameters(self) -> None:
        """The reference's: Kaiming normal fan_out weights, zero biases, BatchNorm 1 / 0."""
        for conv in (self.fc, self.channel_fc, self.filter_fc, self.spatial_fc, self.kernel_fc):
            if conv is not None:
                kaiming_normal_fan_out(conv.weight)
                if conv.bias is not None:
                    nn.initializer.Constant(0.0)(conv.bias)
        nn.initializer.Constant(1.0)(self.bn.weight)
        nn.initializer.Constant(0.0)(self.bn.bias)

    def _logits(self, head: nn.Conv2D, a: paddle.Tensor) -> paddle.Tensor:
        # no division at T = 1 (the reference's ResNets): it would be one more predictor
        # kernel per head, 112 in OD-ResNet-50
        logits = head(a)
        return logits if self.temperature == 1 else logits / self.temperature

    def forward(self, x: paddle.Tensor):
        a = F.relu(self.bn(self.fc(global_avg_pool(x))))
        channel = F.sigmoid(self._logits(self.channel_fc, a))
        filt = None if self.filter_fc is None else F.sigmoid(self._logits(self.filter_fc, a))
        spatial = None
        if self.spatial_fc is not None:  # (N, kh * kw, 1, 1) -> (N, 1, kh, kw)
            spatial = F.sigmoid(self._logits(self.spatial_fc, a)).reshape([-1, 1, *self.kernel_size])
        kernel = None if self.kernel_fc is None else F.softmax(self._logits(self.kernel_fc, a), axis=1)
        return channel, filt, spatial, kernel


class ODKernels(nn.Conv2D):
    """The n kernels of an :class:`ODConv`, stacked as one ``nn.Conv2D`` weight of shape
    (n * C_out, C_in / groups, kh, kw) (kernel j is rows j * C_out .. (j + 1) * C_out - 1).

    ``forward(x, spatial, kernel)`` convolves each sample with its own mixed kernel. In dygraph
    that is the reference's one conv with groups = batch * groups over the batch folded into the
    channels (measured faster than unfold + matmul: benchmarks/results/layer_choices.md); in a
    static graph (``jit.save``, the predictor, ONNX), where the batch is not known, an unfold
    (im2col) and a batched matmul, which work for any batch. Counting hooks see one conv of C_out
    filters per call, the true MACs.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Tuple[int, int],
                 stride: int, padding: Tuple[int, int], dilation: Tuple[int, int], groups: int,
                 kernel_num: int) -> None:
        super().__init__(in_channels, kernel_num * out_channels, kernel_size, stride=stride,
                         padding=padding, dilation=dilation, groups=groups, bias_attr=False)
        self.kernel_num, self.filters = kernel_num, out_channels

    @paddle.jit.not_to_static
    def _output_sides(self, x: paddle.Tensor):
        sides = []
        for axis, (side, k, s, p, d) in enumerate(zip(x.shape[2:], self._kernel_size, self._stride,
                                                      self._updated_padding, self._dilation)):
            if side < 0:  # a dynamic side of an exported graph
                side = paddle.shape(x)[2 + axis]
            sides.append((side + 2 * p - d * (k - 1) - 1) // s + 1)
        return sides

    def forward(self, x: paddle.Tensor, spatial: Optional[paddle.Tensor] = None,
                kernel: Optional[paddle.Tensor] = None) -> paddle.Tensor:
        if spatial is None and kernel is None:  # one static kernel: a plain conv
            return F.conv2d(x, self.weight, None, self._stride, self._updated_padding,
                            self._dilation, self._groups)
        c_in, groups, n, (kh, kw) = self._in_channels, self._groups, self.kernel_num, self._kernel_size
        taps = kh * kw
        weight = self.weight.reshape([1, n, -1, taps])  # (1, n, C_out * C_in / groups, kh * kw)
        # Both mixes are matmuls, not broadcast multiplies: the oneDNN predictor runs a multiply
        # that broadcasts a (N, ..., kh * kw) tensor over the weights up to 13x slower
        # (benchmarks/results/layer_choices.md).
        if spatial is not None:  # every tap scaled: W @ diag(sp), (N, n, C_out * C_in / g, kh * kw)
            diagonal = spatial.reshape([-1, 1, taps, 1]) * paddle.eye(taps).reshape([1, 1, taps, taps])
            weight = paddle.matmul(weight, diagonal)
        if kernel is not None:  # sum_j ker[:, j] * W_j, (N, 1, C_out * C_in / g * kh * kw)
            weight = paddle.matmul(kernel.reshape([-1, 1, n]), weight.reshape([0, n, -1]))
        weight = weight.reshape([-1, self.filters, c_in // groups, kh, kw])  # (N or 1, ...)
        return self._per_sample_conv(x, weight)

    @paddle.jit.not_to_static
    def _per_sample_conv(self, x: paddle.Tensor, weight: paddle.Tensor) -> paddle.Tensor:
        c_in, groups, (kh, kw) = self._in_channels, self._groups, self._kernel_size
        if paddle.in_dynamic_mode():
            n, _, h, w = x.shape
            weight = weight.expand([n, *weight.shape[1:]]).reshape([n * self.filters, c_in // groups, kh, kw])
            y = F.conv2d(x.reshape([1, n * c_in, h, w]), weight, None, self._stride,
                         self._updated_padding, self._dilation, n * groups)
            return y.reshape([n, self.filters, *y.shape[2:]])
        weight = weight.reshape([-1, groups, self.filters // groups, c_in // groups * kh * kw])
        cols = F.unfold(x, [kh, kw], self._stride, self._updated_padding, self._dilation)
        cols = cols.reshape([0, groups, c_in // groups * kh * kw, -1])  # (N, g, C_in/g*kh*kw, L)
        y = paddle.matmul(weight, cols)  # (N, g, C_out / g, L)
        return y.reshape([-1, self.filters, *self._output_sides(x)])


class ODConv(nn.Layer):
    """Omni-dimensional dynamic convolution (the reference ``ODConv2d``).

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: odd kernel; padding is ``dilation * (k - 1) // 2``.
        stride: stride of the conv.
        dilation: dilation of the conv.
        groups: groups of the conv; must divide C_in and C_out.
        kernel_num: n, the kernels mixed per sample (1 is "ODConv 1x", 4 is "4x").
        reduction: attention width as a fraction of C_in (1/16 in the reference) ...
        min_channels: ... but at least this many channels (16).
        temperature: T, dividing every attention's logits (1 in the reference's ResNets).

    Shapes: (N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride)).

    Parameters: ``attention`` (an :class:`ODAttention`) and ``conv.weight`` (the n kernels).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair = 3,
                 stride: int = 1, dilation: IntPair = 1, groups: int = 1, kernel_num: int = 1,
                 reduction: float = 0.0625, min_channels: int = 16, temperature: float = 1.0) -> None:
        super().__init__()
        check_int("in_channels", in_channels)
        check_int("out_channels", out_channels)
        check_int("stride", stride)
        check_int("groups", groups)
        check_int("kernel_num", kernel_num)
        check_int("min_channels", min_channels)
        for name, value in (("reduction", reduction), ("temperature", temperature)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a float, got {type(value).__name__} {value!r}")
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        kernel = check_pair("kernel_size", kernel_size)
        dilation = check_pair("dilation", dilation)
        padding = same_padding("ODConv", kernel, dilation)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation, self.groups = kernel, stride, dilation, groups
        self.kernel_num = kernel_num
        self.attention = ODAttention(in_channels, out_channels, kernel, groups, kernel_num,
                                     float(reduction), min_channels, float(temperature))
        self.conv = ODKernels(in_channels, out_channels, kernel, stride, padding, dilation, groups,
                              kernel_num)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The reference's initialisation: each kernel Kaiming normal fan_out
        (std = sqrt(2 / (C_out * kh * kw))), the attention as :meth:`ODAttention.reset_parameters`."""
        kaiming_normal_fan_out(self.conv.weight, self.out_channels * self.kernel_size[0] * self.kernel_size[1])
        self.attention.reset_parameters()

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, dilation={self.dilation}, groups={self.groups}, "
                f"kernel_num={self.kernel_num}")

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input("ODConv", x, self.in_channels)
        channel, filt, spatial, kernel = self.attention(x)
        y = self.conv(x * channel, spatial, kernel)
        return y if filt is None else y * filt
