"""pretrained=False / path / True (cache), the strict key + shape check, the classifier rule."""
import os

import numpy as np
import paddle
import pytest

import models
from models import weights
from models.weights import IncompatibleWeightsError

TINY = dict(width_mult=0.25)  # a 0.2M-parameter Oct-MobileNet: fast to build and save


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder in $PADDLE_OCTCONV_HOME (never the user's real cache)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(weights.ENV_CACHE_DIR, str(folder))
    return folder


def trained_state(num_classes=5, **kwargs):
    """A state dict whose every value differs from a fresh model's."""
    paddle.seed(1)
    model = models.oct_mobilenet(num_classes=num_classes, **{**TINY, **kwargs})
    return {key: value + 0.5 for key, value in model.state_dict().items()}


def assert_loaded(model, state, skip=()):
    for key, value in model.state_dict().items():
        if key not in skip:
            np.testing.assert_array_equal(value.numpy(), np.asarray(state[key]), err_msg=key)


def test_cache_dir_default_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv(weights.ENV_CACHE_DIR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert models.cache_dir() == tmp_path / ".cache" / "paddle_octconv"
    monkeypatch.setenv(weights.ENV_CACHE_DIR, "~/weights")
    assert models.cache_dir() == tmp_path / "weights"


def test_pretrained_false_keeps_the_initialisation():
    assert weights.resolve_pretrained("oct_resnet50", False) is None


def test_pretrained_path(tmp_path):
    state = trained_state()
    path = tmp_path / "mine.pdparams"
    paddle.save(state, str(path))
    for pretrained in (path, str(path)):
        assert_loaded(models.oct_mobilenet(pretrained=pretrained, num_classes=5, **TINY), state)


def test_pretrained_true_reads_the_cache(cache):
    state = trained_state()
    cache.mkdir()
    paddle.save(state, str(cache / "oct_mobilenet.pdparams"))
    model = models.create_model("oct_mobilenet", pretrained=True, num_classes=5, **TINY)
    assert_loaded(model, state)


def test_pretrained_true_without_file_says_where_and_how(cache):
    with pytest.raises(FileNotFoundError) as info:
        models.oct_resnet50(pretrained=True)
    message = str(info.value)
    target = cache / "oct_resnet50.pdparams"
    assert str(target) in message
    command = f"python -m models.convert --arch oct_resnet50 --src <downloaded .pth> --dst {target}"
    assert command in message
    assert "github.com/d-li14/octconv.pytorch" in message and "77.64" in message
    assert "(alpha=0.5, ImageNet top-1 77.64)" in message


def test_published_checkpoint_options_are_builder_options(cache):
    import inspect

    from models.weights import PUBLISHED_CHECKPOINTS

    for name, checkpoint in PUBLISHED_CHECKPOINTS.items():
        inspect.signature(models.get_model_builder(name)).bind(**checkpoint.options)
    with pytest.raises(FileNotFoundError, match=r"\(alpha=0.5, width_mult=1.0, ImageNet top-1 71.25\)"):
        models.oct_mobilenet(pretrained=True)


def test_pretrained_true_without_a_public_checkpoint(cache):
    with pytest.raises(FileNotFoundError, match="No public ImageNet checkpoint exists for oct_re"):
        models.oct_resnet26(pretrained=True)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        models.oct_mobilenet(pretrained=tmp_path / "absent.pdparams")


def test_pytorch_checkpoint_path_asks_for_conversion(tmp_path):
    src = tmp_path / "oct_resnet50.pth"
    src.write_bytes(b"")
    with pytest.raises(ValueError, match="PyTorch checkpoint; convert it first") as info:
        models.oct_resnet50(pretrained=src)
    assert f"--src {src} --dst {tmp_path / 'oct_resnet50.pdparams'}" in str(info.value)


@pytest.mark.parametrize("pretrained", [1, 0.5, ["a.pdparams"]])
def test_pretrained_of_the_wrong_type(pretrained):
    with pytest.raises(TypeError, match="pretrained must be False, True or the path"):
        models.oct_mobilenet(pretrained=pretrained, **TINY)


def test_file_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pdparams"
    paddle.save([paddle.ones([2])], str(path))
    with pytest.raises(IncompatibleWeightsError, match="not a state dict"):
        models.oct_mobilenet(pretrained=path, **TINY)


def test_unreadable_file(tmp_path):
    path = tmp_path / "truncated.pdparams"
    path.write_bytes(b"\x80\x04garbage")
    with pytest.raises(ValueError, match="cannot be read by paddle.load"):
        models.oct_mobilenet(pretrained=path, **TINY)


def test_missing_unexpected_and_mismatched_keys_are_named(tmp_path):
    state = trained_state()
    del state["features.3.1.bn_l._mean"]
    state["features.99.weight"] = paddle.zeros([3])
    state["features.2.1.conv.conv_h2h.weight"] = paddle.zeros([1, 1, 1, 1])
    path = tmp_path / "broken.pdparams"
    paddle.save(state, str(path))
    with pytest.raises(IncompatibleWeightsError) as info:
        models.oct_mobilenet(pretrained=path, num_classes=5, **TINY)
    message = str(info.value)
    assert str(path) in message
    assert "missing from the file (1): features.3.1.bn_l._mean" in message
    assert "unexpected in the file (1): features.99.weight" in message
    assert "features.2.1.conv.conv_h2h.weight [16, 8, 1, 1] vs [1, 1, 1, 1]" in message


def test_other_alpha_is_a_shape_mismatch(tmp_path):
    path = tmp_path / "alpha25.pdparams"
    paddle.save(trained_state(alpha=0.25), str(path))
    with pytest.raises(IncompatibleWeightsError, match="shape mismatch"):
        models.oct_mobilenet(pretrained=path, num_classes=5, **TINY)


def test_long_listings_are_shortened():
    state = trained_state()
    model = models.oct_mobilenet(num_classes=5, alpha=0.0, **TINY)
    expected = r"unexpected in the file \(\d+\): .* and \d+ more"
    with pytest.raises(IncompatibleWeightsError, match=expected):
        models.load_weights(model, state)


def test_classifier_rule_loads_all_but_the_classifier(tmp_path):
    state = trained_state(num_classes=5)
    path = tmp_path / "five.pdparams"
    paddle.save(state, str(path))
    expected = r"fc.bias \[3\] in the model vs \[5\] in the file.*Loaded every other weight"
    with pytest.warns(UserWarning, match=expected):
        model = models.oct_mobilenet(pretrained=path, num_classes=3, **TINY)
    assert model.fc.weight.shape == [256, 3]
    assert_loaded(model, state, skip=("fc.weight", "fc.bias"))
    assert not np.allclose(model.fc.bias.numpy(), 0.5)  # fresh init, not the file's values


def test_classifier_rule_does_not_hide_other_problems(tmp_path):
    state = trained_state(num_classes=5)
    del state["features.0.1.weight"]
    with pytest.raises(IncompatibleWeightsError, match="missing from the file") as info:
        models.load_weights(models.oct_mobilenet(num_classes=3, **TINY), state)
    assert "fc.weight" in str(info.value)


def test_load_weights_reports_skipped_keys():
    model = models.oct_mobilenet(num_classes=5, **TINY)
    assert models.load_weights(model, trained_state()) == []
    with pytest.warns(UserWarning):
        skipped = models.load_weights(models.oct_mobilenet(num_classes=2, **TINY), trained_state())
    assert skipped == ["fc.bias", "fc.weight"]


def test_no_network_in_the_default_path(monkeypatch, cache):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(FileNotFoundError):
        models.oct_resnet50(pretrained=True)
    assert not os.path.exists(cache)  # nothing created either
