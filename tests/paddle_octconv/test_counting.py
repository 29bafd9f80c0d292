"""count_flops / count_params against numbers worked out by hand, and paddle.summary's view.

MACs of a conv = output pixels * out_channels * (in_channels / groups) * kh * kw, so a path at half
resolution costs a quarter of the same conv at full resolution (in 1-D, with k taps per output
element, a half; in 3-D, with kd * kh * kw, an eighth).
"""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
import pytest

from paddle_octconv import (OctaveConv, OctaveConv1D, OctaveConv3D, OctConvBN, OctConvBNAct, OctConvBNAct3D,
                            count_flops, count_params, split_channels)

K3 = 3 * 3
K1D, K3D = 3, 3 * 3 * 3


class FromPlain(nn.Layer):
    """Feeds an octave layer from one (N, C, L), (N, C, H, W) or (N, C, D, H, W) tensor: channel
    slice + pooling, which cost no MACs."""

    def __init__(self, octave: OctaveConv):
        super().__init__()
        self.octave = octave
        self.high = octave.in_split.high

    def forward(self, x):
        low = x[:, self.high:]
        pool = {3: F.avg_pool1d, 4: F.avg_pool2d, 5: F.avg_pool3d}[x.ndim]
        low = pool(low, 2, 2, ceil_mode=True) if low.shape[1] else None
        return self.octave((x[:, :self.high] if self.high else None, low))


