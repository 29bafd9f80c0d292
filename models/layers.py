"""Small layers the zoo families share: a plain conv + norm, the conv factory, octave SE.

Every layer here takes a Tensor or an ``OctaveFeatures`` pair and returns ``OctaveFeatures``, so
plain and octave layers chain freely inside one block.
"""
from __future__ import annotations

from typing import Callable, Literal, Optional

import paddle
import paddle.nn as nn

from paddle_octconv import OctaveFeatures, OctConvBN, OctConvBNAct, split_channels

from .common import OctaveInput, as_features, check_alpha, check_int

__all__ = ["Layout", "ConvLayer", "PlainConvBN", "conv_bn", "same_padding", "OctaveSE", "norms_of"]

ActLayer = Callable[[], nn.Layer]
#: ``conv_layer(in_channels, out_channels, kernel_size, stride)``: a plain-map conv (Tensor in and out).
ConvLayer = Callable[[int, int, int, int], nn.Layer]

#: How a family builds a conv whose input and output are both plain (alpha 0 -> 0):
#: "d-li14": an OctConvBN at alpha 0 (keys ``conv.conv_h2h.*``, ``bn_h.*``; a stride-2 conv
#: average-pools first), as the public d-li14 checkpoints; "paddle": a plain Conv2D + BN (keys
#: ``conv.*``, ``bn.*``; a stride-2 conv subsamples), so alpha 0 is the paddle.vision model.
Layout = Literal["d-li14", "paddle"]


