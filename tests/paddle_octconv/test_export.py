"""Export of an octave network with dynamic H/W: jit.save/load, the oneDNN predictor, ONNX.

The network uses every kind of octave layer (plain input, strided, depthwise, all-low output,
all-low input, back to one map) and is fed odd sides, so the upsample's crop and the ceil-size
low maps are part of every exported graph. One saved model (Paddle 3.3 writes ``.json`` +
``.pdiparams``) serves all three runtimes; each must match dygraph to 1e-5.
"""
from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddle_octconv import OctaveConv, OctConvBN, OctConvBNAct

from export_check import convert_to_onnx, onednn_runner, onnx_runner, saved_ops

TOL = dict(rtol=1e-5, atol=1e-5)
# Odd and even sides, different per call: a graph that froze any size would fail one of them.
INPUT_SHAPES = ([2, 3, 13, 11], [1, 3, 8, 10], [1, 3, 9, 9])


class ExportNet(nn.Layer):
    def __init__(self):
        super().__init__()
        self.stem = OctConvBNAct(3, 8, 3, 0.0, 0.5, padding=1, bias=True)  # plain tensor in
        self.down = OctConvBNAct(8, 8, 3, 0.5, 0.5, stride=2, padding=1)
        self.mid = OctConvBNAct(8, 8, 3, 0.5, 0.5, padding=1)  # upsample + crop on odd sides
        self.depthwise = OctConvBNAct(8, 8, 3, 0.5, 0.5, padding=1, groups=8)
        self.to_low = OctConvBN(8, 8, 3, 0.5, 1.0, padding=1)  # high output None
        self.from_low = OctConvBN(8, 8, 3, 1.0, 0.5, padding=1)  # no high input
        self.head = OctaveConv(8, 4, 1, 0.5, 0.0)

    def forward(self, x):
        y = self.from_low(self.to_low(self.depthwise(self.mid(self.down(self.stem(x))))))
        return self.head(y)[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The network in eval mode with non-trivial BN statistics, its dygraph outputs, and its save."""
    paddle.seed(0)
    model = ExportNet()
    model.train()
    for _ in range(2):  # move the BN running statistics away from 0 / 1
        model(paddle.randn([4, 3, 12, 12]) * 2 + 1)
    for layer in model.sublayers():  # and the affine parameters away from 1 / 0
        if isinstance(layer, nn.BatchNorm2D):
            layer.weight.set_value(paddle.rand(layer.weight.shape) + 0.5)
            layer.bias.set_value(paddle.randn(layer.bias.shape))
    model.eval()
    inputs = [np.random.default_rng(i).standard_normal(shape).astype("float32")
              for i, shape in enumerate(INPUT_SHAPES)]
    expected = [model(paddle.to_tensor(x)).numpy() for x in inputs]
    prefix = tmp_path_factory.mktemp("export") / "octnet"
    spec = [paddle.static.InputSpec([None, 3, None, None], "float32", name="x")]
    # full_graph=True (AST conversion) is what honours input_spec with dynamic sides
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True), str(prefix))
    return SimpleNamespace(prefix=prefix, inputs=inputs, expected=expected,
                           model_file=prefix.with_suffix(".json"), params_file=prefix.with_suffix(".pdiparams"))


def assert_outputs_match(run, exported):
    for x, expected in zip(exported.inputs, exported.expected):
        got = run(x)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **TOL, err_msg=str(x.shape))


def test_exported_graph_has_bn_folded_and_no_interpolation(exported):
    """The export fast path: BatchNorm folded into the convs, and no nearest-interpolate op (it
    breaks the oneDNN predictor on Paddle 3.3.1); the upsample is a oneDNN-native conv2d_transpose
    (not depthwise_conv2d_transpose, which has no oneDNN kernel)."""
    ops = Counter(op.name for op in saved_ops(exported.model_file)[0])
    assert ops["conv2d_transpose"] >= 1, ops
    assert not {name for name in ops if "batch_norm" in name or "interp" in name
                or name.startswith("depthwise_conv2d_transpose")}, ops
    # the crop of an odd side reads x_high's sides with the int32 shape op, which has a oneDNN
    # kernel; shape64 has none and made the predictor reorder the whole map to read them
    assert ops["slice"] >= 1 and ops["shape"] >= 1 and not ops["shape64"], ops


def test_jit_save_load_matches_dygraph(exported):
    assert exported.model_file.is_file() and exported.params_file.is_file()  # PIR format, no .pdmodel
    loaded = paddle.jit.load(str(exported.prefix))
    assert_outputs_match(lambda x: loaded(paddle.to_tensor(x)).numpy(), exported)


def test_onednn_predictor_matches_dygraph(exported):
    """On 3.3.1 a nearest-interpolate op makes this predictor's run() fail; the layer avoids it."""
    assert_outputs_match(onednn_runner(exported.model_file, exported.params_file), exported)


def test_onnx_export_matches_dygraph(exported):
    onnx_file = convert_to_onnx(exported.model_file, exported.params_file, exported.prefix.with_suffix(".onnx"))
    run, input_meta = onnx_runner(onnx_file)
    assert not any(isinstance(side, int) for side in input_meta.shape[2:]), input_meta.shape  # dynamic H, W
    assert_outputs_match(run, exported)


def _upsample_groups(model_file):
    """(output channels, groups) of every conv2d_transpose in a saved PIR program."""
    return [(op.output_shapes[0][1], op.attributes["groups"])
            for op in saved_ops(model_file)[0] if op.name == "conv2d_transpose"]


@pytest.mark.parametrize("high_channels, groups", [(12, 3), (24, 3), (7, 7), (1, 1)])
def test_the_upsample_copies_groups_of_channels_and_matches_dygraph(tmp_path, high_channels, groups):
    """The exported upsample is a transposed conv over groups of up to 8 channels with an identity
    kernel across each group (oneDNN's bf16 kernels are slow on one-channel groups); where C has
    no such divisor it falls back to one channel per group. Each output channel must still be a
    copy of its own input channel only: the predictor matches dygraph."""
    paddle.seed(1)
    layer = OctaveConv(8, 2 * high_channels, 1, 0.5, 0.5)  # l2h: 4 low channels -> C high
    layer.eval()
    x_high, x_low = paddle.randn([2, 4, 9, 7]), paddle.randn([2, 4, 5, 4])

    class HighOut(nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = layer

        def forward(self, high, low):
            return self.conv((high, low))[0]

    prefix = tmp_path / "up"
    spec = [paddle.static.InputSpec([None, 4, None, None], "float32", name=n) for n in ("h", "l")]
    paddle.jit.save(paddle.jit.to_static(HighOut(), input_spec=spec, full_graph=True), str(prefix))
    assert _upsample_groups(prefix.with_suffix(".json")) == [(high_channels, groups)]
    loaded = paddle.jit.load(str(prefix))
    np.testing.assert_allclose(loaded(x_high, x_low).numpy(), HighOut()(x_high, x_low).numpy(), **TOL)
