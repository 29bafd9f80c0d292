"""The registry: names, create_model, errors, and the builder contract shared by every model."""
import inspect

import pytest

import models
from models import registry
from models.records import VARIANTS

ALL_MODELS = ["dcn_resnet50", "oct_mobilenet", "oct_mobilenet_v2", "oct_resnet26", "oct_resnet50",
              "oct_resnet101", "oct_resnet152", "oct_resnet200", "oct_resnext50_32x4d",
              "oct_resnext101_32x4d", "oct_se_resnet50", "od_resnet50", "sac_resnet50",
              "sp_resnet50"]


def test_list_models_in_natural_order():
    assert models.list_models() == ALL_MODELS


def test_every_record_is_a_registered_builder_and_back():
    assert sorted(VARIANTS) == sorted(models.list_models())
    for name, record in VARIANTS.items():
        assert record.name == name
        assert models.get_model_builder(name).__doc__ == record.docstring


def test_every_builder_is_exported_and_registered():
    for name in ALL_MODELS:
        assert name in models.__all__
        assert models.get_model_builder(name) is getattr(models, name)


def test_builder_signature_and_docstring():
    """(pretrained, num_classes, alpha) then typed keyword-only options; no **kwargs."""
    for name in ALL_MODELS:
        builder = getattr(models, name)
        params = list(inspect.signature(builder).parameters.values())
        assert [(p.name, p.default) for p in params[:3]] == [
            ("pretrained", False), ("num_classes", 1000), ("alpha", VARIANTS[name].alpha)]
        assert params[3:] and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[3:])
        assert all(p.annotation is not inspect.Parameter.empty for p in params), name
        assert {"in_channels", "small_input"} <= {p.name for p in params}
        assert builder.__name__ == name and builder.__doc__ and builder.__doc__.strip()


def test_create_model_passes_kwargs():
    model = models.create_model("oct_mobilenet", num_classes=3, alpha=0.0, width_mult=0.25)
    assert isinstance(model, models.OctMobileNet)
    assert model.fc.weight.shape == [256, 3]
    assert model.alpha == 0.0


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'oct_resnet18'") as info:
        models.create_model("oct_resnet18")
    for name in ALL_MODELS:
        assert name in str(info.value)


def test_name_must_be_a_string():
    with pytest.raises(TypeError, match="must be a str"):
        models.create_model(50)


def test_unknown_kwargs_are_a_type_error_through_create_model():
    with pytest.raises(TypeError, match="unexpected keyword argument.*'depth'"):
        models.create_model("oct_resnet26", depth=18)


def test_duplicate_registration_is_refused(monkeypatch):
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))

    def oct_resnet50():  # same name as a registered builder
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="'oct_resnet50' is already registered"):
        registry.register_model(oct_resnet50)


def test_register_model_returns_the_builder(monkeypatch):
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))

    def tiny_model(**kwargs):
        return models.oct_mobilenet(width_mult=0.25, **kwargs)

    assert registry.register_model(tiny_model) is tiny_model
    assert "tiny_model" in registry.list_models()
    assert isinstance(registry.create_model("tiny_model", num_classes=2), models.OctMobileNet)
