"""The benchmark script's own machinery: its baseline layer, its timer and one tiny real run.

Timings themselves are never asserted here (shared machines are noisy); the benchmark prints them.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import paddle
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench  # noqa: E402
from reference_octconv import ReferenceOctaveConv  # noqa: E402
from timing import interleaved, paired_ratio  # noqa: E402

from paddle_octconv import OctaveConv  # noqa: E402


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("alphas", [(0.5, 0.5), (0.0, 0.25), (0.25, 0.0)])
def test_reference_layer_computes_the_same_function(stride, alphas):
    """The baseline is only a fair comparison if it computes exactly what OctaveConv computes."""
    alpha_in, alpha_out = alphas
    paddle.seed(1)
    ours = OctaveConv(16, 8, 3, alpha_in, alpha_out, stride=stride, padding=1)
    reference = ReferenceOctaveConv(16, 8, 3, alpha_in, alpha_out, stride=stride)
    reference.set_state_dict(ours.state_dict())
    low = int(alpha_in * 16)
    rng = np.random.default_rng(0)
    x_high = paddle.to_tensor(rng.standard_normal((2, 16 - low, 12, 12), dtype=np.float32))
    x_low = paddle.to_tensor(rng.standard_normal((2, low, 6, 6), dtype=np.float32)) if low else None
    x = (x_high, x_low) if low else x_high
    for got, want in zip(ours(x), reference(x)):
        assert (got is None) == (want is None)
        if got is not None:
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def test_interleaved_alternates_the_callables_and_counts_rounds():
    calls = []
    timings = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                          repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert [len(t.times) for t in timings.values()] == [3, 3]
    assert paired_ratio(timings["a"], timings["b"]) > 0
    with pytest.raises(ValueError, match="repeats"):
        interleaved({"a": lambda: None}, repeats=0)


def test_interleaved_adds_rounds_until_min_seconds_of_timed_runs():
    timings = interleaved({"a": lambda: time.sleep(0.01), "b": lambda: time.sleep(0.01)},
                          repeats=2, warmup=0, min_seconds=0.2)
    per_round = [a + b for a, b in zip(timings["a"].times, timings["b"].times)]
    assert len(timings["a"].times) == len(timings["b"].times) > 2
    assert sum(per_round) >= 0.2 > sum(per_round[:-1])  # stopped at the first round past 0.2 s
    capped = interleaved({"a": lambda: time.sleep(0.01)}, repeats=1, warmup=0,
                         min_seconds=10.0, max_repeats=3)
    assert len(capped["a"].times) == 3


def test_a_tiny_run_writes_json_and_markdown(tmp_path, capsys):
    rows = bench.main(["--pairs", "layer", "--paths", "dygraph", "train", "predictor",
                       "--batch", "1", "--threads", "1", "--repeats", "1", "--warmup", "0", "--min-seconds", "0",
                       "--out", str(tmp_path)])
    assert [(r.path, r.error) for r in rows] == [("dygraph", ""), ("train", ""), ("predictor", "")]
    assert all(r.ratio > 0 and r.macs_ratio == pytest.approx(1.0) for r in rows)
    assert all("A=B" in r.note for r in rows)  # same-function pair: outputs were compared
    assert "vs dygraph" in rows[-1].note  # the predictor's outputs were checked against dygraph
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["rows"]) == 3 and saved["machine"]["cores"] >= 1
    table = (tmp_path / "results.md").read_text()
    assert "| layer: octconv vs reference_octconv | predictor | 1 | 1 |" in table
    assert table in capsys.readouterr().out


def test_unknown_pair_is_refused_with_the_valid_names():
    with pytest.raises(SystemExit, match="resnet50"):
        bench.main(["--pairs", "resnet5"])


def test_a_path_that_fails_is_reported_and_the_run_goes_on(tmp_path):
    """Each (pair, path) runs in its own child process: a crash there becomes that row's error."""
    patch = tmp_path / "broken_subject.py"
    patch.write_text(
        "def register(bench):\n"
        "    def build():\n"
        "        raise RuntimeError('this subject cannot be built')\n"
        "    bench.SUBJECTS['broken'] = bench.Subject(build, [(3, 8, 8)])\n"
        "    bench.PAIRS['broken'] = bench.Pair('broken', 'conv2d')\n"
    )
    rows = bench.main(["--patch", str(patch), "--pairs", "broken", "--paths", "dygraph", "train",
                       "--batch", "1", "--threads", "1", "--repeats", "1", "--warmup", "0", "--min-seconds", "0",
                       "--out", str(tmp_path / "out")])
    assert [(r.path, r.batch, r.threads) for r in rows] == [("dygraph", 1, 1), ("train", 1, 1)]
    assert all("cannot be built" in r.error and r.ratio is None for r in rows)
    assert "cannot be built" in (tmp_path / "out" / "results.md").read_text()
