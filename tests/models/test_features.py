"""features_only=True: every builder as a multi-scale feature extractor (models.features).

References: the stage outputs are read with forward hooks from the classification network's own
layers (what the stage names promise), the merging rule is re-done in numpy (nearest 2x repeat,
crop, concatenate after the high map), and the widths at 1.0 are the architectures' published
ones (ResNet 64/256/512/1024/2048, MobileNet V1 64/128/256/512/1024, V2 16/24/32/96/320).
"""
import math
import warnings

import numpy as np
import paddle
import pytest

import models
from models import FeatureNet
from models.weights import IncompatibleWeightsError, load_weights
from paddle_octconv import OctaveChannels, OctaveFeatures
from twins import randomize

slow = pytest.mark.slow
HEAVY = {"oct_resnet101", "oct_resnet152", "oct_resnet200", "oct_resnext101_32x4d"}
RESNETS = [name for name in models.list_models() if "mobilenet" not in name]
MOBILENETS = ["oct_mobilenet", "oct_mobilenet_v2"]


def narrow(arch: str) -> dict:
    """A small instance of ``arch`` (ResNeXt's 32 groups need width 0.5)."""
    if arch in MOBILENETS:
        return dict(width_mult=0.25)
    return dict(width=0.5 if "resnext" in arch else 0.25)


def network(arch: str, seed: int = 0, **kwargs):
    """The classification network, with distinct random weights and BN statistics, in eval."""
    paddle.seed(seed)
    return randomize(models.create_model(arch, num_classes=4, **{**narrow(arch), **kwargs}),
                     seed)


def images(height: int, width: int, batch: int = 2, seed: int = 1) -> paddle.Tensor:
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.standard_normal([batch, 3, height, width]).astype("float32"))


def stage_outputs(model, modules, x):
    """The outputs of ``model``'s layers named ``modules`` in its own forward (forward hooks)."""
    layers = dict(model.named_sublayers())
    seen = {}
    hooks = [layers[name].register_forward_post_hook(
        lambda layer, inputs, output, name=name: seen.setdefault(name, output))
        for name in modules]
    with paddle.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return [seen[name] for name in modules]


def as_pair(output):
    if isinstance(output, tuple):
        return OctaveFeatures(*output)
    return OctaveFeatures(output, None)


def numpy_merge(pair: OctaveFeatures) -> np.ndarray:
    """The merging rule, independently: low repeated 2x (nearest), cropped, after high."""
    high = pair.high.numpy()
    if pair.low is None:
        return high
    low = pair.low.numpy().repeat(2, axis=2).repeat(2, axis=3)
    return np.concatenate([high, low[:, :, :high.shape[2], :high.shape[3]]], axis=1)


def run(net, x):
    net.eval()
    with paddle.no_grad():
        return net(x)


