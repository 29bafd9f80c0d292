"""Export of an octave network with dynamic H/W: jit.save/load, the oneDNN predictor, ONNX.

The network uses every kind of octave layer (plain input, strided, depthwise, all-low output,
all-low input, back to one map) and is fed odd sides, so the upsample's crop and the ceil-size
low maps are part of every exported graph. One saved model (Paddle 3.3 writes ``.json`` +
``.pdiparams``) serves all three runtimes; each must match dygraph to 1e-5.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from types import SimpleNamespace

import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddle_octconv import OctaveConv, OctConvBN, OctConvBNAct

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
    program = json.loads(exported.model_file.read_text())["program"]
    ops = Counter(op["#"].split(".", 1)[-1] for op in program["regions"][0]["blocks"][0]["ops"])
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
    from paddle import inference

    # With PIR the Config takes the .json program and the .pdiparams file explicitly.
    config = inference.Config(str(exported.model_file), str(exported.params_file))
    config.enable_mkldnn()
    config.disable_glog_info()
    assert config.mkldnn_enabled()
    predictor = inference.create_predictor(config)
    (input_name,), (output_name,) = predictor.get_input_names(), predictor.get_output_names()

    def run(x):
        handle = predictor.get_input_handle(input_name)
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(x)
        predictor.run()
        return predictor.get_output_handle(output_name).copy_to_cpu()

    assert_outputs_match(run, exported)


# paddle2onnx aborts the whole process (SIGABRT) on an unsupported op and raises SystemExit on
# other failures, so the conversion runs in a child; a failure then shows its log instead of
# killing pytest. It converts the saved model directly: paddle.onnx.export would trace the model
# again and, through polygraphy's constant folding, pip-install onnx_graphsurgeon at run time.
CONVERT = "import sys, paddle2onnx; paddle2onnx.export(*sys.argv[1:4], opset_version=11, optimize_tool=None)"


def test_onnx_export_matches_dygraph(exported):
    pytest.importorskip("paddle2onnx", reason="paddle2onnx is not installed (pip install paddle-octconv[export])")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install paddle-octconv[export])")
    onnx_file = exported.prefix.with_suffix(".onnx")
    proc = subprocess.run(
        [sys.executable, "-c", CONVERT, str(exported.model_file), str(exported.params_file), str(onnx_file)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and onnx_file.is_file(), \
        f"paddle2onnx failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (input_meta,) = session.get_inputs()
    assert not any(isinstance(side, int) for side in input_meta.shape[2:]), input_meta.shape  # dynamic H, W
    assert_outputs_match(lambda x: session.run(None, {input_meta.name: x})[0], exported)
