"""Evaluate a network on a data set with hapi: loss, top-1, top-5, per-class accuracy, speed."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import paddle.nn as nn
from paddle.io import Dataset

from .callbacks import EvalMeter, ReadErrorCheck
from .data import DataSpec
from .loading import ReadGuard
from .metrics import PerClassAccuracy, TopKAccuracy
from .training import hapi_model

__all__ = ["EvalResult", "evaluate"]


class EvalResult(NamedTuple):
    """Evaluation results; accuracies are fractions in [0, 1]."""

    loss: float  # mean cross entropy, without label smoothing
    top1: float
    top5: float
    per_class: np.ndarray
    samples: int
    images_per_second: float


def evaluate(network: nn.Layer, dataset: Dataset, spec: DataSpec, batch_size: int,
             num_workers: int = 0, verbose: int = 1) -> EvalResult:
    """Run ``network`` (in eval mode) over ``dataset`` with ``paddle.Model.evaluate``."""
    model = hapi_model(network, spec)
    per_class = PerClassAccuracy(spec.num_classes)
    model.prepare(loss=nn.CrossEntropyLoss(), metrics=[TopKAccuracy(spec.num_classes), per_class])
    meter, guarded = EvalMeter(), ReadGuard(dataset)
    logs = model.evaluate(guarded, batch_size=batch_size, num_workers=num_workers,
                          callbacks=[ReadErrorCheck(guarded), meter], verbose=verbose)
    return EvalResult(meter.mean_loss, float(logs["top1"]), float(logs["top5"]),
                      per_class.per_class(), meter.samples, meter.images_per_second)
