"""Oct-ResNet: published figures, layout (issue item 1), key names, init, options, forwards."""
import math

import numpy as np
import paddle
import pytest

import models
from models import Bottleneck, OctResNet
from paddle_octconv import OctaveConv, count_flops, count_params

IMAGE = (1, 3, 224, 224)
PATHS = ("conv_h2h", "conv_h2l", "conv_l2h", "conv_l2l")
slow = pytest.mark.slow

@pytest.fixture(scope="module")
def resnet50():
    return models.oct_resnet50()


@pytest.fixture(scope="module")
def resnet26():
    return models.oct_resnet26(num_classes=5)


def octave_paths(layer: OctaveConv) -> set:
    return {name for name in PATHS if getattr(layer, name) is not None}


# ------------------------------------------------------------------------------------ figures
# The published figures of every variant are checked from models.records in test_records.py.
def test_alpha_zero_is_plain_resnet50():
    model = models.oct_resnet50(alpha=0)
    plain = paddle.vision.models.resnet50()
    # published: 4.089G MACs
    assert count_flops(model, IMAGE) == 4_089_184_256 == count_flops(plain, IMAGE)
    assert count_params(model) == count_params(plain) == 25_557_032  # published: 25.557M
    octaves = [layer for layer in model.sublayers() if isinstance(layer, OctaveConv)]
    assert octaves and all(octave_paths(layer) == {"conv_h2h"} for layer in octaves)


# ------------------------------------------------------------------------------------- layout
def expected_paths(stage: int, block: int, conv: str) -> set:
    """Issue item 1: layer1.0 enters the octave domain, layer4.0 leaves it, layer4.1+ is plain."""
    entry_convs = ("conv1", "downsample")
    if stage == 1 and block == 0 and conv in entry_convs:
        return {"conv_h2h", "conv_h2l"}
    if stage == 4 and block == 0 and conv in entry_convs:
        return {"conv_h2h", "conv_l2h"}
    if stage == 4:
        return {"conv_h2h"}
    return set(PATHS)


def test_layout_paths_and_strides(resnet50):
    for stage, depth in enumerate((3, 4, 6, 3), start=1):
        blocks = getattr(resnet50, f"layer{stage}")
        assert len(blocks) == depth
        for index, block in enumerate(blocks):
            assert isinstance(block, Bottleneck)
            convs = {"conv1": block.conv1, "conv2": block.conv2, "conv3": block.conv3}
            if index == 0:
                convs["downsample"] = block.downsample[0]
            else:
                assert block.downsample is None
            for name, conv_bn in convs.items():
                where = f"layer{stage}.{index}.{name}"
                paths = octave_paths(conv_bn.conv)
                assert paths == expected_paths(stage, index, name), where
                has_low = bool(paths & {"conv_h2l", "conv_l2l"})
                assert (conv_bn.bn_l is not None) == has_low, where
                strided = stage > 1 and index == 0 and name in ("conv2", "downsample")
                assert conv_bn.conv.stride == (2 if strided else 1), where
    assert list(resnet50.conv1.weight.shape) == [64, 3, 7, 7]
    assert resnet50.conv1._stride == [2, 2]
    assert isinstance(resnet50.maxpool, paddle.nn.MaxPool2D)


def test_published_key_names(resnet50):
    state = resnet50.state_dict()
    for key, shape in {
        "conv1.weight": [64, 3, 7, 7],
        "bn1._mean": [64],
        "layer1.0.conv1.conv.conv_h2l.weight": [32, 64, 1, 1],
        "layer1.0.downsample.0.bn_h.weight": [128],
        "layer1.0.downsample.0.bn_l._variance": [128],
        "layer2.0.conv2.conv.conv_l2l.weight": [64, 64, 3, 3],
        "layer4.0.conv1.conv.conv_l2h.weight": [512, 512, 1, 1],
        "layer4.0.downsample.0.conv.conv_l2h.weight": [2048, 512, 1, 1],
        "layer4.1.conv1.conv.conv_h2h.weight": [512, 2048, 1, 1],
        "layer4.2.conv3.bn_h.bias": [2048],
        "fc.weight": [2048, 1000],  # Paddle Linear: [in, out]
        "fc.bias": [1000],
    }.items():
        assert list(state[key].shape) == shape, key
    assert not any(key.startswith("layer4") and ".bn_l." in key for key in state)
    # no conv biases anywhere: the only biases are those of BN and the classifier
    assert all(".bn" in key or key.startswith(("bn1.", "fc."))
               for key in state if key.endswith(".bias"))


