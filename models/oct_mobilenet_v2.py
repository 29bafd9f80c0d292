"""Oct-MobileNetV2 (the official facebookresearch/OctConv Gluon model) in paddle.vision's layout.

``features.0`` is the plain 3x3 stride-2 stem (conv, BN, ReLU6). ``features.1`` .. ``features.17``
are inverted residual blocks (``.conv``: a 1x1 expansion with ReLU6 when the expansion ratio is
not 1, a 3x3 depthwise conv with ReLU6 carrying the stride, a linear 1x1 projection), with the
identity shortcut where shapes allow. ``features.18`` is the 1x1 conv to 1280 * max(1, width_mult)
channels (ReLU6); then average pooling, dropout 0.2 and the Linear ``classifier.1``.

Octave layout (as the official code): alpha applies only to the expanded tensors of the blocks
that have an expansion among the first :data:`OCTAVE_BLOCKS`: the expansion conv splits the plain
block input into octave parts (0 -> alpha), the depthwise conv keeps them (only high->high and
low->low paths: no cross paths), and the projection merges them (alpha -> 0: high->high and
low->high). Block inputs and outputs stay plain (high frequency), and the later blocks are plain.
Convs between plain maps are plain Conv2D + BN, so ``alpha=0`` is exactly
``paddle.vision.models.mobilenet_v2(scale=width_mult)`` (same outputs once its weights are copied).
``features_only=True`` gives the stages ``features.1``, ``.3``, ``.6``, ``.13``, ``.17`` as a
feature extractor (:mod:`models.features`); they are plain maps (block outputs are plain).

Two channel layouts (``layout``): "paddle" (default) rounds channels with :func:`make_divisible`
and, as the paper, block 1 (expansion ratio 1) has no expansion conv, so it stays plain: blocks
2-13 are octave. "official" is the official Gluon network: channels ``int(c * width_mult)`` and a
1x1 expansion conv in every block (block 1's is 32 -> 32), so blocks 1-13 are octave; its counts
are those the official figures (3.5M / 256M, 4.2M / 295M) were published for.

    >>> import paddle
    >>> from models import oct_mobilenet_v2
    >>> list(oct_mobilenet_v2(num_classes=10)(paddle.randn([2, 3, 224, 224])).shape)
    [2, 10]
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Dict, Literal, Optional, Sequence, Tuple

import paddle
import paddle.nn as nn

from paddle_octconv import OctaveFeatures, split_channels

from .common import (OctaveInput, as_features, check_alpha, check_bool, check_choice,
                     check_int, check_width, init_weights)
from .builders import build_model
from .features import NO_DILATION, FeatureOutput, FeatureStage, chain_stages
from .layers import PlainConvBN, conv_bn
from .records import variant
from .registry import register_variant
from .weights import PretrainedArg

__all__ = ["InvertedResidual", "OctMobileNetV2", "OCTAVE_BLOCKS", "oct_mobilenet_v2",
           "make_divisible"]

_STEM_CHANNELS = 32
_LAST_CHANNELS = 1280
# (expansion ratio t, output channels c, blocks n, stride of the first block s), as the paper.
_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))
#: Blocks 1 .. OCTAVE_BLOCKS may be octave (the official ``ratios = [alpha] * 13 + [0] * 4``).
OCTAVE_BLOCKS = 13
_conv = partial(conv_bn, layout="paddle")
ChannelLayout = Literal["paddle", "official"]


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``), never more
    than 10 % down: the channel rule of MobileNetV2 (and of paddle.vision)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# Channel rounding of each layout: paddle.vision's (and the paper's), and the official Gluon code's.
_ROUNDING: Dict[str, Callable[[float], int]] = {"paddle": make_divisible, "official": int}

class InvertedResidual(nn.Layer):
    """MobileNetV2 block: [1x1 expand, ReLU6] -> 3x3 depthwise, ReLU6 -> 1x1 project (+ x).

    Args:
        in_channels, out_channels: the block's (plain) input and output channels.
        stride: 1, or 2 to halve H and W (the depthwise conv carries it).
        expand_ratio: the expanded width is ``round(in_channels * expand_ratio)``.
        expand_conv: whether the block has the 1x1 expansion conv; None: when ``expand_ratio``
            is not 1 (the paper; without it the depthwise conv reads the input).
        alpha: low-frequency fraction of the expanded tensor (0: a plain block; a block without
            an expansion conv must be plain).

    Shapes: (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)),
    as a Tensor or ``OctaveFeatures(x, None)`` in and ``OctaveFeatures(y, None)`` out.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: float,
                 alpha: float = 0.0, expand_conv: Optional[bool] = None) -> None:
        super().__init__()
        expand = expand_ratio != 1 if expand_conv is None else expand_conv
        if not expand and alpha:
            raise ValueError("a block without an expansion conv has no expanded tensor to split; "
                             f"it must be plain (alpha 0), got alpha={alpha}")
        hidden = int(round(in_channels * expand_ratio))
        self.use_shortcut = stride == 1 and in_channels == out_channels
        layers = []
        if expand:
            layers.append(_conv(in_channels, hidden, 1, 0.0, alpha, act_layer=nn.ReLU6))
        layers += [
            _conv(hidden, hidden, 3, alpha, alpha, stride=stride, groups=hidden,
                  act_layer=nn.ReLU6),
            _conv(hidden, out_channels, 1, alpha, 0.0),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: OctaveInput) -> OctaveFeatures:
        x = as_features(x)
        y = self.conv(x).high  # the projection is plain: no low part is left
        return OctaveFeatures(x.high + y if self.use_shortcut else y, None)