FLOP_CASES = [
    # (id, model builder, input size, hand count)
    ("alpha 0 -> .5, 8x8", lambda: OctaveConv(4, 8, 3, 0.0, 0.5, padding=1), (1, 4, 8, 8),
     4 * 4 * K3 * 64 + 4 * 4 * K3 * 16),  # h2h at 8x8, h2l at 4x4
    ("alpha 0 -> .5, odd 7x5", lambda: OctaveConv(4, 8, 3, 0.0, 0.5, padding=1), (1, 4, 7, 5),
     4 * 4 * K3 * 35 + 4 * 4 * K3 * 12),  # low map 4x3
    (".5 -> .5", lambda: FromPlain(OctaveConv(8, 8, 3, 0.5, 0.5, padding=1)), (1, 8, 8, 8),
     4 * 4 * K3 * (64 + 16 + 16 + 16)),  # h2h full; h2l, l2l, l2h (before its upsample) at 4x4
    (".5 -> .5 stride 2", lambda: FromPlain(OctaveConv(8, 8, 3, 0.5, 0.5, stride=2, padding=1)), (1, 8, 8, 8),
     4 * 4 * K3 * (16 + 16 + 4 + 4)),  # h2h and l2h at 4x4, h2l and l2l at 2x2
    ("1x1 .5 -> 0, batch 2", lambda: FromPlain(OctaveConv(8, 6, 1, 0.5, 0.0)), (2, 8, 8, 8),
     2 * (4 * 6 * 64 + 4 * 6 * 16)),  # h2h + l2h
    ("alpha_in 1", lambda: FromPlain(OctaveConv(8, 8, 3, 1.0, 0.5, padding=1)), (1, 8, 8, 8),
     8 * 4 * K3 * 16 * 2),  # l2h and l2l, both at the 4x4 low map
    ("depthwise", lambda: FromPlain(OctaveConv(8, 8, 3, 0.5, 0.5, padding=1, groups=8)), (1, 8, 8, 8),
     4 * 1 * K3 * 64 + 4 * 1 * K3 * 16),
    ("OctConvBNAct counts only its conv", lambda: OctConvBNAct(4, 8, 3, 0.0, 0.5, padding=1), (1, 4, 8, 8),
     4 * 4 * K3 * 64 + 4 * 4 * K3 * 16),
    ("plain Conv2D, grouped Conv2D, Linear", lambda: nn.Sequential(
        nn.Conv2D(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2D(8, 8, 3, padding=1, groups=4),
        nn.AdaptiveAvgPool2D(1), nn.Flatten(), nn.Linear(8, 10)), (2, 3, 9, 9),
     2 * (8 * 3 * K3 * 25 + 8 * 2 * K3 * 25 + 8 * 10)),  # 9x9 stride 2 -> 5x5
    # 1-D: half-length paths count a half
    ("1d alpha 0 -> .5, odd 9", lambda: OctaveConv1D(4, 8, 3, 0.0, 0.5, padding=1), (1, 4, 9),
     4 * 4 * K1D * 9 + 4 * 4 * K1D * 5),  # h2h at 9, h2l at ceil(9/2) = 5
    ("1d .5 -> .5 stride 2", lambda: FromPlain(OctaveConv1D(8, 8, 3, 0.5, 0.5, stride=2, padding=1)), (2, 8, 8),
     2 * 4 * 4 * K1D * (4 + 4 + 2 + 2)),  # h2h and l2h at 4, h2l and l2l at 2
    ("1d plain Conv1D, grouped Conv1D, Linear", lambda: nn.Sequential(
        nn.Conv1D(3, 8, 3, stride=2, padding=1), nn.Conv1D(8, 8, 3, padding=1, groups=4),
        nn.AdaptiveAvgPool1D(1), nn.Flatten(), nn.Linear(8, 10)), (2, 3, 9),
     2 * (8 * 3 * K1D * 5 + 8 * 2 * K1D * 5 + 8 * 10)),
    # 3-D: half-resolution paths count an eighth
    ("3d alpha 0 -> .5, 4x5x3", lambda: OctaveConv3D(4, 8, 3, 0.0, 0.5, padding=1), (1, 4, 4, 5, 3),
     4 * 4 * K3D * 60 + 4 * 4 * K3D * 12),  # low map 2x3x2
    ("3d .5 -> .5", lambda: FromPlain(OctaveConv3D(8, 8, 3, 0.5, 0.5, padding=1)), (1, 8, 4, 4, 4),
     4 * 4 * K3D * (64 + 8 + 8 + 8)),
    ("3d depthwise", lambda: FromPlain(OctaveConv3D(8, 8, 3, 0.5, 0.5, padding=1, groups=8)), (1, 8, 4, 4, 4),
     4 * 1 * K3D * 64 + 4 * 1 * K3D * 8),
    ("OctConvBNAct3D counts only its conv", lambda: OctConvBNAct3D(4, 8, 3, 0.0, 0.5, padding=1), (1, 4, 4, 4, 4),
     4 * 4 * K3D * 64 + 4 * 4 * K3D * 8),
    ("3d plain Conv3D, Linear", lambda: nn.Sequential(
        nn.Conv3D(3, 8, 3, stride=2, padding=1), nn.AdaptiveAvgPool3D(1), nn.Flatten(), nn.Linear(8, 10)),
     (1, 3, 5, 5, 5), 8 * 3 * K3D * 27 + 8 * 10),  # 5^3 stride 2 -> 3^3
    # transposed convs: each input element scatters into (C_out / groups) * kernel outputs
    ("2d 1x1 then Conv2DTranspose", lambda: nn.Sequential(
        nn.Conv2D(3, 4, 1), nn.Conv2DTranspose(4, 6, 3, stride=2, padding=1)), (2, 3, 5, 7),
     2 * (4 * 3 * 35 + 4 * 35 * 6 * 9)),
    ("grouped Conv1DTranspose", lambda: nn.Sequential(
        nn.Conv1DTranspose(4, 8, 2, stride=2, groups=2)), (1, 4, 5), 4 * 5 * 4 * 2),
    ("Conv3DTranspose", lambda: nn.Conv3DTranspose(2, 3, 2, stride=2), (1, 2, 2, 3, 4), 2 * 24 * 3 * 8),
]


@pytest.mark.parametrize("build,input_size,expected", [c[1:] for c in FLOP_CASES], ids=[c[0] for c in FLOP_CASES])
def test_count_flops_matches_hand_count(build, input_size, expected):
    assert count_flops(build(), input_size) == expected


@pytest.mark.parametrize("alpha,percent_of_plain", [(0.125, 82), (0.25, 67), (0.5, 44), (0.75, 30)])
def test_octave_cost_is_the_papers_fraction_of_a_plain_conv(alpha, percent_of_plain):
    """Paper, Table 1: (1-a)^2 + (2a(1-a) + a^2) / 4 of the plain conv's MACs (~82/67/44/30 %)."""
    plain = count_flops(nn.Conv2D(64, 64, 3, padding=1, bias_attr=False), (1, 64, 8, 8))
    octave = count_flops(FromPlain(OctaveConv(64, 64, 3, alpha, alpha, padding=1)), (1, 64, 8, 8))
    assert octave == plain * ((1 - alpha) ** 2 + (2 * alpha * (1 - alpha) + alpha ** 2) / 4)
    assert round(100 * octave / plain) == percent_of_plain


@pytest.mark.parametrize("dims,octave_type,plain_type", [(1, OctaveConv1D, nn.Conv1D), (3, OctaveConv3D, nn.Conv3D)])
def test_nd_octave_cost_and_params(dims, octave_type, plain_type):
    """MACs: (1-a)^2 + (2a(1-a) + a^2) / 2^dims of the plain conv's; params: the plain conv's."""
    size = (1, 16) + (4,) * dims
    plain = plain_type(16, 16, 3, padding=1, bias_attr=False)
    assert count_flops(plain, size) == 16 * 16 * 3 ** dims * 4 ** dims
    for alpha in (0.25, 0.5):
        octave = octave_type(16, 16, 3, alpha, alpha, padding=1)
        assert count_params(octave) == count_params(plain) == 16 * 16 * 3 ** dims
        assert count_flops(FromPlain(octave), size) == \
            count_flops(plain, size) * ((1 - alpha) ** 2 + (2 * alpha * (1 - alpha) + alpha ** 2) / 2 ** dims)


@pytest.mark.parametrize("bias", (False, True))
def test_alpha_zero_counts_like_a_conv2d(bias):
    octave = OctaveConv(4, 8, 3, 0.0, 0.0, stride=1, padding=0, bias=bias)
    conv = nn.Conv2D(4, 8, 3, bias_attr=None if bias else False)
    assert count_flops(octave, (2, 4, 7, 6)) == count_flops(conv, (2, 4, 7, 6)) == 2 * 8 * 4 * K3 * 5 * 4
    assert count_params(octave) == count_params(conv) == 8 * 4 * K3 + (8 if bias else 0)


@pytest.mark.parametrize("alpha_in,alpha_out", [(0.0, 0.5), (0.5, 0.5), (0.25, 0.75), (0.5, 0.0), (1.0, 0.5)])
def test_octave_conv_has_the_plain_conv_parameter_count(alpha_in, alpha_out):
    """The four paths partition the plain kernel: (out_h + out_l) x (in_h + in_l) x k x k."""
    assert count_params(OctaveConv(16, 32, 3, alpha_in, alpha_out, padding=1)) == 32 * 16 * K3
    # bias=True adds exactly one bias per output channel
    assert count_params(OctaveConv(16, 32, 3, alpha_in, alpha_out, padding=1, bias=True)) == 32 * 16 * K3 + 32


def test_count_params_counts_trainable_parameters_only():
    block = OctConvBN(16, 33, 3, 0.5, 0.5, padding=1)
    high, low = split_channels(33, 0.5)
    # BN weight + bias per channel; the running mean/variance are not trainable
    assert count_params(block) == 33 * 16 * K3 + 2 * (high + low)
    block.conv.conv_h2h.weight.stop_gradient = True  # frozen
    assert count_params(block) == 33 * 16 * K3 + 2 * (high + low) - high * 8 * K3
    assert count_params(OctaveConv(8, 8, 3, 0.5, 0.5, padding=1, groups=8)) == 8 * K3  # depthwise
    assert count_params(nn.Linear(8, 10)) == 8 * 10 + 10


def test_count_flops_leaves_the_model_as_it_was():
    """It runs one eval-mode pass: training mode and BN running statistics must be unchanged."""
    model = nn.Sequential(OctConvBNAct(3, 8, 3, 0.0, 0.5, padding=1))
    model.train()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    count_flops(model, (2, 3, 9, 9))
    assert model.training and all(layer.training for layer in model.sublayers())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key], err_msg=key)


