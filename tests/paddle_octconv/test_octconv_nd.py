"""OctaveConv1D / OctaveConv3D and their BN wrappers against the float64 numpy reference.

The same checks as test_octconv.py runs for 2-D, over (N, C, L) sequences and (N, C, D, H, W)
volumes: random weights set through the public path attributes, outputs compared with
octave_reference.py (which knows nothing of the layers), weight shapes taken from the
reference's own reading of the channel and group rules. Sizes mix odd and even sides and are
never cubes, so a swapped axis or a missing crop cannot pass.
"""
from __future__ import annotations

import math
from itertools import product

import numpy as np
import paddle
import paddle.nn as nn
import pytest

import octave_reference as ref
from octave_checks import (Case, assert_parts_close, check_against_reference, check_conv_bn_act,
                           check_low_map_chain, f64, make_inputs, randomize, run)
from paddle_octconv import (OctaveConv, OctaveConv1D, OctaveConv3D, OctConvBN, OctConvBN1D, OctConvBN3D,
                            OctConvBNAct, OctConvBNAct1D, OctConvBNAct3D, split_channels)

CONV = {1: OctaveConv1D, 3: OctaveConv3D}
PLAIN = {1: nn.Conv1D, 3: nn.Conv3D}
BN = {1: (OctConvBN1D, OctConvBNAct1D, nn.BatchNorm1D), 3: (OctConvBN3D, OctConvBNAct3D, nn.BatchNorm3D)}
SIZES = {1: ((9,), (8,)), 3: ((5, 6, 3), (4, 7, 6))}
DIMS = pytest.mark.parametrize("dims", (1, 3), ids=lambda d: f"{d}d")

CASES = [
    Case(8, 8, 0.0, 0.0), Case(8, 8, 0.0, 0.5), Case(8, 8, 0.25, 0.25), Case(8, 8, 0.5, 0.5),
    Case(8, 8, 0.25, 0.75),  # in != out alpha
    Case(8, 6, 0.5, 0.0),    # the last layer of a network: back to one map
    Case(8, 8, 1.0, 0.5), Case(8, 8, 0.5, 1.0), Case(8, 8, 1.0, 1.0),
    Case(8, 8, 0.5, 0.5, 2), Case(8, 8, 0.0, 0.5, 2),
    Case(16, 12, 0.25, 0.25, 4),  # group width 4 shared out unevenly: 3 high groups, 1 low
    Case(8, 8, 0.5, 0.5, 8), Case(8, 8, 0.0, 0.0, 8),  # depthwise
    Case(8, 16, 0.5, 0.5, 8),  # depthwise, channel multiplier 2
]


@pytest.mark.parametrize("size_index", (0, 1), ids=("odd", "even"))
@pytest.mark.parametrize("stride", (1, 2), ids=lambda s: f"s{s}")
@pytest.mark.parametrize("kernel", (1, 3), ids=lambda k: f"k{k}")
@pytest.mark.parametrize("case", CASES, ids=str)
@DIMS
def test_layer_matches_reference(dims, case, kernel, stride, size_index):
    check_against_reference(CONV[dims], case, kernel, stride, SIZES[dims][size_index])


@pytest.mark.parametrize("stride", (1, 2), ids=lambda s: f"s{s}")
@pytest.mark.parametrize("path", ref.PATHS)
@pytest.mark.parametrize("case", [Case(8, 8, 0.5, 0.5), Case(8, 8, 0.25, 0.75)], ids=str)
@DIMS
def test_each_path_alone_matches_reference(dims, case, path, stride):
    """One path live, the others zeroed: a wrong pool/upsample/crop shows up in its own path."""
    check_against_reference(CONV[dims], case, 3, stride, SIZES[dims][0], only=path)


@pytest.mark.parametrize("side", (1, 2, 3, 5, 8))
@DIMS
def test_low_map_is_half_the_high_map_rounded_up_on_every_axis(dims, side):
    """ceil(side / 2) at every layer of a chain, including stride 2, with correct values."""
    check_low_map_chain(CONV[dims], (side, side + 1, side + 2)[:dims])