def test_alpha_zero_keeps_the_key_names(resnet26):
    plain = models.oct_resnet26(num_classes=5, alpha=0)
    octave_only = ("conv_h2l", "conv_l2h", "conv_l2l", ".bn_l.")
    expected = {key for key in resnet26.state_dict() if not any(p in key for p in octave_only)}
    assert set(plain.state_dict()) == expected


# --------------------------------------------------------------------------------- init/options
def test_initialisation(resnet50):
    weight = resnet50.layer3[1].conv2.conv.conv_h2h.weight.numpy()  # 128 -> 128, 3x3
    assert weight.std() == pytest.approx(math.sqrt(2.0 / (128 * 9)), rel=0.05)
    assert abs(weight.mean()) < 1e-3
    for layer in resnet50.sublayers():
        if isinstance(layer, paddle.nn.Conv2D):
            assert layer.bias is None
        elif isinstance(layer, paddle.nn.BatchNorm2D):
            assert np.all(layer.weight.numpy() == 1) and np.all(layer.bias.numpy() == 0)
    bound = 1 / math.sqrt(2048)
    for param in (resnet50.fc.weight, resnet50.fc.bias):
        values = param.numpy()
        assert np.abs(values).max() <= bound and values.std() > bound / 4


def test_zero_init_residual_zeroes_both_last_norms():
    model = models.oct_resnet26(num_classes=5, zero_init_residual=True)
    blocks = [layer for layer in model.sublayers() if isinstance(layer, Bottleneck)]
    assert len(blocks) == 8
    for block in blocks:
        norms = [bn for bn in (block.conv3.bn_h, block.conv3.bn_l) if bn is not None]
        assert all(np.all(bn.weight.numpy() == 0) for bn in norms)
        assert np.all(block.conv2.bn_h.weight.numpy() == 1)
    assert blocks[2].conv3.bn_l is not None  # octave blocks have both norms zeroed


def test_small_input_and_grey_images():
    model = models.oct_resnet26(num_classes=5, small_input=True, in_channels=1)
    assert list(model.conv1.weight.shape) == [64, 1, 3, 3] and model.conv1._stride == [1, 1]
    assert isinstance(model.maxpool, paddle.nn.Identity)
    model.eval()
    features = model.forward_features(paddle.randn([2, 1, 32, 32]))
    assert features.shape == [2, 2048, 4, 4]  # 32 / 8: no stem downsampling
    assert model.forward_head(features).shape == [2, 5]


def test_forward_features_and_head(resnet26):
    resnet26.eval()
    features = resnet26.forward_features(paddle.randn([1, 3, 224, 224]))
    assert features.shape == [1, 2048, 7, 7]
    pooled = features.mean(axis=[2, 3])
    np.testing.assert_allclose(resnet26.forward_head(features).numpy(), resnet26.fc(pooled).numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(alpha=1.0), ValueError, "0 <= alpha < 1"),
    (dict(alpha=-0.5), ValueError, "got -0.5"),
    (dict(alpha="0.5"), TypeError, "alpha must be a float"),
    (dict(alpha=True), TypeError, "alpha must be a float"),
    (dict(num_classes=0), ValueError, "num_classes must be a positive int, got 0"),
    (dict(num_classes=10.0), TypeError, "num_classes must be a positive int, got float 10.0"),
    (dict(in_channels=0), ValueError, "in_channels must be a positive int"),
    (dict(small_input="yes"), TypeError, "small_input must be a bool"),
    (dict(zero_init_residual=1), TypeError, "zero_init_residual must be a bool"),
    (dict(width_mult=0.5), TypeError, r"unexpected keyword argument\(s\) 'width_mult'"),
    (dict(norm_layer=None, depth=3), TypeError, "'depth', 'norm_layer'; it accepts"),
])
def test_invalid_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        models.oct_resnet26(**kwargs)


def test_layers_table_is_checked():
    with pytest.raises(ValueError, match="layers must give the blocks of 4 stages"):
        OctResNet((2, 2, 2))
    with pytest.raises(ValueError, match=r"layers\[1\] must be a positive int"):
        OctResNet((2, 0, 2, 2))