@pytest.mark.parametrize("call,error,message", [
    (lambda: count_params(object()), TypeError, "count_params expects a paddle.nn.Layer, got object"),
    (lambda: count_flops("model", (1, 3, 8, 8)), TypeError, "count_flops expects a paddle.nn.Layer, got str"),
    (lambda: count_flops(nn.Conv2D(3, 3, 1), (3, 8)), ValueError,
     r"3 to 5 positive ints, \(N, C, L\), \(N, C, H, W\) or \(N, C, D, H, W\), got \(3, 8\)"),
    (lambda: count_flops(nn.Conv2D(3, 3, 1), (1, 3, 8, 0)), ValueError, r"positive ints.*got \(1, 3, 8, 0\)"),
    (lambda: count_flops(nn.Conv3D(3, 3, 1), (1, 3, 2, 2, 2, 2)), ValueError, r"3 to 5 positive ints"),
], ids=["params-not-layer", "flops-not-layer", "flops-2d", "flops-zero-side", "flops-6d"])
def test_counting_refuses_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


class SmallOctNet(nn.Layer):
    def __init__(self):
        super().__init__()
        self.stem = OctConvBNAct(3, 8, 3, 0.0, 0.5, padding=1)
        self.body = OctConvBNAct(8, 8, 3, 0.5, 0.5, stride=2, padding=1)
        self.last = OctConvBNAct(8, 6, 3, 0.5, 0.0, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        high, _ = self.last(self.body(self.stem(x)))
        return self.fc(high.mean([2, 3]))


def test_paddle_summary_agrees_with_count_params(capsys):
    """paddle.summary's trainable count is count_params; its total adds the BN running mean/var."""
    model = SmallOctNet()
    result = paddle.summary(model, (2, 3, 9, 7))
    printed = capsys.readouterr().out
    bn_channels = sum(layer.weight.shape[0] for layer in model.sublayers() if isinstance(layer, nn.BatchNorm2D))
    assert bn_channels == 4 + 4 + 4 + 4 + 6
    assert result["trainable_params"] == count_params(model)
    assert result["total_params"] == count_params(model) + 2 * bn_channels
    assert "OctaveConv" in printed and f"Total params: {result['total_params']:,}" in printed
