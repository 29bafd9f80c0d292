"""Export of 1-D and 3-D octave networks with dynamic sizes: jit.save/load, the oneDNN predictor,
ONNX, as test_export.py does for 2-D.

Each network uses every kind of octave layer (plain input with bias, strided, depthwise, all-low
output, all-low input, back to one map), has trained BN statistics, and is fed odd and even
sizes that differ per call, so the upsample's crop and the ceil-size low maps are part of the
exported graph. Every runtime must match dygraph to 1e-5.
"""
from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddle_octconv import OctaveConv1D, OctaveConv3D, OctConvBN1D, OctConvBN3D, OctConvBNAct1D, OctConvBNAct3D

from export_check import convert_to_onnx, onednn_runner, onnx_runner, saved_ops

TOL = dict(rtol=1e-5, atol=1e-5)
LAYERS = {1: (OctaveConv1D, OctConvBN1D, OctConvBNAct1D), 3: (OctaveConv3D, OctConvBN3D, OctConvBNAct3D)}
INPUT_SHAPES = {1: ([2, 3, 13], [1, 3, 8], [1, 3, 9]), 3: ([2, 3, 5, 7, 6], [1, 3, 4, 4, 5], [1, 3, 3, 6, 3])}
#: The upsample op each exported graph must use instead of a nearest interpolation.
UPSAMPLE_OP = {1: "conv2d_transpose", 3: "conv3d_transpose"}


class ExportNet(nn.Layer):
    def __init__(self, dims: int):
        super().__init__()
        conv, bn, bn_act = LAYERS[dims]
        self.stem = bn_act(3, 8, 3, 0.0, 0.5, padding=1, bias=True)  # plain tensor in
        self.down = bn_act(8, 8, 3, 0.5, 0.5, stride=2, padding=1)
        self.mid = bn_act(8, 8, 3, 0.5, 0.5, padding=1)  # upsample + crop on odd sides
        self.depthwise = bn_act(8, 8, 3, 0.5, 0.5, padding=1, groups=8)
        self.to_low = bn(8, 8, 3, 0.5, 1.0, padding=1)  # high output None
        self.from_low = bn(8, 8, 3, 1.0, 0.5, padding=1)  # no high input
        self.head = conv(8, 4, 1, 0.5, 0.0)

    def forward(self, x):
        y = self.from_low(self.to_low(self.depthwise(self.mid(self.down(self.stem(x))))))
        return self.head(y)[0]


@pytest.fixture(scope="module", params=(1, 3), ids=("1d", "3d"))
def exported(request, tmp_path_factory):
    dims = request.param
    paddle.seed(0)
    model = ExportNet(dims)
    model.train()
    for _ in range(2):  # move the BN running statistics away from 0 / 1
        model(paddle.randn([4, 3] + [6] * dims) * 2 + 1)
    for layer in model.sublayers():  # and the affine parameters away from 1 / 0
        if isinstance(layer, (nn.BatchNorm1D, nn.BatchNorm3D)):
            layer.weight.set_value(paddle.rand(layer.weight.shape) + 0.5)
            layer.bias.set_value(paddle.randn(layer.bias.shape))
    model.eval()
    inputs = [np.random.default_rng(i).standard_normal(shape).astype("float32")
              for i, shape in enumerate(INPUT_SHAPES[dims])]
    expected = [model(paddle.to_tensor(x)).numpy() for x in inputs]
    prefix = tmp_path_factory.mktemp(f"export{dims}d") / "octnet"
    spec = [paddle.static.InputSpec([None, 3] + [None] * dims, "float32", name="x")]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True), str(prefix))
    return SimpleNamespace(dims=dims, prefix=prefix, inputs=inputs, expected=expected,
                           model_file=prefix.with_suffix(".json"), params_file=prefix.with_suffix(".pdiparams"))


def assert_outputs_match(run, exported):
    for x, expected in zip(exported.inputs, exported.expected):
        got = run(x)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **TOL, err_msg=str(x.shape))


def test_exported_graph_has_bn_folded_and_no_interpolation(exported):
    """As in 2-D: BN folded into the convs (after BatchNorm1D/3D have run, which renames their
    data format) and the upsample a transposed conv, never a nearest interpolation."""
    ops = Counter(op.name for op in saved_ops(exported.model_file)[0])
    assert ops[UPSAMPLE_OP[exported.dims]] >= 1, ops
    assert not {name for name in ops if "batch_norm" in name or "interp" in name
                or name.startswith("depthwise_conv2d_transpose")}, ops


def test_jit_save_load_matches_dygraph(exported):
    loaded = paddle.jit.load(str(exported.prefix))
    assert_outputs_match(lambda x: loaded(paddle.to_tensor(x)).numpy(), exported)


def test_onednn_predictor_matches_dygraph(exported):
    assert_outputs_match(onednn_runner(exported.model_file, exported.params_file), exported)


def test_onnx_export_matches_dygraph(exported):
    onnx_file = convert_to_onnx(exported.model_file, exported.params_file, exported.prefix.with_suffix(".onnx"))
    run, input_meta = onnx_runner(onnx_file)
    assert len(input_meta.shape) == 2 + exported.dims
    assert not any(isinstance(side, int) for side in input_meta.shape[2:]), input_meta.shape  # dynamic sizes
    assert_outputs_match(run, exported)
