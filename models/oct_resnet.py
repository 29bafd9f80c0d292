"""Oct-ResNet, Oct-ResNeXt and Oct-SE-ResNet (Chen et al., "Drop an Octave", ICCV 2019).

The stem is a plain ResNet stem. ``layer1``'s first block (and its downsample) splits the plain map
into octave parts (alpha 0 -> alpha), ``layer2`` and ``layer3`` are octave throughout, and
``layer4``'s first block (conv1 and downsample) merges the parts back (alpha -> 0), so the rest of
``layer4`` and the head are plain (the official code's ``ratio = [a, a, a, 0]``). A stride-2
octave conv average-pools before convolving (conv2 and the downsample of a strided block).

One class builds every variant (:data:`models.records.VARIANTS` holds their arguments):

- Oct-ResNet-26/50/101/152/200: the layout and keys of d-li14/octconv.pytorch (every conv an
  OctConvBN, also where alpha is 0); ``alpha=0`` has plain ResNet's params and MACs.
- Oct-ResNeXt-50/101 (32x4d): grouped 3x3 convs keeping 32 groups in each frequency part, and
  plain Conv2D + BN between plain maps, so ``alpha=0`` is paddle.vision's ResNeXt.
- Oct-SE-ResNet-50: Oct-ResNet-50 with an :class:`~models.layers.OctaveSE` in every bottleneck.
- The plug-in ResNet-50s (SPConv, ODConv, SAConv, DCNv2): the plain network (alpha 0, layout
  "paddle") with a plug-in conv in the bottlenecks and stages :mod:`models.plugin_convs` says.

``output_stride`` 16 or 8 (default 32) dilates the last one or two stages instead of striding,
as torchvision's ``replace_stride_with_dilation``: the stage's first block gets stride 1 (its
downsample too) and the dilation the network had before that stage, and the stage's other blocks
the dilation times 2 (so layer3 and layer4 at output_stride 8: 1, 2, 2, ... and 2, 4, 4, ...). A
dilated octave conv dilates its four paths alike and keeps sizes, so the low map stays at
(ceil(H / 2), ceil(W / 2)) of the high one; parameter shapes do not change, so one state dict
fits every output_stride. ``features_only=True`` gives the stages as a feature extractor
(:mod:`models.features`).

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

from paddle_octconv import OctaveFeatures, split_channels

from .builders import build_model
from .common import (OctaveInput, as_features, check_alpha, check_bool, check_choice,
                     check_int, check_width, init_weights, scale_channels)
from .features import FeatureOutput, FeatureStage
from .layers import ConvLayer, Layout, OctaveSE, conv_bn, norms_of
from .plugin_convs import PLUGIN_TYPES, placement
from .records import variant
from .registry import register_variant
from .weights import PretrainedArg

__all__ = ["Bottleneck", "OctResNet", "OUTPUT_STRIDES", "oct_resnet26", "oct_resnet50",
           "oct_resnet101", "oct_resnet152", "oct_resnet200", "oct_resnext50_32x4d",
           "oct_resnext101_32x4d", "oct_se_resnet50", "sp_resnet50", "od_resnet50", "sac_resnet50",
           "dcn_resnet50"]

# (planes, stride) of layer1 .. layer4; a stage outputs planes * Bottleneck.expansion channels.
_STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))
#: output_stride -> how many of the last stages dilate instead of striding (torchvision's
#: replace_stride_with_dilation for layer2 .. layer4: [F, F, F], [F, F, T], [F, T, T]).
OUTPUT_STRIDES: Dict[int, int] = {32: 0, 16: 1, 8: 2}


class Bottleneck(nn.Layer):
    """Octave bottleneck: 1x1 -> 3x3 (carries the stride, grouped) -> 1x1 (x4), [SE], + shortcut.

    conv1 and the downsample map ``alpha_in`` to ``alpha_out``; conv2 and conv3 keep ``alpha_out``.
    The downsample (a 1x1 conv + BN with the block's stride) exists when the stride is 2, the
    channel count changes or the split does (``alpha_in != alpha_out``): the shortcut must have
    the output's high and low widths.

    Args:
        in_channels: input channels C_in (high + low).
        planes: the block outputs ``4 * planes`` channels; the 1x1 and 3x3 convs have
            ``int(planes * base_width / 64) * groups`` (``planes`` for a ResNet).
        stride: 1, or 2 to halve H and W.
        dilation: dilation of the 3x3 conv (its padding keeps sizes), for output_stride < 32.
        alpha_in: low-frequency fraction of the input (0 for a plain input Tensor).
        alpha_out: low-frequency fraction of the output and of the inner convs.
        groups: groups of the 3x3 conv (32 for ResNeXt-32x4d), that many in each frequency part.
        base_width: the group width at planes 64 (4 for ResNeXt-32x4d, 64 for ResNet).
        se_reduction: squeeze ratio of an :class:`OctaveSE` after the last BN, 0 for none.
        layout: how convs between plain maps are built (see :data:`models.layers.Layout`).
        conv3x3_layer, conv1x1_layer: build the 3x3 / the two 1x1 convs instead of the usual
            conv (a plug-in conv, see :mod:`models.plugin_convs`; plain maps only); the
            downsample stays a plain conv.

    Shapes:
        input: an (N, C_in, H, W) Tensor when ``alpha_in == 0``, else a (high, low) pair.
        output: ``OctaveFeatures`` with 4 * planes channels split by ``alpha_out``, at
            (ceil(H / stride), ceil(W / stride)); ``low`` is None when ``alpha_out == 0``.
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, alpha_in: float = 0.5,
                 alpha_out: float = 0.5, *, dilation: int = 1, groups: int = 1,
                 base_width: int = 64, se_reduction: int = 0, layout: Layout = "d-li14",
                 conv3x3_layer: Optional[ConvLayer] = None,
                 conv1x1_layer: Optional[ConvLayer] = None) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        mid = int(planes * base_width / 64) * groups
        conv = partial(conv_bn, layout=layout)
        self.conv1 = conv(in_channels, mid, 1, alpha_in, alpha_out, act_layer=nn.ReLU,
                          conv_layer=conv1x1_layer)
        # ResNeXt: `groups` groups in each frequency part, whatever alpha (the official code).
        self.conv2 = conv(mid, mid, 3, alpha_out, alpha_out, stride=stride, groups=groups,
                          group_split="count", act_layer=nn.ReLU, dilation=dilation,
                          conv_layer=conv3x3_layer)
        self.conv3 = conv(mid, out_channels, 1, alpha_out, alpha_out, conv_layer=conv1x1_layer)
        self.se = OctaveSE(out_channels, alpha_out, se_reduction) if se_reduction else None
        self.relu = nn.ReLU()
        self.downsample: Optional[nn.Sequential] = None
        if stride != 1 or in_channels != out_channels or alpha_in != alpha_out:
            self.downsample = nn.Sequential(
                conv(in_channels, out_channels, 1, alpha_in, alpha_out, stride=stride))

    def zero_init_last(self) -> None:
        """Zero the last BN weights (``bn_h`` and ``bn_l``, or a plain conv's ``bn``) so the
        residual branch starts at zero."""
        for bn in norms_of(self.conv3):
            nn.initializer.Constant(0.0)(bn.weight)

    def forward(self, x: OctaveInput) -> OctaveFeatures:
        x = as_features(x)
        shortcut = self.downsample(x) if self.downsample is not None else x
        y = self.conv3(self.conv2(self.conv1(x)))
        if self.se is not None:
            y = self.se(y)
        return OctaveFeatures(*(
            None if part is None else self.relu(part + skip) for part, skip in zip(y, shortcut)
        ))


