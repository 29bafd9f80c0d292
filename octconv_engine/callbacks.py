"""hapi callbacks of train.py and eval.py.

Order matters: :class:`ProgressTracker` comes first (it updates the shared
:class:`~octconv_engine.checkpoint.Progress` the others read), :class:`CheckpointSaver` after it.
Only the main process (rank 0) writes logs and checkpoints.
"""
from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import paddle
from paddle.callbacks import Callback, ProgBarLogger

from .checkpoint import Progress
from .errors import NonFiniteLossError, TrainingInterrupted

__all__ = [
    "is_main_process",
    "EvalMeter",
    "ProgressTracker",
    "ProgressBar",
    "VisualDLLogger",
    "CheckpointSaver",
    "NonFiniteLossGuard",
    "InterruptGuard",
    "ReadErrorCheck",
]

Logs = Optional[Dict[str, Any]]


def is_main_process() -> bool:
    """True on rank 0 (and when not distributed)."""
    return paddle.distributed.get_rank() == 0


def _scalar(value: Any) -> float:
    """hapi logs hold the loss as a one-element list."""
    return float(value[0] if isinstance(value, (list, tuple)) else value)


class EvalMeter(Callback):
    """Mean eval loss over all batches (hapi's logs only hold the last batch's), and images/s."""

    def on_eval_begin(self, logs: Logs = None) -> None:
        self.loss_sum, self.samples, self.start = 0.0, 0, time.perf_counter()
        self.seconds = 0.0

    def on_eval_batch_end(self, step: int, logs: Logs = None) -> None:
        batch = int(logs.get("batch_size", 1))
        if "loss" in logs:
            self.loss_sum += _scalar(logs["loss"]) * batch
        self.samples += batch

    def on_eval_end(self, logs: Logs = None) -> None:
        self.seconds = time.perf_counter() - self.start

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(1, self.samples)

    @property
    def images_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


class ProgressTracker(EvalMeter):
    """Keeps a :class:`Progress` up to date: steps, epochs, per-epoch history and the best top-1."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress
        self.improved = False

    def on_train_begin(self, logs: Logs = None) -> None:
        self._resumed_seconds = self.progress.seconds
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._train_loss, self._train_samples = 0.0, 0
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, step: int, logs: Logs = None) -> None:
        self.progress.step += 1
        self.progress.global_step += 1
        batch = int(logs.get("batch_size", 1))
        self._train_loss += _scalar(logs["loss"]) * batch
        self._train_samples += batch
        self._tick()

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self.progress.epoch += 1
        self.progress.step = 0
        self.progress.history.append({
            "epoch": self.progress.epoch,
            "train_loss": self._train_loss / max(1, self._train_samples),
            "train_top1": float(logs.get("top1", math.nan)),
            "train_top5": float(logs.get("top5", math.nan)),
            "lr": float(self.model._optimizer.get_lr()),  # for the epoch's next step
            # Training only (evaluation comes after); a resumed epoch counts its resumed part.
            "train_seconds": time.perf_counter() - self._epoch_start,
            "train_images": self._train_samples,
        })
        self.improved = False
        self._tick()

    def on_eval_end(self, logs: Logs = None) -> None:
        super().on_eval_end(logs)
        top1 = float(logs["top1"])
        self.progress.history[-1].update(
            eval_loss=self.mean_loss, eval_top1=top1, eval_top5=float(logs["top5"]))
        self.improved = top1 > self.progress.best_top1
        if self.improved:
            self.progress.best_top1, self.progress.best_epoch = top1, self.progress.epoch
        self._tick()

    def _tick(self) -> None:
        self.progress.seconds = self._resumed_seconds + time.perf_counter() - self._start


class ProgressBar(ProgBarLogger):
    """hapi's progress bar, numbering epochs of a resumed run from where it left off."""

    def __init__(self, progress: Progress, total_epochs: int, log_freq: int) -> None:
        super().__init__(log_freq=log_freq, verbose=1)
        self.progress, self.total_epochs = progress, total_epochs

    def on_train_begin(self, logs: Logs = None) -> None:
        super().on_train_begin(logs)
        self.epochs = self.total_epochs

    def on_epoch_begin(self, epoch: int = None, logs: Logs = None) -> None:
        super().on_epoch_begin(self.progress.epoch, logs)


