"""bench.py's training-throughput path, its row grid, the ISA on every row and the GPU skip path.

Timings are never asserted (shared machines are noisy); what is asserted is what the rows record.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench  # noqa: E402
import bench_devices  # noqa: E402
from bench_measure import row_grid  # noqa: E402
from bench_paths import Entry, train_runner  # noqa: E402
from bench_subjects import make_inputs, make_labels  # noqa: E402
from cpu_kind import cpu_isa  # noqa: E402

from models import create_model  # noqa: E402
from paddle_octconv import count_flops  # noqa: E402

TINY = dict(num_classes=10, width_mult=0.25)
FAST = ["--threads", "1", "--repeats", "1", "--warmup", "0", "--min-seconds", "0"]
GPU_HERE = bench_devices.gpu_unavailable() is None


def _oct_tiny(small_input: bool = False):
    return create_model("oct_mobilenet", small_input=small_input, **TINY)


def _plain_tiny():
    return paddle.vision.models.MobileNetV1(scale=0.25, num_classes=10)


@pytest.fixture
def tiny_pair(tmp_path):
    """A patch file adding a small image pair: a zoo model (small-input stem) vs a plain one."""
    patch = tmp_path / "tiny_pair.py"
    patch.write_text(
        "import paddle\n"
        "from models import create_model\n"
        "def register(bench):\n"
        "    def oct_tiny(small_input=False):\n"
        "        return create_model('oct_mobilenet', num_classes=10, width_mult=0.25,\n"
        "                            small_input=small_input)\n"
        "    def plain_tiny():\n"
        "        return paddle.vision.models.MobileNetV1(scale=0.25, num_classes=10)\n"
        "    bench.SUBJECTS['oct_tiny'] = bench.Subject(oct_tiny, [(3, 32, 32)],\n"
        "        image_model=True, small_input=True, num_classes=10)\n"
        "    bench.SUBJECTS['plain_tiny'] = bench.Subject(plain_tiny, [(3, 32, 32)],\n"
        "                                                 image_model=True, num_classes=10)\n"
        "    bench.PAIRS['tiny'] = bench.Pair('oct_tiny', 'plain_tiny')\n"
    )
    return str(patch)


def test_train_rows_give_images_per_second_of_each_side_with_the_stems_a_model_has(tiny_pair,
                                                                                  tmp_path):
    out = tmp_path / "out"
    rows = bench.main(["--patch", tiny_pair, "--pairs", "tiny", "--paths", "train",
                       "--batch", "2", "--sizes", "32", "96", *FAST, "--out", str(out)])
    assert [(r.path, r.size, r.batch, r.error) for r in rows] == [("train", 32, 2, ""),
                                                                  ("train", 96, 2, "")]
    for r in rows:
        assert r.a_images_per_s > 0 and r.b_images_per_s > 0
        assert r.a_images_per_s == pytest.approx(r.batch / (r.a_value / 1e3))
        assert r.b_images_per_s == pytest.approx(r.batch / (r.b_value / 1e3))
        assert r.images_ratio == pytest.approx(r.a_images_per_s / r.b_images_per_s)
    # 32x32: the zoo model runs its stride-1 stem, the plain one its stride-2 stem (and says so);
    # 96x96: both run their full-size stems. The MACs ratio is that of those very models.
    want = [count_flops(_oct_tiny(small_input=True), (1, 3, 32, 32))
            / count_flops(_plain_tiny(), (1, 3, 32, 32)),
            count_flops(_oct_tiny(), (1, 3, 96, 96)) / count_flops(_plain_tiny(), (1, 3, 96, 96))]
    assert [r.macs_ratio for r in rows] == pytest.approx(want)
    assert "plain_tiny has no small-input stem" in rows[0].note
    assert "small-input stem" not in rows[1].note
    saved = json.loads((out / "results.json").read_text())
    assert saved["machine"]["isa"] == cpu_isa()
    assert [row["isa"] for row in saved["rows"]] == [cpu_isa()] * 2
    assert all(row["a_images_per_s"] > 0 for row in saved["rows"])
    table = (out / "results.md").read_text()
    assert "| A images/s | B images/s | A/B images/s |" in table
    assert f"| tiny: oct_tiny vs plain_tiny | train | 2 | 1 | 32x32 | cpu ({cpu_isa()}) |" in table


def test_a_training_step_is_cross_entropy_backward_update_and_clear_grad():
    paddle.seed(0)
    model = create_model("oct_mobilenet", width_mult=0.25, small_input=True)  # 1000 classes
    model.train()
    (x,), labels = make_inputs("oct_mobilenet", 2, 32), make_labels("oct_mobilenet", 2)
    assert x.shape == (2, 3, 32, 32) and labels.shape == (2,) and labels.max() < 1000
    with paddle.no_grad():
        logits = model(paddle.to_tensor(x)).numpy().astype(np.float64)
    log_softmax = logits - logits.max(1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
    want = -log_softmax[np.arange(2), labels].mean()
    before = [p.numpy().copy() for p in model.parameters()]

    entry = Entry("oct_mobilenet", None, "", "", [], size=32)
    runner = train_runner(entry, 2, 1, model=model)
    (loss,) = runner.fetch()
    np.testing.assert_allclose(loss, want, rtol=1e-4)
    changed = [not np.array_equal(b, p.numpy()) for b, p in zip(before, model.parameters())]
    assert sum(changed) > len(changed) // 2  # the optimizer updated the weights
    assert all(p.grad is None or not p.grad.numpy().any() for p in model.parameters())


def test_row_grid_defaults_per_path_and_flags_that_override_them():
    args = bench.parse_args(["--threads", "1"])
    mobilenet, layer = bench.PAIRS["mobilenet"], bench.PAIRS["layer"]
    assert row_grid(mobilenet, "train", "cpu", args) == [(1, 32, 32), (1, 32, 128),
                                                          (1, 224, 32), (1, 224, 128)]
    assert row_grid(mobilenet, "dygraph", "cpu", args) == [(1, 224, 1), (1, 224, 8)]
    assert row_grid(layer, "train", "cpu", args) == [(1, None, 32), (1, None, 128)]
    args = bench.parse_args(["--threads", "1", "2", "--batch", "4", "--sizes", "32"])
    assert row_grid(mobilenet, "train", "cpu", args) == [(1, 32, 4), (2, 32, 4)]
    assert row_grid(mobilenet, "train", "gpu", args) == [(1, 32, 4)]  # GPU rows: one CPU thread
    with pytest.raises(SystemExit):
        bench.parse_args(["--sizes", "0"])


@pytest.mark.skipif(GPU_HERE, reason="a usable GPU is here: the skip path does not apply")
def test_gpu_rows_are_skipped_with_the_reason_never_measured_elsewhere(tmp_path):
    rows = bench.main(["--pairs", "layer", "--paths", "dygraph", "train", "predictor",
                       "--device", "gpu", "--batch", "1", *FAST, "--out", str(tmp_path)])
    assert [(r.path, r.device) for r in rows] == [("dygraph", "gpu"), ("train", "gpu"),
                                                  ("predictor", "gpu")]
    assert all(r.a_value is None and r.b_value is None and r.ratio is None and not r.error
               and r.a_images_per_s is None and r.isa == cpu_isa() for r in rows)
    assert [r.note for r in rows[:2]] == ["skipped: " + bench_devices.gpu_unavailable()] * 2
    assert "no CUDA build" in rows[0].note or "no device" in rows[0].note
    assert rows[2].note == "skipped: the predictor path runs on cpu only, not gpu"
    assert "skipped: no " in (tmp_path / "results.md").read_text()


def test_gpu_unavailable_names_a_missing_cuda_build_and_a_missing_device(monkeypatch):
    monkeypatch.setattr(paddle.device, "is_compiled_with_cuda", lambda: False)
    assert "no CUDA build" in bench_devices.gpu_unavailable()
    monkeypatch.setattr(paddle.device, "is_compiled_with_cuda", lambda: True)
    monkeypatch.setattr(paddle.device.cuda, "device_count", lambda: 0)
    assert "no device" in bench_devices.gpu_unavailable()
    monkeypatch.setattr(paddle.device.cuda, "device_count", lambda: 1)
    assert bench_devices.gpu_unavailable() is None


def test_a_child_past_its_time_limit_becomes_an_error_row():
    rows = bench.main(["--pairs", "layer", "--paths", "dygraph", "--batch", "1", *FAST,
                       "--child-timeout", "0.05"])
    assert len(rows) == 1 and "timed out" in rows[0].error and rows[0].a_value is None


def test_a_32x32_row_compares_the_zoo_small_stem_with_its_plain_twin():
    """paddle.vision's MobileNetV1 has no small-input stem: at 32x32 the baseline is the zoo's
    network at alpha 0 with the same stem, so the MACs ratio is the octave saving alone."""
    from bench_measure import _setting_notes
    from bench_paths import PATHS
    from bench_subjects import PAIRS, build_model

    plain = build_model("mobilenet_v1", size=32)
    twin = create_model("oct_mobilenet", num_classes=1000, alpha=0.0, small_input=True)
    assert count_flops(plain, (1, 3, 32, 32)) == count_flops(twin, (1, 3, 32, 32))
    full = build_model("mobilenet_v1", size=224)
    assert isinstance(full, paddle.vision.models.MobileNetV1)
    notes = _setting_notes(PAIRS["mobilenet"], PATHS["train"], 32, "cpu", None)
    assert notes == ["mobilenet_v1 at 32x32 is oct_mobilenet at alpha 0 with the small-input stem"]