# ------------------------------------------------------------------------ every builder
@pytest.mark.parametrize("small_input", [False, True], ids=["imagenet_stem", "small_input"])
@pytest.mark.parametrize("arch", models.list_models())
def test_stages_are_the_networks_layers_merged_at_odd_sizes(arch, small_input):
    model = network(arch, small_input=small_input)
    merged, pairs = FeatureNet(model), FeatureNet(model, feature_output="pairs")
    info = merged.feature_info
    assert len(info) == 5 and info.out_indices == (0, 1, 2, 3, 4)
    assert info.reduction() == pairs.feature_info.reduction()
    first = 1 if small_input else 2
    if arch in MOBILENETS:
        assert info.reduction() == [first * 2 ** i for i in range(5)]
    else:  # the max-pool halves once more before layer1; no max-pool with small_input
        assert info.reduction() == [first] + [first ** 2 * 2 ** i for i in range(4)]

    # odd, and not square: H and W are not swapped anywhere. SAConv's switch reflect-pads by 2,
    # so its maps must keep >= 3 pixels down to stride 32.
    height, width = (97, 130) if arch == "sac_resnet50" else (33, 50)
    x = images(height, width)
    reference = stage_outputs(model, info.module_name(), x)
    got_merged, got_pairs = run(merged, x), run(pairs, x)
    for i, (raw, out, pair) in enumerate(zip(reference, got_merged, got_pairs)):
        raw = as_pair(raw)
        r = info.reduction(i)
        assert out.shape == [2, info.channels(i), math.ceil(height / r), math.ceil(width / r)], i
        np.testing.assert_allclose(out.numpy(), numpy_merge(raw), rtol=0, atol=0, err_msg=str(i))
        # pairs: the network's own (high, low), with the widths feature_info gives
        high_c, low_c = info.octave_channels(i)
        assert high_c + low_c == info.channels(i)
        assert pair.high.shape[1] == high_c and (pair.low is None) == (low_c == 0)
        np.testing.assert_array_equal(pair.high.numpy(), raw.high.numpy())
        if pair.low is not None:
            assert pair.low.shape == [2, low_c, math.ceil(out.shape[2] / 2),
                                      math.ceil(out.shape[3] / 2)]
            assert info[i].low_reduction == 2 * r
            np.testing.assert_array_equal(pair.low.numpy(), raw.low.numpy())

    # The state dict is the classifier's less the head: a classification checkpoint fits.
    head = {"oct_mobilenet_v2": ("features.18.", "classifier.")}.get(arch, ("fc.",))
    assert merged.left_out == head
    assert set(merged.state_dict()) == {k for k in model.state_dict() if not k.startswith(head)}
    assert not {"fc", "avgpool", "classifier"} & set(merged._sub_layers)


def test_octave_stages_have_a_low_part_and_alpha_zero_has_none():
    pairs = FeatureNet(network("oct_resnet26"), feature_output="pairs")
    assert [low > 0 for _, low in pairs.feature_info.octave_channels()] == [
        False, True, True, True, False]  # layer1 splits, layer4 merges (ratio [a, a, a, 0])
    plain = FeatureNet(network("oct_resnet26", alpha=0.0), feature_output="pairs")
    assert all(low == 0 for _, low in plain.feature_info.octave_channels())
    assert all(pair.low is None for pair in run(plain, images(33, 33)))


PUBLISHED_WIDTHS = {
    "resnet": ([64, 256, 512, 1024, 2048], ["relu", "layer1", "layer2", "layer3", "layer4"]),
    "oct_mobilenet": ([64, 128, 256, 512, 1024],
                      ["features.1", "features.3", "features.5", "features.11", "features.13"]),
    "oct_mobilenet_v2": ([16, 24, 32, 96, 320],
                         ["features.1", "features.3", "features.6", "features.13", "features.17"]),
}


@pytest.mark.parametrize("arch", [pytest.param(a, marks=slow) if a in HEAVY else a
                                  for a in models.list_models()])
def test_full_width_stages_are_the_published_widths(arch):
    net = models.create_model(arch, features_only=True)
    channels, modules = PUBLISHED_WIDTHS.get(arch, PUBLISHED_WIDTHS["resnet"])
    info = net.feature_info
    assert info.channels() == channels and info.module_name() == modules
    assert info.reduction() == [2, 4, 8, 16, 32]
    alpha = models.records.VARIANTS[arch].alpha
    octave = {"resnet": (1, 2, 3), "oct_mobilenet": (0, 1, 2)}.get(
        "resnet" if arch in RESNETS else arch, ())
    assert info.octave_channels() == [
        OctaveChannels(c - int(alpha * c), int(alpha * c)) if i in octave else OctaveChannels(c, 0)
        for i, c in enumerate(channels)]


# ------------------------------------------------------------------------- out_indices
@pytest.mark.parametrize("arch, out_indices, left_out", [
    ("oct_resnet26", (1, 3), ("layer4.", "fc.")),
    ("oct_resnet26", (0,), ("layer1.", "layer2.", "layer3.", "layer4.", "fc.")),
    ("oct_mobilenet_v2", (0, 2), tuple(f"features.{i}." for i in range(7, 19)) + ("classifier.",)),
])
def test_out_indices_select_stages_and_later_ones_are_not_held(arch, out_indices, left_out):
    model = network(arch)
    every, some = FeatureNet(model), FeatureNet(model, out_indices=out_indices)
    assert some.feature_info.out_indices == out_indices
    assert some.feature_info.channels() == [every.feature_info.channels(i) for i in out_indices]
    assert some.left_out == left_out
    assert set(some.state_dict()) == {
        k for k in model.state_dict() if not k.startswith(left_out)}
    x = images(40, 40)
    full, selected = run(every, x), run(some, x)
    assert len(selected) == len(out_indices)
    for got, i in zip(selected, out_indices):
        np.testing.assert_array_equal(got.numpy(), full[i].numpy())


