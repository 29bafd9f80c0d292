"""SPConv and ODConv, the layers alone, reproduce their references' ResNet-50 parameter and MAC
counts in a network written apart from the zoo.

The network is a test-local torchvision-layout ResNet-50 whose Bottleneck takes its convs from
factories. The zoo's own builds (models.sp_resnet50, models.od_resnet50) are checked against
their records in tests/models/test_records.py; here a wrong count points at the plug-in layer,
not at the zoo's wiring, and the file also covers what the zoo does not build: ODConv with 4
kernels, and ODConv's MACs as the plain convs' plus its attention's. The figures are those
issue 15 read off the references' own code: SPConv's ResNet-50 (the bottleneck 3x3, alpha 1/2)
and ODConv's (every bottleneck conv, downsample plain).
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import paddle.nn as nn
import pytest

from paddle_octconv import ODConv, SPConv, count_flops, count_params

ConvFactory = Callable[..., nn.Layer]


def plain_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Layer:
    return nn.Conv2D(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias_attr=False)


class Bottleneck(nn.Layer):
    expansion = 4

    def __init__(self, in_channels, planes, stride, conv3x3: ConvFactory, conv1x1: ConvFactory):
        super().__init__()
        out = planes * self.expansion
        self.conv1, self.bn1 = conv1x1(in_channels, planes, 1), nn.BatchNorm2D(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes, 3, stride), nn.BatchNorm2D(planes)
        self.conv3, self.bn3 = conv1x1(planes, out, 1), nn.BatchNorm2D(out)
        self.downsample = None
        if stride != 1 or in_channels != out:  # always a plain conv, as in both references
            self.downsample = nn.Sequential(plain_conv(in_channels, out, 1, stride), nn.BatchNorm2D(out))

    def forward(self, x):
        y = nn.functional.relu(self.bn1(self.conv1(x)))
        y = nn.functional.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return nn.functional.relu(y + (x if self.downsample is None else self.downsample(x)))


def resnet50(conv3x3: ConvFactory = plain_conv, conv1x1: ConvFactory = plain_conv) -> nn.Layer:
    layers, blocks, in_channels = [nn.Conv2D(3, 64, 7, 2, 3, bias_attr=False), nn.BatchNorm2D(64), nn.ReLU(),
                                   nn.MaxPool2D(3, 2, 1)], [], 64
    for planes, count, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(count):
            blocks.append(Bottleneck(in_channels, planes, stride if i == 0 else 1, conv3x3, conv1x1))
            in_channels = planes * 4
    return nn.Sequential(*layers, *blocks, nn.AdaptiveAvgPool2D(1), nn.Flatten(), nn.Linear(2048, 1000))


def test_plain_resnet50_matches_the_published_counts():
    model = resnet50()
    assert count_params(model) == 25_557_032
    assert count_flops(model, (1, 3, 224, 224)) == 4_089_184_256


def test_sp_resnet50_matches_the_reference_counts():
    """SPConv (alpha 1/2) as the bottleneck 3x3: 18,345,448 params (the redundant 1x1's bias
    included) and 2,907,439,104 conv + linear MACs at 224, 0.711 of ResNet-50's."""
    model = resnet50(conv3x3=SPConv)
    assert count_params(model) == 18_345_448
    assert count_flops(model, (1, 3, 224, 224)) == 2_907_439_104


@pytest.mark.parametrize("kernel_num,params", [(1, 28_635_112), pytest.param(4, 90_670_888, marks=pytest.mark.slow)])
def test_od_resnet50_matches_the_reference_params(kernel_num, params):
    """ODConv on all three bottleneck convs: 28,635,112 params at 1x, 90,670,888 at 4x."""
    conv = partial(ODConv, kernel_num=kernel_num)
    assert count_params(resnet50(conv3x3=conv, conv1x1=conv)) == params


def test_od_resnet50_macs_are_the_plain_convs_plus_its_attention():
    """ODConv 1x costs the plain conv MACs plus the attention's 1x1 convs on pooled 1x1 maps
    (with the mixing of the kernels, which is no conv MAC, left out)."""
    conv = partial(ODConv, kernel_num=1)
    model = resnet50(conv3x3=conv, conv1x1=conv)
    attention = sum(count_flops(layer.attention, (1, layer.in_channels, 1, 1))
                    for layer in model.sublayers() if isinstance(layer, ODConv))
    assert 0 < attention < 10_000_000
    assert count_flops(model, (1, 3, 224, 224)) == 4_089_184_256 + attention
