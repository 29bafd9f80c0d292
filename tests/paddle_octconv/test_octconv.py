"""OctaveConv and its BN wrappers against the independent numpy reference in octave_reference.py.

Each test sets random weights through the public path attributes (``conv_h2h`` ... the names the
published checkpoints use), runs the layer, and compares with float64 numpy computed from the
same numbers. The expected weight shapes come from the reference's own reading of the channel and
group rules, so a wrong split fails as a shape mismatch before any numbers are compared.
"""
from __future__ import annotations

import inspect
import math
from itertools import product

import numpy as np
import paddle
import paddle.nn as nn
import pytest

import octave_reference as ref
from octave_checks import (TOL, Case, check_against_reference, check_conv_bn_act,
                           check_low_map_chain, make_inputs, run, to_paddle)
from paddle_octconv import (Conv_BN, Conv_BN_ACT, OctaveConv, OctConvBN, OctConvBN1D, OctConvBN3D,
                            OctConvBNAct, OctConvBNAct1D, OctConvBNAct3D, low_frequency_size,
                            split_channels)

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
SIZES = ((8, 6), (7, 9))  # even and odd, never square, so a swapped H/W cannot pass


def _cases():
    cases = [Case(8, 8, a_in, a_out) for a_in, a_out in product(ALPHAS, ALPHAS)]
    # groups=2 keeps the group width 4, so the input split must be whole groups: 0, 4 or 8 low.
    cases += [Case(8, 8, a_in, a_out, 2) for a_in, a_out in product((0.0, 0.5, 1.0), ALPHAS)]
    # width 4 shared out unevenly: 3 high groups (12 channels) and 1 low group (4 channels).
    cases.append(Case(16, 12, 0.25, 0.25, 4))
    cases += [Case(8, 8, a, a, 8) for a in ALPHAS]  # depthwise
    cases.append(Case(8, 16, 0.5, 0.5, 8))  # depthwise with a channel multiplier of 2
    # The published port treats in_channels == groups == 1 as depthwise and drops h2l.
    cases.append(Case(1, 8, 0.0, 0.5))
    return cases


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("stride", (1, 2), ids=lambda s: f"s{s}")
@pytest.mark.parametrize("kernel", (1, 3), ids=lambda k: f"k{k}")
@pytest.mark.parametrize("case", _cases(), ids=str)
def test_layer_matches_reference(case, kernel, stride, size):
    check_against_reference(OctaveConv, case, kernel, stride, size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("stride", (1, 2), ids=lambda s: f"s{s}")
@pytest.mark.parametrize("path", ref.PATHS)
@pytest.mark.parametrize("case", [Case(8, 8, 0.5, 0.5), Case(8, 8, 0.25, 0.75)], ids=str)
def test_each_path_alone_matches_reference(case, path, stride, size):
    """One path live, the others zeroed: a wrong pool/upsample/crop shows up in its own path."""
    check_against_reference(OctaveConv, case, 3, stride, size, only=path)


@pytest.mark.parametrize("side", [*range(1, 10), 25, 100, 225])
def test_low_map_is_half_the_high_map_rounded_up(side):
    """Low map = ceil(H/2) at every layer of a chain, including stride 2, with correct values."""
    size = (side, side + 1)
    assert tuple(low_frequency_size(s) for s in size) == tuple(math.ceil(s / 2) for s in size)
    check_low_map_chain(OctaveConv, size)


@pytest.mark.parametrize("groups", (1, 2, 4))
@pytest.mark.parametrize("kernel,padding,dilation", [(1, 0, 1), (3, 1, 1), (3, 0, 1), (3, 2, 2)])
@pytest.mark.parametrize("bias", (False, True))
def test_alpha_zero_is_exactly_a_conv2d(groups, kernel, padding, dilation, bias):
    """Same weights give the same outputs and parameter count as paddle.nn.Conv2D.

    Equal to float32 rounding, not bit for bit: on CPU in dygraph a path conv may run as one of
    OctaveConv's fast formulations, which add the same products in another order.
    """
    conv = nn.Conv2D(4, 8, kernel, padding=padding, dilation=dilation, groups=groups,
                     bias_attr=None if bias else False)
    octave = OctaveConv(4, 8, kernel, 0.0, 0.0, padding=padding, dilation=dilation, groups=groups, bias=bias)
    assert sum(p.size for p in octave.parameters()) == sum(p.size for p in conv.parameters())
    octave.conv_h2h.weight.set_value(conv.weight)
    if bias:
        octave.conv_h2h.bias.set_value(conv.bias)
    x = paddle.randn([2, 4, 7, 6])
    high, low = octave(x)
    assert low is None
    expected = conv(x).numpy()
    np.testing.assert_allclose(high.numpy(), expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


def test_alpha_zero_accepts_a_plain_tensor_or_a_tuple_with_none():
    layer = OctaveConv(4, 8, 3, 0.0, 0.5, padding=1)
    x = paddle.randn([1, 4, 5, 5])
    for got, expected in zip(layer((x, None)), layer(x)):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


GRAD_CASES = [Case(8, 8, 0.5, 0.5), Case(8, 8, 0.0, 0.5), Case(8, 8, 0.5, 0.0), Case(8, 8, 1.0, 0.5),
              Case(8, 8, 0.5, 1.0), Case(8, 8, 0.25, 0.75), Case(8, 8, 0.5, 0.5, 2), Case(8, 8, 0.5, 0.5, 8)]


@pytest.mark.parametrize("stride", (1, 2), ids=lambda s: f"s{s}")
@pytest.mark.parametrize("case", GRAD_CASES, ids=str)
def test_gradients_reach_every_parameter_and_input(case, stride):
    layer = OctaveConv(case.in_channels, case.out_channels, 3, case.alpha_in, case.alpha_out,
                       stride=stride, padding=1, groups=case.groups, bias=True)
    inputs = [to_paddle(x) for x in make_inputs(case, (7, 5))]
    for x in inputs:
        if x is not None:
            x.stop_gradient = False
    outputs = [y for y in layer(tuple(inputs)) if y is not None]
    # random output weights: a plain sum would give the biases identical, uninformative grads
    loss = sum((y * paddle.randn(y.shape)).sum() for y in outputs)
    loss.backward()
    for name, param in layer.named_parameters():
        assert param.grad is not None and np.any(param.grad.numpy() != 0), name
    for x in inputs:
        if x is not None:
            assert x.grad is not None and np.any(x.grad.numpy() != 0)


@pytest.mark.parametrize("alpha_in,alpha_out", product(ALPHAS, ALPHAS))
def test_bias_is_added_exactly_once_per_output_part(alpha_in, alpha_out):
    """bias=True: each bias shifts exactly one output part by itself, and every part has one."""
    layer = OctaveConv(8, 8, 3, alpha_in, alpha_out, padding=1, bias=True)
    biases = [p for n, p in layer.named_parameters() if n.endswith("bias")]
    x_high, x_low = make_inputs(Case(8, 8, alpha_in, alpha_out), (5, 6))
    for p in biases:
        p.set_value(np.zeros(p.shape, "float32"))
    without = run(layer, x_high, x_low)
    rng = np.random.default_rng(2)
    shifted = []
    for live in biases:
        value = rng.standard_normal(live.shape).astype("float32") + 3  # never ~0
        for p in biases:
            p.set_value(value if p is live else np.zeros(p.shape, "float32"))
        deltas = {part: got - base for part, got, base in zip(("high", "low"), run(layer, x_high, x_low), without)
                  if base is not None}
        moved = [part for part, d in deltas.items() if np.abs(d).max() > 1e-4]
        assert len(moved) == 1, moved
        delta = deltas[moved[0]]
        np.testing.assert_allclose(delta, np.broadcast_to(value.reshape(1, -1, 1, 1), delta.shape), **TOL)
        shifted.append(moved[0])
    parts_with_channels = [part for part, c in zip(("high", "low"), ref.split(8, alpha_out)) if c]
    assert sorted(shifted) == sorted(parts_with_channels)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_depthwise_keeps_only_same_frequency_paths(alpha):
    layer = OctaveConv(8, 8, 3, alpha, alpha, padding=1, groups=8)
    high, low = ref.split(8, alpha)
    present = {name for name in ref.PATHS if getattr(layer, f"conv_{name}") is not None}
    assert present == {name for name, channels in (("h2h", high), ("l2l", low)) if channels}


def test_single_input_channel_is_a_normal_conv_not_depthwise():
    """The published port takes in_channels == groups == 1 for depthwise and loses h2l."""
    layer = OctaveConv(1, 8, 3, alpha_in=0.0, alpha_out=0.5, padding=1)
    high, low = layer(paddle.randn([2, 1, 9, 9]))
    assert high.shape == [2, 4, 9, 9] and low.shape == [2, 4, 5, 5]
    assert layer.conv_h2l is not None and layer.conv_h2l.weight.shape == [4, 1, 3, 3]


def test_split_channels_follows_the_published_rule():
    assert [tuple(split_channels(c, a)) for c, a in [(33, 0.5), (64, 0.125), (10, 0.75), (7, 1.0), (7, 0.0)]] \
        == [(17, 16), (56, 8), (3, 7), (0, 7), (7, 0)]


@pytest.mark.parametrize("call,error,message", [
    (lambda: split_channels(-1, 0.5), ValueError, r"channels must be a non-negative int, got -1"),
    (lambda: split_channels(8.0, 0.5), TypeError, r"channels must be a non-negative int, got float 8.0"),
    (lambda: split_channels(True, 0.5), TypeError, r"got bool True"),
    (lambda: low_frequency_size(0), ValueError, r"size must be a positive int, got 0"),
    (lambda: low_frequency_size(-1), ValueError, r"size must be a positive int, got -1"),
    (lambda: low_frequency_size(7.0), TypeError, r"size must be a positive int, got float 7.0"),
])
def test_channel_and_size_helpers_refuse_what_is_not_a_count(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------- BN / BN+act wrappers
@pytest.mark.parametrize("alpha_in,alpha_out", [(0.0, 0.5), (0.5, 0.5), (0.5, 0.0), (0.5, 1.0), (1.0, 0.25)])
def test_octconv_bn_act_is_conv_then_bn_per_part_then_relu(alpha_in, alpha_out):
    check_conv_bn_act(OctConvBNAct, nn.BatchNorm2D, alpha_in, alpha_out, (7, 6))


@pytest.mark.parametrize("out_channels,alpha", [(33, 0.5), (7, 0.25), (5, 0.75)])
@pytest.mark.parametrize("block_type", (OctConvBN, OctConvBNAct))
def test_bn_widths_follow_the_conv_split_for_odd_channels(block_type, out_channels, alpha):
    block = block_type(32, out_channels, 3, 0.5, alpha, padding=1)
    high, low = split_channels(out_channels, alpha)
    assert (block.bn_h.weight.shape, block.bn_l.weight.shape) == ([high], [low])
    y = block((paddle.randn([2, 16, 5, 5]), paddle.randn([2, 16, 3, 3])))  # train mode: batch stats
    assert (y.high.shape, y.low.shape) == ([2, high, 5, 5], [2, low, 3, 3])


@pytest.mark.parametrize("alpha_in,alpha_out,paths,bns", [
    (0.5, 0.5, ("h2h", "h2l", "l2h", "l2l"), ("bn_h", "bn_l")),
    (0.0, 0.5, ("h2h", "h2l"), ("bn_h", "bn_l")),
    (0.5, 0.0, ("h2h", "l2h"), ("bn_h",)),
])
@pytest.mark.parametrize("block_type", (OctConvBN, OctConvBNAct, Conv_BN, Conv_BN_ACT))
def test_parameter_names_match_the_public_checkpoints(block_type, alpha_in, alpha_out, paths, bns):
    """Keys as in d-li14/octconv.pytorch (Paddle spells BN running stats _mean/_variance)."""
    block = block_type(8, 8, 3, alpha_in, alpha_out, padding=1)
    expected = {f"conv.conv_{p}.weight" for p in paths}
    expected |= {f"{bn}.{attr}" for bn in bns for attr in ("weight", "bias", "_mean", "_variance")}
    assert set(block.state_dict()) == expected


def test_published_names_are_the_same_classes():
    assert Conv_BN is OctConvBN and Conv_BN_ACT is OctConvBNAct


@pytest.mark.parametrize("bn_type,act_type", [(OctConvBN, OctConvBNAct), (OctConvBN1D, OctConvBNAct1D),
                                              (OctConvBN3D, OctConvBNAct3D)])
def test_bn_act_signature_is_the_bn_blocks_plus_keyword_act_layer(bn_type, act_type):
    """help() and inspect show the real arguments (not *args, **kwargs): the BN block's, in its
    positional order with its defaults and types, then a keyword-only act_layer."""
    params = list(inspect.signature(act_type).parameters.values())
    assert params[:-1] == list(inspect.signature(bn_type).parameters.values())
    assert (params[-1].name, params[-1].kind, params[-1].default) == (
        "act_layer", inspect.Parameter.KEYWORD_ONLY, None)
    block = act_type(8, 8, 3, 0.5, 0.5, 2, 1, 1, 2, False, None, "count", act_layer=nn.ReLU6)
    conv = block.conv
    assert (conv.stride, conv.padding[0], conv.groups, conv.group_split) == (2, 1, 2, "count")
    assert type(block.act) is nn.ReLU6


def test_the_octconv_modules_public_names_are_the_packages():
    """octconv.__all__ is what the package re-exports: PathWeights (in convolve()'s signature)
    is public, the module-level helper cpu_formulation is not."""
    import paddle_octconv
    from paddle_octconv import octconv

    assert set(octconv.__all__) <= set(paddle_octconv.__all__)
    assert all(getattr(paddle_octconv, name) is getattr(octconv, name) for name in octconv.__all__)
    assert "PathWeights" in octconv.__all__ and "cpu_formulation" not in paddle_octconv.__all__


# ---------------------------------------------------------------------------------------- errors
def _tensor(*shape):
    return paddle.zeros(list(shape))


def _half_half():
    return OctaveConv(8, 8, 3, 0.5, 0.5, padding=1)


CONSTRUCTION_ERRORS = [
    (dict(alpha_in=1.5), ValueError, r"alpha_in must be in \[0, 1\], got 1.5"),
    (dict(alpha_out=-0.25), ValueError, r"alpha_out must be in \[0, 1\], got -0.25"),
    (dict(alpha_in="0.5"), TypeError, r"alpha_in must be a float in \[0, 1\], got str '0.5'"),
    (dict(alpha_out=True), TypeError, r"alpha_out must be a float in \[0, 1\], got bool True"),
    (dict(stride=3), ValueError, r"stride 1 or 2 .*got 3"),
    (dict(stride=0), ValueError, r"stride 1 or 2 .*got 0"),
    (dict(stride=2.0), TypeError, r"OctaveConv stride must be the int 1 or 2, got float 2.0"),
    (dict(in_channels="8"), TypeError, r"in_channels must be a positive int, got str '8'"),
    (dict(groups=0), ValueError, r"groups must be a positive int, got 0"),
    (dict(out_channels=True), TypeError, r"out_channels must be a positive int, got bool True"),
    (dict(in_channels=6, groups=4), ValueError, r"groups=4 must divide in_channels=6"),
    (dict(alpha_in=0.25, alpha_out=0.25, groups=2), ValueError,
     r"groups=2 do not split between the high \(6\) and low \(2\) input channels"
     r".*group width in_channels / groups = 4"),
    (dict(alpha_in=0.0, alpha_out=0.0, out_channels=6, groups=4), ValueError,
     r"conv_h2h: 6 output channels are not divisible by its 4 groups"),
    (dict(alpha_in=0.5, alpha_out=0.25, groups=8), ValueError,
     r"depthwise .*alpha_in == alpha_out.*got in \(4, 4\) -> out \(6, 2\)"),
    (dict(padding=0), ValueError,
     r"size-preserving .*padding = dilation \* \(kernel_size - 1\) // 2 = \(1, 1\); got .*padding=\(0, 0\)"),
    (dict(kernel_size=2, padding=1), ValueError, r"odd kernel .*kernel_size=\(2, 2\)"),
    (dict(alpha_in=0.0, alpha_out=0.5, dilation=2, padding=1), ValueError,
     r"= \(2, 2\); got .*padding=\(1, 1\), dilation=\(2, 2\)"),
]


@pytest.mark.parametrize("overrides,error,message", CONSTRUCTION_ERRORS, ids=lambda v: str(v)[:40])
def test_bad_construction_is_refused_with_the_numbers(overrides, error, message):
    args = dict(in_channels=8, out_channels=8, kernel_size=3, alpha_in=0.5, alpha_out=0.5, padding=1)
    with pytest.raises(error, match=message):
        OctaveConv(**{**args, **overrides})


CALL_ERRORS = [
    ("tensor where a tuple is needed", _half_half, lambda: _tensor(1, 8, 6, 6), TypeError,
     r"alpha_in=0.5 expects a tuple \(x_high, x_low\) with 4 low-frequency channels, got a single Tensor"),
    ("three parts", _half_half, lambda: (_tensor(1, 4, 6, 6),) * 3, TypeError,
     r"tuple \(x_high, x_low\), got tuple of length 3"),
    ("numpy part", _half_half, lambda: (np.zeros((1, 4, 6, 6), "float32"), _tensor(1, 4, 3, 3)), TypeError,
     r"x_high must be a paddle.Tensor or None, got ndarray"),
    ("missing low", _half_half, lambda: (_tensor(1, 4, 6, 6), None), ValueError,
     r"x_low is None but alpha_in=0.5 of in_channels=8 gives it 4 channels"),
    ("high channels", _half_half, lambda: (_tensor(1, 5, 6, 6), _tensor(1, 4, 3, 3)), ValueError,
     r"x_high has 5 channels, expected 4 \(in_channels=8, alpha_in=0.5: high 4, low 4\)"),
    ("low channels", _half_half, lambda: (_tensor(1, 4, 6, 6), _tensor(1, 3, 3, 3)), ValueError,
     r"x_low has 3 channels, expected 4"),
    ("plain channels", lambda: OctaveConv(3, 8, 3, 0.0, 0.5, padding=1), lambda: _tensor(1, 4, 6, 6), ValueError,
     r"x_high has 4 channels, expected 3"),
    ("3-D plain", lambda: OctaveConv(3, 8, 3, 0.0, 0.5, padding=1), lambda: _tensor(3, 6, 6), ValueError,
     r"x_high must be 4-D \(N, C, H, W\), got 3-D shape \[3, 6, 6\]"),
    ("5-D low", _half_half, lambda: (_tensor(1, 4, 6, 6), _tensor(1, 4, 3, 3, 1)), ValueError,
     r"x_low must be 4-D \(N, C, H, W\), got 5-D"),
    ("low size", _half_half, lambda: (_tensor(1, 4, 7, 6), _tensor(1, 4, 3, 3)), ValueError,
     r"x_low has spatial size \[3, 3\], expected ceil\(H/2\), ceil\(W/2\) = \[4, 3\] for x_high of size \[7, 6\]"),
    ("batch", _half_half, lambda: (_tensor(2, 4, 6, 6), _tensor(1, 4, 3, 3)), ValueError,
     r"different batch sizes: 2 vs 1"),
]


@pytest.mark.parametrize("what,make_layer,make_input,error,message", CALL_ERRORS, ids=[c[0] for c in CALL_ERRORS])
def test_bad_input_is_refused_with_what_was_expected_and_what_came(what, make_layer, make_input, error, message):
    layer = make_layer()
    with pytest.raises(error, match=message):
        layer(make_input())
