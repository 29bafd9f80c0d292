"""A CPU math-library setting that speeds up Paddle's matrix products on AMD CPUs.

Paddle's CPU build does its GEMMs (conv2d, matmul, and OctaveConv's ``unfold_matmul`` fast path)
in Intel MKL (``libmklml_intel.so``). That MKL chooses its code path by CPU *vendor*: on an AMD CPU
it runs a generic path even when the CPU has AVX2 and FMA. ``MKL_DEBUG_CPU_TYPE=5`` makes this
MKL build use its AVX2 kernels, also when it is set after ``import paddle`` (before the first
product); the speed-up measured on an AMD EPYC is in benchmarks/results/layer_choices.md.

MKL reads the variable once, at its first GEMM, so call :func:`enable_mkl_avx2_on_amd` early:
before any Paddle matmul or convolution has run in the process (e.g. in a script's set-up,
before building the model).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import MutableMapping, Optional

__all__ = ["enable_mkl_avx2_on_amd"]

_VARIABLE = "MKL_DEBUG_CPU_TYPE"
_AVX2 = "5"


def _cpu_flags_and_vendor(cpuinfo: Path):
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set(), ""
    vendor, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return flags, vendor


def enable_mkl_avx2_on_amd(environ: Optional[MutableMapping[str, str]] = None,
                           cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Set ``MKL_DEBUG_CPU_TYPE=5`` on an AMD CPU with AVX2 and FMA; True when it set it.

    Nothing changes when the variable is already set (the user's choice wins), when the CPU is
    not AMD (Intel CPUs get MKL's best path anyway), or when it lacks AVX2 or FMA (the forced
    path would not run there). Results stay float32 products, equal to rounding.

    Args:
        environ: the environment to change (``os.environ`` by default).
        cpuinfo: where to read the CPU's vendor and flags (Linux ``/proc/cpuinfo``).
    """
    environ = os.environ if environ is None else environ
    if _VARIABLE in environ:
        return False
    flags, vendor = _cpu_flags_and_vendor(cpuinfo)
    if vendor != "AuthenticAMD" or not {"avx2", "fma"} <= flags:
        return False
    environ[_VARIABLE] = _AVX2
    return True
