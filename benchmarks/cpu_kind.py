"""The CPU a benchmark ran on: its name and widest x86 vector ISA, recorded with every figure
(ratios and throughputs differ between AVX2, AVX-512 and AMX machines), and the environment
settings that change which kernels the math libraries pick on it.

oneDNN (the inference predictor) can be held below the CPU's ISA with ``ONEDNN_MAX_CPU_ISA``
(e.g. ``AVX2`` on an AVX-512 CPU): :func:`kernel_isa` then names the capped ISA, so a row measured
that way is never mistaken for one of the CPU's own kind.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Dict, Mapping, Optional, Set

__all__ = ["cpu_isa", "cpu_name", "isa_cap", "kernel_isa", "math_settings"]

#: The ISAs this module names, narrowest first.
_ORDER = ("older than AVX2", "AVX2", "AVX-512", "AMX")
#: Environment variables that change which kernels Paddle's math libraries run here:
#: oneDNN's ISA cap (both spellings) and MKL's code path.
_MATH_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_DEBUG_CPU_TYPE",
                   "MKL_ENABLE_INSTRUCTIONS")

_CPUINFO = Path("/proc/cpuinfo")


def _flags(cpuinfo: Path) -> Set[str]:
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_isa(cpuinfo: Path = _CPUINFO) -> str:
    """The widest vector ISA: "AMX", "AVX-512", "AVX2", "older than AVX2" or "unknown"."""
    flags = _flags(cpuinfo)
    if not flags:
        return "unknown"
    for flag, name in (("amx_tile", "AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2")):
        if flag in flags:
            return name
    return "older than AVX2"


def cpu_name(cpuinfo: Path = _CPUINFO) -> str:
    """The ``model name`` line of /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def isa_cap(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The ISA oneDNN is held to by ``ONEDNN_MAX_CPU_ISA`` (or ``DNNL_MAX_CPU_ISA``), in this
    module's names ("AVX2", "AVX-512", "AMX", "older than AVX2"); None when no cap is set or it
    is ``ALL`` / ``DEFAULT``.

    oneDNN's values (``AVX2``, ``AVX2_VNNI``, ``AVX512_CORE``, ``AVX512_CORE_BF16``,
    ``AVX512_CORE_AMX``, ``AVX10_1_512`` ...) map to the family they belong to.
    """
    environ = os.environ if environ is None else environ
    value = (environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA") or "").upper()
    if not value or value in ("ALL", "DEFAULT"):
        return None
    if "AMX" in value:
        return "AMX"
    if value.startswith(("AVX512", "AVX10")):
        return "AVX-512"
    if value.startswith("AVX2"):
        return "AVX2"
    return "older than AVX2"


def kernel_isa(cpuinfo: Path = _CPUINFO, environ: Optional[Mapping[str, str]] = None) -> str:
    """The widest ISA the oneDNN kernels may use: :func:`cpu_isa`, or, when :func:`isa_cap`
    holds them below it, e.g. ``"AVX2 (oneDNN capped on an AVX-512 CPU)"``."""
    isa, cap = cpu_isa(cpuinfo), isa_cap(environ)
    if cap is None or isa not in _ORDER or _ORDER.index(cap) >= _ORDER.index(isa):
        return isa
    return f"{cap} (oneDNN capped on an {isa} CPU)"


def math_settings(environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The set variables among those that change Paddle's CPU kernels (oneDNN's ISA cap, MKL's
    code path), by name: recorded beside benchmark figures."""
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in _MATH_VARIABLES if environ.get(name)}
