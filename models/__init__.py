"""The OctConv model zoo: Oct-ResNet-26/50/101/152/200 and Oct-MobileNet V1.

Every builder is ``builder(pretrained=False, num_classes=1000, alpha=0.5, **options)``; ``alpha=0``
builds the plain counterpart with the same parameter names. Models map (N, C, H, W) images to
(N, num_classes) logits and expose ``forward_features`` and ``forward_head``.

    >>> from models import create_model, list_models, oct_resnet50
    >>> model = oct_resnet50(num_classes=10)  # or create_model("oct_resnet50", num_classes=10)
    >>> model = oct_resnet50(pretrained=True)  # ~/.cache/paddle_octconv/oct_resnet50.pdparams
"""
from .oct_mobilenet import OctMobileNet, oct_mobilenet
from .oct_resnet import (Bottleneck, OctResNet, oct_resnet26, oct_resnet50, oct_resnet101,
                         oct_resnet152, oct_resnet200)
from .registry import create_model, get_model_builder, list_models, register_model
from .weights import IncompatibleWeightsError, cache_dir, load_weights

__all__ = [
    "oct_resnet26",
    "oct_resnet50",
    "oct_resnet101",
    "oct_resnet152",
    "oct_resnet200",
    "oct_mobilenet",
    "OctResNet",
    "Bottleneck",
    "OctMobileNet",
    "list_models",
    "create_model",
    "get_model_builder",
    "register_model",
    "cache_dir",
    "load_weights",
    "IncompatibleWeightsError",
]
