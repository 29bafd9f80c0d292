"""Oct-ResNeXt-32x4d: alpha 0 is paddle.vision's ResNeXt (outputs), the octave layout, groups."""
import numpy as np
import paddle
import pytest

import models
from models import Bottleneck
from models.layers import PlainConvBN
from paddle_octconv import OctConvBN, count_flops, count_params
from twins import copy_by_order, randomize, relative_error

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def resnext50():
    return models.oct_resnext50_32x4d()


def assert_same_function(ours, twin, size=64):
    randomize(twin)
    copy_by_order(twin, ours)
    images = paddle.to_tensor(np.random.default_rng(1).standard_normal([2, 3, size, size])
                              .astype("float32"))
    with paddle.no_grad():
        assert relative_error(ours(images).numpy(), twin(images).numpy()) < 1e-5


def test_alpha_zero_is_paddle_resnext50_32x4d():
    model = models.oct_resnext50_32x4d(alpha=0)
    assert all(not isinstance(layer, OctConvBN) for layer in model.sublayers())
    assert_same_function(model, paddle.vision.models.resnext50_32x4d(), size=67)  # odd side too


@slow
def test_alpha_zero_is_paddle_resnext101_32x4d():
    assert_same_function(models.oct_resnext101_32x4d(alpha=0),
                         paddle.vision.models.resnext101_32x4d())


def paths(layer):
    return {name for name, _ in layer.conv.paths().items()}


def test_layout_groups_and_strides(resnext50):
    for stage, depth in enumerate((3, 4, 6, 3), start=1):
        blocks = getattr(resnext50, f"layer{stage}")
        assert len(blocks) == depth
        for index, block in enumerate(blocks):
            assert isinstance(block, Bottleneck) and block.se is None
            where = f"layer{stage}.{index}"
            mid = 128 * 2 ** (stage - 1)
            if stage < 4:  # octave: 32 groups in each frequency part, on every path
                conv2 = block.conv2
                assert isinstance(conv2, OctConvBN), where
                assert conv2.conv.out_split == (mid // 2, mid // 2)
                assert paths(conv2) == {"h2h", "h2l", "l2h", "l2l"}, where
                assert all(conv._groups == 32 and conv._in_channels // 32 == mid // 64
                           for conv in conv2.conv.paths().values()), where
                assert conv2.conv.stride == (2 if stage > 1 and index == 0 else 1)
            elif index == 0:  # merges the parts back: octave in, plain out
                assert paths(block.conv1) == {"h2h", "l2h"}
                assert paths(block.downsample[0]) == {"h2h", "l2h"}
                assert block.downsample[0].conv.stride == 2
                assert isinstance(block.conv2, PlainConvBN) and block.conv2.conv._stride == [2, 2]
                assert block.conv2.conv._groups == 32
            else:
                assert all(isinstance(layer, PlainConvBN)
                           for layer in (block.conv1, block.conv2, block.conv3)), where
    entry = resnext50.layer1[0]
    assert paths(entry.conv1) == {"h2h", "h2l"} and paths(entry.downsample[0]) == {"h2h", "h2l"}


def test_key_names(resnext50):
    state = resnext50.state_dict()
    for key, shape in {
        "conv1.weight": [64, 3, 7, 7],
        "layer1.0.conv1.conv.conv_h2l.weight": [64, 64, 1, 1],
        "layer1.0.conv2.conv.conv_h2h.weight": [64, 2, 3, 3],  # 32 groups of width 2 per part
        "layer1.0.conv2.conv.conv_l2h.weight": [64, 2, 3, 3],
        "layer3.5.conv2.bn_l._mean": [256],
        "layer4.0.conv1.conv.conv_l2h.weight": [1024, 512, 1, 1],
        "layer4.0.conv2.conv.weight": [1024, 32, 3, 3],
        "layer4.0.conv2.bn._variance": [1024],
        "layer4.2.conv3.bn.weight": [2048],
        "fc.weight": [2048, 1000],
    }.items():
        assert list(state[key].shape) == shape, key


def test_alpha_025_keeps_32_groups_in_each_part_and_the_plain_params():
    """The published alpha 0.25: every path of a 3x3 conv has 32 groups, as the official code."""
    model = models.oct_resnext50_32x4d(alpha=0.25)
    conv2 = model.layer2[1].conv2.conv
    assert {getattr(conv2, f"conv_{p}")._groups for p in ("h2h", "h2l", "l2h", "l2l")} == {32}
    assert count_params(model) == 25_028_904  # ResNeXt-50's: params do not depend on alpha
    assert count_flops(model, (1, 3, 224, 224)) == 3_170_988_544
    with pytest.raises(ValueError, match=r"must be a multiple of 32; not so for high input 16"):
        models.oct_resnext50_32x4d(width=0.25)  # 32 channels cannot hold 32 groups per part


def test_narrow_and_small_instances_run():
    model = models.oct_resnext50_32x4d(width=0.5, small_input=True, num_classes=3)
    model.eval()
    assert model.layer1[0].conv2.conv.conv_h2h._groups == 32
    assert model(paddle.randn([1, 3, 33, 31])).shape == [1, 3]


def test_zero_init_residual_reaches_plain_and_octave_norms():
    from models.layers import norms_of

    model = models.oct_resnext50_32x4d(width=0.5, small_input=True, zero_init_residual=True)
    blocks = [layer for layer in model.sublayers() if isinstance(layer, Bottleneck)]
    assert len(blocks) == 16
    kinds = set()
    for block in blocks:
        norms = norms_of(block.conv3)
        kinds.add(len(norms))
        assert norms and all(np.all(bn.weight.numpy() == 0) for bn in norms)
    assert kinds == {1, 2}  # plain (layer4: bn) and octave (bn_h, bn_l) blocks
