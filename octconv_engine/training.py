"""A training run: hapi ``paddle.Model`` + recipe + callbacks + checkpoints, resumable.

    trainer = Trainer(cfg, runtime, data, network, run_dir, resume=checkpoint_or_None)
    trainer.fit()            # raises TrainingInterrupted (checkpoint saved) or NonFiniteLossError
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional

import paddle
import paddle.nn as nn
from paddle.static import InputSpec

from .callbacks import (CheckpointSaver, InterruptGuard, NonFiniteLossGuard, ProgressBar,
                        ProgressTracker, ReadErrorCheck, VisualDLLogger)
from .checkpoint import (BEST, FORMAT, LAST, Progress, atomic_save, capture_rng_state,
                         optimizer_state_by_path, optimizer_state_from_path, restore_rng_state)
from .config import RunConfig
from .data import DataSpec, LoadedData
from .errors import TrainingInterrupted, UsageError
from .loading import EpochBatchSampler, ReadGuard, train_loader
from .metrics import TopKAccuracy
from .recipes import build_loss, build_optimizer
from .runtime import Runtime

__all__ = ["hapi_model", "choose_run_dir", "Trainer"]


def hapi_model(network: nn.Layer, spec: DataSpec) -> paddle.Model:
    """``paddle.Model`` with the image and label input specs of ``spec``."""
    image = InputSpec([None, spec.in_channels, spec.image_size, spec.image_size], "float32", "image")
    return paddle.Model(network, inputs=[image], labels=[InputSpec([None, 1], "int64", "label")])


def choose_run_dir(cfg: RunConfig, resume_file: Optional[Path]) -> Path:
    """Where logs and checkpoints go.

    Resuming: the resumed checkpoint's folder (or ``--log-dir``). Otherwise ``--log-dir``,
    which must not hold a run already, or ``runs/<data>-<model>-a<alpha>`` with ``-2``, ``-3``
    ... appended when that is taken.
    """
    if resume_file is not None:
        return Path(cfg.log_dir) if cfg.log_dir else resume_file.parent
    if cfg.log_dir:
        run_dir = Path(cfg.log_dir)
        if (run_dir / LAST).exists():
            raise UsageError(f"--log-dir {run_dir} already holds a run ({LAST}); continue it with "
                             f"--resume {run_dir} or choose another --log-dir")
        return run_dir
    base = Path("runs") / f"{cfg.data}-{cfg.model}-a{cfg.alpha:g}"
    run_dir, number = base, 1
    while run_dir.exists() and any(run_dir.iterdir()):
        number += 1
        run_dir = base.with_name(f"{base.name}-{number}")
    return run_dir


class Trainer:
    """Everything of one training run that outlives a single call.

    Args:
        cfg: the resolved settings (``cfg.log_dir`` is replaced by ``run_dir``).
        runtime: device, rank and AMP level from :func:`octconv_engine.runtime.setup_runtime`.
        data: train and eval data sets and their spec.
        network: the model to train (freshly built; a resumed state is loaded into it).
        run_dir: folder of the VisualDL logs and the checkpoints.
        resume: a loaded ``last`` checkpoint to continue from, or None.
    """

    def __init__(self, cfg: RunConfig, runtime: Runtime, data: LoadedData, network: nn.Layer,
                 run_dir: Path, resume: Optional[Dict[str, Any]] = None) -> None:
        if data.train is None:
            raise ValueError("Trainer needs a training split")
        cfg.log_dir = str(run_dir)
        self.cfg, self.runtime, self.data, self.network = cfg, runtime, data, network
        self.run_dir = run_dir
        self.sampler = EpochBatchSampler(len(data.train), cfg.batch_size, shuffle=True,
                                         seed=cfg.seed, rank=runtime.rank,
                                         world_size=runtime.world_size)
        self.loader = train_loader(data.train, self.sampler, cfg.num_workers)
        self.eval_data = ReadGuard(data.eval)
        self.global_batch = cfg.batch_size * runtime.world_size
        self.model = hapi_model(network, data.spec)
        self.optimizer = build_optimizer(cfg, network, len(self.sampler), self.global_batch)
        self.model.prepare(self.optimizer, build_loss(cfg), TopKAccuracy(data.spec.num_classes),
                           amp_configs=runtime.amp_level)
        self.progress = Progress()
        self._rng_state = None
        if resume is not None:
            self._restore(resume)

    @property
    def steps_per_epoch(self) -> int:
        return len(self.sampler)

    def checkpoint(self, training_state: bool = True) -> Dict[str, Any]:
        """The checkpoint record (see :mod:`octconv_engine.checkpoint`); without optimizer and RNG
        state when ``training_state`` is False."""
        record: Dict[str, Any] = {
            "format": FORMAT,
            "model": self.network.state_dict(),
            "config": self.cfg.to_dict(),
            "spec": {**asdict(self.data.spec), "class_names": list(self.data.spec.class_names)},
            "progress": self.progress.to_dict(),
            "paddle_version": paddle.__version__,
        }
        if training_state:
            record["optimizer"] = optimizer_state_by_path(self.optimizer, self.network)
            record["rng"] = capture_rng_state()
        return record

    def save(self, kind: str) -> Path:
        """Write ``last`` (full training state) or ``best`` (weights and record) atomically."""
        path = self.run_dir / (LAST if kind == "last" else BEST)
        atomic_save(self.checkpoint(training_state=kind == "last"), path)
        return path

    def _restore(self, checkpoint: Dict[str, Any]) -> None:
        if "optimizer" not in checkpoint or "rng" not in checkpoint:
            raise UsageError("the checkpoint holds no training state (a best.pdparams?); "
                             f"resume from the run's {LAST}")
        self.network.set_state_dict(checkpoint["model"])
        self.optimizer.set_state_dict(
            optimizer_state_from_path(dict(checkpoint["optimizer"]), self.network))
        self.progress = Progress.from_dict(checkpoint["progress"])
        self.sampler.set_epoch(self.progress.epoch, skip=self.progress.step)
        self._rng_state = checkpoint["rng"]

    def callbacks(self, tracker: ProgressTracker, guard: InterruptGuard) -> List[Any]:
        """The training callbacks, in the order they must run."""
        return [
            ReadErrorCheck(self.loader.dataset, self.eval_data),
            tracker,
            guard,
            NonFiniteLossGuard(self.progress),
            ProgressBar(self.progress, self.cfg.epochs, self.cfg.log_freq),
            VisualDLLogger(str(self.run_dir), self.progress, self.cfg.log_freq),
            CheckpointSaver(tracker, self.save, evaluates=True, every=self.cfg.save_every),
        ]

    def fit(self) -> Progress:
        """Train the remaining epochs; returns the final :class:`Progress`.

        Raises:
            TrainingInterrupted: after Ctrl-C, once ``last`` was saved (rank 0).
            NonFiniteLossError: the loss became NaN or inf (nothing is saved).
        """
        remaining = self.cfg.epochs - self.progress.epoch
        if remaining <= 0:
            return self.progress
        if self._rng_state is not None:
            restore_rng_state(self._rng_state)  # last, so set-up work cannot shift the RNG streams
        tracker = ProgressTracker(self.progress)
        with InterruptGuard() as guard:
            callbacks = self.callbacks(tracker, guard)
            try:
                self.model.fit(self.loader, self.eval_data, epochs=remaining,
                               batch_size=self.cfg.batch_size, num_workers=self.cfg.num_workers,
                               log_freq=self.cfg.log_freq, verbose=0, callbacks=callbacks)
            except TrainingInterrupted:
                if self.runtime.is_main:
                    self.save("last")
                raise
            finally:
                for callback in callbacks:
                    if isinstance(callback, VisualDLLogger):
                        callback.close()
        return self.progress
