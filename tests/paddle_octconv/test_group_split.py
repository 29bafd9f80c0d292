"""OctaveConv(group_split="count"): every path has ``groups`` groups of its own part's width (the
official Oct-ResNeXt), checked against the numpy reference with per-path groups."""
import numpy as np
import paddle
import pytest

import octave_reference as ref
from paddle_octconv import OctaveConv


def _count_specs(in_channels, out_channels, kernel, alpha_in, alpha_out, groups):
    """The documented layout of group_split="count": each live path, ``groups`` groups."""
    c_in = dict(zip("hl", ref.split(in_channels, alpha_in)))
    c_out = dict(zip("hl", ref.split(out_channels, alpha_out)))
    return {name: ref.PathSpec((c_out[name[2]], c_in[name[0]] // groups, kernel, kernel), groups)
            for name in ref.PATHS if c_in[name[0]] and c_out[name[2]]}


@pytest.mark.parametrize("stride", (1, 2))
@pytest.mark.parametrize("alpha_in, alpha_out", [(0.25, 0.25), (0.5, 0.5), (0.25, 0.75), (0.0, 0.25)])
def test_count_split_matches_the_reference(alpha_in, alpha_out, stride):
    in_channels, out_channels, groups = 16, 32, 4
    layer = OctaveConv(in_channels, out_channels, 3, alpha_in, alpha_out, stride=stride, padding=1,
                       groups=groups, group_split="count")
    specs = _count_specs(in_channels, out_channels, 3, alpha_in, alpha_out, groups)
    rng = np.random.default_rng(0)
    weights = {}
    for name, spec in specs.items():
        conv = getattr(layer, f"conv_{name}")
        assert tuple(conv.weight.shape) == spec.weight_shape, name
        weights[name] = rng.standard_normal(spec.weight_shape).astype("float32")
        conv.weight.set_value(weights[name])
    high, low = ref.split(in_channels, alpha_in)
    x_high = rng.standard_normal((2, high, 9, 7)).astype("float32")
    x_low = rng.standard_normal((2, low, 5, 4)).astype("float32") if low else None
    expected = ref.octave_conv(x_high.astype("float64"),
                               None if x_low is None else x_low.astype("float64"),
                               {k: v.astype("float64") for k, v in weights.items()},
                               dict.fromkeys(specs, groups), stride=stride, padding=1)
    got = layer(paddle.to_tensor(x_high) if x_low is None
                else (paddle.to_tensor(x_high), paddle.to_tensor(x_low)))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-4, atol=1e-4)


def test_count_split_has_the_parameters_of_the_plain_grouped_conv():
    octave = OctaveConv(128, 128, 3, 0.25, 0.25, padding=1, groups=32, group_split="count")
    plain = paddle.nn.Conv2D(128, 128, 3, padding=1, groups=32, bias_attr=False)
    assert sum(p.size for p in octave.parameters()) == sum(p.size for p in plain.parameters())


def test_count_split_errors_name_the_uneven_parts():
    with pytest.raises(ValueError, match=r"each part's channels must be a multiple of 32; not so "
                                         r"for high input 24, low input 8"):
        OctaveConv(32, 32, 3, 0.25, 0.25, padding=1, groups=32, group_split="count")
    with pytest.raises(ValueError, match=r"group_split must be one of 'width', 'count', got 'rows'"):
        OctaveConv(8, 8, 3, 0.5, 0.5, padding=1, groups=2, group_split="rows")
