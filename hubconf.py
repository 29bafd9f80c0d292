"""paddle.hub entry points: every model of the zoo, e.g.

    >>> import paddle
    >>> repo = "/path/to/paddle-octconv"
    >>> model = paddle.hub.load(repo, "oct_resnet50", source="local", num_classes=10)
    >>> paddle.hub.list(repo, source="local")  # every name of models.list_models()

Each entry is the builder of :mod:`models` registered under that name (read from the registry,
so a new variant record appears here by itself): ``(pretrained=False, num_classes=1000,
alpha=<default>, *, options)``; ``paddle.hub.help`` shows its docstring.
"""
from models import get_model_builder as _get_model_builder
from models import list_models as _list_models

dependencies = ["paddle"]

__all__ = _list_models()
globals().update({_name: _get_model_builder(_name) for _name in __all__})
