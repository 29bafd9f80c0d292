"""Oct-MobileNet V1: published figures, layout (issue item 1), key names, options, forwards."""
import numpy as np
import paddle
import pytest

import models
from paddle_octconv import OctConvBNAct, count_flops, count_params

IMAGE = (1, 3, 224, 224)
PATHS = ("conv_h2h", "conv_h2l", "conv_l2h", "conv_l2l")
STRIDED_BLOCKS = {2, 4, 6, 12}


@pytest.fixture(scope="module")
def mobilenet():
    return models.oct_mobilenet()


def octave_paths(conv_bn: OctConvBNAct) -> set:
    return {name for name in PATHS if getattr(conv_bn.conv, name) is not None}


def test_default_figures(mobilenet):
    # d-li14/octconv.pytorch: 4.232M params, 318.2M MACs (alpha 0.5); all published figures are
    # checked from models.records in test_records.py.
    assert (count_params(mobilenet), count_flops(mobilenet, IMAGE)) == (4_231_976, 318_167_680)


@pytest.mark.parametrize("width_mult", [1.0, 0.75])
def test_alpha_zero_is_plain_mobilenet_v1(width_mult):
    model = models.oct_mobilenet(alpha=0, width_mult=width_mult)
    plain = paddle.vision.models.mobilenet_v1(scale=width_mult)
    assert count_params(model) == count_params(plain)
    assert count_flops(model, IMAGE) == count_flops(plain, IMAGE)
    if width_mult == 1.0:
        assert count_flops(model, IMAGE) == 568_740_352  # published 568.7M


def test_width_075_at_alpha_0375():
    # The official 0.75 MobileNet V1 result uses alpha 0.375; parameters do not depend on alpha.
    model = models.oct_mobilenet(width_mult=0.75, alpha=0.375)
    assert count_params(model) == count_params(paddle.vision.models.mobilenet_v1(scale=0.75))
    assert model.fc.weight.shape == [768, 1000]
    assert model.features[1][1].conv.out_split == (48 - 18, 18)


def expected_paths(block: int, part: int) -> set:
    """Issue item 1 for features.<block>.<part> (part 0 depthwise, 1 pointwise)."""
    if part == 0:  # depthwise: no cross-frequency paths; octave when its input is
        return {"conv_h2h", "conv_l2l"} if 2 <= block <= 11 else {"conv_h2h"}
    if block == 1:
        return {"conv_h2h", "conv_h2l"}
    if block == 11:
        return {"conv_h2h", "conv_l2h"}
    return set(PATHS) if block <= 10 else {"conv_h2h"}


def test_layout(mobilenet):
    features = mobilenet.features
    assert len(features) == 14
    stem_conv, stem_bn, _ = features[0]
    assert list(stem_conv.weight.shape) == [32, 3, 3, 3] and stem_conv._stride == [2, 2]
    assert isinstance(stem_bn, paddle.nn.BatchNorm2D)
    for block in range(1, 14):
        depthwise, pointwise = features[block]
        for part, conv_bn in enumerate((depthwise, pointwise)):
            paths = octave_paths(conv_bn)
            assert paths == expected_paths(block, part), f"features.{block}.{part}"
            assert (conv_bn.bn_l is not None) == bool(paths & {"conv_h2l", "conv_l2l"})
        assert depthwise.conv.groups == depthwise.conv.in_channels
        assert depthwise.conv.is_depthwise and not pointwise.conv.is_depthwise
        assert depthwise.conv.stride == (2 if block in STRIDED_BLOCKS else 1)
        assert pointwise.conv.stride == 1 and pointwise.conv.kernel_size == (1, 1)


def test_published_key_names(mobilenet):
    state = mobilenet.state_dict()
    for key, shape in {
        "features.0.0.weight": [32, 3, 3, 3],
        "features.0.1._variance": [32],
        "features.1.0.conv.conv_h2h.weight": [32, 1, 3, 3],
        "features.1.1.conv.conv_h2l.weight": [32, 32, 1, 1],
        "features.2.0.conv.conv_l2l.weight": [32, 1, 3, 3],
        "features.2.0.bn_l.weight": [32],
        "features.11.1.conv.conv_l2h.weight": [512, 256, 1, 1],
        "features.13.1.conv.conv_h2h.weight": [1024, 1024, 1, 1],
        "fc.weight": [1024, 1000],
    }.items():
        assert list(state[key].shape) == shape, key
    assert all(".bn" in key or key.startswith(("features.0.1.", "fc."))
               for key in state if key.endswith(".bias"))


def test_initialisation(mobilenet):
    for layer in mobilenet.sublayers():
        if isinstance(layer, paddle.nn.Conv2D):
            assert layer.bias is None
    weight = mobilenet.features[13][1].conv.conv_h2h.weight.numpy()  # fan_out 1024
    assert weight.std() == pytest.approx(np.sqrt(2.0 / 1024), rel=0.05)


def test_small_input_and_grey_images():
    model = models.oct_mobilenet(num_classes=4, small_input=True, in_channels=1, width_mult=0.25)
    stem_conv = model.features[0][0]
    assert list(stem_conv.weight.shape) == [8, 1, 3, 3] and stem_conv._stride == [1, 1]
    model.eval()
    features = model.forward_features(paddle.randn([2, 1, 32, 32]))
    assert features.shape == [2, 256, 2, 2]
    assert model.forward_head(features).shape == [2, 4]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(alpha=1), ValueError, "0 <= alpha < 1"),
    (dict(width_mult=0), ValueError, "width_mult must be > 0"),
    (dict(width_mult="1"), TypeError, "width_mult must be a float"),
    (dict(small_input=None), TypeError, "small_input must be a bool"),
    (dict(zero_init_residual=True), TypeError, "unexpected keyword argument.*'zero_init_residual'"),
    (dict(num_classes=-1), ValueError, "num_classes must be a positive int"),
])
def test_invalid_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        models.oct_mobilenet(**kwargs)
