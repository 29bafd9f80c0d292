"""Octave conv + BatchNorm (+ activation): the building blocks of octave networks.

Parameter names follow the public PyTorch checkpoints (d-li14/octconv.pytorch):
``conv.conv_h2h.weight`` ... ``conv.conv_l2l.weight``, ``bn_h.*`` and ``bn_l.*``.
"""
from __future__ import annotations

from typing import Callable, Optional

import paddle
import paddle.nn as nn

from .octconv import IntPair, OctaveConv, OctaveFeatures, PathWeights

__all__ = ["OctConvBN", "OctConvBNAct", "Conv_BN", "Conv_BN_ACT"]

NormLayer = Callable[[int], nn.Layer]
ActLayer = Callable[[], nn.Layer]


class OctConvBN(nn.Layer):
    """OctaveConv followed by one normalisation per frequency part (``bn_h``, ``bn_l``).

    The norm widths come from the conv's own channel split, so they always match it (odd
    channel counts included).

    Args:
        in_channels, out_channels, kernel_size, alpha_in, alpha_out, stride, padding, dilation,
            groups, bias, group_split: as for :class:`OctaveConv`; alpha is the fraction of channels in the
            low-frequency (half-resolution) part.
        norm_layer: called with a channel count to build each norm; ``paddle.nn.BatchNorm2D`` by default.

    Shapes: as :class:`OctaveConv`: a Tensor or ``(x_high, x_low)`` in, ``OctaveFeatures`` out.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        alpha_in: float = 0.5,
        alpha_out: float = 0.5,
        stride: int = 1,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = False,
        norm_layer: Optional[NormLayer] = None,
        group_split: str = "width",
    ) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2D
        self.conv = OctaveConv(in_channels, out_channels, kernel_size, alpha_in, alpha_out,
                               stride, padding, dilation, groups, bias, group_split)
        high, low = self.conv.out_split
        self.bn_h = norm_layer(high) if high else None
        self.bn_l = norm_layer(low) if low else None

    def forward(self, x) -> OctaveFeatures:
        if self._foldable():
            return self.conv.convolve(*self.conv._parse_input(x), weights=self._folded_weights())
        y_high, y_low = self.conv(x)
        return OctaveFeatures(
            self.bn_h(y_high) if y_high is not None else None,
            self.bn_l(y_low) if y_low is not None else None,
        )

    @paddle.jit.not_to_static
    def _foldable(self) -> bool:
        """Fold BN into the convs only in static eval graphs (``jit.to_static`` exports).

        There the folded weights are constants the inference predictor computes once, and a
        conv + BN pair becomes one conv (Oct-ResNet-50 predictor, batch 8: 0.81 -> 0.65 of plain
        ResNet-50's time). Not in dygraph, where they would be recomputed on every call.
        """
        return (not self.training and not paddle.in_dynamic_mode() and all(
            bn is None or (type(bn) is nn.BatchNorm2D and bn._data_format == "NCHW"
                           and bn._use_global_stats is not False)
            for bn in (self.bn_h, self.bn_l)))

    @paddle.jit.not_to_static
    def _folded_weights(self) -> PathWeights:
        """Per path, eval-mode BN folded in: weight * scale and (bias * scale +) shift.

        BN(y) = y * scale + shift per output channel, with scale = gamma / sqrt(var + eps) and
        shift = beta - mean * scale; the shift goes to the one path holding the part's bias.
        """
        folded: PathWeights = {}
        for name, conv in self.conv.paths().items():
            part = name[-1]  # the output part: "h" or "l"
            bn = self.bn_h if part == "h" else self.bn_l
            scale = bn.weight * (bn._variance + bn._epsilon) ** -0.5
            bias = None
            if name == self.conv.bias_path(part):
                bias = bn.bias - bn._mean * scale
                if conv.bias is not None:
                    bias = bias + conv.bias * scale
            folded[name] = (conv.weight * scale.reshape([-1, 1, 1, 1]), bias)
        return folded


class OctConvBNAct(OctConvBN):
    """OctConvBN followed by an activation on each part (ReLU by default).

    Args:
        act_layer: a callable returning the activation layer, e.g. ``paddle.nn.ReLU`` (default)
            or ``paddle.nn.ReLU6``; the other arguments are those of :class:`OctConvBN`.
    """

    def __init__(self, *args, act_layer: Optional[ActLayer] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.act = (act_layer or nn.ReLU)()

    def forward(self, x) -> OctaveFeatures:
        y_high, y_low = super().forward(x)
        return OctaveFeatures(
            self.act(y_high) if y_high is not None else None,
            self.act(y_low) if y_low is not None else None,
        )


# The names of the published Paddle and PyTorch ports, for code written against them.
Conv_BN = OctConvBN
Conv_BN_ACT = OctConvBNAct
