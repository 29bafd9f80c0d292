"""enable_mkl_avx2_on_amd: sets MKL_DEBUG_CPU_TYPE only on AMD CPUs with AVX2 + FMA, never over
a value the user set. Fake /proc/cpuinfo files stand in for the CPU kinds."""
from __future__ import annotations

import pytest

from paddle_octconv import enable_mkl_avx2_on_amd

AMD_AVX2 = "vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx fma avx2 bmi2\n"


def cpuinfo(tmp_path, text):
    path = tmp_path / "cpuinfo"
    path.write_text(text * 2)  # two cores, as the real file lists every core
    return path


def test_amd_with_avx2_and_fma_gets_the_avx2_path(tmp_path):
    env = {}
    assert enable_mkl_avx2_on_amd(env, cpuinfo(tmp_path, AMD_AVX2)) is True
    assert env == {"MKL_DEBUG_CPU_TYPE": "5"}


@pytest.mark.parametrize("text", [
    "vendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx fma avx2 avx512f\n",  # Intel: MKL's own path
    "vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx\n",                    # no AVX2
    "vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2\n",               # no FMA
    "",                                                                         # unreadable kind
], ids=["intel", "amd-no-avx2", "amd-no-fma", "empty"])
def test_other_cpus_are_left_alone(tmp_path, text):
    env = {}
    assert enable_mkl_avx2_on_amd(env, cpuinfo(tmp_path, text)) is False
    assert env == {}


def test_a_value_the_user_set_wins(tmp_path):
    env = {"MKL_DEBUG_CPU_TYPE": "4"}
    assert enable_mkl_avx2_on_amd(env, cpuinfo(tmp_path, AMD_AVX2)) is False
    assert env == {"MKL_DEBUG_CPU_TYPE": "4"}


def test_a_missing_cpuinfo_changes_nothing(tmp_path):
    env = {}
    assert enable_mkl_avx2_on_amd(env, tmp_path / "absent") is False
    assert env == {}
