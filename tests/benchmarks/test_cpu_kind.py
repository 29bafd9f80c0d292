"""cpu_kind: the ISA a benchmark's kernels could use (the CPU's, or oneDNN's lower cap) and the
math-library settings recorded beside every figure. Fake /proc/cpuinfo files stand in for CPUs."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench  # noqa: E402
from bench_report import Row, machine_info, markdown  # noqa: E402
from cpu_kind import cpu_isa, isa_cap, kernel_isa, math_settings  # noqa: E402

FLAGS = {"AVX2": "fpu sse2 avx fma avx2", "AVX-512": "fpu avx2 fma avx512f avx512bw",
         "AMX": "fpu avx2 avx512f amx_tile amx_bf16"}


def cpuinfo(tmp_path, isa):
    path = tmp_path / "cpuinfo"
    path.write_text(f"model name\t: Some CPU\nflags\t\t: {FLAGS[isa]}\n" * 2)
    return path


@pytest.mark.parametrize("value, cap", [
    ("AVX2", "AVX2"), ("avx2_vnni", "AVX2"), ("AVX512_CORE", "AVX-512"),
    ("AVX512_CORE_BF16", "AVX-512"), ("AVX10_1_512", "AVX-512"), ("AVX512_CORE_AMX", "AMX"),
    ("SSE41", "older than AVX2"), ("AVX", "older than AVX2"), ("ALL", None), ("", None),
])
def test_onednn_cap_values_map_to_their_isa_family(value, cap):
    assert isa_cap({"ONEDNN_MAX_CPU_ISA": value}) == cap
    assert isa_cap({"DNNL_MAX_CPU_ISA": value}) == cap  # oneDNN's older spelling


def test_no_cap_variable_is_no_cap():
    assert isa_cap({}) is None


@pytest.mark.parametrize("cpu, cap, want", [
    ("AVX-512", "AVX2", "AVX2 (oneDNN capped on an AVX-512 CPU)"),
    ("AMX", "AVX512_CORE_BF16", "AVX-512 (oneDNN capped on an AMX CPU)"),
    ("AMX", "AVX2", "AVX2 (oneDNN capped on an AMX CPU)"),
    ("AVX-512", None, "AVX-512"),
    ("AVX2", "AVX512_CORE", "AVX2"),  # a cap above the CPU changes nothing
    ("AVX2", "AVX2", "AVX2"),
])
def test_kernel_isa_is_the_cpu_isa_unless_onednn_is_capped_below_it(tmp_path, cpu, cap, want):
    environ = {} if cap is None else {"ONEDNN_MAX_CPU_ISA": cap}
    path = cpuinfo(tmp_path, cpu)
    assert cpu_isa(path) == cpu
    assert kernel_isa(path, environ) == want


def test_math_settings_are_the_set_kernel_variables_only():
    environ = {"MKL_DEBUG_CPU_TYPE": "5", "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1",
               "MKL_ENABLE_INSTRUCTIONS": "", "HOME": "/root"}
    assert math_settings(environ) == {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_DEBUG_CPU_TYPE": "5"}


def test_rows_and_the_machine_block_record_a_capped_run(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "SSE41")  # below every CPU this suite runs on
    monkeypatch.setenv("MKL_DEBUG_CPU_TYPE", "5")
    info = {**machine_info(), "loadavg_end": (0.0, 0.0, 0.0)}
    row = Row(pair="p", path="predictor", batch=1, threads=1, a="oct", b="plain")
    capped = f"older than AVX2 (oneDNN capped on an {cpu_isa()} CPU)"
    assert info["isa"] == cpu_isa() and info["kernel_isa"] == row.isa == capped
    assert info["math_settings"] == {"ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_DEBUG_CPU_TYPE": "5"}
    table = markdown([row], info, "python benchmarks/bench.py")
    assert f"Kernels: {capped}." in table
    assert "Math-library settings: ONEDNN_MAX_CPU_ISA=SSE41, MKL_DEBUG_CPU_TYPE=5." in table
    assert f"| cpu ({capped}) |" in table


def test_an_uncapped_run_has_no_kernels_line(monkeypatch):
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)
    info = {**machine_info(), "loadavg_end": (0.0, 0.0, 0.0)}
    assert info["kernel_isa"] == info["isa"] == cpu_isa()
    assert "Kernels:" not in markdown([], info, "python benchmarks/bench.py")


def test_bench_applies_the_engines_mkl_setting_before_measuring(monkeypatch):
    """bench.py measures the kernels train.py / eval.py get: MKL's AVX2 path on AMD CPUs."""
    events = []
    monkeypatch.setattr(bench, "enable_mkl_avx2_on_amd", lambda: events.append("mkl"))
    monkeypatch.setattr(bench, "run_pair", lambda *args: events.append("measure") or [])
    bench.main(["--pairs", "resnet50", "--paths", "dygraph"])
    assert events == ["mkl", "measure"]
