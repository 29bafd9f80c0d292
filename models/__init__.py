"""The OctConv model zoo: Oct-ResNet-26/50/101/152/200, Oct-ResNeXt-50/101 (32x4d),
Oct-SE-ResNet-50, Oct-MobileNet V1 and Oct-MobileNetV2, and ResNet-50 with each plug-in conv
beside OctConv (SPConv, ODConv, SAConv, DCNv2); one record per variant in :mod:`models.records`.

Every builder is ``builder(pretrained=False, num_classes=1000, alpha=<default>, *, options)`` with
typed keyword-only options (an unknown one is a TypeError naming it); ``alpha=0``
builds the plain counterpart with the same parameter names. Models map (N, C, H, W) images to
(N, num_classes) logits and expose ``forward_features`` and ``forward_head``. With
``features_only=True`` a builder returns a :class:`~models.features.FeatureNet` (a list of
per-stage maps and ``feature_info``, for detection and segmentation; ``output_stride=16 | 8``
dilates a ResNet's last stages): see :mod:`models.features`.

    >>> from models import create_model, list_models, oct_resnet50
    >>> model = oct_resnet50(num_classes=10)  # or create_model("oct_resnet50", num_classes=10)
    >>> model = oct_resnet50(pretrained=True)  # ~/.cache/paddle_octconv/oct_resnet50.pdparams
"""
from .oct_mobilenet import OctMobileNet, oct_mobilenet
from .oct_mobilenet_v2 import InvertedResidual, OctMobileNetV2, oct_mobilenet_v2
from .oct_resnet import (Bottleneck, OctResNet, oct_resnet26, oct_resnet50, oct_resnet101,
                         oct_resnet152, oct_resnet200, oct_resnext50_32x4d, oct_resnext101_32x4d,
                         oct_se_resnet50, od_resnet50, sac_resnet50, sp_resnet50, dcn_resnet50)
from .features import FeatureInfo, FeatureNet, StageInfo, merge_octave
from .registry import create_model, get_model_builder, list_models, register_model
from .weights import IncompatibleWeightsError, cache_dir, load_weights

__all__ = [
    "oct_resnet26",
    "oct_resnet50",
    "oct_resnet101",
    "oct_resnet152",
    "oct_resnet200",
    "oct_resnext50_32x4d",
    "oct_resnext101_32x4d",
    "oct_se_resnet50",
    "sp_resnet50",
    "od_resnet50",
    "sac_resnet50",
    "dcn_resnet50",
    "oct_mobilenet",
    "oct_mobilenet_v2",
    "OctResNet",
    "Bottleneck",
    "OctMobileNet",
    "OctMobileNetV2",
    "InvertedResidual",
    "FeatureNet",
    "FeatureInfo",
    "StageInfo",
    "merge_octave",
    "list_models",
    "create_model",
    "get_model_builder",
    "register_model",
    "cache_dir",
    "load_weights",
    "IncompatibleWeightsError",
]
