"""hapi metrics: top-1 / top-5 accuracy under fixed names, and per-class accuracy."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import paddle
from paddle.metric import Accuracy, Metric

__all__ = ["TopKAccuracy", "PerClassAccuracy"]


class TopKAccuracy(Accuracy):
    """Top-1 and top-5 accuracy, always named ``top1`` and ``top5`` (top-5 is top-k with
    k = min(5, num_classes) for data sets of fewer than five classes)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(topk=(1, min(5, num_classes)))

    def _init_name(self, name) -> None:
        self._name = ["top1", "top5"]


class PerClassAccuracy(Metric):
    """Top-1 accuracy of each class; reported to hapi as ``class_acc``, their mean.

    hapi resets metrics at the end of every pass, before ``evaluate`` returns; :meth:`reset`
    therefore keeps the counts of the pass it ends, and :meth:`per_class` reports them (NaN for
    a class without samples).
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.reset()

    def compute(self, pred: paddle.Tensor, label: paddle.Tensor, *args) -> Tuple[paddle.Tensor, paddle.Tensor]:
        return paddle.argmax(pred, axis=-1), paddle.reshape(label, [-1])

    def update(self, predicted: np.ndarray, label: np.ndarray, *args) -> float:
        predicted, label = np.asarray(predicted).reshape(-1), np.asarray(label).reshape(-1)
        self.total += np.bincount(label, minlength=self.num_classes)[:self.num_classes]
        self.correct += np.bincount(label[predicted == label],
                                    minlength=self.num_classes)[:self.num_classes]
        return self.accumulate()

    def reset(self) -> None:
        if getattr(self, "total", None) is not None and self.total.any():
            self.finished = (self.correct, self.total)
        self.total = np.zeros(self.num_classes, dtype=np.int64)
        self.correct = np.zeros(self.num_classes, dtype=np.int64)

    def per_class(self) -> np.ndarray:
        """Accuracy of each class in the last finished pass (the current one if none finished)."""
        correct, total = getattr(self, "finished", (self.correct, self.total))
        with np.errstate(invalid="ignore", divide="ignore"):
            return correct / total

    def accumulate(self) -> float:
        seen = self.total > 0
        return float(np.mean(self.correct[seen] / self.total[seen])) if seen.any() else 0.0

    def name(self) -> List[str]:
        return ["class_acc"]
