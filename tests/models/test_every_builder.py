"""Behaviour every zoo builder shares, checked once over the registry rather than per family:
summary and odd sizes (every builder), and on a small instance of each kind of network: a
training step, grey images, pretrained= (path and cache), and export (jit, oneDNN predictor, ONNX).
"""
import numpy as np
import paddle
import pytest

import models
from models import weights
from models.records import VARIANTS
from paddle_octconv import count_params

from export_check import convert_to_onnx, onednn_runner, onnx_runner

slow = pytest.mark.slow
HEAVY = {"oct_resnet101", "oct_resnet152", "oct_resnet200", "oct_resnext101_32x4d", "od_resnet50"}
ALL_BUILDERS = [pytest.param(name, marks=slow) if name in HEAVY else name
                for name in models.list_models()]
# Small instances for the tests that train, load or export: quick, but every block kind is present.
SMALL = {
    "oct_resnet26": dict(small_input=True, width=0.25),
    "oct_resnext50_32x4d": dict(small_input=True, width=0.5),  # 32 groups need 64+ channels
    "oct_se_resnet50": dict(small_input=True, width=0.25),
    "oct_mobilenet": dict(small_input=True, width_mult=0.25),
    "oct_mobilenet_v2": dict(small_input=True, width_mult=0.25),
    "sp_resnet50": dict(small_input=True, width=0.25),
    "od_resnet50": dict(small_input=True, width=0.25),
    "sac_resnet50": dict(small_input=True, width=0.25),
    "dcn_resnet50": dict(small_input=True, width=0.25),
}
RELATIVE_ERROR = 1e-5  # max |exported - dygraph| / max |dygraph|
# Calibrated BN statistics instead of random ones (see `exported`); not for every network: with
# them ODConv's (train-mode attention at calibration) is chaotic at init, a 1e-6 input change
# moving its outputs by 75%, while random statistics keep it well conditioned.
CALIBRATED_STATISTICS = {"sac_resnet50"}
# Weight standardisation (SAConv) runs as other ops in the exported graphs (mean, variance,
# division in float32): about 2e-5 relative after 16 blocks.
TOLERANCE = {"sac_resnet50": 1e-4}


def kind(name: str) -> tuple:
    """What makes networks different kinds: the family and its architecture args but depths."""
    record = VARIANTS[name]
    return record.family, tuple(sorted((k, v) for k, v in record.arch.items() if k != "layers"))


def test_every_kind_of_network_has_a_small_instance_here():
    assert {kind(name) for name in models.list_models()} == {kind(name) for name in SMALL}


def small_model(arch, **kwargs):
    paddle.seed(0)
    model = models.create_model(arch, **{"num_classes": 4, **SMALL[arch], **kwargs})
    model.eval()
    return model


