"""The timed paths of ``bench.py``: how one side of a pair is run, as a :class:`Runner`.

    dygraph    eval-mode forward under paddle.no_grad()                        (CPU or GPU)
    predictor  paddle.inference, oneDNN fp32, after jit.to_static + jit.save   (CPU)
    bf16       the same predictor with oneDNN bf16                             (CPU with bf16)
    train      a full training step: forward, loss, backward, Momentum update, clear_grad
                                                                               (CPU or GPU)

The predictor set-up and the export are ``latency.py``'s (one of each in ``benchmarks/``); the
export runs in a child process, so it can use the legacy IR (``FLAGS_enable_pir_api=0``) while the
measuring process keeps PIR. On a GPU, ``amp`` ("float16" / "bfloat16") runs the forward under
``paddle.amp.auto_cast`` O1 (and a fp16 training step through a ``GradScaler``); on the CPU it is
ignored (Paddle's CPU AMP is a no-op).
"""
from __future__ import annotations

import argparse
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from bench_child import reply, run_child
from bench_devices import bf16_unsupported, synchronize
from bench_subjects import build_model, input_shapes, make_inputs, make_labels
from latency import make_predictor, save_for_inference

__all__ = ["Entry", "Runner", "TimedPath", "PATHS", "AMP_DTYPES", "as_list", "training_loss",
           "dygraph_runner", "train_runner", "predictor_runner", "export", "export_child"]

AMP_DTYPES = ("float16", "bfloat16")
TRAIN_LR, TRAIN_MOMENTUM = 1e-4, 0.9  # small: many steps on one batch of random labels


@dataclass
class Entry:
    """One side of a pair at one image side, built once: its eval model, the saved weights and a
    work directory. ``size`` is the image side (None for fixed-shape subjects)."""

    name: str
    model: Optional[nn.Layer]
    state_file: str
    workdir: str
    patches: Sequence[str]
    size: Optional[int] = None
    exports: Dict[str, object] = field(default_factory=dict)  # ir -> (graph, weights) or error


@dataclass
class Runner:
    """``run()`` is the timed unit; ``fetch()`` returns its outputs as numpy arrays (for checks)."""

    run: Callable[[], object]
    fetch: Callable[[], List[np.ndarray]]


def as_list(outputs) -> List[paddle.Tensor]:
    return [o for o in outputs if o is not None] if isinstance(outputs, (tuple, list)) else [outputs]


def _autocast(device: str, amp: Optional[str]):
    if device == "gpu" and amp:
        return paddle.amp.auto_cast(level="O1", dtype=amp)
    return contextlib.nullcontext()


def _numpy(tensors: Sequence[paddle.Tensor]) -> List[np.ndarray]:
    return [t.astype("float32").numpy() for t in tensors]


def dygraph_runner(entry: Entry, batch: int, threads: int, device: str = "cpu",
                   amp: Optional[str] = None, **_) -> Runner:
    model = entry.model
    model.eval()
    xs = [paddle.to_tensor(a) for a in make_inputs(entry.name, batch, entry.size)]

    def run():
        with paddle.no_grad(), _autocast(device, amp):
            outputs = as_list(model(*xs))
        synchronize(device)
        return outputs

    return Runner(run, lambda: _numpy(run()))


def training_loss(outputs: List[paddle.Tensor], labels: Optional[paddle.Tensor]) -> paddle.Tensor:
    """Cross-entropy of a classifier's logits with ``labels``; without labels (single layers) the
    sum of the outputs' mean squares."""
    if labels is not None:
        return F.cross_entropy(outputs[0].astype("float32"), labels)
    return paddle.add_n([out.astype("float32").square().mean() for out in outputs])