# ---------------------------------------------------------------------------- weights
@pytest.mark.parametrize("arch", ["oct_resnet26", "oct_mobilenet", "oct_mobilenet_v2"])
def test_a_classification_checkpoint_loads_strictly_into_the_backbone(arch, tmp_path):
    model = network(arch, seed=3)
    path = tmp_path / "classifier.pdparams"
    paddle.save(model.state_dict(), str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the head is ignored: no classifier-rule warning
        net = models.create_model(arch, features_only=True, pretrained=str(path), num_classes=9,
                                  out_indices=(1, 4), **narrow(arch))
    x = images(37, 37)
    for got, want in zip(run(net, x), run(FeatureNet(model, out_indices=(1, 4)), x)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())

    state = model.state_dict()
    backbone_key = next(k for k in state if not k.startswith(net.left_out))
    broken = [
        {k: v for k, v in state.items() if k != backbone_key},           # a backbone key missing
        {**state, "stray.weight": state[backbone_key]},                  # an unknown key
        {**state, backbone_key: paddle.zeros([3, 1])},                   # a backbone shape
    ]
    for bad, what in zip(broken, (backbone_key, "stray.weight", backbone_key)):
        with pytest.raises(IncompatibleWeightsError, match=what.replace(".", r"\.")):
            load_weights(models.create_model(arch, features_only=True, **narrow(arch)), bad)


# ---------------------------------------------------------------------------- export
def test_exported_feature_net_matches_dygraph(tmp_path):
    """A static graph upsamples with a transposed conv and crops odd sides (see
    paddle_octconv.octconv): the merged maps of an exported net are the dygraph ones."""
    net = FeatureNet(network("oct_resnet26", small_input=True), out_indices=(1, 2, 3))
    net.eval()
    spec = [paddle.static.InputSpec([None, 3, None, None], "float32")]
    paddle.jit.save(paddle.jit.to_static(net, input_spec=spec, full_graph=True),
                    str(tmp_path / "net"))
    loaded = paddle.jit.load(str(tmp_path / "net"))
    x = images(33, 21)
    for got, want in zip(loaded(x), run(net, x)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, error, words", [
    (dict(features_only=True, out_indices=(5,)), ValueError, "0..4"),
    (dict(features_only=True, out_indices=(2, 1)), ValueError, "increasing"),
    (dict(features_only=True, out_indices=(1, 1)), ValueError, "increasing"),
    (dict(features_only=True, out_indices=()), ValueError, "increasing"),
    (dict(features_only=True, out_indices=(-1,)), ValueError, "0..4"),
    (dict(features_only=True, out_indices=(1.0,)), TypeError, "tuple of ints"),
    (dict(features_only=True, out_indices=3), TypeError, "tuple of ints"),
    (dict(features_only=True, feature_output="dict"), ValueError, "'merged', 'pairs'"),
    (dict(out_indices=(1, 2)), ValueError, "features_only=True"),
    (dict(feature_output="pairs"), ValueError, "features_only=True"),
    (dict(features_only="yes"), TypeError, "features_only must be a bool"),
])
@pytest.mark.parametrize("arch", ["oct_resnet26", "oct_mobilenet"])
def test_bad_feature_options_name_the_valid_ones(arch, kwargs, error, words):
    with pytest.raises(error, match=words):
        models.create_model(arch, **kwargs)


def test_feature_net_needs_a_zoo_network():
    with pytest.raises(TypeError, match="feature_stages"):
        FeatureNet(paddle.nn.Conv2D(3, 8, 3))
