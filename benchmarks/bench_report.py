"""What ``bench.py`` reports: one :class:`Row` per measured (pair, path, device, size, batch,
threads), the machine it ran on, and the Markdown tables.

Every row records the widest vector ISA its kernels could use (AVX2 / AVX-512 / AMX,
``cpu_kind.kernel_isa``: the CPU's, or the lower one oneDNN was capped to): ratios and throughputs
differ between those CPU kinds, so figures are only comparable within one. The machine block also
records the environment settings that change the math libraries' kernels (``math_settings``).
"""
from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import paddle

from bench_devices import bf16_unsupported, gpu_name
from cpu_kind import cpu_isa, cpu_name, kernel_isa, math_settings

__all__ = ["Row", "short_error", "machine_info", "markdown"]


@dataclass
class Row:
    """One line of the report; A is the octave side, B the baseline.

    ``a_value`` / ``b_value`` are medians in ``unit`` (ms, or MB for the rss path) and ``ratio``
    is A / B of them. Training rows add images per second of each side and their ratio A / B
    (above 1: A trains faster). ``size`` is the image side (None for fixed-shape subjects).
    """

    pair: str
    path: str
    batch: int
    threads: int
    a: str
    b: str
    unit: str = "ms"
    a_value: Optional[float] = None
    b_value: Optional[float] = None
    ratio: Optional[float] = None
    paired_ratio: Optional[float] = None
    macs_ratio: Optional[float] = None
    note: str = ""
    error: str = ""
    failures: List[str] = field(default_factory=list)  # option sets tried first that failed
    size: Optional[int] = None
    device: str = "cpu"
    isa: str = field(default_factory=kernel_isa)  # the host CPU's, on GPU rows too
    a_images_per_s: Optional[float] = None
    b_images_per_s: Optional[float] = None
    images_ratio: Optional[float] = None


def short_error(error: BaseException) -> str:
    """The telling line of an error message, without Paddle's C++ source locations."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = next((l for l in lines if "Error" in l or "support" in l), lines[-1] if lines else "")
    text = re.sub(r"\s*\(at /paddle/[^)]*\)", "", text).replace("(Unimplemented) ", "")
    return f"{type(error).__name__}: {text}"[:240]


def machine_info() -> dict:
    """The machine block of results.json (``loadavg_end`` is added when the run ends)."""
    return {"cpu": cpu_name(), "isa": cpu_isa(), "kernel_isa": kernel_isa(),
            "math_settings": math_settings(), "cores": os.cpu_count(),
            "paddle": paddle.__version__, "python": platform.python_version(),
            "bf16": bf16_unsupported() or "supported", "gpu": gpu_name(),
            "loadavg_start": os.getloadavg()}


def _fmt(value: Optional[float], digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _value(value: Optional[float], unit: str) -> str:
    return "" if value is None else f"{value:.1f} {unit}"


def _device(r: Row) -> str:
    return f"{r.device} ({r.isa})" if r.device == "cpu" else f"{r.device} (host {r.isa})"


Column = Tuple[str, Callable[[Row], str]]
_LEAD: List[Column] = [("pair (A vs B)", lambda r: f"{r.pair}: {r.a} vs {r.b}"),
                       ("path", lambda r: r.path), ("batch", lambda r: str(r.batch)),
                       ("threads", lambda r: str(r.threads)),
                       ("size", lambda r: "" if r.size is None else f"{r.size}x{r.size}"),
                       ("device", _device)]
_TIMES: List[Column] = [("A", lambda r: _value(r.a_value, r.unit)),
                        ("B", lambda r: _value(r.b_value, r.unit)),
                        ("A/B time", lambda r: _fmt(r.ratio, 2)),
                        ("A/B MACs", lambda r: _fmt(r.macs_ratio, 2))]
_THROUGHPUT: List[Column] = [("A images/s", lambda r: _fmt(r.a_images_per_s, 1)),
                             ("B images/s", lambda r: _fmt(r.b_images_per_s, 1)),
                             ("A/B images/s", lambda r: _fmt(r.images_ratio, 2)),
                             ("A/B MACs", lambda r: _fmt(r.macs_ratio, 2))]


def _table(rows: Sequence[Row], columns: List[Column], ref: Callable[[str], str]) -> List[str]:
    lines = ["| " + " | ".join(name for name, _ in columns) + " | notes |",
             "|" + "---|" * (len(columns) + 1)]
    for r in rows:
        notes = [r.note] if r.note else []
        notes += [ref(text) for text in r.failures + ([f"ERROR {r.error}"] if r.error else [])]
        lines.append("| " + " | ".join(cell(r) for _, cell in columns)
                     + f" | {'; '.join(notes)} |")
    return lines


def markdown(rows: Sequence[Row], info: dict, command: str) -> str:
    """The report: machine, command, the timing table and the training-throughput table."""
    lines = [
        f"Machine: {info['cpu']} ({info.get('isa', 'ISA not recorded')}), {info['cores']} cores, "
        f"Paddle {info['paddle']}, Python "
        f"{info['python']}; load average {info['loadavg_start'][0]:.1f} at start, "
        f"{info['loadavg_end'][0]:.1f} at end.",
        f"Command: `{command}`",
    ]
    if info.get("kernel_isa", info.get("isa")) != info.get("isa"):
        lines.append(f"Kernels: {info['kernel_isa']}.")
    if info.get("math_settings"):
        lines.append("Math-library settings: " + ", ".join(
            f"{name}={value}" for name, value in info["math_settings"].items()) + ".")
    if any(r.device == "gpu" for r in rows):
        lines.append(f"GPU: {info.get('gpu', 'not recorded')}")
    footnotes: Dict[str, int] = {}

    def ref(text: str) -> str:
        return f"[{footnotes.setdefault(text, len(footnotes) + 1)}]"

    timed = [r for r in rows if r.path != "train"]
    trained = [r for r in rows if r.path == "train"]
    if timed:
        lines += ["", ("Times are medians of interleaved runs (A B A B ...) in one process per "
                       "pair and path; ratios are A / B."), ""]
        lines += _table(timed, _LEAD + _TIMES, ref)
    if trained:
        lines += ["", ("Training throughput: images/s of a full training step (forward, loss, "
                       "backward, optimizer update, clear_grad), from the medians of interleaved "
                       "steps; A/B above 1: A trains faster."), ""]
        lines += _table(trained, _LEAD + _THROUGHPUT, ref)
    if footnotes:
        lines.append("")
        lines += [f"[{n}] {text.replace('|', '/')}" for text, n in footnotes.items()]
    return "\n".join(lines) + "\n"