class OctMobileNetV2(nn.Layer):
    """Oct-MobileNetV2 (see the module docstring for the layout).

    Args:
        num_classes: classifier outputs.
        alpha: low-frequency fraction of the octave blocks' expanded tensors, 0 <= alpha < 1
            (0: plain MobileNetV2). Published: 0.375 at width 1.0, 0.5 at width 1.125.
        width_mult: channel multiplier (channels rounded by :func:`make_divisible`).
        in_channels: image channels (1 for grey images).
        small_input: for 32x32-class images: a stride-1 stem conv.
        dropout: dropout before the classifier (0.2 as paddle.vision).

    Shapes:
        input: (N, in_channels, H, W), any H, W >= 1.
        output: (N, num_classes) logits.
    """

    def __init__(self, num_classes: int = 1000, alpha: float = 0.375, width_mult: float = 1.0,
                 in_channels: int = 3, small_input: bool = False, dropout: float = 0.2,
                 layout: ChannelLayout = "paddle") -> None:
        super().__init__()
        check_int("num_classes", num_classes)
        check_int("in_channels", in_channels)
        alpha = check_alpha(alpha)
        width_mult = check_width("width_mult", width_mult)
        check_bool("small_input", small_input)
        if layout not in _ROUNDING:
            raise ValueError(f"layout must be one of {', '.join(map(repr, _ROUNDING))}, "
                             f"got {layout!r}")
        self.alpha, self.num_classes, self.layout = alpha, num_classes, layout
        scale = _ROUNDING[layout]
        expand_conv = True if layout == "official" else None

        channels = scale(_STEM_CHANNELS * width_mult)
        reduction = 1 if small_input else 2
        layers = [PlainConvBN(in_channels, channels, 3, stride=reduction, act_layer=nn.ReLU6)]
        # reduction of each output of features.0 .. features.17 (the feature stages' chain)
        self._reductions, self._widths = [reduction], [channels]
        for t, c, n, s in _SETTING:
            out_channels = scale(c * width_mult)
            for i in range(n):
                # alpha splits the expanded tensor of each of the first blocks that has one
                octave = len(layers) <= OCTAVE_BLOCKS and (t != 1 or expand_conv is True)
                layers.append(InvertedResidual(channels, out_channels, s if i == 0 else 1, t,
                                               alpha if octave else 0.0, expand_conv))
                channels, reduction = out_channels, reduction * (s if i == 0 else 1)
                self._reductions.append(reduction)
                self._widths.append(channels)
        self.num_features = scale(_LAST_CHANNELS * max(1.0, width_mult))
        layers.append(PlainConvBN(channels, self.num_features, 1, act_layer=nn.ReLU6))
        self.features = nn.Sequential(*layers)

        self.avgpool = nn.AdaptiveAvgPool2D(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout),
                                        nn.Linear(self.num_features, num_classes))
        init_weights(self)

    def feature_stages(self) -> Tuple[FeatureStage, ...]:
        """The stages ``features_only`` offers: the last block of each reduction level,
        ``features.1``, ``.3``, ``.6``, ``.13``, ``.17``, all plain; ``features.18`` (the 1x1
        conv to ``num_features``) is the head's, as timm's ``conv_head``."""
        return chain_stages("features", self._reductions,
                            [split_channels(c, 0.0) for c in self._widths])

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, in_channels, H, W) images -> (N, num_features, H', W') plain features."""
        return self.features(x).high

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, num_features, H', W') features -> (N, num_classes) logits."""
        return self.classifier(paddle.flatten(self.avgpool(x), 1))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.forward_head(self.forward_features(x))


_RECORD = variant("oct_mobilenet_v2")


def _oct_mobilenet_v2(pretrained: PretrainedArg = False, num_classes: int = 1000,
                      alpha: float = _RECORD.alpha, *, width_mult: float = 1.0,
                      in_channels: int = 3, small_input: bool = False,
                      layout: ChannelLayout = "paddle", output_stride: int = 32,
                      features_only: bool = False, out_indices: Optional[Sequence[int]] = None,
                      feature_output: FeatureOutput = "merged") -> nn.Layer:
    check_choice("output_stride", output_stride, (32,), NO_DILATION)
    return build_model("oct_mobilenet_v2", OctMobileNetV2, pretrained,
                       features_only=features_only, out_indices=out_indices,
                       feature_output=feature_output, classifier="classifier.1",
                       num_classes=num_classes, alpha=alpha, width_mult=width_mult,
                       in_channels=in_channels, small_input=small_input, layout=layout)


oct_mobilenet_v2 = register_variant("oct_mobilenet_v2", _oct_mobilenet_v2)
