"""latency.py's export and oneDNN predictor set-up, shared by bench.py and study.py: outputs are
checked against the dygraph network (a plain paddle.nn layer)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from latency import input_specs, make_predictor, predictor_runner, save_for_inference  # noqa: E402


class _TwoInputs(nn.Layer):
    """(x: (N, 4, H, W), y: (N, 2, H/2, W/2)) -> (conv(x), 3 * y): outputs tell the inputs apart."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2D(4, 3, 3, padding=1)

    def forward(self, x, y):
        return self.conv(x), y * 3.0


def test_several_inputs_in_order_and_every_output_match_dygraph(tmp_path):
    paddle.seed(0)
    net = _TwoInputs()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 8, 8), dtype=np.float32)
    y = rng.standard_normal((2, 2, 4, 4), dtype=np.float32)
    graph, weights = save_for_inference(net, tmp_path / "two" / "model", [4, 2],
                                        sides=[(8, 8), (4, 4)])
    assert graph.suffix == ".json" and weights.is_file()  # PIR, the 3.3 default
    got = make_predictor(graph, weights, [x, y], threads=1)()
    with paddle.no_grad():
        want = [t.numpy() for t in net(paddle.to_tensor(x), paddle.to_tensor(y))]
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="takes 2 input"):
        make_predictor(graph, weights, [x], threads=1)


def test_predictor_runner_runs_one_image_batch_and_returns_the_first_output(tmp_path):
    paddle.seed(0)
    net = nn.Sequential(nn.Conv2D(1, 2, 3), nn.ReLU())
    images = np.random.default_rng(1).standard_normal((3, 1, 9, 9), dtype=np.float32)
    graph, weights = save_for_inference(net, tmp_path / "model", 1)  # any side: 9x9 here
    got = predictor_runner(graph, weights, images, threads=1)()
    with paddle.no_grad():
        want = net(paddle.to_tensor(images)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_input_specs_refuse_bad_channels_and_unmatched_sides():
    assert [list(s.shape) for s in input_specs(3)] == [[-1, 3, -1, -1]]
    shapes = [list(s.shape) for s in input_specs([4, 2], [(8, 8), (4, 4)])]
    assert shapes == [[-1, 4, 8, 8], [-1, 2, 4, 4]]
    with pytest.raises(ValueError, match="channels"):
        input_specs(0)
    with pytest.raises(ValueError, match="channels"):
        input_specs([])
    with pytest.raises(ValueError, match="one per input"):
        input_specs([4, 2], [(8, 8)])