class VisualDLLogger(Callback):
    """VisualDL scalars under ``log_dir`` (rank 0 only).

    Every ``log_freq`` steps: ``train/loss`` (the batch's), ``train/lr``, ``train/images_per_sec``.
    Every epoch: ``train/top1``, ``train/top5`` (epoch averages), ``eval/loss``, ``eval/top1``,
    ``eval/top5``. Steps are global batch counts; epoch scalars use the epoch number. A resumed
    run appends to the folder's log file (VisualDL shows only the newest file of a folder).
    """

    def __init__(self, log_dir: str, progress: Progress, log_freq: int) -> None:
        super().__init__()
        self.log_dir, self.progress, self.log_freq = log_dir, progress, log_freq
        self.writer = None

    def on_train_begin(self, logs: Logs = None) -> None:
        if is_main_process() and self.writer is None:
            from visualdl import LogWriter

            existing = sorted(Path(self.log_dir).glob("vdlrecords.*.log"))
            self.writer = LogWriter(logdir=self.log_dir,
                                    file_name=existing[-1].name if existing else "")
        self._window_start, self._window_samples = time.perf_counter(), 0

    def _add(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag=tag, value=float(value), step=step)

    def on_train_batch_end(self, step: int, logs: Logs = None) -> None:
        self._window_samples += int(logs.get("batch_size", 1))
        global_step = self.progress.global_step
        if global_step % self.log_freq == 0:
            elapsed = time.perf_counter() - self._window_start
            self._add("train/loss", _scalar(logs["loss"]), global_step)
            self._add("train/lr", self.model._optimizer.get_lr(), global_step)
            self._add("train/images_per_sec", self._window_samples / max(elapsed, 1e-9),
                      global_step)
            self._window_start, self._window_samples = time.perf_counter(), 0

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        record = self.progress.history[-1]
        self._add("train/top1", record["train_top1"], self.progress.epoch)
        self._add("train/top5", record["train_top5"], self.progress.epoch)
        self.flush()

    def on_eval_end(self, logs: Logs = None) -> None:
        record = self.progress.history[-1]
        for key in ("loss", "top1", "top5"):
            self._add(f"eval/{key}", record[f"eval_{key}"], self.progress.epoch)
        self.flush()

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class CheckpointSaver(Callback):
    """After every epoch (after its evaluation when there is one): save ``last``, and ``best``
    when the eval top-1 improved; with ``every`` > 0 also ``last`` after every ``every``-th
    batch inside an epoch. ``save(kind)`` does the writing (rank 0 only)."""

    def __init__(self, tracker: ProgressTracker, save: Callable[[str], None],
                 evaluates: bool, every: int = 0) -> None:
        super().__init__()
        self.tracker, self.save, self.evaluates, self.every = tracker, save, evaluates, every

    def on_train_begin(self, logs: Logs = None) -> None:
        self._saved_step = self.tracker.progress.global_step  # a resumed run's state is on disk

    def on_train_batch_begin(self, step: int, logs: Logs = None) -> None:
        # Saving when the next batch begins, not when the last one ends: hapi's LRScheduler
        # callback, which comes after this one, steps the schedule at batch end.
        progress = self.tracker.progress
        if (self.every and progress.step and progress.step % self.every == 0
                and progress.global_step != self._saved_step and is_main_process()):
            self.save("last")
            self._saved_step = progress.global_step

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        if not self.evaluates:
            self._save()

    def on_eval_end(self, logs: Logs = None) -> None:
        self._save()

    def _save(self) -> None:
        if not is_main_process():
            return
        self.save("last")
        if self.tracker.improved:
            self.save("best")


class NonFiniteLossGuard(Callback):
    """Stop training with :class:`NonFiniteLossError` as soon as a batch loss is NaN or inf."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def on_train_batch_end(self, step: int, logs: Logs = None) -> None:
        loss = _scalar(logs["loss"])
        if not math.isfinite(loss):
            raise NonFiniteLossError(
                f"the training loss became {loss} at epoch {self.progress.epoch + 1}, step "
                f"{step + 1}; stopped (try a lower --lr or more --warmup-epochs)")


class InterruptGuard(Callback):
    """Turn the first Ctrl-C into :class:`TrainingInterrupted` at the next batch boundary.

    The check runs when the next batch (or epoch) begins, after every callback of the finished
    batch ran (the LR scheduler's step included), so the saved state is consistent. Use as a
    context manager around ``fit`` (it installs and restores the SIGINT handler); a second
    Ctrl-C aborts at once with KeyboardInterrupt.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requested = False
        self._previous = None

    def __enter__(self) -> "InterruptGuard":
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if is_main_process():
            print("\nCtrl-C: stopping after this batch and saving a checkpoint "
                  "(press Ctrl-C again to abort at once)", flush=True)

    def _check(self, *args: Any) -> None:
        if self.requested:
            raise TrainingInterrupted()

    on_epoch_begin = _check
    on_train_batch_begin = _check
    on_eval_batch_begin = _check


class ReadErrorCheck(Callback):
    """Raise a data read error (kept by :class:`~octconv_engine.loading.ReadGuard`s) in the main
    thread at the next batch or epoch boundary. First in the callback list, so that nothing
    (no checkpoint) follows an epoch cut short by the error."""

    def __init__(self, *guards: Any) -> None:
        super().__init__()
        self.guards = guards

    def _check(self, *args: Any) -> None:
        for guard in self.guards:
            guard.check()

    on_train_batch_begin = _check
    on_epoch_end = _check
    on_eval_batch_begin = _check
    on_eval_end = _check
