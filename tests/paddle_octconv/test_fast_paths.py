"""OctaveConv's CPU fast path (``unfold_matmul``) against the straightforward computation.

On CPU in dygraph a path conv may run as unfold + one batched matmul instead of Paddle's conv
kernel (see paddle_octconv/octconv.py). These tests check, for the shapes where it runs, that the
layer's outputs and the gradients of its inputs and of every parameter equal those of a
straightforward octave convolution written here from plain Paddle ops (``F.conv2d``,
``F.avg_pool2d``, ``F.interpolate``) with the same weights, to 1e-5 relative, and that the
forward also matches the float64 numpy reference. Each case first asserts that the fast path
really is taken, so a selection rule that stopped choosing it cannot pass silently.
"""
from __future__ import annotations

import math
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

import octave_reference as ref
from paddle_octconv import OctaveConv
from paddle_octconv.octconv import cpu_formulation

RTOL = 1e-5


class Case(NamedTuple):
    in_channels: int
    out_channels: int
    alpha: float
    groups: int
    kernel: int
    stride: int
    size: Tuple[int, int]
    dilation: int = 1

    def __str__(self):
        return (f"{self.in_channels}->{self.out_channels}-a{self.alpha}-g{self.groups}-k{self.kernel}"
                f"-s{self.stride}-{self.size[0]}x{self.size[1]}-d{self.dilation}")


CASES = [
    # depthwise, multiplier 1 and 2, stride 1 and 2, alpha 0 and .5, odd and even sides
    Case(8, 8, 0.0, 8, 3, 1, (7, 5)),
    Case(8, 8, 0.5, 8, 3, 1, (7, 5)),
    Case(8, 8, 0.5, 8, 3, 2, (9, 6)),
    Case(8, 16, 0.0, 8, 3, 1, (5, 6)),
    Case(8, 16, 0.5, 8, 3, 1, (7, 5)),
    Case(8, 16, 0.5, 8, 3, 2, (7, 9)),
    Case(6, 6, 0.5, 6, 5, 1, (6, 7)),               # 5x5 kernel, 3 high and 3 low channels
    Case(8, 8, 0.5, 8, 3, 1, (8, 7), dilation=2),   # dilated depthwise
    # dense 1x1 and 3x3 on small maps (the pointwise and ResNet paths)
    Case(8, 12, 0.0, 1, 1, 1, (7, 5)),
    Case(8, 12, 0.5, 1, 1, 1, (7, 5)),
    Case(8, 12, 0.5, 1, 1, 2, (9, 6)),
    Case(8, 12, 0.5, 1, 3, 1, (7, 5)),
    Case(8, 12, 0.5, 1, 3, 2, (7, 8)),
    Case(6, 10, 0.0, 1, 3, 1, (6, 5), dilation=2),
]


