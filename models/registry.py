"""A name -> builder registry for the model zoo, filled by the ``@register_model`` decorator.

    >>> from models import create_model, list_models
    >>> list_models()[:3]
    ['dcn_resnet50', 'oct_mobilenet', 'oct_mobilenet_v2']
    >>> model = create_model("oct_resnet26", num_classes=10)
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, TypeVar

import paddle.nn as nn

from .common import options_checked
from .records import variant

__all__ = ["register_model", "register_variant", "list_models", "get_model_builder",
           "create_model"]

Builder = TypeVar("Builder", bound=Callable[..., nn.Layer])

_MODELS: Dict[str, Callable[..., nn.Layer]] = {}


def register_model(builder: Builder) -> Builder:
    """Register ``builder`` under its function name; a name registered twice is a ValueError."""
    name = builder.__name__
    if name in _MODELS:
        raise ValueError(
            f"a model named {name!r} is already registered (by {_MODELS[name].__module__}); "
            "model names must be unique"
        )
    _MODELS[name] = builder
    return builder


def register_variant(name: str, builder: Builder) -> Builder:
    """Register ``builder`` as the variant ``name`` of :mod:`models.records`.

    The builder is named ``name``, gets the record's docstring, and unknown keyword options
    become a TypeError naming all of them (:func:`models.common.options_checked`).
    """
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = variant(name).docstring
    return register_model(options_checked(builder))


def _natural_key(name: str) -> List[object]:
    """Sort key reading digit runs as numbers: oct_resnet26 < oct_resnet50 < oct_resnet101."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models() -> List[str]:
    """Names of every registered model, in natural order (numbers compared as numbers)."""
    return sorted(_MODELS, key=_natural_key)


def get_model_builder(name: str) -> Callable[..., nn.Layer]:
    """The builder registered as ``name``; an unknown name is a ValueError listing valid ones."""
    if not isinstance(name, str):
        raise TypeError(f"a model name must be a str, got {type(name).__name__} {name!r}")
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid names are: {', '.join(list_models())}"
        ) from None


def create_model(name: str, **kwargs) -> nn.Layer:
    """Build the model registered as ``name``: ``create_model("oct_resnet50", num_classes=10)``.

    Args:
        name: one of :func:`list_models`.
        **kwargs: passed to the builder (``pretrained``, ``num_classes``, ``alpha``, options).
    """
    return get_model_builder(name)(**kwargs)
