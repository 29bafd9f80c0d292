"""Which device a benchmark row runs on, and what this machine can run: GPU, oneDNN bf16.

Rows that cannot run here are recorded as skipped with the reason these functions give, never
measured on something else in their place.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import paddle

__all__ = ["DEVICES", "gpu_unavailable", "bf16_unsupported", "use_device", "synchronize",
           "gpu_name"]

DEVICES = ("cpu", "gpu")


def gpu_unavailable() -> Optional[str]:
    """None when Paddle can run on a CUDA GPU here, else the reason it cannot."""
    if not paddle.device.is_compiled_with_cuda():
        return (f"no CUDA build: Paddle {paddle.__version__} is a CPU build "
                "(install paddlepaddle-gpu for GPU rows)")
    if paddle.device.cuda.device_count() < 1:
        return "no device: this CUDA build of Paddle sees no GPU (driver, CUDA_VISIBLE_DEVICES)"
    return None


def bf16_unsupported() -> Optional[str]:
    """None when the CPU has bf16 arithmetic for oneDNN, else the reason to skip."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return "cannot read /proc/cpuinfo to detect bf16 support"
    if {"avx512_bf16", "amx_bf16"} & set(flags):
        return None
    return "CPU has neither avx512_bf16 nor amx_bf16"


def use_device(device: str) -> None:
    """Make ``device`` ("cpu" or "gpu") where new tensors and layers live."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    paddle.set_device("gpu:0" if device == "gpu" else "cpu")


def synchronize(device: str) -> None:
    """Wait for the device's queued kernels (a GPU run returns before its kernels finish)."""
    if device == "gpu":
        paddle.device.synchronize()


def gpu_name() -> str:
    """The first GPU's name, or why there is none."""
    reason = gpu_unavailable()
    return reason if reason else paddle.device.cuda.get_device_name(0)