ALPHA_ZERO = [(1, 0, 1), (3, 1, 1), (3, 0, 1), (3, 2, 2), (5, 2, 1)]


@pytest.mark.parametrize("bias", (False, True))
@pytest.mark.parametrize("kernel,padding,dilation", ALPHA_ZERO)
@pytest.mark.parametrize("groups", (1, 2, 4))
@DIMS
def test_alpha_zero_is_exactly_a_plain_conv(dims, groups, kernel, padding, dilation, bias):
    """Same weights give bit-identical outputs and the same parameters as nn.Conv1D / nn.Conv3D
    (the 1-D and 3-D layers run Paddle's own conv op, no fast-path reordering)."""
    plain = PLAIN[dims](4, 8, kernel, padding=padding, dilation=dilation, groups=groups,
                        bias_attr=None if bias else False)
    octave = CONV[dims](4, 8, kernel, 0.0, 0.0, padding=padding, dilation=dilation, groups=groups, bias=bias)
    assert type(octave.conv_h2h) is PLAIN[dims]
    assert [p.shape for p in octave.parameters()] == [p.shape for p in plain.parameters()]
    octave.conv_h2h.weight.set_value(plain.weight)
    if bias:
        octave.conv_h2h.bias.set_value(plain.bias)
    x = paddle.randn([2, 4, *SIZES[dims][0]])
    high, low = octave(x)
    assert low is None
    np.testing.assert_array_equal(high.numpy(), plain(x).numpy())


@DIMS
def test_anisotropic_kernels_follow_the_reference(dims):
    """Per-axis kernel, padding and dilation (e.g. a (1, 3, 3) spatial-only 3-D kernel)."""
    kernel, padding, dilation = {1: ((5,), (4,), (2,)), 3: ((1, 3, 5), (0, 1, 2), (1, 1, 1))}[dims]
    layer = CONV[dims](8, 8, kernel, 0.5, 0.5, padding=padding, dilation=dilation)
    rng = np.random.default_rng(0)
    weights = {}
    for name, conv in layer.paths().items():
        assert list(conv.weight.shape[2:]) == list(kernel), name
        weights[name] = rng.standard_normal(conv.weight.shape).astype("float32")
        conv.weight.set_value(weights[name])
    x_high, x_low = make_inputs(Case(8, 8, 0.5, 0.5), SIZES[dims][0])
    expected = ref.octave_conv(f64(x_high), f64(x_low), {k: f64(v) for k, v in weights.items()},
                               dict.fromkeys(weights, 1), padding=padding, dilation=dilation)
    assert_parts_close(run(layer, x_high, x_low), expected)