@pytest.mark.parametrize("arch", ALL_BUILDERS)
def test_summary_and_odd_sizes(arch, capsys):
    model = models.create_model(arch, num_classes=7)
    info = paddle.summary(model, (1, 3, 224, 224))
    assert info["trainable_params"] == count_params(model)
    assert "Total params" in capsys.readouterr().out
    model.eval()
    with paddle.no_grad():
        for size in (224, 225, 100):
            assert model(paddle.randn([1, 3, size, size])).shape == [1, 7], size
        small = models.create_model(arch, num_classes=7, small_input=True)
        small.eval()
        for size in (32, 33):
            assert small(paddle.randn([2, 3, size, size])).shape == [2, 7], size


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_train_step_reduces_loss(arch):
    paddle.seed(0)
    model = models.create_model(arch, num_classes=3, **SMALL[arch])
    # lr 3e-4, not 1e-3: Adam's first steps move each parameter by about lr whatever the size of
    # its gradient, so near-zero gradients (zero-initialised attention and context convs) turn
    # float-rounding differences into full steps; at 1e-3 OD-ResNet-50's 4th loss jumped above
    # its 1st after a change of rounding only (a pool for a mean), at 3e-4 every network's loss
    # falls at each of the 4 steps
    optimizer = paddle.optimizer.Adam(learning_rate=3e-4, parameters=model.parameters())
    images, labels = paddle.randn([8, 3, 32, 32]), paddle.to_tensor([0, 1, 2, 0, 1, 2, 0, 1])
    losses = []
    for _ in range(4):
        loss = paddle.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(float(loss))
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_grey_images(arch):
    model = small_model(arch, in_channels=1)
    assert model(paddle.randn([2, 1, 33, 31])).shape == [2, 4]
    with pytest.raises(ValueError):  # the stem expects one channel now
        model(paddle.randn([2, 3, 33, 31]))


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_pretrained_path_and_cache(arch, tmp_path, monkeypatch):
    model = small_model(arch)
    state = {key: value + 0.25 for key, value in model.state_dict().items()}
    path = tmp_path / "weights.pdparams"
    paddle.save(state, str(path))
    monkeypatch.setenv(weights.ENV_CACHE_DIR, str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    paddle.save(state, str(tmp_path / "cache" / VARIANTS[arch].checkpoint_file))
    images = paddle.randn([1, 3, 33, 33])
    outputs = []
    for pretrained in (path, True):
        loaded = small_model(arch, pretrained=pretrained)
        for key, value in loaded.state_dict().items():
            np.testing.assert_array_equal(value.numpy(), state[key].numpy(), err_msg=key)
        outputs.append(loaded(images).numpy())
    np.testing.assert_array_equal(outputs[0], outputs[1])
    with pytest.warns(UserWarning, match="classifier shapes differ"):  # the classifier rule
        fewer = small_model(arch, pretrained=path, num_classes=3)
    assert fewer(images).shape == [1, 3]
    with pytest.raises(models.IncompatibleWeightsError, match="does not fit"):
        # another architecture (the plain net, or for the plain plug-in nets a wider one)
        small_model(arch, pretrained=path, **({"alpha": 0.0} if VARIANTS[arch].alpha else {"width": 0.5}))


@pytest.fixture(scope="module", params=sorted(SMALL))
def exported(request, tmp_path_factory):
    """A small instance with non-trivial BN statistics, its outputs, and its jit.save files."""
    arch = request.param
    model = small_model(arch)
    norms = [layer for layer in model.sublayers() if isinstance(layer, paddle.nn.BatchNorm2D)]
    for layer in norms:
        layer._mean.set_value(paddle.randn(layer._mean.shape) * 0.1)
        layer._variance.set_value(paddle.rand(layer._variance.shape) + 0.5)
        layer.weight.set_value(paddle.rand(layer.weight.shape) + 0.5)
        layer.bias.set_value(paddle.randn(layer.bias.shape) * 0.1)
    if arch in CALIBRATED_STATISTICS:
        # Weight-standardised convs (SAConv) multiply the scale by ~sqrt(fan-in) per layer, so
        # with random statistics the eval outputs reach 1e14 and float32 rounding decides the
        # comparison: here the statistics are those of one training-mode batch (momentum 0).
        model.train()
        for layer in norms:
            layer._momentum = 0.0
        with paddle.no_grad():
            model(paddle.randn([4, 3, 33, 33]))
        model.eval()
    inputs = [np.random.default_rng(i).standard_normal(shape).astype("float32")
              for i, shape in enumerate(([2, 3, 33, 33], [1, 3, 32, 40]))]  # odd and even sides
    with paddle.no_grad():
        expected = [model(paddle.to_tensor(x)).numpy() for x in inputs]
    prefix = tmp_path_factory.mktemp(arch) / "model"
    spec = [paddle.static.InputSpec([None, 3, None, None], "float32", name="x")]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True), str(prefix))
    return arch, prefix, inputs, expected


def assert_matches(run, inputs, expected, arch):
    for x, want in zip(inputs, expected):
        got = run(x)
        assert got.shape == want.shape
        tolerance = TOLERANCE.get(arch, RELATIVE_ERROR)
        assert np.abs(got - want).max() <= tolerance * np.abs(want).max(), x.shape


def test_export_jit_load(exported):
    arch, prefix, inputs, expected = exported
    loaded = paddle.jit.load(str(prefix))
    assert_matches(lambda x: loaded(paddle.to_tensor(x)).numpy(), inputs, expected, arch)


def test_export_onednn_predictor(exported):
    arch, prefix, inputs, expected = exported
    assert_matches(onednn_runner(prefix.with_suffix(".json"), prefix.with_suffix(".pdiparams")), inputs, expected, arch)


def test_export_onnx(exported):
    arch, prefix, inputs, expected = exported
    onnx_file = convert_to_onnx(prefix.with_suffix(".json"), prefix.with_suffix(".pdiparams"), prefix.with_suffix(".onnx"))
    run, _ = onnx_runner(onnx_file)
    assert_matches(run, inputs, expected, arch)
