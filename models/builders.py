"""How every registered builder makes its model: the checked feature options, the network (or
its :class:`models.features.FeatureNet` for ``features_only``), then the weights ``pretrained``
names. One function, so the families cannot drift apart in the order of these steps."""
from __future__ import annotations

from functools import partial
from typing import Callable, Optional, Sequence

import paddle.nn as nn

from .features import FeatureOutput, feature_options, with_features
from .weights import PretrainedArg, build_with_weights

__all__ = ["build_model"]


def build_model(arch: str, model_class: Callable[..., nn.Layer], pretrained: PretrainedArg, *,
                features_only: bool, out_indices: Optional[Sequence[int]],
                feature_output: FeatureOutput, classifier: str = "fc",
                **options: object) -> nn.Layer:
    """``model_class(**options)`` as the variant ``arch`` with the weights ``pretrained`` names.

    The feature options are checked first and a missing weights file is found before anything
    is built, so bad arguments fail fast. ``classifier`` is the network's classifier prefix
    (``fc``, ``classifier.1``), which may differ from a checkpoint's in shape
    (:func:`models.weights.load_weights`).
    """
    features = feature_options(features_only, out_indices, feature_output)
    build = with_features(partial(model_class, **options), features)
    return build_with_weights(arch, pretrained, build, classifier=classifier)