@pytest.mark.parametrize("alpha", [0.25, 0.3])
def test_other_alphas_build_and_run(alpha):
    model = models.oct_resnet26(num_classes=3, alpha=alpha, small_input=True)
    assert model.layer2[0].conv1.conv.out_split.low == int(alpha * 128)
    model.eval()
    assert model(paddle.randn([1, 3, 33, 33])).shape == [1, 3]


# ---------------------------------------------------------------------------------------- width
def plain_resnet_params(layers, width, num_classes=1000, in_channels=3, stem_kernel=7):
    """Params of a plain bottleneck ResNet from its channel counts alone (an independent count)."""
    scale = lambda c: max(8, int(c * width + 4) // 8 * 8)  # noqa: E731 - MobileNet's rounding
    stem = scale(64)
    total = in_channels * stem * stem_kernel ** 2 + 2 * stem
    channels = stem
    for (planes, _), blocks in zip(((64, 1), (128, 2), (256, 2), (512, 2)), layers):
        p = scale(planes)
        for block in range(blocks):
            total += channels * p + 2 * p + p * p * 9 + 2 * p + p * 4 * p + 2 * 4 * p
            if block == 0:
                total += channels * 4 * p + 2 * 4 * p  # downsample
            channels = 4 * p
    return total + channels * num_classes + num_classes


@pytest.mark.parametrize("width, params, macs, plain_macs", [
    (0.25, 1_392_184, 115_013_632, 168_902_656),
    (0.5, 4_521_608, 400_023_552, 615_579_648),
])
def test_width_figures(width, params, macs, plain_macs):
    model = models.oct_resnet26(width=width)
    assert model.conv1.weight.shape[0] == int(64 * width) and model.num_features == 2048 * width
    assert (count_params(model), count_flops(model, IMAGE)) == (params, macs)
    assert params == plain_resnet_params((2, 2, 2, 2), width)
    assert count_flops(models.oct_resnet26(width=width, alpha=0), IMAGE) == plain_macs


def test_width_one_is_the_published_network_and_the_study_size():
    assert count_params(models.oct_resnet26(width=1.0)) == plain_resnet_params((2, 2, 2, 2), 1.0)
    # the octave study's narrow Oct-ResNet-26 on 28x28 grey images, 10 classes
    model = models.oct_resnet26(width=0.25, small_input=True, in_channels=1, num_classes=10)
    assert (count_params(model), count_flops(model, (1, 1, 28, 28))) == (882_106, 24_136_192)
    assert count_params(model) == plain_resnet_params((2, 2, 2, 2), 0.25, 10, 1, stem_kernel=3)


@pytest.mark.parametrize("width, error", [(0, ValueError), (-1.0, ValueError), ("1", TypeError),
                                          (True, TypeError)])
def test_width_is_checked(width, error):
    with pytest.raises(error, match="width must be"):
        models.oct_resnet26(width=width)


@pytest.mark.parametrize("alpha_in,alpha_out", [(0.0, 0.5), (0.5, 0.0), (0.25, 0.5)])
def test_block_changing_only_the_split_projects_its_shortcut(alpha_in, alpha_out):
    """Same channels, stride 1, another alpha: the shortcut must be projected to the output's
    high / low widths (the identity has the input's split)."""
    block = Bottleneck(256, 64, 1, alpha_in, alpha_out)
    assert block.downsample is not None
    block.eval()
    high_in, low_in = (256 - int(alpha_in * 256), int(alpha_in * 256))
    x = (paddle.randn([2, high_in, 6, 5]), paddle.randn([2, low_in, 3, 3]) if low_in else None)
    y = block(x if low_in else x[0])
    assert y.high.shape == [2, 256 - int(alpha_out * 256), 6, 5]
    assert (y.low is None) == (alpha_out == 0)
    if y.low is not None:
        assert y.low.shape == [2, int(alpha_out * 256), 3, 3]
    # and nothing else changes: the residual branch plus the projected shortcut, then ReLU
    shortcut = block.downsample(x if low_in else x[0])
    branch = block.conv3(block.conv2(block.conv1(x if low_in else x[0])))
    for got, b, s in zip(y, branch, shortcut):
        if got is not None:
            np.testing.assert_allclose(got.numpy(), np.maximum(b.numpy() + s.numpy(), 0), rtol=1e-5, atol=1e-5)


def test_block_with_the_same_split_keeps_the_identity_shortcut():
    assert Bottleneck(256, 64, 1, 0.5, 0.5).downsample is None
