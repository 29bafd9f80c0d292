"""Oct-ResNet (Chen et al., "Drop an Octave", ICCV 2019) in the layout of d-li14/octconv.pytorch.

The stem is a plain ResNet stem. ``layer1``'s first block (and its downsample) splits the plain map
into octave parts (alpha 0 -> alpha), ``layer2`` and ``layer3`` are octave throughout, and
``layer4``'s first block (conv1 and downsample) merges the parts back (alpha -> 0), so the rest of
``layer4`` and the head are plain. A stride-2 block downsamples inside its octave convs (conv2 and
the downsample; OctaveConv average-pools before convolving). ``alpha=0`` gives plain ResNet with
the same parameter names.

    >>> import paddle
    >>> from models import oct_resnet50
    >>> model = oct_resnet50(num_classes=10)
    >>> list(model(paddle.randn([2, 3, 224, 224])).shape)
    [2, 10]
"""
from __future__ import annotations

from functools import partial
from typing import Dict, Optional, Sequence, Tuple

import paddle
import paddle.nn as nn

from paddle_octconv import OctaveFeatures, OctConvBN, OctConvBNAct

from .common import (OctaveInput, as_features, check_alpha, check_bool, check_options,
                     check_positive_int, init_weights)
from .registry import register_model
from .weights import PretrainedArg, build_with_weights

__all__ = ["Bottleneck", "OctResNet", "oct_resnet26", "oct_resnet50", "oct_resnet101",
           "oct_resnet152", "oct_resnet200"]

# Bottleneck blocks per stage (layer1 .. layer4) of each depth.
_DEPTHS: Dict[str, Tuple[int, int, int, int]] = {
    "oct_resnet26": (2, 2, 2, 2),
    "oct_resnet50": (3, 4, 6, 3),
    "oct_resnet101": (3, 4, 23, 3),
    "oct_resnet152": (3, 8, 36, 3),
    "oct_resnet200": (3, 24, 36, 3),
}
# (planes, stride) of layer1 .. layer4; a stage outputs planes * Bottleneck.expansion channels.
_STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))
_OPTIONS = frozenset({"small_input", "zero_init_residual", "in_channels"})


class Bottleneck(nn.Layer):
    """Octave bottleneck: 1x1 -> 3x3 (carries the stride) -> 1x1 (x4 channels), plus the shortcut.

    conv1 and the downsample map ``alpha_in`` to ``alpha_out``; conv2 and conv3 keep ``alpha_out``.
    The downsample (a 1x1 OctConvBN with the block's stride) exists when the stride is 2 or the
    channel count changes.

    Args:
        in_channels: input channels C_in (high + low).
        planes: width of the 1x1 and 3x3 convs; the block outputs ``4 * planes`` channels.
        stride: 1, or 2 to halve H and W.
        alpha_in: low-frequency fraction of the input (0 for a plain input Tensor).
        alpha_out: low-frequency fraction of the output and of the inner convs.

    Shapes:
        input: an (N, C_in, H, W) Tensor when ``alpha_in == 0``, else a (high, low) pair.
        output: ``OctaveFeatures`` with 4 * planes channels split by ``alpha_out``, at
            (ceil(H / stride), ceil(W / stride)); ``low`` is None when ``alpha_out == 0``.
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, alpha_in: float = 0.5,
                 alpha_out: float = 0.5) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = OctConvBNAct(in_channels, planes, 1, alpha_in, alpha_out)
        self.conv2 = OctConvBNAct(planes, planes, 3, alpha_out, alpha_out, stride=stride, padding=1)
        self.conv3 = OctConvBN(planes, out_channels, 1, alpha_out, alpha_out)
        self.relu = nn.ReLU()
        self.downsample: Optional[nn.Sequential] = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                OctConvBN(in_channels, out_channels, 1, alpha_in, alpha_out, stride=stride)
            )

    def zero_init_last(self) -> None:
        """Zero the last BN weights (``bn_h`` and ``bn_l``) so the block starts as the identity."""
        for bn in (self.conv3.bn_h, self.conv3.bn_l):
            if bn is not None:
                nn.initializer.Constant(0.0)(bn.weight)

    def forward(self, x: OctaveInput) -> OctaveFeatures:
        x = as_features(x)
        shortcut = self.downsample(x) if self.downsample is not None else x
        y = self.conv3(self.conv2(self.conv1(x)))
        return OctaveFeatures(*(
            None if part is None else self.relu(part + skip) for part, skip in zip(y, shortcut)
        ))


class OctResNet(nn.Layer):
    """Oct-ResNet with bottleneck blocks (see the module docstring for the layout).

    Args:
        layers: bottleneck blocks in layer1 .. layer4, e.g. (3, 4, 6, 3) for Oct-ResNet-50.
        num_classes: classifier outputs.
        alpha: low-frequency fraction of the octave stages, 0 <= alpha < 1 (0: plain ResNet).
        in_channels: image channels (1 for grey images).
        small_input: for 32x32-class images: a 3x3 stride-1 stem conv and no max-pool.
        zero_init_residual: zero the last BN weights of every residual branch.

    Shapes:
        input: (N, in_channels, H, W), any H, W >= 1.
        output: (N, num_classes) logits.
    """

    def __init__(self, layers: Sequence[int], num_classes: int = 1000, alpha: float = 0.5,
                 in_channels: int = 3, small_input: bool = False,
                 zero_init_residual: bool = False) -> None:
        super().__init__()
        if len(layers) != len(_STAGES):
            raise ValueError(
                f"layers must give the blocks of {len(_STAGES)} stages, got {layers!r}")
        for i, blocks in enumerate(layers):
            check_positive_int(f"layers[{i}]", blocks)
        check_positive_int("num_classes", num_classes)
        check_positive_int("in_channels", in_channels)
        alpha = check_alpha(alpha)
        check_bool("small_input", small_input)
        check_bool("zero_init_residual", zero_init_residual)
        self.alpha, self.num_classes = alpha, num_classes

        stem = 64
        kernel, stride = (3, 1) if small_input else (7, 2)
        self.conv1 = nn.Conv2D(in_channels, stem, kernel, stride=stride, padding=kernel // 2,
                               bias_attr=False)
        self.bn1 = nn.BatchNorm2D(stem)
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2D(3, stride=2, padding=1)

        # Low-frequency fraction before layer1 and after each stage: in once, out at layer4.
        alphas = (0.0, alpha, alpha, alpha, 0.0)
        channels = stem
        for i, ((planes, stride), blocks) in enumerate(zip(_STAGES, layers)):
            self.add_sublayer(f"layer{i + 1}", self._make_stage(
                channels, planes, blocks, stride, alphas[i], alphas[i + 1]))
            channels = planes * Bottleneck.expansion
        self.num_features = channels

        self.avgpool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(channels, num_classes)

        init_weights(self)
        if zero_init_residual:
            for layer in self.sublayers():
                if isinstance(layer, Bottleneck):
                    layer.zero_init_last()

    @staticmethod
    def _make_stage(in_channels: int, planes: int, blocks: int, stride: int, alpha_in: float,
                    alpha_out: float) -> nn.Sequential:
        """The first block strides and changes alpha; the others keep ``alpha_out``."""
        out_channels = planes * Bottleneck.expansion
        return nn.Sequential(
            Bottleneck(in_channels, planes, stride, alpha_in, alpha_out),
            *(Bottleneck(out_channels, planes, 1, alpha_out, alpha_out) for _ in range(blocks - 1)),
        )

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, in_channels, H, W) images -> (N, 2048, H', W') plain features before pooling."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return x.high  # layer4 returns to alpha 0: no low part is left

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, 2048, H', W') features -> (N, num_classes) logits."""
        return self.fc(paddle.flatten(self.avgpool(x), 1))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.forward_head(self.forward_features(x))


