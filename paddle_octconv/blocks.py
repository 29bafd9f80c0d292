"""Octave conv + BatchNorm (+ activation): the building blocks of octave networks, in 1-D, 2-D
and 3-D.

Parameter names follow the public PyTorch checkpoints (d-li14/octconv.pytorch):
``conv.conv_h2h.weight`` ... ``conv.conv_l2l.weight``, ``bn_h.*`` and ``bn_l.*``.
"""
from __future__ import annotations

from typing import Callable, ClassVar, Optional, Type

import paddle
import paddle.nn as nn

from .octconv import (IntPair, OctaveConv, OctaveConv1D, OctaveConv3D, OctaveFeatures, PathWeights,
                      _OctaveConvNd)

__all__ = ["OctConvBN", "OctConvBNAct", "OctConvBN1D", "OctConvBNAct1D", "OctConvBN3D",
           "OctConvBNAct3D", "Conv_BN", "Conv_BN_ACT"]

NormLayer = Callable[[int], nn.Layer]
ActLayer = Callable[[], nn.Layer]


class _OctConvBNNd(nn.Layer):
    """An octave conv of ``_conv_type`` followed by one norm per frequency part: the one
    implementation behind :class:`OctConvBN1D`, :class:`OctConvBN` and :class:`OctConvBN3D`.
    Arguments and shapes: see :class:`OctConvBN`."""

    _conv_type: ClassVar[Type[_OctaveConvNd]]

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
        norm_layer = norm_layer or self._conv_type._spatial.norm_layer
        self.conv = self._conv_type(in_channels, out_channels, kernel_size, alpha_in, alpha_out,
                                    stride, padding, dilation, groups, bias, group_split)
        high, low = self.conv.out_split
        self.bn_h = norm_layer(high) if high else None
        self.bn_l = norm_layer(low) if low else None

    def forward(self, x) -> OctaveFeatures:
        return self._conv_norm(x)

    def _conv_norm(self, x) -> OctaveFeatures:
        """The conv, then each part's norm (folded into the conv where ``_foldable``)."""
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
        conv + BN pair becomes one conv, which runs faster (the measurement is in
        benchmarks/results/layer_choices.md). Not in dygraph, where they would be recomputed on
        every call. Only the default BatchNorm of the layer's dimension, channel-first, with
        running statistics is folded (another norm layer has other arithmetic). Channel-first is
        any "NC..." format: BatchNorm1D / 3D rewrite their "NCL" / "NCDHW" to "NCHW" on their
        first call.
        """
        norm_type = self._conv_type._spatial.norm_layer
        return (not self.training and not paddle.in_dynamic_mode() and all(
            bn is None or (type(bn) is norm_type and bn._data_format.startswith("NC")
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
            # one scale per output channel, broadcast over (C_in / groups, *kernel)
            folded[name] = (conv.weight * scale.reshape([-1] + [1] * (conv.weight.ndim - 1)), bias)
        return folded


class OctConvBN(_OctConvBNNd):
    """OctaveConv followed by one normalisation per frequency part (``bn_h``, ``bn_l``).

    The norm widths come from the conv's own channel split, so they always match it (odd
    channel counts included).

    Args:
        in_channels, out_channels, kernel_size, alpha_in, alpha_out, stride, padding, dilation,
            groups, bias, group_split: as for :class:`OctaveConv`; alpha is the fraction of channels in the
            low-frequency (half-resolution) part.
        norm_layer: called with a channel count to build each norm; ``paddle.nn.BatchNorm2D`` by default.

    Shapes: as :class:`OctaveConv`: an (N, C, H, W) Tensor or ``(x_high, x_low)`` of
    (N, C_high, H, W) and (N, C_low, ceil(H/2), ceil(W/2)) in, ``OctaveFeatures`` out.
    """

    _conv_type = OctaveConv


class OctConvBN1D(_OctConvBNNd):
    """:class:`OctaveConv1D` followed by one norm per frequency part (``paddle.nn.BatchNorm1D`` by
    default); arguments as :class:`OctConvBN`.

    Shapes: an (N, C, L) Tensor or ``(x_high, x_low)`` of (N, C_high, L) and
    (N, C_low, ceil(L/2)) in, ``OctaveFeatures`` out.
    """

    _conv_type = OctaveConv1D


class OctConvBN3D(_OctConvBNNd):
    """:class:`OctaveConv3D` followed by one norm per frequency part (``paddle.nn.BatchNorm3D`` by
    default); arguments as :class:`OctConvBN`.

    Shapes: an (N, C, D, H, W) Tensor or ``(x_high, x_low)`` of (N, C_high, D, H, W) and
    (N, C_low, ceil(D/2), ceil(H/2), ceil(W/2)) in, ``OctaveFeatures`` out.
    """

    _conv_type = OctaveConv3D


class _PartActivation(_OctConvBNNd):
    """Mixed in before an OctConvBN class: an activation on each output part after its norm.

    Args:
        act_layer: a callable returning the activation layer, e.g. ``paddle.nn.ReLU`` (default)
            or ``paddle.nn.ReLU6``; keyword-only. The other arguments are those of the OctConvBN
            class, in its order; they are spelled out so that ``help()`` and
            ``inspect.signature`` show them.
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
        *,
        act_layer: Optional[ActLayer] = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, alpha_in, alpha_out, stride,
                         padding, dilation, groups, bias, norm_layer, group_split)
        self.act = (act_layer or nn.ReLU)()

    def forward(self, x) -> OctaveFeatures:
        # Not super().forward: dy2static (jit.to_static) rewrites super() as
        # super(self.__class__, self), which from this mixin would call this forward again.
        y_high, y_low = self._conv_norm(x)
        return OctaveFeatures(
            self.act(y_high) if y_high is not None else None,
            self.act(y_low) if y_low is not None else None,
        )


class OctConvBNAct(_PartActivation, OctConvBN):
    """OctConvBN followed by an activation on each part (ReLU by default).

    Args:
        act_layer: keyword-only, a callable returning the activation layer, e.g.
            ``paddle.nn.ReLU`` (default) or ``paddle.nn.ReLU6``; the other arguments are those of
            :class:`OctConvBN`, in its order.

    Shapes: as :class:`OctConvBN`: (N, C, H, W) maps.
    """


class OctConvBNAct1D(_PartActivation, OctConvBN1D):
    """OctConvBN1D followed by an activation on each part (``act_layer``, ReLU by default).

    Shapes: as :class:`OctConvBN1D`: (N, C, L) sequences, the low part (N, C_low, ceil(L/2)).
    """


class OctConvBNAct3D(_PartActivation, OctConvBN3D):
    """OctConvBN3D followed by an activation on each part (``act_layer``, ReLU by default).

    Shapes: as :class:`OctConvBN3D`: (N, C, D, H, W) volumes, the low part at
    (ceil(D/2), ceil(H/2), ceil(W/2)).
    """


# The names of the published Paddle and PyTorch ports, for code written against them.
Conv_BN = OctConvBN
Conv_BN_ACT = OctConvBNAct
