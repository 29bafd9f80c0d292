"""paddle.hub entry points of hubconf.py (source='local', no network)."""
import importlib.util
from pathlib import Path

import paddle

import models

REPO = str(Path(__file__).resolve().parents[2])


def test_hub_lists_every_builder():
    assert sorted(paddle.hub.list(REPO, source="local")) == sorted(models.list_models())


def test_hub_load_forwards_kwargs():
    model = paddle.hub.load(REPO, "oct_resnet50", source="local", num_classes=10)
    assert isinstance(model, models.OctResNet)
    assert model.fc.weight.shape == [2048, 10]
    assert len(model.layer3) == 6
    model = paddle.hub.load(REPO, "oct_mobilenet", source="local", num_classes=4, alpha=0.0,
                            width_mult=0.25)
    assert model.alpha == 0.0 and model.fc.weight.shape == [256, 4]


def test_hub_help_is_the_builder_docstring():
    assert paddle.hub.help(REPO, "oct_resnet26", source="local") == models.oct_resnet26.__doc__


def test_hubconf_declares_paddle_dependency():
    spec = importlib.util.spec_from_file_location("hubconf", Path(REPO) / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    assert hubconf.dependencies == ["paddle"]
    assert sorted(hubconf.__all__) == sorted(models.list_models())