def _create_oct_resnet(arch: str, pretrained: PretrainedArg, num_classes: int, alpha: float,
                       **options) -> OctResNet:
    check_options(arch, options, _OPTIONS)
    build = partial(OctResNet, _DEPTHS[arch], num_classes=num_classes, alpha=alpha, **options)
    return build_with_weights(arch, pretrained, build)


# Options of every builder: small_input, zero_init_residual, in_channels (see OctResNet);
# pretrained: False, a .pdparams path, or True for the cache (see models.weights).
@register_model
def oct_resnet26(pretrained: PretrainedArg = False, num_classes: int = 1000, alpha: float = 0.5,
                 **kwargs) -> OctResNet:
    """Oct-ResNet-26, blocks (2, 2, 2, 2): 16.0M params, 1.48G MACs at 224 px, alpha 0.5."""
    return _create_oct_resnet("oct_resnet26", pretrained, num_classes, alpha, **kwargs)


@register_model
def oct_resnet50(pretrained: PretrainedArg = False, num_classes: int = 1000, alpha: float = 0.5,
                 **kwargs) -> OctResNet:
    """Oct-ResNet-50, blocks (3, 4, 6, 3): 25.6M params, 2.37G MACs at 224 px, alpha 0.5."""
    return _create_oct_resnet("oct_resnet50", pretrained, num_classes, alpha, **kwargs)


@register_model
def oct_resnet101(pretrained: PretrainedArg = False, num_classes: int = 1000, alpha: float = 0.5,
                  **kwargs) -> OctResNet:
    """Oct-ResNet-101, blocks (3, 4, 23, 3): 44.5M params, 3.99G MACs at 224 px, alpha 0.5."""
    return _create_oct_resnet("oct_resnet101", pretrained, num_classes, alpha, **kwargs)


@register_model
def oct_resnet152(pretrained: PretrainedArg = False, num_classes: int = 1000, alpha: float = 0.5,
                  **kwargs) -> OctResNet:
    """Oct-ResNet-152, blocks (3, 8, 36, 3): 60.2M params, 5.62G MACs at 224 px, alpha 0.5."""
    return _create_oct_resnet("oct_resnet152", pretrained, num_classes, alpha, **kwargs)


@register_model
def oct_resnet200(pretrained: PretrainedArg = False, num_classes: int = 1000, alpha: float = 0.5,
                  **kwargs) -> OctResNet:
    """Oct-ResNet-200, blocks (3, 24, 36, 3): 64.7M params, 7.14G MACs at 224 px, alpha 0.5."""
    return _create_oct_resnet("oct_resnet200", pretrained, num_classes, alpha, **kwargs)
