"""What the OctaveConv tests of every dimension share: cases, random inputs and weights set
through the public path attributes, the call users make, and the comparisons against the float64
numpy reference (octave_reference.py), for (N, C, L), (N, C, H, W) and (N, C, D, H, W) maps alike.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import paddle

import octave_reference as ref

# float32 layer vs float64 reference over at most 16 * 27 products per output
TOL = dict(rtol=1e-4, atol=1e-5)


class Case(NamedTuple):
    in_channels: int
    out_channels: int
    alpha_in: float
    alpha_out: float
    groups: int = 1

    def __str__(self):
        return f"{self.in_channels}->{self.out_channels}-a{self.alpha_in}/{self.alpha_out}-g{self.groups}"


def low_size(size):
    return tuple(math.ceil(s / 2) for s in size)


def make_inputs(case: Case, size, batch=2, seed=0):
    """(x_high, x_low) numpy inputs for the case's input split at spatial ``size`` (one int per
    axis); a part without channels is None."""
    high, low = ref.split(case.in_channels, case.alpha_in)
    rng = np.random.default_rng(seed)
    x_high = rng.standard_normal((batch, high, *size)).astype("float32") if high else None
    x_low = rng.standard_normal((batch, low, *low_size(size))).astype("float32") if low else None
    return x_high, x_low


def randomize(layer, specs, seed=1, only=None):
    """Random weights on every path (zero off ``only``), returned in float64; asserts first that
    the layer has exactly the paths and weight shapes of the reference, so a wrong channel or
    group split fails as a shape mismatch before any numbers are compared."""
    paths = layer.paths()
    assert {name: tuple(conv.weight.shape) for name, conv in paths.items()} == \
        {name: spec.weight_shape for name, spec in specs.items()}
    rng = np.random.default_rng(seed)
    weights = {}
    for name, spec in specs.items():
        w = rng.standard_normal(spec.weight_shape).astype("float32")
        if only is not None and name != only:
            w = np.zeros_like(w)
        paths[name].weight.set_value(w)
        weights[name] = w.astype("float64")
    return weights


def f64(x):
    return None if x is None else x.astype("float64")


def to_paddle(x):
    return None if x is None else paddle.to_tensor(x)


def run(layer, x_high, x_low):
    """Call the layer the way users do: a plain tensor when there is no low input."""
    x = to_paddle(x_high) if x_low is None else (to_paddle(x_high), to_paddle(x_low))
    return tuple(None if y is None else y.numpy() for y in layer(x))


def assert_parts_close(got, expected):
    for part, g, e in zip(("high", "low"), got, expected):
        assert (g is None) == (e is None), f"{part}: got {g is None and 'None'}, expected {e is None and 'None'}"
        if e is not None:
            assert g.shape == e.shape, f"{part}: shape {g.shape}, expected {e.shape}"
            np.testing.assert_allclose(g, e, **TOL, err_msg=part)


def check_against_reference(conv_type, case: Case, kernel, stride, size, only=None):
    """``conv_type`` (OctaveConv, OctaveConv1D, ...) with random weights against the reference
    at spatial ``size``; ``only`` keeps one path live and zeroes the others."""
    layer = conv_type(case.in_channels, case.out_channels, kernel, case.alpha_in, case.alpha_out,
                      stride=stride, padding=kernel // 2, groups=case.groups)
    specs = ref.path_specs(case.in_channels, case.out_channels, kernel, case.alpha_in, case.alpha_out,
                           case.groups, dims=len(size))
    weights = randomize(layer, specs, only=only)
    x_high, x_low = make_inputs(case, size)
    expected = ref.octave_conv(f64(x_high), f64(x_low), weights,
                               {name: spec.groups for name, spec in specs.items()},
                               stride=stride, padding=kernel // 2)
    assert_parts_close(run(layer, x_high, x_low), expected)


def check_low_map_chain(conv_type, size):
    """ceil(side / 2) on every axis at every layer of a chain (alpha 0 -> 0.5 -> 0.5 -> stride 2
    -> 0), with the middle layer's values against the reference."""
    low = list(low_size(size))
    first, middle, strided, last = (conv_type(2, 2, 3, a_in, a_out, stride=stride, padding=1)
                                    for a_in, a_out, stride in ((0.0, 0.5, 1), (0.5, 0.5, 1),
                                                                (0.5, 0.5, 2), (0.5, 0.0, 1)))
    y = first(paddle.randn([1, 2, *size]))
    assert (y.high.shape[2:], y.low.shape[2:]) == (list(size), low)
    x_high, x_low = y.high.numpy(), y.low.numpy()
    y = middle(y)
    assert (y.high.shape[2:], y.low.shape[2:]) == (list(size), low)
    assert_parts_close((y.high.numpy(), y.low.numpy()), ref.octave_conv(
        f64(x_high), f64(x_low), {name: f64(conv.weight.numpy()) for name, conv in middle.paths().items()},
        dict.fromkeys(ref.PATHS, 1), padding=1))
    y = strided(y)
    assert (y.high.shape[2:], y.low.shape[2:]) == (low, list(low_size(low)))
    high, none = last(y)
    assert none is None and high.shape[2:] == low


def set_bn_stats(bn, rng):
    """Random affine parameters and running statistics (variance in [0.5, 2])."""
    for attr in ("weight", "bias", "_mean"):
        getattr(bn, attr).set_value(rng.standard_normal(bn.weight.shape).astype("float32"))
    bn._variance.set_value(rng.uniform(0.5, 2.0, bn.weight.shape).astype("float32"))


def check_conv_bn_act(block_type, norm_type, alpha_in, alpha_out, size):
    """An OctConvBNAct-like block (8 -> 6 channels, 3-wide kernel) in eval mode equals the
    reference conv, then eval BatchNorm per part with the block's statistics, then ReLU."""
    block = block_type(8, 6, 3, alpha_in, alpha_out, padding=1)
    block.eval()
    weights = randomize(block.conv, ref.path_specs(8, 6, 3, alpha_in, alpha_out, dims=len(size)))
    rng = np.random.default_rng(3)
    bns = {"high": block.bn_h, "low": block.bn_l}
    for bn in bns.values():
        if bn is not None:
            assert type(bn) is norm_type
            set_bn_stats(bn, rng)
    x_high, x_low = make_inputs(Case(8, 6, alpha_in, alpha_out), size)
    conv_out = ref.octave_conv(f64(x_high), f64(x_low), weights, dict.fromkeys(weights, 1), padding=1)
    expected = []
    for part, y in zip(("high", "low"), conv_out):
        bn = bns[part]
        assert (bn is None) == (y is None), part
        expected.append(None if y is None else np.maximum(0, ref.batch_norm_eval(
            y, *(f64(getattr(bn, a).numpy()) for a in ("_mean", "_variance", "weight", "bias")))))
    assert_parts_close(run(block, x_high, x_low), expected)
