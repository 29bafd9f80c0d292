"""Optimizer, learning-rate schedule and loss built from a :class:`RunConfig`."""
from __future__ import annotations

from typing import Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.regularizer import L2Decay
from paddle.optimizer.lr import CosineAnnealingDecay, LinearWarmup, LRScheduler

from .config import RunConfig

__all__ = ["SmoothedCrossEntropy", "effective_lr", "build_schedule", "build_optimizer", "build_loss",
           "describe_recipe"]


def effective_lr(cfg: RunConfig, global_batch: int) -> float:
    """``cfg.lr`` scaled linearly by ``global_batch / cfg.lr_ref_batch`` (unscaled when 0)."""
    return cfg.lr * global_batch / cfg.lr_ref_batch if cfg.lr_ref_batch else cfg.lr


def build_schedule(cfg: RunConfig, steps_per_epoch: int,
                   global_batch: int) -> Union[float, LRScheduler]:
    """Per-step schedule: linear warm-up from 0 for ``warmup_epochs`` (at most the whole run),
    then cosine decay to 0 or constant.

    The hapi ``LRScheduler`` callback steps it after every batch.
    """
    peak = effective_lr(cfg, global_batch)
    total = cfg.epochs * steps_per_epoch
    warmup = min(total, int(round(cfg.warmup_epochs * steps_per_epoch)))
    schedule: Union[float, LRScheduler] = peak
    if cfg.schedule == "cosine":
        schedule = CosineAnnealingDecay(peak, T_max=max(1, total - warmup))
    if warmup:
        schedule = LinearWarmup(schedule, warmup_steps=warmup, start_lr=0.0, end_lr=peak)
    return schedule


def build_optimizer(cfg: RunConfig, network: nn.Layer, steps_per_epoch: int,
                    global_batch: int) -> paddle.optimizer.Optimizer:
    """The recipe's optimizer; weight decay is not applied to 1-d parameters (BN and biases).

    The exemption is set on those parameters (``param.regularizer = L2Decay(0)``, which Paddle
    prefers to the optimizer's decay) because hapi's ``minimize`` rejects parameter groups.
    """
    schedule = build_schedule(cfg, steps_per_epoch, global_batch)
    params = [p for p in network.parameters() if not p.stop_gradient]
    no_decay = [p for p in params if p.ndim <= 1]
    if cfg.optimizer == "adamw":
        decayed = {p.name for p in params if p.ndim > 1}
        return paddle.optimizer.AdamW(schedule, parameters=params, weight_decay=cfg.weight_decay,
                                      apply_decay_param_fun=lambda name: name in decayed)
    for param in no_decay:
        param.regularizer = L2Decay(0.0)
    decay = L2Decay(cfg.weight_decay) if cfg.weight_decay else None
    if cfg.optimizer == "sgd":
        return paddle.optimizer.Momentum(schedule, momentum=cfg.momentum, parameters=params,
                                         weight_decay=decay)
    return paddle.optimizer.Adam(schedule, parameters=params, weight_decay=decay)


class SmoothedCrossEntropy(nn.Layer):
    """Cross entropy against ``(1 - eps) * one_hot + eps / K``, for int64 (N, 1) labels.

    (``nn.CrossEntropyLoss(label_smoothing=...)`` has no int64 label kernel on CPU in Paddle 3.3.)
    """

    def __init__(self, epsilon: float) -> None:
        super().__init__()
        self.epsilon = epsilon

    def forward(self, logits: paddle.Tensor, label: paddle.Tensor) -> paddle.Tensor:
        log_probs = F.log_softmax(logits, axis=-1)
        nll = -paddle.take_along_axis(log_probs, label.reshape([-1, 1]), axis=-1).squeeze(-1)
        uniform = -log_probs.mean(axis=-1)
        return ((1.0 - self.epsilon) * nll + self.epsilon * uniform).mean()


def build_loss(cfg: RunConfig) -> nn.Layer:
    """Cross entropy, with the recipe's label smoothing when it is not 0."""
    if cfg.label_smoothing:
        return SmoothedCrossEntropy(cfg.label_smoothing)
    return nn.CrossEntropyLoss()


def describe_recipe(cfg: RunConfig, global_batch: int) -> str:
    """One line: optimizer, learning rate (with its scaling), schedule, regularisation."""
    lr = effective_lr(cfg, global_batch)
    scaled = f" = {cfg.lr:g} x {global_batch}/{cfg.lr_ref_batch}" if cfg.lr_ref_batch else ""
    optimizer = f"SGD momentum {cfg.momentum:g}" if cfg.optimizer == "sgd" else cfg.optimizer.title()
    return (f"recipe {cfg.recipe}: {optimizer}, lr {lr:.4g}{scaled}, {cfg.schedule} schedule, "
            f"warm-up {min(cfg.warmup_epochs, cfg.epochs):g} epochs, label smoothing {cfg.label_smoothing:g}, "
            f"weight decay {cfg.weight_decay:g} (not on BN / biases), batch {global_batch}, "
            f"{cfg.epochs} epochs")