class PlainConvBN(nn.Layer):
    """Conv2D (no bias) + BatchNorm2D (+ activation) on a plain map.

    Args:
        in_channels, out_channels, kernel_size, stride, groups, dilation: as
            ``paddle.nn.Conv2D``; padding is ``dilation * (kernel_size - 1) // 2`` (sizes kept
            at stride 1, whatever the dilation).
        act_layer: a callable returning the activation, or None for none.
        conv_layer: builds the conv instead of ``nn.Conv2D``:
            ``conv_layer(in_channels, out_channels, kernel_size, stride)`` (a plug-in conv such
            as :class:`paddle_octconv.SPConv`; ``groups`` must then be 1).

    Shapes:
        input: an (N, C_in, H, W) Tensor or ``OctaveFeatures(x, None)``.
        output: ``OctaveFeatures`` of (N, C_out, ceil(H / stride), ceil(W / stride)) and None.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, act_layer: Optional[ActLayer] = None,
                 dilation: int = 1, conv_layer: Optional[ConvLayer] = None) -> None:
        super().__init__()
        if conv_layer is None:
            self.conv = nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride,
                                  padding=same_padding(kernel_size, dilation), dilation=dilation,
                                  groups=groups, bias_attr=False)
        elif groups != 1 or dilation != 1:
            raise ValueError(f"a conv_layer conv takes no groups or dilation; got groups={groups}, "
                             f"dilation={dilation}")
        else:
            self.conv = conv_layer(in_channels, out_channels, kernel_size, stride)
        self.bn = nn.BatchNorm2D(out_channels)
        self.act = act_layer() if act_layer is not None else None

    def forward(self, x: OctaveInput) -> OctaveFeatures:
        high, low = as_features(x)
        if low is not None:
            raise ValueError("PlainConvBN takes a plain map; got a low-frequency part too")
        y = self.bn(self.conv(high))
        return OctaveFeatures(self.act(y) if self.act is not None else y, None)


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """The padding that keeps sizes at stride 1 for an odd ``kernel_size`` and any dilation."""
    return dilation * (kernel_size - 1) // 2


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, alpha_in: float,
            alpha_out: float, stride: int = 1, groups: int = 1,
            act_layer: Optional[ActLayer] = None, layout: Layout = "d-li14",
            group_split: str = "width", dilation: int = 1,
            conv_layer: Optional[ConvLayer] = None) -> nn.Layer:
    """Conv + per-part BN (+ ``act_layer``): plain or octave as ``layout`` says for alpha 0 -> 0.

    ``groups`` is the group count of the conv (``in_channels == groups`` is depthwise); an octave
    conv applies it to its parts as ``group_split`` says (see :class:`paddle_octconv.OctaveConv`).
    Padding keeps sizes, also when dilated: an octave conv dilates every path alike, so the low
    map stays at (ceil(H / 2), ceil(W / 2)) of the high one. ``conv_layer`` builds a plain map's
    conv (see :class:`PlainConvBN`); it needs ``layout="paddle"`` and alpha 0 -> 0.
    """
    if layout not in ("d-li14", "paddle"):
        raise ValueError(f"layout must be 'd-li14' or 'paddle', got {layout!r}")
    if layout == "paddle" and alpha_in == 0 and alpha_out == 0:
        return PlainConvBN(in_channels, out_channels, kernel_size, stride, groups, act_layer,
                           dilation=dilation, conv_layer=conv_layer)
    if conv_layer is not None:
        raise ValueError("a conv_layer replaces a conv between plain maps: it needs "
                         f"layout='paddle' and alpha 0 -> 0, got {layout!r}, {alpha_in} -> {alpha_out}")
    args = (in_channels, out_channels, kernel_size, alpha_in, alpha_out)
    kwargs = dict(stride=stride, padding=same_padding(kernel_size, dilation), dilation=dilation,
                  groups=groups, group_split=group_split)
    if act_layer is None:
        return OctConvBN(*args, **kwargs)
    return OctConvBNAct(*args, act_layer=act_layer, **kwargs)


def norms_of(layer: nn.Layer):
    """The norm layers of a layer made by :func:`conv_bn` (``bn``, or ``bn_h`` and ``bn_l``)."""
    names = ("bn",) if isinstance(layer, PlainConvBN) else ("bn_h", "bn_l")
    return [getattr(layer, name) for name in names if getattr(layer, name) is not None]


class OctaveSE(nn.Layer):
    """Squeeze-and-excitation over both frequency parts, as the official OctConv code does it.

    The high and low maps are average-pooled to 1x1 and concatenated (C channels); one shared
    1x1 conv reduces them to ``C // reduction`` (ReLU); then one 1x1 conv + sigmoid per part
    (``conv2_h``: C_high outputs, ``conv2_l``: C_low) gives the channel weights of that part.
    With alpha 0 it is the plain SE block of Hu et al. Convs have biases.

    Args:
        channels: C, the channels of the map (high + low).
        alpha: the low-frequency fraction of the map.
        reduction: the squeeze ratio (16 in SE-ResNet).

    Shapes: ``OctaveFeatures`` (or a Tensor when alpha is 0) in, the same shapes out.
    """

    def __init__(self, channels: int, alpha: float, reduction: int = 16) -> None:
        super().__init__()
        check_int("channels", channels)
        check_int("reduction", reduction)
        high, low = split_channels(channels, check_alpha(alpha))
        squeezed = channels // reduction
        if squeezed < 1:
            raise ValueError(f"OctaveSE squeezes channels={channels} by reduction={reduction} to "
                             f"{squeezed} channels; use a reduction of at most {channels}")
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channels, squeezed, 1)
        self.relu = nn.ReLU()
        self.conv2_h = nn.Conv2D(squeezed, high, 1) if high else None
        self.conv2_l = nn.Conv2D(squeezed, low, 1) if low else None
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: OctaveInput) -> OctaveFeatures:
        high, low = as_features(x)
        pooled = [self.pool(part) for part in (high, low) if part is not None]
        squeezed = self.relu(self.conv1(paddle.concat(pooled, axis=1) if len(pooled) > 1
                                        else pooled[0]))
        return OctaveFeatures(*(
            None if part is None else part * self.sigmoid(excite(squeezed))
            for part, excite in ((high, self.conv2_h), (low, self.conv2_l))
        ))
