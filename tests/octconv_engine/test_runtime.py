"""setup_runtime: threads, seeds and the math library's CPU path, set before any model runs."""
from __future__ import annotations

import paddle

from octconv_engine import runtime


def test_setup_runtime_sets_threads_and_asks_for_mkl_avx2_on_amd(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "enable_mkl_avx2_on_amd", lambda: calls.append(True) or False)
    state = runtime.setup_runtime(threads=1, seed=3, device="cpu")
    assert calls == [True]  # the engine's scripts get MKL's AVX2 path on AMD CPUs
    assert state.threads == 1 and state.device == "cpu" and state.is_main
    first = paddle.rand([4]).numpy()
    runtime.setup_runtime(threads=1, seed=3, device="cpu")
    assert (paddle.rand([4]).numpy() == first).all()  # same seed, same numbers
