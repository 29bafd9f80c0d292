"""Oct-MobileNetV2: alpha 0 is paddle.vision's MobileNetV2 (outputs), the octave layout of the
official code (alpha on the expanded tensors of the first 13 blocks), both channel layouts."""
import numpy as np
import paddle
import pytest

import models
from models import InvertedResidual
from models.layers import PlainConvBN
from paddle_octconv import OctConvBN, count_flops, count_params
from twins import copy_by_order, randomize, relative_error

IMAGE = (1, 3, 224, 224)


@pytest.fixture(scope="module")
def mobilenet_v2():
    return models.oct_mobilenet_v2()


@pytest.mark.parametrize("width_mult, size", [(1.0, 67), (0.5, 64)])
def test_alpha_zero_is_paddle_mobilenet_v2(width_mult, size):
    model = models.oct_mobilenet_v2(alpha=0, width_mult=width_mult)
    twin = randomize(paddle.vision.models.mobilenet_v2(scale=width_mult))
    assert not any(isinstance(layer, OctConvBN) for layer in model.sublayers())
    copy_by_order(twin, model)
    images = paddle.to_tensor(np.random.default_rng(0).standard_normal([2, 3, size, size])
                              .astype("float32"))
    with paddle.no_grad():
        assert relative_error(model(images).numpy(), twin(images).numpy()) < 1e-5


def test_alpha_zero_counts_at_width_1125():
    model = models.oct_mobilenet_v2(alpha=0, width_mult=1.125)
    twin = paddle.vision.models.mobilenet_v2(scale=1.125)
    assert (count_params(model), count_flops(model, IMAGE)) == (count_params(twin),
                                                                count_flops(twin, IMAGE))


def paths(layer):
    return set(layer.conv.paths()) if isinstance(layer, OctConvBN) else {"plain"}


def expected_paths(block, has_expansion, octave):
    """(expansion, depthwise, projection) paths of features.<block> (issue item 2)."""
    if not octave:
        return ({"plain"},) * (3 if has_expansion else 2)
    return {"h2h", "h2l"}, {"h2h", "l2l"}, {"h2h", "l2h"}


@pytest.mark.parametrize("layout, octave_blocks", [("paddle", range(2, 14)),
                                                   ("official", range(1, 14))])
def test_octave_layout(layout, octave_blocks):
    model = models.oct_mobilenet_v2(layout=layout, width_mult=0.5)
    features = model.features
    assert len(features) == 19
    assert isinstance(features[0], PlainConvBN) and features[0].conv._stride == [2, 2]
    assert isinstance(features[18], PlainConvBN)
    for block in range(1, 18):
        layers = list(features[block].conv)
        has_expansion = len(layers) == 3
        assert has_expansion == (block > 1 or layout == "official"), block
        octave = block in octave_blocks
        assert [paths(layer) for layer in layers] == list(
            expected_paths(block, has_expansion, octave)), block
        depthwise = layers[-2]
        if octave:  # no cross paths; the expanded tensor split by alpha
            assert depthwise.conv.is_depthwise
            assert depthwise.conv.out_split.low == int(0.375 * depthwise.conv.in_channels)
        else:
            assert depthwise.conv._groups == depthwise.conv._in_channels


def test_strides_and_shortcuts(mobilenet_v2):
    features = mobilenet_v2.features
    strides, shortcuts = [], []
    for block in range(1, 18):
        depthwise = list(features[block].conv)[-2]
        stride = depthwise.conv.stride if isinstance(depthwise, OctConvBN) else \
            depthwise.conv._stride[0]
        strides.append(stride)
        shortcuts.append(features[block].use_shortcut)
    assert strides == [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]
    assert [i + 1 for i, s in enumerate(shortcuts) if s] == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]


def test_key_names(mobilenet_v2):
    state = mobilenet_v2.state_dict()
    for key, shape in {
        "features.0.conv.weight": [32, 3, 3, 3],
        "features.1.conv.0.conv.weight": [32, 1, 3, 3],  # block 1: depthwise, plain
        "features.2.conv.0.conv.conv_h2l.weight": [36, 16, 1, 1],  # 96 expanded: 60 + 36
        "features.2.conv.1.conv.conv_l2l.weight": [36, 1, 3, 3],
        "features.2.conv.1.bn_l._mean": [36],
        "features.2.conv.2.conv.conv_l2h.weight": [24, 36, 1, 1],
        "features.13.conv.2.conv.conv_l2h.weight": [96, 216, 1, 1],
        "features.14.conv.0.conv.weight": [576, 96, 1, 1],
        "features.18.bn._variance": [1280],
        "classifier.1.weight": [1280, 1000],
    }.items():
        assert list(state[key].shape) == shape, key


def test_official_layout_channels():
    model = models.oct_mobilenet_v2(layout="official", width_mult=1.125, alpha=0.5)
    assert model.features[0].conv.weight.shape[0] == 36  # int(32 * 1.125), not 40
    assert model.features[1].conv[0].conv.out_split == (18, 18)  # block 1's 36 -> 36 expansion
    assert model.num_features == 1440 and model.classifier[1].weight.shape == [1440, 1000]


def test_small_input_grey_and_head():
    model = models.oct_mobilenet_v2(num_classes=4, small_input=True, in_channels=1,
                                    width_mult=0.25)
    model.eval()
    assert model.features[0].conv._stride == [1, 1]
    features = model.forward_features(paddle.randn([2, 1, 32, 32]))
    assert features.shape == [2, 1280, 2, 2]  # 32 / 16: no stem stride
    assert model.forward_head(features).shape == [2, 4]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(alpha=1), ValueError, "0 <= alpha < 1"),
    (dict(width_mult=0), ValueError, "width_mult must be > 0"),
    (dict(layout="gluon"), ValueError, "layout must be one of 'paddle', 'official'"),
    (dict(zero_init_residual=True), TypeError,
     r"unexpected keyword argument\(s\) 'zero_init_residual'; it accepts pretrained"),
])
def test_invalid_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        models.oct_mobilenet_v2(**kwargs)


def test_a_block_without_expansion_cannot_be_octave():
    with pytest.raises(ValueError, match="no expanded tensor to split"):
        InvertedResidual(32, 16, 1, 1, alpha=0.5)
