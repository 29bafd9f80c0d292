"""output_stride=16 | 8: the ResNet family's last stages dilate instead of striding.

Exact checks against independent computations:

- theory, at alpha 0 in the "paddle" layout (ResNeXt), where every strided op subsamples: a stage
  that dilates by torchvision's rule computes the stride-32 network's map at every 2nd (4th)
  pixel, with the same weights, so subsampling the dilated map gives the stride-32 one exactly;
- at alpha 0.5 (octave paths, pooled strided convs): the independent PyTorch re-implementation
  of tests/models/torch_reference.py, dilated with torchvision's rule (the first block of a
  dilated stage keeps the previous dilation, the later ones double it), with the same weights.
"""
import math

import numpy as np
import paddle
import pytest

import models
from models import FeatureNet
from models.weights import load_weights
from twins import randomize, relative_error

RESNETS = [name for name in models.list_models() if "mobilenet" not in name]


def images(size: int, batch: int = 2, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal([batch, 3, size, size]).astype("float32")


def pairs(net, x: np.ndarray):
    net.eval()
    with paddle.no_grad():
        return net(paddle.to_tensor(x))


@pytest.mark.parametrize("arch", ["oct_resnet26", "oct_resnext50_32x4d", "oct_se_resnet50"])
def test_one_state_dict_fits_every_output_stride_and_octave_sizes_stay_consistent(arch):
    width = 0.5 if "resnext" in arch else 0.25
    paddle.seed(0)
    base = models.create_model(arch, width=width)
    state = base.state_dict()
    for output_stride, reductions in ((32, [2, 4, 8, 16, 32]), (16, [2, 4, 8, 16, 16]),
                                      (8, [2, 4, 8, 8, 8])):
        model = models.create_model(arch, width=width, output_stride=output_stride)
        assert {k: v.shape for k, v in model.state_dict().items()} == {
            k: v.shape for k, v in state.items()}
        load_weights(model, state)  # strict: raises on any key or shape difference
        net = FeatureNet(model, feature_output="pairs")
        assert net.feature_info.reduction() == reductions
        for size in (97, 33):
            for (high, low), r in zip(pairs(net, images(size, batch=1)), reductions):
                assert high.shape[2:] == [math.ceil(size / r)] * 2, (output_stride, size, r)
                if low is not None:  # the low map stays at ceil(H / 2) of the high one
                    assert low.shape[2:] == [math.ceil(high.shape[2] / 2)] * 2


@pytest.mark.parametrize("size", [129, 64])
def test_plain_dilated_stages_are_the_stride_32_maps_at_every_other_pixel(size):
    paddle.seed(0)
    base = randomize(models.oct_resnext50_32x4d(alpha=0.0, width=0.5))
    reference = pairs(FeatureNet(base), images(size))
    for output_stride, steps in ((16, [1, 1, 1, 1, 2]), (8, [1, 1, 1, 2, 4])):
        model = models.oct_resnext50_32x4d(alpha=0.0, width=0.5, output_stride=output_stride)
        model.set_state_dict(base.state_dict())
        got = pairs(FeatureNet(model), images(size))
        for i, (dilated, plain, step) in enumerate(zip(got, reference, steps)):
            sub = dilated.numpy()[:, :, ::step, ::step]
            assert sub.shape == tuple(plain.shape), (output_stride, i)
            if step == 1:  # stages before the dilated ones are untouched
                np.testing.assert_array_equal(sub, plain.numpy())
            else:
                assert relative_error(sub, plain.numpy()) < 1e-5, (output_stride, i)


@pytest.fixture
def torch_reference():
    pytest.importorskip("torch", reason="PyTorch is not installed; `pip install torch==2.13.0` "
                                        "(CPU wheel) to run the dilated-reference test")
    import torch_reference
    return torch_reference


def dilate(reference, output_stride: int) -> None:
    """torchvision's replace_stride_with_dilation on the reference: in each dilated stage the
    strided block (its 3x3 conv and its downsample) gets stride 1 and the dilation before the
    stage, and every later block of the stage the dilation times 2."""
    dilated_stages = {32: 0, 16: 1, 8: 2}[output_stride]
    stages = (reference.layer2, reference.layer3, reference.layer4)
    dilation = 1
    for stage in stages[len(stages) - dilated_stages:]:
        previous, dilation = dilation, dilation * 2
        for j, block in enumerate(stage):
            block.conv2.conv.stride = 1
            if block.downsample is not None:
                block.downsample[0].conv.stride = 1
            d = previous if j == 0 else dilation
            for conv in (block.conv2.conv.conv_h2h, block.conv2.conv.conv_h2l,
                         block.conv2.conv.conv_l2h, block.conv2.conv.conv_l2l):
                if conv is not None:
                    conv.dilation, conv.padding = (d, d), (d, d)


def torch_stages(reference, x: np.ndarray):
    import torch
    import torch.nn.functional as F
    with torch.no_grad():
        y = F.relu(reference.bn1(reference.conv1(torch.from_numpy(x))))
        outputs = [(y, None)]
        y = F.max_pool2d(y, 3, 2, 1)
        for stage in (reference.layer1, reference.layer2, reference.layer3, reference.layer4):
            y = stage(y)
            outputs.append(y)
    return [tuple(None if t is None else t.numpy() for t in pair) for pair in outputs]


@pytest.mark.parametrize("output_stride", [16, 8])
def test_dilated_octave_network_matches_a_dilated_torch_reference(torch_reference, output_stride):
    from models.convert import convert_state_dict
    reference = torch_reference.randomize(torch_reference.OctResNet((2, 2, 2, 2), 10, 0.5))
    dilate(reference, output_stride)
    model = models.oct_resnet26(num_classes=10, output_stride=output_stride)
    load_weights(model, convert_state_dict(reference.state_dict(), model))
    x = images(64)  # the reference's upsample needs even sides
    got = pairs(FeatureNet(model, feature_output="pairs"), x)
    for i, ((high, low), (want_high, want_low)) in enumerate(zip(got, torch_stages(reference, x))):
        assert relative_error(high.numpy(), want_high) < 1e-4, (output_stride, i)
        assert (low is None) == (want_low is None), i
        if low is not None:
            assert relative_error(low.numpy(), want_low) < 1e-4, (output_stride, i)


@pytest.mark.parametrize("arch", ["oct_resnet26", "oct_resnext50_32x4d"])
@pytest.mark.parametrize("output_stride", [12, 4, 64, 16.0, "16", True])
def test_bad_output_stride_names_the_allowed_values(arch, output_stride):
    with pytest.raises(ValueError, match="output_stride must be one of 32, 16, 8"):
        models.create_model(arch, output_stride=output_stride)


@pytest.mark.parametrize("arch", ["oct_mobilenet", "oct_mobilenet_v2"])
@pytest.mark.parametrize("output_stride", [16, 8])
def test_mobilenets_take_only_output_stride_32(arch, output_stride):
    with pytest.raises(ValueError, match=r"output_stride must be one of 32 \(.*ResNet"):
        models.create_model(arch, output_stride=output_stride, features_only=True)
    assert models.create_model(arch, output_stride=32, width_mult=0.25) is not None
