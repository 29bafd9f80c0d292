"""The deformable convolution of DCNv2 and the deformable SAConv, in training.

Where a gradient is needed, the layers sample through ``grid_sample`` or, on small maps, a
matmul with the interpolation weights instead of Paddle's ``deformable_conv`` op (whose CPU
backward is slow); both samplers are tested. The reference here is that op itself,
``paddle.vision.ops.deform_conv2d``: outputs and the gradients of the input, offsets, masks,
kernel and bias must be the op's, in float64 to rounding, at the positions where bilinear
sampling has a kink (integer positions: every tap at initialisation; half-integers; the map's
edge at -1 and H) as well as at random ones.
"""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest
from paddle.vision.ops import deform_conv2d

from paddle_octconv import DCNv2, SAConv
import paddle_octconv.plugins._deform as deform
from paddle_octconv.plugins._deform import deform_conv
from paddle_octconv.plugins.saconv import standardize_weight

F64 = dict(rtol=1e-9, atol=1e-11)


@pytest.fixture(params=["grid_sample", "matmul"])
def sampler(request, monkeypatch):
    """Each of the training route's two samplers, whatever the map size would choose."""
    monkeypatch.setattr(deform, "_matmul_is_cheaper", lambda pixels, channels: request.param == "matmul")
    return request.param


def offsets(kind, shape, rng):
    return {"zero": np.zeros(shape),  # every tap on a pixel, the first row and column at -1
            "integer": rng.integers(-3, 4, shape).astype(float),
            "half": rng.integers(-6, 7, shape) / 2.0,
            "random": rng.standard_normal(shape) * 2,
            "far": rng.standard_normal(shape) * 8}[kind]  # many taps outside the map


def grads_of(fn, tensors, weights):
    """fn(*leaves)'s output and the gradients of each leaf for loss = sum(out * weights)."""
    leaves = [None if t is None else paddle.to_tensor(t, stop_gradient=False) for t in tensors]
    out = fn(*leaves)
    (out * paddle.to_tensor(weights(out.shape))).sum().backward()
    return [out.numpy()] + [leaf.grad.numpy() for leaf in leaves if leaf is not None]


