"""Oct-SE-ResNet-50 and OctaveSE: the official squeeze-and-excitation over both parts."""
import numpy as np
import paddle
import pytest

import models
from models.layers import OctaveSE
from paddle_octconv import OctaveFeatures, count_flops, count_params

IMAGE = (1, 3, 224, 224)


def numpy_se(high, low, se):
    """The official rule in numpy: pool both, concatenate, shared reduction + ReLU, one
    expansion + sigmoid per part, scale each part."""
    def conv1x1(x, conv):  # x: (N, C); Paddle Conv2D weight (out, in, 1, 1)
        return x @ conv.weight.numpy()[:, :, 0, 0].T + conv.bias.numpy()

    pooled = np.concatenate([high.mean(axis=(2, 3)), low.mean(axis=(2, 3))], axis=1)
    squeezed = np.maximum(conv1x1(pooled, se.conv1), 0)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    w_high, w_low = sigmoid(conv1x1(squeezed, se.conv2_h)), sigmoid(conv1x1(squeezed, se.conv2_l))
    return high * w_high[:, :, None, None], low * w_low[:, :, None, None]


def test_octave_se_matches_numpy():
    paddle.seed(0)
    se = OctaveSE(64, 0.25, reduction=16)  # 48 high + 16 low channels, 4 squeezed
    for conv in (se.conv1, se.conv2_h, se.conv2_l):
        conv.bias.set_value(paddle.randn(conv.bias.shape))
    assert list(se.conv1.weight.shape) == [4, 64, 1, 1]
    assert list(se.conv2_h.weight.shape) == [48, 4, 1, 1]
    assert list(se.conv2_l.weight.shape) == [16, 4, 1, 1]
    rng = np.random.default_rng(0)
    high = rng.standard_normal([2, 48, 7, 9]).astype("float32")
    low = rng.standard_normal([2, 16, 4, 5]).astype("float32")
    got = se(OctaveFeatures(paddle.to_tensor(high), paddle.to_tensor(low)))
    for ours, reference in zip(got, numpy_se(high, low, se)):
        np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-5, atol=1e-6)


def test_plain_se_has_no_low_branch():
    se = OctaveSE(32, 0.0, reduction=16)
    assert se.conv2_l is None
    x = paddle.randn([1, 32, 5, 5])
    high, low = se(x)
    assert low is None and high.shape == [1, 32, 5, 5]


@pytest.mark.parametrize("args,error,message", [
    ((8, 0.5, 16), ValueError, r"squeezes channels=8 by reduction=16 to 0 channels; use a reduction of at most 8"),
    ((8, 0.5, 0), ValueError, r"reduction must be a positive int, got 0"),
    ((8.0, 0.5, 2), TypeError, r"channels must be a positive int, got float"),
    ((8, 1.0, 2), ValueError, r"alpha .* must satisfy 0 <= alpha < 1"),
])
def test_octave_se_refuses_bad_arguments(args, error, message):
    with pytest.raises(error, match=message):
        OctaveSE(*args)


@pytest.fixture(scope="module")
def se_resnet50():
    return models.oct_se_resnet50()


def se_params_and_macs(stages=((256, 3), (512, 4), (1024, 6), (2048, 3)), reduction=16):
    """Params and MACs SE adds to ResNet-50, from the channel counts (two 1x1 convs per block)."""
    params = macs = 0
    for channels, blocks in stages:
        squeezed = channels // reduction
        params += blocks * (2 * channels * squeezed + squeezed + channels)
        macs += blocks * 2 * channels * squeezed
    return params, macs


def test_alpha_zero_is_resnet50_plus_se():
    plain = paddle.vision.models.resnet50()
    extra_params, extra_macs = se_params_and_macs()
    model = models.oct_se_resnet50(alpha=0.0)
    assert count_params(model) == count_params(plain) + extra_params == 28_088_024
    assert count_flops(model, IMAGE) == count_flops(plain, IMAGE) + extra_macs


def test_default_alpha_and_figures(se_resnet50):
    assert se_resnet50.alpha == 0.125
    oct_resnet = models.oct_resnet50(alpha=0.125)  # the same network without SE
    extra_params, extra_macs = se_params_and_macs()
    assert count_params(se_resnet50) == count_params(oct_resnet) + extra_params
    assert count_flops(se_resnet50, IMAGE) == count_flops(oct_resnet, IMAGE) + extra_macs


def test_se_in_every_block_over_both_parts(se_resnet50):
    for stage in range(1, 5):
        for index, block in enumerate(getattr(se_resnet50, f"layer{stage}")):
            channels = 256 * 2 ** (stage - 1)
            assert isinstance(block.se, OctaveSE)
            assert block.se.conv1.weight.shape == [channels // 16, channels, 1, 1]
            low = int(0.125 * channels) if stage < 4 else 0
            assert (block.se.conv2_l is None) == (low == 0), (stage, index)
            assert block.se.conv2_h.weight.shape[0] == channels - low


def test_se_scales_the_residual_branch_only():
    """Very negative excitation biases close both parts' residual branches: the block becomes
    relu(shortcut) in each part."""
    paddle.seed(0)
    model = models.oct_se_resnet50(num_classes=3, width=0.25, small_input=True)
    model.eval()
    block = model.layer2[1]  # identity shortcut, octave in and out
    x = model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(paddle.randn([1, 3, 32, 32]))))))
    for conv in (block.se.conv2_h, block.se.conv2_l):
        conv.bias.set_value(paddle.full(conv.bias.shape, -1e4))
    x = model.layer2[0](x)
    out = block(x)
    for part, skip in zip(out, x):
        np.testing.assert_allclose(part.numpy(), np.maximum(skip.numpy(), 0), atol=1e-6)
