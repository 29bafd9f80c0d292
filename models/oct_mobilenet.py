"""Oct-MobileNet V1 (Chen et al., ICCV 2019) in the layout of d-li14/octconv.pytorch.

``features.0`` is a plain 3x3 stride-2 stem (conv, BN, ReLU). ``features.1`` .. ``features.13``
are depthwise-separable blocks, each a 3x3 depthwise OctConvBNAct (``.0``) and a 1x1 pointwise
OctConvBNAct (``.1``). Block 1's pointwise conv splits the map into octave parts (0 -> alpha),
blocks 2-10 are octave, block 11's depthwise conv is octave and its pointwise conv merges the parts
(alpha -> 0), blocks 12 and 13 are plain. Depthwise octave convs have only the high->high and
low->low paths. ``alpha=0`` gives plain MobileNet V1 with the same parameter names.
``features_only=True`` gives the stages ``features.1``, ``.3``, ``.5``, ``.11``, ``.13`` as a
feature extractor (:mod:`models.features`).

    >>> import paddle
    >>> from models import oct_mobilenet
    >>> list(oct_mobilenet(num_classes=10)(paddle.randn([2, 3, 224, 224])).shape)
    [2, 10]
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import paddle
import paddle.nn as nn

from paddle_octconv import OctConvBNAct, split_channels

from .common import (check_alpha, check_bool, check_choice, check_int, check_width,
                     init_weights, scale_channels)
from .builders import build_model
from .features import NO_DILATION, FeatureOutput, FeatureStage, chain_stages
from .records import variant
from .registry import register_variant
from .weights import PretrainedArg

__all__ = ["OctMobileNet", "depthwise_separable", "oct_mobilenet"]

_STEM_CHANNELS = 32
# (out_channels, stride, octave output) of features.1 .. features.13 at width_mult 1.0.
_BLOCKS = (
    (64, 1, True), (128, 2, True), (128, 1, True), (256, 2, True), (256, 1, True),
    (512, 2, True), (512, 1, True), (512, 1, True), (512, 1, True), (512, 1, True),
    (512, 1, False), (1024, 2, False), (1024, 1, False),
)


def depthwise_separable(in_channels: int, out_channels: int, stride: int, alpha_in: float,
                        alpha_out: float) -> nn.Sequential:
    """A 3x3 depthwise conv at ``alpha_in`` (``.0``) and a 1x1 conv alpha_in -> alpha_out (``.1``).

    Shapes: (N, in_channels, H, W) split by ``alpha_in`` -> ``OctaveFeatures`` of
    (N, out_channels, ceil(H / stride), ceil(W / stride)) split by ``alpha_out``.
    """
    return nn.Sequential(
        OctConvBNAct(in_channels, in_channels, 3, alpha_in, alpha_in, stride=stride, padding=1,
                     groups=in_channels),
        OctConvBNAct(in_channels, out_channels, 1, alpha_in, alpha_out),
    )


class OctMobileNet(nn.Layer):
    """Oct-MobileNet V1 (see the module docstring for the layout).

    Args:
        num_classes: classifier outputs.
        alpha: low-frequency fraction of the octave blocks, 0 <= alpha < 1 (0: plain MobileNet).
        width_mult: channel multiplier (1.0 and 0.75 in the published results); channels are
            rounded to multiples of 8.
        in_channels: image channels (1 for grey images).
        small_input: for 32x32-class images: a stride-1 stem conv.

    Shapes:
        input: (N, in_channels, H, W), any H, W >= 1.
        output: (N, num_classes) logits.
    """

    def __init__(self, num_classes: int = 1000, alpha: float = 0.5, width_mult: float = 1.0,
                 in_channels: int = 3, small_input: bool = False) -> None:
        super().__init__()
        check_int("num_classes", num_classes)
        check_int("in_channels", in_channels)
        alpha = check_alpha(alpha)
        width_mult = check_width("width_mult", width_mult)
        check_bool("small_input", small_input)
        self.alpha, self.num_classes = alpha, num_classes

        channels = scale_channels(_STEM_CHANNELS, width_mult)
        reduction = 1 if small_input else 2
        stem = nn.Sequential(
            nn.Conv2D(in_channels, channels, 3, stride=reduction, padding=1, bias_attr=False),
            nn.BatchNorm2D(channels),
            nn.ReLU(),
        )
        blocks, alpha_in = [], 0.0
        # reduction and (high, low) widths of each output of features.0 .. features.13
        self._reductions, self._widths = [reduction], [split_channels(channels, 0.0)]
        for out_channels, stride, octave in _BLOCKS:
            alpha_out = alpha if octave else 0.0
            out_channels = scale_channels(out_channels, width_mult)
            blocks.append(depthwise_separable(channels, out_channels, stride, alpha_in, alpha_out))
            channels, alpha_in, reduction = out_channels, alpha_out, reduction * stride
            self._reductions.append(reduction)
            self._widths.append(split_channels(channels, alpha_out))
        self.features = nn.Sequential(stem, *blocks)
        self.num_features = channels

        self.avgpool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def feature_stages(self) -> Tuple[FeatureStage, ...]:
        """The stages ``features_only`` offers: the last block of each reduction level,
        ``features.1``, ``.3``, ``.5``, ``.11``, ``.13`` (:mod:`models.features`)."""
        return chain_stages("features", self._reductions, self._widths)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, in_channels, H, W) images -> (N, 1024 * width_mult, H', W') plain features."""
        return self.features(x).high  # block 13 is plain: no low part is left

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, C, H', W') features -> (N, num_classes) logits."""
        return self.fc(paddle.flatten(self.avgpool(x), 1))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.forward_head(self.forward_features(x))


_RECORD = variant("oct_mobilenet")


def _oct_mobilenet(pretrained: PretrainedArg = False, num_classes: int = 1000,
                   alpha: float = _RECORD.alpha, *, width_mult: float = 1.0,
                   in_channels: int = 3, small_input: bool = False, output_stride: int = 32,
                   features_only: bool = False, out_indices: Optional[Sequence[int]] = None,
                   feature_output: FeatureOutput = "merged") -> nn.Layer:
    check_choice("output_stride", output_stride, (32,), NO_DILATION)
    return build_model("oct_mobilenet", OctMobileNet, pretrained, features_only=features_only,
                       out_indices=out_indices, feature_output=feature_output,
                       num_classes=num_classes, alpha=alpha, width_mult=width_mult,
                       in_channels=in_channels, small_input=small_input)


oct_mobilenet = register_variant("oct_mobilenet", _oct_mobilenet)