class OctResNet(nn.Layer):
    """Oct-ResNet / Oct-ResNeXt / Oct-SE-ResNet with bottleneck blocks (see the module docstring).

    Args:
        layers: bottleneck blocks in layer1 .. layer4, e.g. (3, 4, 6, 3) for Oct-ResNet-50.
        num_classes: classifier outputs.
        alpha: low-frequency fraction of the octave stages, 0 <= alpha < 1 (0: the plain network).
        in_channels: image channels (1 for grey images).
        small_input: for 32x32-class images: a 3x3 stride-1 stem conv and no max-pool.
        zero_init_residual: zero the last BN weights of every residual branch.
        width: channel multiplier of the stem and every stage (as MobileNet's ``width_mult``:
            channels rounded to multiples of 8); 1.0 is the published network.
        groups, base_width: the 3x3 convs' groups and group width at 64 planes (32 and 4 for
            ResNeXt-32x4d; 1 and 64 for ResNet).
        se_reduction: squeeze ratio of an SE block in every bottleneck (16 for SE-ResNet), 0: none.
        layout: "d-li14" (every conv an OctConvBN, the public PyTorch checkpoints' keys) or
            "paddle" (convs between plain maps are plain Conv2D + BN, so alpha 0 is exactly the
            paddle.vision model).
        output_stride: 32, or 16 / 8 to dilate layer4 / layer3 and layer4 instead of striding
            (see the module docstring); with ``small_input`` every stride is 4x smaller.
        plugin: a plug-in conv of :data:`models.plugin_convs.PLACEMENTS` ("spconv", "odconv",
            "saconv", "dcnv2") in the bottlenecks and stages its reference uses, or None. It
            makes a plain network: it needs alpha 0, layout "paddle", groups 1 and
            output_stride 32 (the plug-ins take no dilation here).

    Shapes:
        input: (N, in_channels, H, W), any H, W >= 1.
        output: (N, num_classes) logits.
    """

    def __init__(self, layers: Sequence[int], num_classes: int = 1000, alpha: float = 0.5,
                 in_channels: int = 3, small_input: bool = False,
                 zero_init_residual: bool = False, width: float = 1.0, groups: int = 1,
                 base_width: int = 64, se_reduction: int = 0, layout: Layout = "d-li14",
                 output_stride: int = 32, plugin: Optional[str] = None) -> None:
        super().__init__()
        if len(layers) != len(_STAGES):
            raise ValueError(
                f"layers must give the blocks of {len(_STAGES)} stages, got {layers!r}")
        for i, blocks in enumerate(layers):
            check_int(f"layers[{i}]", blocks)
        check_int("num_classes", num_classes)
        check_int("in_channels", in_channels)
        alpha = check_alpha(alpha)
        check_bool("small_input", small_input)
        check_bool("zero_init_residual", zero_init_residual)
        width = check_width("width", width)
        check_choice("output_stride", output_stride, tuple(OUTPUT_STRIDES))
        placed = None if plugin is None else placement(plugin)
        if placed is not None:
            wrong = [f"{key}={want!r} (got {got!r})" for key, want, got in
                     (("alpha", 0, alpha), ("layout", "paddle", layout), ("groups", 1, groups),
                      ("output_stride", 32, output_stride))
                     if got != want]
            if wrong:
                raise ValueError(f"the {plugin} plug-in builds a plain ResNet: it needs "
                                 + ", ".join(wrong))
        self.alpha, self.num_classes, self.width = alpha, num_classes, width
        self.output_stride = output_stride

        stem = scale_channels(64, width)
        kernel, stem_stride = (3, 1) if small_input else (7, 2)
        self.conv1 = nn.Conv2D(in_channels, stem, kernel, stride=stem_stride,
                               padding=kernel // 2, bias_attr=False)
        self.bn1 = nn.BatchNorm2D(stem)
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2D(3, stride=2, padding=1)

        # Low-frequency fraction before layer1 and after each stage: in once, out at layer4.
        alphas = (0.0, alpha, alpha, alpha, 0.0)
        block = partial(Bottleneck, groups=groups, base_width=base_width,
                        se_reduction=se_reduction, layout=layout)
        # The stages features_only offers: (module, layers run, channels, reduction).
        self._stages = [FeatureStage("relu", ("conv1", "bn1", "relu"), split_channels(stem, 0.0),
                                     stem_stride)]
        reduction = stem_stride * (1 if small_input else 2)  # after the max-pool
        dilated = len(_STAGES) - OUTPUT_STRIDES[output_stride]  # layer{i + 1} dilates if i >= it
        channels, dilation, stem_layers = stem, 1, ("maxpool",)
        for i, ((planes, stride), blocks) in enumerate(zip(_STAGES, layers)):
            planes = scale_channels(planes, width)
            out_channels = planes * Bottleneck.expansion
            first_dilation = dilation
            if i >= dilated:  # torchvision's rule: the stride becomes the later blocks' dilation
                dilation, stride = dilation * stride, 1
            stage_block = block
            if placed is not None and i + 1 in placed.stages:
                stage_block = partial(block, conv3x3_layer=placed.conv3x3,
                                      conv1x1_layer=placed.conv1x1)
            self.add_sublayer(f"layer{i + 1}", nn.Sequential(
                # the first block strides and changes alpha; the others keep alphas[i + 1]
                stage_block(channels, planes, stride, alphas[i], alphas[i + 1],
                            dilation=first_dilation),
                *(stage_block(out_channels, planes, 1, alphas[i + 1], alphas[i + 1],
                              dilation=dilation)
                  for _ in range(blocks - 1)),
            ))
            channels, reduction = out_channels, reduction * stride
            self._stages.append(FeatureStage(f"layer{i + 1}", stem_layers + (f"layer{i + 1}",),
                                             split_channels(channels, alphas[i + 1]), reduction))
            stem_layers = ()
        self.num_features = channels

        self.avgpool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(channels, num_classes)

        init_weights(self)
        for layer in self.sublayers():
            if isinstance(layer, PLUGIN_TYPES):
                layer.reset_parameters()  # init_weights overwrote their zero-initialised parts
        if zero_init_residual:
            for layer in self.sublayers():
                if isinstance(layer, Bottleneck):
                    layer.zero_init_last()

    def feature_stages(self) -> Tuple[FeatureStage, ...]:
        """The stages ``features_only`` offers: the stem (``relu``, before the max-pool) and
        layer1 .. layer4, with their (high, low) widths and reductions (:mod:`models.features`)."""
        return tuple(self._stages)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, in_channels, H, W) images -> (N, num_features, H', W') plain features."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return x.high  # layer4 returns to alpha 0: no low part is left

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, num_features, H', W') features -> (N, num_classes) logits."""
        return self.fc(paddle.flatten(self.avgpool(x), 1))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.forward_head(self.forward_features(x))


def _builder(name: str):
    """The registered builder of the record ``name``: typed options over ``OctResNet``."""
    record = variant(name)

    def builder(pretrained: PretrainedArg = False, num_classes: int = 1000,
                alpha: float = record.alpha, *, in_channels: int = 3, small_input: bool = False,
                zero_init_residual: bool = False, width: float = 1.0, output_stride: int = 32,
                features_only: bool = False, out_indices: Optional[Sequence[int]] = None,
                feature_output: FeatureOutput = "merged") -> nn.Layer:
        return build_model(name, OctResNet, pretrained, features_only=features_only,
                           out_indices=out_indices, feature_output=feature_output,
                           num_classes=num_classes, alpha=alpha, in_channels=in_channels,
                           small_input=small_input, zero_init_residual=zero_init_residual,
                           width=width, output_stride=output_stride, **record.arch)

    return register_variant(name, builder)


oct_resnet26 = _builder("oct_resnet26")
oct_resnet50 = _builder("oct_resnet50")
oct_resnet101 = _builder("oct_resnet101")
oct_resnet152 = _builder("oct_resnet152")
oct_resnet200 = _builder("oct_resnet200")
oct_resnext50_32x4d = _builder("oct_resnext50_32x4d")
oct_resnext101_32x4d = _builder("oct_resnext101_32x4d")
oct_se_resnet50 = _builder("oct_se_resnet50")
sp_resnet50 = _builder("sp_resnet50")
od_resnet50 = _builder("od_resnet50")
sac_resnet50 = _builder("sac_resnet50")
dcn_resnet50 = _builder("dcn_resnet50")
