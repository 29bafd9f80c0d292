"""Training checkpoints: one self-describing file, written atomically.

A checkpoint is a ``.pdparams`` file (``paddle.save`` of a dict) holding the model weights and
everything needed to rebuild, evaluate or resume the run::

    {"format": "paddle-octconv-checkpoint/1",
     "model": state dict, "config": RunConfig as a dict, "spec": DataSpec as a dict,
     "progress": Progress as a dict (epoch, step, best top-1, history ...),
     "optimizer": optimizer state (keys by parameter path, not Paddle's generated names),
     "rng": Python / numpy / Paddle RNG states (pickled, as a uint8 array),
     "paddle_version": str}

``optimizer`` and ``rng`` are only in the ``last`` checkpoint (``best`` is for evaluation).
Writing goes to a temporary file in the same folder, which is flushed, fsync'ed and then renamed
over the target with ``os.replace``: a crash or error at any point leaves the previous
checkpoint complete and loadable, and a failed write (a full disk) is a one-line UsageError.
"""
from __future__ import annotations

import io
import os
import pickle
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

import numpy as np
import paddle
import paddle.nn as nn

from .errors import UsageError

__all__ = [
    "FORMAT",
    "LAST",
    "BEST",
    "Progress",
    "atomic_save",
    "is_checkpoint",
    "load_checkpoint",
    "find_checkpoint",
    "saved_settings",
    "capture_rng_state",
    "restore_rng_state",
    "optimizer_state_by_path",
    "optimizer_state_from_path",
]

FORMAT = "paddle-octconv-checkpoint/1"
LAST = "last.pdparams"
BEST = "best.pdparams"
PathLike = Union[str, os.PathLike]


@dataclass
class Progress:
    """Where a run is: the single source of truth for callbacks, checkpoints and the report.

    Attributes:
        epoch: completed epochs.
        step: completed batches of the current (incomplete) epoch; 0 at epoch boundaries.
        global_step: completed batches since the start of the run.
        best_top1, best_epoch: best eval top-1 so far (-1 before the first evaluation).
        history: one dict per completed epoch (train / eval metrics, lr, seconds).
        seconds: training wall time so far, over all resumed parts.
    """

    epoch: int = 0
    step: int = 0
    global_step: int = 0
    best_top1: float = -1.0
    best_epoch: int = -1
    history: List[Dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Progress":
        return cls(**values)


def atomic_save(obj: Any, path: PathLike) -> None:
    """``paddle.save(obj)`` to ``path`` so that ``path`` is always either the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    paddle.save(obj, buffer)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as file:
            file.write(buffer.getbuffer())
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as error:  # a full disk, a read-only or vanished folder
        kept = f"the previous {path.name} is unchanged" if path.exists() else "nothing was written"
        raise UsageError(f"cannot write {path}: {error.strerror or error}; {kept}. Free disk "
                         f"space (or choose another --log-dir) and resume") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        fd = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def is_checkpoint(obj: Any) -> bool:
    """Whether ``obj`` (a loaded file) is a train.py checkpoint rather than a bare state dict."""
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def load_checkpoint(path: PathLike) -> Dict[str, Any]:
    """Load a train.py checkpoint file.

    Raises:
        UsageError: no such file, unreadable, or not a train.py checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such checkpoint file")
    try:
        obj = paddle.load(str(path))
    except Exception as error:  # paddle.load raises many kinds on a truncated or foreign file
        raise UsageError(f"{path}: cannot be read as a Paddle file ({type(error).__name__}): it is "
                         "truncated or of another kind; use an intact checkpoint") from None
    if not is_checkpoint(obj):
        raise UsageError(f"{path}: not a train.py checkpoint (no {FORMAT!r} format tag); give the "
                         f"{LAST} of a train.py run (bare weights go to --pretrained)")
    return obj


def find_checkpoint(path: PathLike) -> Path:
    """The checkpoint ``--resume`` means: ``path`` itself, or ``path/last.pdparams``."""
    path = Path(path)
    candidate = path / LAST if path.is_dir() else path
    if not candidate.is_file():
        raise UsageError(f"--resume {path}: no checkpoint there (expected a run folder holding "
                         f"{LAST}, or the checkpoint file itself)")
    return candidate


def saved_settings(checkpoint: Mapping[str, Any]) -> Dict[str, Any]:
    """The settings a checkpoint was trained with, to resume or evaluate it.

    ``log_dir`` is left out: a run folder may have been moved since, and the checkpoint's own
    location says where it is now.
    """
    return {key: value for key, value in checkpoint["config"].items() if key != "log_dir"}


def capture_rng_state() -> np.ndarray:
    """Python, numpy and Paddle RNG states, pickled into a uint8 array (``paddle.save`` takes
    arrays but not bytes; Paddle's generator states are picklable)."""
    blob = pickle.dumps({"python": random.getstate(), "numpy": np.random.get_state(),
                         "paddle": paddle.get_rng_state()})
    return np.frombuffer(blob, dtype=np.uint8).copy()


def restore_rng_state(state: np.ndarray) -> None:
    """Undo :func:`capture_rng_state`."""
    states = pickle.loads(np.asarray(state, dtype=np.uint8).tobytes())
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    paddle.set_rng_state(states["paddle"])


def _name_to_path(network: nn.Layer) -> Dict[str, str]:
    return {param.name: path for path, param in network.named_parameters()}


def _rename_keys(state: Mapping[str, Any], mapping: Mapping[str, str]) -> Dict[str, Any]:
    """Rename accumulator keys ``<old>_<suffix>`` to ``<new>_<suffix>`` (longest match wins)."""
    olds = sorted(mapping, key=len, reverse=True)
    renamed: Dict[str, Any] = {}
    for key, value in state.items():
        old = next((o for o in olds if key.startswith(o + "_")), None)
        renamed[mapping[old] + key[len(old):] if old else key] = value
    return renamed


def optimizer_state_by_path(optimizer: paddle.optimizer.Optimizer,
                            network: nn.Layer) -> Dict[str, Any]:
    """The optimizer state with keys by parameter path (``fc.weight_velocity_0``).

    Paddle keys accumulators by generated names (``linear_3.w_0_velocity_0``) that depend on how
    many layers the process created before; parameter paths do not.
    """
    return _rename_keys(optimizer.state_dict(), _name_to_path(network))


def optimizer_state_from_path(state: Mapping[str, Any], network: nn.Layer) -> Dict[str, Any]:
    """Undo :func:`optimizer_state_by_path` for ``network``'s current parameter names."""
    return _rename_keys(state, {path: name for name, path in _name_to_path(network).items()})