def train_runner(entry: Entry, batch: int, threads: int, device: str = "cpu",
                 amp: Optional[str] = None, model: Optional[nn.Layer] = None, **_) -> Runner:
    """A full training step of a fresh copy of the entry's model (or of ``model``): forward,
    loss, backward, Momentum update, clear_grad; ``run()`` returns the loss."""
    model = model if model is not None else build_model(entry.name, entry.state_file, entry.size)
    model.train()
    xs = [paddle.to_tensor(a) for a in make_inputs(entry.name, batch, entry.size)]
    labels = make_labels(entry.name, batch)
    labels = None if labels is None else paddle.to_tensor(labels)
    optimizer = paddle.optimizer.Momentum(learning_rate=TRAIN_LR, momentum=TRAIN_MOMENTUM,
                                          parameters=model.parameters())
    scaler = paddle.amp.GradScaler() if device == "gpu" and amp == "float16" else None

    def run():
        with _autocast(device, amp):
            loss = training_loss(as_list(model(*xs)), labels)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        optimizer.clear_grad()
        synchronize(device)
        return loss

    return Runner(run, lambda: _numpy([run()]))


def export(entry: Entry, ir: str) -> Tuple[str, str]:
    """to_static + jit.save of the entry's weights in a child process; returns (graph, weights)."""
    if ir not in entry.exports:
        prefix = os.path.join(entry.workdir, f"{entry.name}_{entry.size or 'fixed'}_{ir}", "model")
        env = dict(os.environ, FLAGS_enable_pir_api="1" if ir == "pir" else "0")
        command = ["export", "--subject", entry.name, "--state", entry.state_file,
                   "--prefix", prefix]
        if entry.size is not None:
            command += ["--sizes", str(entry.size)]
        try:
            saved = run_child(command, entry.patches, env=env)
            entry.exports[ir] = (saved["graph"], saved["weights"])
        except Exception as error:  # remembered: later batches and thread counts skip the retry
            entry.exports[ir] = error
    if isinstance(entry.exports[ir], Exception):
        raise entry.exports[ir]
    return entry.exports[ir]


def export_child(args: argparse.Namespace) -> None:
    """The child's side of :func:`export`: save the subject with fixed input sides."""
    size = args.sizes[0] if args.sizes else None
    shapes = input_shapes(args.subject, size)
    model = build_model(args.subject, args.state, size)
    graph, weights = save_for_inference(model, Path(args.prefix), [s[0] for s in shapes],
                                        sides=[s[1:] for s in shapes])
    reply({"graph": str(graph), "weights": str(weights)})


def predictor_runner(entry: Entry, batch: int, threads: int, ir: str = "pir",
                     bf16: bool = False, **_) -> Runner:
    graph, weights = export(entry, ir)
    run = make_predictor(Path(graph), Path(weights), make_inputs(entry.name, batch, entry.size),
                         threads, bf16=bf16)
    return Runner(run, run)


@dataclass
class TimedPath:
    """A timed path: how to build a runner, the option sets to try in order, and availability.

    Attributes:
        make: ``make(entry, batch, threads, device=..., amp=..., **option_set) -> Runner``.
        variants: (label, option set) to try in order; the first that works for both sides wins.
        unavailable: None, or why this machine cannot run the path (its rows are skipped).
        check_against_dygraph: compare each side's outputs with its dygraph forward.
        devices: where the path can run.
        throughput: report images/s of each side (one run handles ``batch`` images).
    """

    make: Callable[..., Runner]
    variants: Callable[[argparse.Namespace], List[Tuple[str, dict]]] = lambda args: [("", {})]
    unavailable: Callable[[], Optional[str]] = lambda: None
    check_against_dygraph: bool = False
    devices: Tuple[str, ...] = ("cpu",)
    throughput: bool = False


def _ir_variants(bf16: bool) -> Callable[[argparse.Namespace], List[Tuple[str, dict]]]:
    def variants(args):
        irs = ["pir", "legacy"] if args.predictor_ir == "auto" else [args.predictor_ir]
        return [(f"{ir} IR", dict(ir=ir, bf16=bf16)) for ir in irs]
    return variants


PATHS: Dict[str, TimedPath] = {
    "dygraph": TimedPath(dygraph_runner, devices=("cpu", "gpu")),
    "predictor": TimedPath(predictor_runner, _ir_variants(False), check_against_dygraph=True),
    "bf16": TimedPath(predictor_runner, _ir_variants(True), bf16_unsupported),
    "train": TimedPath(train_runner, devices=("cpu", "gpu"), throughput=True),
}