@pytest.mark.parametrize("alpha_in,alpha_out", [(0.25, 0.25), (0.25, 0.75)])
@DIMS
def test_group_split_count_matches_the_reference(dims, alpha_in, alpha_out):
    """group_split="count": every path has ``groups`` groups of its own part's width."""
    groups = 4
    layer = CONV[dims](16, 32, 3, alpha_in, alpha_out, padding=1, groups=groups, group_split="count")
    c_in = dict(zip("hl", ref.split(16, alpha_in)))
    c_out = dict(zip("hl", ref.split(32, alpha_out)))
    specs = {name: ref.PathSpec((c_out[name[2]], c_in[name[0]] // groups) + (3,) * dims, groups)
             for name in ref.PATHS if c_in[name[0]] and c_out[name[2]]}
    weights = randomize(layer, specs)
    x_high, x_low = make_inputs(Case(16, 32, alpha_in, alpha_out), SIZES[dims][0])
    expected = ref.octave_conv(f64(x_high), f64(x_low), weights, dict.fromkeys(specs, groups), padding=1)
    assert_parts_close(run(layer, x_high, x_low), expected)


GRAD_CASES = [Case(8, 8, 0.5, 0.5), Case(8, 8, 0.0, 0.5), Case(8, 6, 0.5, 0.0), Case(8, 8, 1.0, 0.5),
              Case(8, 8, 0.5, 1.0), Case(8, 8, 0.25, 0.75), Case(8, 8, 0.5, 0.5, 2), Case(8, 8, 0.5, 0.5, 8)]


@pytest.mark.parametrize("stride", (1, 2), ids=lambda s: f"s{s}")
@pytest.mark.parametrize("case", GRAD_CASES, ids=str)
@DIMS
def test_gradients_equal_the_references_directional_derivatives(dims, case, stride):
    """Every gradient against the numpy reference, by linearity.

    The loss L = sum(y * g) (g random) is linear in the inputs and in each path's weight, so
    the derivative along a random direction v equals the reference applied to v alone:
    <dL/dx, v> = <octave_conv(v; W), g> and <dL/dW_p, V> = <octave_conv(x; only path p = V), g>;
    each bias gets the sum of g over its output part.
    """
    size = SIZES[dims][0]
    layer = CONV[dims](case.in_channels, case.out_channels, 3, case.alpha_in, case.alpha_out,
                       stride=stride, padding=1, groups=case.groups, bias=True)
    specs = ref.path_specs(case.in_channels, case.out_channels, 3, case.alpha_in, case.alpha_out,
                           case.groups, dims=dims)
    groups = {name: spec.groups for name, spec in specs.items()}
    weights = randomize(layer, specs)
    x_np = make_inputs(case, size)
    xs = [None if x is None else paddle.to_tensor(x, stop_gradient=False) for x in x_np]
    ys = layer(tuple(xs))
    rng = np.random.default_rng(5)
    gs = [None if y is None else rng.standard_normal(y.shape) for y in ys]
    sum(((y * paddle.to_tensor(g.astype("float32"))).sum() for y, g in zip(ys, gs) if y is not None)).backward()

    def along(y_ref):  # <y_ref, g> over the output parts the reference gives
        terms = [r * g for r, g in zip(y_ref, gs) if r is not None]
        return sum(t.sum() for t in terms), sum(np.abs(t).sum() for t in terms)

    def check(got, y_ref, what):
        expected, scale = along(y_ref)
        assert abs(got - expected) <= 1e-5 * scale, (what, got, expected)

    directions = [None if x is None else rng.standard_normal(x.shape) for x in x_np]
    check(sum((x.grad.numpy() * v).sum() for x, v in zip(xs, directions) if x is not None),
          ref.octave_conv(*directions, weights, groups, stride=stride, padding=1), "inputs")
    checked = set()
    for name, conv in layer.paths().items():
        v = rng.standard_normal(specs[name].weight_shape)
        check((conv.weight.grad.numpy() * v).sum(),
              ref.octave_conv(*map(f64, x_np), {name: v}, groups, stride=stride, padding=1), name)
        checked.add(f"conv_{name}.weight")
        if conv.bias is not None:
            part = {"h": 0, "l": 1}[name[-1]]
            axes = (0, *range(2, 2 + dims))
            np.testing.assert_allclose(conv.bias.grad.numpy(), gs[part].sum(axis=axes), rtol=1e-5, atol=1e-4)
            checked.add(f"conv_{name}.bias")
    assert checked == {name for name, _ in layer.named_parameters()}
    assert sum(conv.bias is not None for conv in layer.paths().values()) == sum(y is not None for y in ys)


@DIMS
def test_depthwise_keeps_only_same_frequency_paths(dims):
    layer = CONV[dims](8, 8, 3, 0.5, 0.5, padding=1, groups=8)
    assert set(layer.paths()) == {"h2h", "l2l"}


# --------------------------------------------------------------------------- BN / BN+act wrappers
@pytest.mark.parametrize("alpha_in,alpha_out", [(0.0, 0.5), (0.5, 0.5), (0.5, 0.0), (0.5, 1.0), (1.0, 0.25)])
@DIMS
def test_octconv_bn_act_is_conv_then_bn_per_part_then_relu(dims, alpha_in, alpha_out):
    _, block_type, norm_type = BN[dims]
    check_conv_bn_act(block_type, norm_type, alpha_in, alpha_out, SIZES[dims][0])


@pytest.mark.parametrize("out_channels,alpha", [(33, 0.5), (7, 0.25)])
@pytest.mark.parametrize("kind", (0, 1), ids=("BN", "BNAct"))
@DIMS
def test_bn_widths_follow_the_conv_split_and_train_mode_runs(dims, kind, out_channels, alpha):
    block = BN[dims][kind](16, out_channels, 3, 0.5, alpha, padding=1)
    high, low = split_channels(out_channels, alpha)
    assert (block.bn_h.weight.shape, block.bn_l.weight.shape) == ([high], [low])
    size = SIZES[dims][0]
    y = block((paddle.randn([2, 8, *size]), paddle.randn([2, 8, *(math.ceil(s / 2) for s in size)])))
    assert (y.high.shape, y.low.shape) == ([2, high, *size], [2, low, *(math.ceil(s / 2) for s in size)])
    if kind:
        assert min(y.high.min().item(), y.low.min().item()) >= 0  # ReLU after BN


@DIMS
def test_blocks_have_the_2d_blocks_names_and_relations(dims):
    """Same checkpoint keys as OctConvBN / OctConvBNAct; BNAct is a BN block; act_layer applies."""
    bn_type, act_type, _ = BN[dims]
    assert issubclass(act_type, bn_type) and not issubclass(bn_type, OctConvBN)
    assert not issubclass(CONV[dims], OctaveConv)
    for block in (bn_type(8, 8, 3, 0.5, 0.5, padding=1), act_type(8, 8, 3, 0.5, 0.5, padding=1)):
        assert set(block.state_dict()) == set(OctConvBNAct(8, 8, 3, 0.5, 0.5, padding=1).state_dict())
        assert type(block.conv) is CONV[dims]
    six = act_type(4, 4, 1, 0.0, 0.0, act_layer=nn.ReLU6)
    six.eval()  # fresh running stats: BN is ~identity, so the conv gives 40 and ReLU6 caps it
    six.conv.conv_h2h.weight.set_value(np.full([4, 4] + [1] * dims, 10.0, "float32"))
    high, _ = six(paddle.ones([2, 4, *SIZES[dims][1]]))
    assert high.max().item() == 6.0


# ---------------------------------------------------------------------------------------- errors
CONSTRUCTION_ERRORS = [
    (1, dict(kernel_size=(3, 3)), TypeError, r"kernel_size must be an int or a tuple of 1 int .*got \(3, 3\)"),
    (3, dict(padding=(1, 1)), TypeError, r"padding must be an int or a tuple of 3 ints .*got \(1, 1\)"),
    (1, dict(stride=3), ValueError, r"OctaveConv1D supports stride 1 or 2 .*got 3"),
    (3, dict(alpha_in=1.5), ValueError, r"alpha_in must be in \[0, 1\], got 1.5"),
    (1, dict(padding=0), ValueError,
     r"OctaveConv1D with a low-frequency part needs a size-preserving .*= \(1,\); got .*padding=\(0,\)"),
    (3, dict(padding=(1, 1, 0)), ValueError,
     r"OctaveConv3D with a low-frequency part .*= \(1, 1, 1\); got kernel_size=\(3, 3, 3\), padding=\(1, 1, 0\)"),
    (3, dict(kernel_size=(3, 2, 3), padding=1), ValueError, r"odd kernel .*kernel_size=\(3, 2, 3\)"),
    (1, dict(in_channels=6, groups=4), ValueError, r"groups=4 must divide in_channels=6"),
    (3, dict(alpha_in=0.25, alpha_out=0.25, groups=2), ValueError,
     r"groups=2 do not split between the high \(6\) and low \(2\) input channels"),
    (3, dict(alpha_in=0.5, alpha_out=0.25, groups=8), ValueError,
     r"a depthwise OctaveConv3D .*alpha_in == alpha_out.*got in \(4, 4\) -> out \(6, 2\)"),
]


@pytest.mark.parametrize("dims,overrides,error,message", CONSTRUCTION_ERRORS, ids=lambda v: str(v)[:40])
def test_bad_construction_is_refused_with_the_numbers(dims, overrides, error, message):
    args = dict(in_channels=8, out_channels=8, kernel_size=3, alpha_in=0.5, alpha_out=0.5, padding=1)
    with pytest.raises(error, match=message):
        CONV[dims](**{**args, **overrides})


def _half(dims):
    return CONV[dims](8, 8, 3, 0.5, 0.5, padding=1)


CALL_ERRORS = [
    ("1d tensor for a tuple", 1, lambda: paddle.zeros([1, 8, 6]), TypeError,
     r"OctaveConv1D with alpha_in=0.5 expects a tuple \(x_high, x_low\) with 4 low-frequency channels"),
    ("1d given 2d maps", 1, lambda: (paddle.zeros([1, 4, 6, 6]), paddle.zeros([1, 4, 3, 3])), ValueError,
     r"x_high must be 3-D \(N, C, L\), got 4-D shape \[1, 4, 6, 6\]"),
    ("3d given 2d maps", 3, lambda: (paddle.zeros([1, 4, 6, 6]), paddle.zeros([1, 4, 3, 3])), ValueError,
     r"x_high must be 5-D \(N, C, D, H, W\), got 4-D shape \[1, 4, 6, 6\]"),
    ("1d low length", 1, lambda: (paddle.zeros([1, 4, 7]), paddle.zeros([1, 4, 3])), ValueError,
     r"x_low has spatial size \[3\], expected ceil\(L/2\) = \[4\] for x_high of size \[7\]"),
    ("3d low size", 3, lambda: (paddle.zeros([1, 4, 5, 4, 7]), paddle.zeros([1, 4, 3, 2, 3])), ValueError,
     r"x_low has spatial size \[3, 2, 3\], expected ceil\(D/2\), ceil\(H/2\), ceil\(W/2\) = \[3, 2, 4\] "
     r"for x_high of size \[5, 4, 7\]"),
    ("3d low channels", 3, lambda: (paddle.zeros([1, 4, 2, 2, 2]), paddle.zeros([1, 3, 1, 1, 1])), ValueError,
     r"x_low has 3 channels, expected 4"),
    ("3d batch", 3, lambda: (paddle.zeros([2, 4, 2, 2, 2]), paddle.zeros([1, 4, 1, 1, 1])), ValueError,
     r"different batch sizes: 2 vs 1"),
]


@pytest.mark.parametrize("what,dims,make_input,error,message", CALL_ERRORS, ids=[c[0] for c in CALL_ERRORS])
def test_bad_input_is_refused_with_what_was_expected_and_what_came(what, dims, make_input, error, message):
    with pytest.raises(error, match=message):
        _half(dims)(make_input())


def test_2d_layer_refuses_1d_and_3d_maps_by_its_own_layout():
    with pytest.raises(ValueError, match=r"x_high must be 4-D \(N, C, H, W\), got 5-D"):
        OctaveConv(4, 4, 3, 0.0, 0.5, padding=1)(paddle.zeros([1, 4, 2, 2, 2]))
    with pytest.raises(ValueError, match=r"x_high must be 4-D \(N, C, H, W\), got 3-D"):
        OctaveConv(4, 4, 3, 0.0, 0.5, padding=1)(paddle.zeros([1, 4, 6]))


@pytest.mark.parametrize("alpha_in,alpha_out", product((0.0, 0.5), (0.0, 0.5, 1.0)))
@DIMS
def test_bias_is_added_exactly_once_per_output_part(dims, alpha_in, alpha_out):
    layer = CONV[dims](8, 8, 3, alpha_in, alpha_out, padding=1, bias=True)
    for name, conv in layer.paths().items():
        assert (conv.bias is not None) == (name == layer.bias_path(name[-1])), name
