"""Process set-up shared by the scripts: CPU threads, seeds, device, distributed rank, AMP."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Optional

import numpy as np
import paddle

from paddle_octconv import enable_mkl_avx2_on_amd

from .errors import UsageError

__all__ = ["Runtime", "available_cores", "seed_everything", "select_device", "setup_runtime"]


@dataclass(frozen=True)
class Runtime:
    """What the process runs on.

    Attributes:
        device: ``paddle.get_device()``, e.g. ``cpu`` or ``gpu:0``.
        rank, world_size: this process's rank and the number of processes (1 when not launched
            by ``paddle.distributed.launch``).
        threads: CPU threads Paddle uses in this process.
        amp_level: ``"O1"`` when mixed precision is on (GPU and ``--amp``), else None.
    """

    device: str
    rank: int
    world_size: int
    threads: int
    amp_level: Optional[str]

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's core count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and Paddle's RNGs: same seed, same run (bit-identical on CPU)."""
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def select_device(device: str = "auto") -> str:
    """Set and return Paddle's device: ``cpu``, ``gpu`` (the first CUDA device, or this process's
    under ``paddle.distributed.launch``) or ``auto`` (the GPU when there is one, else the CPU).

    Raises:
        UsageError: ``gpu`` asked for, but this Paddle build has no CUDA or sees no device.
    """
    has_gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if device == "gpu" and not has_gpu:
        why = ("this Paddle build has no CUDA (pip install paddlepaddle-gpu)"
               if not paddle.device.is_compiled_with_cuda() else "no CUDA device is visible")
        raise UsageError(f"--device gpu: {why}; use --device cpu")
    if device == "cpu" or not has_gpu:
        paddle.set_device("cpu")
    # else Paddle's own choice stands: gpu:0, or this process's GPU under distributed.launch
    return paddle.get_device()


def setup_runtime(threads: int = 0, seed: int = 0, amp: bool = False,
                  device: str = "auto") -> Runtime:
    """Set CPU threads, the math library's CPU path, seeds, and decide on AMP.

    Paddle uses one CPU thread after import; ``threads=0`` gives each process of this machine an
    equal share of the cores (all of them when not distributed). On AMD CPUs with AVX2 it makes
    MKL use its AVX2 kernels (:func:`paddle_octconv.enable_mkl_avx2_on_amd`; a
    ``MKL_DEBUG_CPU_TYPE`` the user set wins), so call it before any convolution has run.

    Args:
        threads: CPU threads for Paddle's kernels, 0 for the automatic share.
        seed: seed of every RNG.
        amp: use automatic mixed precision; on CPU it is ignored with a one-line notice.
        device: ``auto``, ``cpu`` or ``gpu`` (see :func:`select_device`).
    """
    world_size = int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))
    rank = int(os.environ.get("PADDLE_TRAINER_ID", "0"))
    local_size = int(os.environ.get("PADDLE_LOCAL_SIZE", str(world_size)))
    threads = threads or max(1, available_cores() // max(1, local_size))
    enable_mkl_avx2_on_amd()  # MKL reads it at its first GEMM: before the model runs
    paddle.base.core.set_num_threads(threads)
    seed_everything(seed)
    device = select_device(device)
    amp_level = None
    if amp:
        if device.startswith("gpu"):
            amp_level = "O1"
        elif rank == 0:
            print(f"--amp ignored: mixed precision needs a GPU, and this run is on {device}")
    return Runtime(device, rank, world_size, threads, amp_level)
