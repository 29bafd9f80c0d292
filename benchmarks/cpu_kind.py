"""The CPU a benchmark ran on: its name and widest x86 vector ISA, recorded with every figure
(ratios and throughputs differ between AVX2, AVX-512 and AMX machines)."""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Set

__all__ = ["cpu_isa", "cpu_name"]

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
