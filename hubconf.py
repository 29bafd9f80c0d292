"""paddle.hub entry points: every model of the zoo, e.g.

    >>> import paddle
    >>> repo = "/path/to/paddle-octconv"
    >>> model = paddle.hub.load(repo, "oct_resnet50", source="local", num_classes=10)
    >>> paddle.hub.list(repo, source="local")  # the builders below

Each entry is a builder of :mod:`models`:
``(pretrained=False, num_classes=1000, alpha=0.5, **options)``.
"""
from models import (oct_mobilenet, oct_resnet26, oct_resnet50, oct_resnet101, oct_resnet152,
                    oct_resnet200)

dependencies = ["paddle"]

__all__ = ["oct_resnet26", "oct_resnet50", "oct_resnet101", "oct_resnet152", "oct_resnet200",
           "oct_mobilenet"]