def build(case: Case, seed: int = 0) -> OctaveConv:
    paddle.seed(seed)
    layer = OctaveConv(case.in_channels, case.out_channels, case.kernel, case.alpha, case.alpha,
                       stride=case.stride, padding=case.dilation * (case.kernel // 2),
                       dilation=case.dilation, groups=case.groups)
    rng = np.random.default_rng(seed)
    for conv in layer.paths().values():  # weights away from the init's scale and symmetry
        conv.weight.set_value(rng.standard_normal(conv.weight.shape).astype("float32"))
    return layer


def inputs(case: Case, batch: int = 3, seed: int = 1) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    high, low = ref.split(case.in_channels, case.alpha)
    rng = np.random.default_rng(seed)
    h, w = case.size
    x_high = rng.standard_normal((batch, high, h, w)).astype("float32")
    x_low = (rng.standard_normal((batch, low, math.ceil(h / 2), math.ceil(w / 2))).astype("float32")
             if low else None)
    return x_high, x_low


def straightforward(layer: OctaveConv, x_high, x_low):
    """The octave convolution from plain Paddle ops and the layer's own parameters."""
    def conv(name, x):
        c = getattr(layer, f"conv_{name}")
        return F.conv2d(x, c.weight, None, 1, layer.padding, layer.dilation, c._groups)

    def pool(x):
        return F.avg_pool2d(x, 2, 2, ceil_mode=True, exclusive=True)

    if layer.stride == 2:
        x_high = pool(x_high)
    y_high = conv("h2h", x_high)
    y_low = None
    if layer.conv_l2l is not None:
        y_low = conv("l2l", pool(x_low) if layer.stride == 2 else x_low)
    if layer.conv_l2h is not None:
        l2h = conv("l2h", x_low)
        if layer.stride == 1:
            l2h = F.interpolate(l2h, size=x_high.shape[2:], mode="nearest")
        y_high = y_high + l2h
    if layer.conv_h2l is not None:
        h2l = conv("h2l", pool(x_high))
        y_low = h2l if y_low is None else y_low + h2l
    return y_high, y_low


def forward_backward(fn, layer: OctaveConv, x_high_np, x_low_np, seed: int = 2
                     ) -> Dict[str, np.ndarray]:
    """Outputs, and gradients of a random projection of them w.r.t. inputs and parameters."""
    x_high = paddle.to_tensor(x_high_np, stop_gradient=False)
    x_low = None if x_low_np is None else paddle.to_tensor(x_low_np, stop_gradient=False)
    layer.clear_gradients()
    y_high, y_low = fn(x_high, x_low)
    rng = np.random.default_rng(seed)
    loss = 0.0
    for y in (y_high, y_low):
        if y is not None:
            loss = loss + (y * paddle.to_tensor(rng.standard_normal(y.shape).astype("float32"))).sum()
    loss.backward()
    result = {"y_high": y_high.numpy(), "grad x_high": x_high.grad.numpy()}
    if y_low is not None:
        result["y_low"] = y_low.numpy()
    if x_low is not None:
        result["grad x_low"] = x_low.grad.numpy()
    for name, param in layer.named_parameters():
        result[f"grad {name}"] = param.grad.numpy()
    return result


def assert_relatively_equal(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    """Equal to ``RTOL`` relative to the array's scale (a near-zero element has no own scale)."""
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def fast_path_names(layer: OctaveConv, x_high_np, x_low_np) -> Dict[str, str]:
    """Which formulation each path of the layer runs as, for these inputs."""
    x_high = paddle.to_tensor(x_high_np)
    if layer.stride == 2:
        x_high = F.avg_pool2d(x_high, 2, 2, ceil_mode=True, exclusive=True)
    x_low = None if x_low_np is None else paddle.to_tensor(x_low_np)
    sources = {"h2h": x_high, "h2l": None if x_high is None else F.avg_pool2d(x_high, 2, 2, ceil_mode=True),
               "l2h": x_low, "l2l": x_low if layer.stride == 1 or x_low is None else
               F.avg_pool2d(x_low, 2, 2, ceil_mode=True)}
    return {name: cpu_formulation(sources[name], conv.weight, conv.bias, layer.padding,
                                  layer.dilation, conv._groups)
            for name, conv in layer.paths().items()}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fast_path_outputs_and_gradients_equal_the_straightforward_ones(case):
    layer = build(case)
    x_high, x_low = inputs(case)
    assert set(fast_path_names(layer, x_high, x_low).values()) == {"unfold_matmul"}
    got = forward_backward(lambda h, l: layer((h, l) if l is not None else h), layer, x_high, x_low)
    expected = forward_backward(lambda h, l: straightforward(layer, h, l), layer, x_high, x_low)
    assert got.keys() == expected.keys()
    n_params = len(list(layer.parameters()))
    assert sum(key.startswith("grad conv_") for key in got) == n_params > 0
    for key in expected:
        assert_relatively_equal(got[key], expected[key], key)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fast_path_forward_matches_the_numpy_reference(case):
    layer = build(case)
    x_high, x_low = inputs(case)
    specs = ref.path_specs(case.in_channels, case.out_channels, case.kernel, case.alpha,
                           case.alpha, case.groups)
    weights = {name: getattr(layer, f"conv_{name}").weight.numpy().astype("float64") for name in specs}
    expected = ref.octave_conv(x_high.astype("float64"),
                               None if x_low is None else x_low.astype("float64"), weights,
                               {name: spec.groups for name, spec in specs.items()},
                               stride=case.stride, padding=case.dilation * (case.kernel // 2),
                               dilation=case.dilation)
    got = layer((paddle.to_tensor(x_high), paddle.to_tensor(x_low)) if x_low is not None
                else paddle.to_tensor(x_high))
    for part, g, e in zip(("high", "low"), got, expected):
        assert (g is None) == (e is None), part
        if e is not None:
            # float32 vs float64: 1e-5 of the scale, as the gradient comparison
            assert_relatively_equal(g.numpy(), e.astype("float32"), part)


def test_large_maps_keep_the_native_kernel():
    """The fast path loses on large maps (measured): depthwise and dense 3x3 at 16x16."""
    dw = OctaveConv(8, 8, 3, 0.0, 0.0, padding=1, groups=8)
    dense = OctaveConv(8, 8, 3, 0.0, 0.0, padding=1)
    pointwise = OctaveConv(8, 8, 1, 0.0, 0.0)
    args = lambda layer: (layer.conv_h2h.weight, None, layer.padding, layer.dilation,
                          layer.conv_h2h._groups)
    assert cpu_formulation(paddle.zeros([2, 8, 32, 32]), *args(dw)) == "conv2d"
    assert cpu_formulation(paddle.zeros([2, 8, 16, 16]), *args(dw)) == "conv2d"
    assert cpu_formulation(paddle.zeros([2, 8, 8, 8]), *args(dw)) == "unfold_matmul"
    assert cpu_formulation(paddle.zeros([2, 8, 16, 16]), *args(dense)) == "conv2d"
    assert cpu_formulation(paddle.zeros([2, 8, 8, 8]), *args(dense)) == "unfold_matmul"
    assert cpu_formulation(paddle.zeros([2, 8, 32, 32]), *args(pointwise)) == "unfold_matmul"


@pytest.mark.parametrize("kind, channels, size, expected", [
    # the documented limits, at and one row past them: depthwise and dense 3x3 H'*W' <= 64
    ("depthwise", (8, 8), (8, 8), "unfold_matmul"),
    ("depthwise", (8, 8), (8, 9), "conv2d"),
    ("depthwise", (8, 8), (2, 32), "unfold_matmul"),      # the product counts, not the sides
    ("depthwise", (8, 16), (8, 8), "unfold_matmul"),      # channel multiplier 2 is depthwise too
    ("dense", (8, 8), (8, 8), "unfold_matmul"),
    ("dense", (8, 8), (8, 9), "conv2d"),
    ("dense", (8, 8), (2, 32), "unfold_matmul"),
    ("grouped", (8, 8), (4, 4), "conv2d"),                # groups 2: neither dense nor depthwise
    ("pointwise", (8, 8), (64, 64), "unfold_matmul"),     # 1x1 dense has no size limit
])
def test_fast_path_size_limits(kind, channels, size, expected):
    in_channels, out_channels = channels
    kernel = 1 if kind == "pointwise" else 3
    groups = {"depthwise": in_channels, "grouped": 2}.get(kind, 1)
    layer = OctaveConv(in_channels, out_channels, kernel, 0.0, 0.0, padding=kernel // 2,
                       groups=groups)
    conv = layer.conv_h2h
    x = paddle.zeros([2, in_channels, *size])
    assert cpu_formulation(x, conv.weight, None, layer.padding, layer.dilation,
                           conv._groups) == expected


def test_a_bias_or_a_static_eval_graph_keeps_the_native_kernel():
    layer = OctaveConv(8, 8, 1, 0.0, 0.0, bias=True)
    conv = layer.conv_h2h
    x = paddle.zeros([2, 8, 4, 4])
    assert cpu_formulation(x, conv.weight, conv.bias, layer.padding, layer.dilation, 1) == "conv2d"
    assert cpu_formulation(x, conv.weight, None, layer.padding, layer.dilation, 1) == "unfold_matmul"
    seen = []

    @paddle.jit.to_static(full_graph=True)
    def static_forward(v):
        for training in (False, True):
            seen.append(cpu_formulation(v, conv.weight, None, layer.padding, layer.dilation, 1,
                                        training=training))
        return v * 1.0

    static_forward(x)
    assert seen == ["conv2d", "unfold_matmul"]  # exports (eval) keep conv2d; train graphs don't


@pytest.mark.parametrize("case", [CASES[4], CASES[11]], ids=str)
def test_a_static_train_graph_gives_the_dygraph_outputs_and_gradients(case):
    """A jit.to_static train step takes the fast path too, with the same numbers."""
    layer = build(case)
    x_high, x_low = inputs(case)

    def step(x_high, x_low):
        return layer((x_high, x_low))

    static = paddle.jit.to_static(step, full_graph=True)
    got = forward_backward(static, layer, x_high, x_low)
    expected = forward_backward(lambda h, l: straightforward(layer, h, l), layer, x_high, x_low)
    ops = {op.name() for op in static.concrete_program.main_program.global_block().ops}
    assert "pd_op.unfold" in ops and not {"pd_op.conv2d", "pd_op.depthwise_conv2d"} & ops, ops
    for key in expected:
        assert_relatively_equal(got[key], expected[key], key)


def test_hooked_path_convs_still_see_their_calls():
    """paddle.summary / paddle.flops hook the path Conv2D layers: those calls must reach them."""
    layer = OctaveConv(8, 8, 3, 0.5, 0.5, padding=1, groups=8)
    calls = []
    for name, conv in layer.paths().items():
        conv.register_forward_post_hook(lambda lay, inp, out, name=name: calls.append(name))
    high, low = layer((paddle.randn([2, 4, 6, 6]), paddle.randn([2, 4, 3, 3])))
    assert sorted(calls) == ["h2h", "l2l"]