@pytest.mark.parametrize("kind", ("zero", "integer", "half", "random", "far"))
@pytest.mark.parametrize("size,stride,padding,dilation,dgroups,groups,masked", [
    ((9, 7), 1, 1, 1, 1, 1, True),
    ((8, 10), 2, 1, 1, 1, 1, True),   # power-of-two height, stride 2
    ((9, 9), 1, 2, 2, 2, 2, True),    # dilation, deformable groups and groups
    ((5, 6), 1, 3, 3, 1, 1, False),   # DCNv1 (no mask), dilation 3 as SAConv's large one
    ((1, 3), 1, 1, 1, 1, 1, True),    # a single row
])
def test_training_route_is_paddles_deform_conv2d(kind, size, stride, padding, dilation, dgroups,
                                                 groups, masked, sampler):
    rng = np.random.default_rng(0)
    n, c, o, k = 2, 4, 6, 3
    out_h = (size[0] + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    out_w = (size[1] + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    tensors = [rng.standard_normal((n, c) + size),
               offsets(kind, (n, 2 * dgroups * k * k, out_h, out_w), rng),
               rng.standard_normal((o, c // groups, k, k)),
               rng.standard_normal(o),
               rng.uniform(0.1, 1.0, (n, dgroups * k * k, out_h, out_w)) if masked else None]
    args = ([stride] * 2, [padding] * 2, [dilation] * 2, dgroups, groups)
    weights = lambda shape: np.sin(np.arange(np.prod(shape))).reshape(shape)  # noqa: E731
    got = grads_of(lambda x, off, w, b, m=None: deform_conv(x, off, w, b, *args, mask=m), tensors, weights)
    want = grads_of(lambda x, off, w, b, m=None: deform_conv2d(x, off, w, b, *args, mask=m), tensors, weights)
    assert got[0].shape == (n, o, out_h, out_w)
    names = ["out", "x", "offset", "weight", "bias", "mask"]
    for name, a, b in zip(names, got, want):
        np.testing.assert_allclose(a, b, **F64, err_msg=name)
    if kind == "zero":
        # at zero offsets the position gradient is the op's one-sided difference, not zero
        assert np.abs(got[2]).max() > 0.1


def test_inference_and_training_routes_agree_in_float32():
    rng = np.random.default_rng(1)
    layer = DCNv2(8, 8, 3, 1)
    layer.conv_offset.weight.set_value(rng.standard_normal((27, 8, 3, 3)).astype("float32") * 0.3)
    x = paddle.to_tensor(rng.standard_normal((2, 8, 14, 14)).astype("float32"))
    trained = layer(x).numpy()  # parameters need a gradient: the sampled route
    with paddle.no_grad():
        inferred = layer(x).numpy()  # Paddle's op
    np.testing.assert_allclose(trained, inferred, rtol=1e-5, atol=1e-5 * np.abs(inferred).max())


def _float64(layer):
    layer.to(dtype="float64")
    return layer


def _dcnv2_by_the_op(layer, x):
    offset_and_mask = F.conv2d(x, layer.conv_offset.weight, layer.conv_offset.bias, 1, 1)
    offset, mask = offset_and_mask[:, :18], F.sigmoid(offset_and_mask[:, 18:])
    return deform_conv2d(x, offset, layer.conv.weight, None, 1, 1, 1, 1, 1, mask)


def _saconv_by_the_op(layer, x):
    """SAConv's formula (its module docstring) with Paddle's deform_conv2d for both convs; the
    global means as pools, as in the layer (in float64 Paddle's pool backward differs from the
    mean's by 1e-8 relative)."""
    x = x + layer.pre_context(F.adaptive_avg_pool2d(x, 1))
    smooth = F.avg_pool2d(F.pad(x, [2, 2, 2, 2], mode="reflect"), 5, 1)
    switch = layer.switch(smooth)
    weight = standardize_weight(layer.conv.weight)
    small = deform_conv2d(x, layer.offset_s(smooth), weight, None, 1, 1, 1)
    large = deform_conv2d(x, layer.offset_l(smooth), weight + layer.weight_diff, None, 1, 3, 3)
    y = switch * small + (1 - switch) * large
    return y + layer.post_context(F.adaptive_avg_pool2d(y, 1))


@pytest.mark.parametrize("build,reference", [
    (lambda: DCNv2(4, 6, 3, 1), _dcnv2_by_the_op),
    (lambda: SAConv(4, 6, 3, 1, deformable=True), _saconv_by_the_op),
], ids=["DCNv2", "SAConv"])
@pytest.mark.parametrize("initialised", (True, False), ids=["at-init", "random"])
def test_layer_gradients_are_those_of_paddles_op(build, reference, initialised, sampler):
    """Every parameter's gradient and the input's, float64, at initialisation (zero offsets)
    and with random weights."""
    paddle.seed(0)
    layer = _float64(build())
    rng = np.random.default_rng(2)
    if not initialised:
        for param in layer.parameters():
            param.set_value(rng.standard_normal(param.shape) * 0.5)
    x_value = rng.standard_normal((2, 4, 9, 7))
    results = []
    for forward in (layer, lambda x: reference(layer, x)):
        layer.clear_gradients()
        x = paddle.to_tensor(x_value, stop_gradient=False)
        out = forward(x)
        (out * paddle.to_tensor(np.cos(np.arange(out.size)).reshape(out.shape))).sum().backward()
        results.append({"out": out.numpy(), "x": x.grad.numpy(),
                        **{name: p.grad.numpy() for name, p in layer.named_parameters()}})
    got, want = results
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-8, atol=1e-10, err_msg=name)


def test_paddles_op_runs_where_no_gradient_is_needed(monkeypatch):
    """The route: Paddle's op for inference (its forward is the faster one), the sampled route
    where a gradient is needed (the op's CPU backward is the slow one)."""
    calls = []
    monkeypatch.setattr(deform, "deform_conv2d", lambda *a, **k: calls.append(1) or deform_conv2d(*a, **k))
    layer = DCNv2(4, 4, 3, 1)
    x = paddle.randn([1, 4, 6, 6])
    layer(x).sum().backward()
    assert calls == [] and layer.conv.weight.grad is not None
    with paddle.no_grad():
        layer(x)
    assert calls == [1]
    layer.eval()
    for param in layer.parameters():
        param.stop_gradient = True
    layer(x)  # frozen: no gradient needed either
    assert calls == [1, 1]


@pytest.mark.parametrize("build", [lambda: DCNv2(3, 4, 3, 2), lambda: SAConv(3, 4, 3, 1, deformable=True)],
                         ids=["DCNv2", "SAConv"])
def test_a_first_layer_on_the_input_images_trains(build, sampler):
    """Images need no gradient, the offsets do (Paddle's grid_sample backward crashed on that)."""
    layer = build()
    for param in layer.parameters():
        param.set_value(paddle.randn(param.shape) * 0.1)
    images = paddle.randn([2, 3, 8, 8])
    layer(images).square().sum().backward()
    offsets = layer.conv_offset if isinstance(layer, DCNv2) else layer.offset_s
    assert float(offsets.weight.grad.abs().sum()) > 0


def test_the_benchmark_patch_puts_training_back_on_paddles_op(monkeypatch):
    """benchmarks/patches/deformable_op_in_training.py, bench.py's A/B of the two routes."""
    import runpy
    from pathlib import Path

    monkeypatch.setattr(deform, "_needs_grad", deform._needs_grad)  # restored afterwards
    calls = []
    monkeypatch.setattr(deform, "deform_conv2d", lambda *a, **k: calls.append(1) or deform_conv2d(*a, **k))
    patch = Path(__file__).resolve().parents[2] / "benchmarks" / "patches" / "deformable_op_in_training.py"
    runpy.run_path(str(patch))
    layer = DCNv2(4, 4, 3, 1)
    layer(paddle.randn([1, 4, 6, 6], dtype="float32")).sum().backward()
    assert calls == [1] and layer.conv.weight.grad is not None
