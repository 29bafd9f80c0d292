"""export_int8 / load_predictor and eval.py --int8: the oneDNN INT8 predictor after post-training
quantisation, checked against the dygraph network it came from."""
import re
from collections import Counter

import numpy as np
import paddle
import pytest

import eval as eval_script
from models import oct_mobilenet
from octconv_engine import ExportError, UsageError, export_int8, load_predictor
from octconv_engine.data import SyntheticDataset

CLASSES, SIDE = 4, 16


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(logits.argmax(1) == labels))


@pytest.fixture(scope="module")
def trained():
    """A small Oct-MobileNet (alpha 0.5) trained to well above chance on synthetic 16x16 data:
    (network, calibration batches, held-out images, held-out labels)."""
    paddle.seed(0)
    data = SyntheticDataset(320, CLASSES, 3, SIDE, seed=1)
    images = np.stack([data[i][0] for i in range(len(data))])
    labels = np.array([int(data[i][1][0]) for i in range(len(data))])
    network = oct_mobilenet(num_classes=CLASSES, in_channels=3, width_mult=0.5, small_input=True)
    optimizer = paddle.optimizer.Adam(1e-2, parameters=network.parameters())
    network.train()
    for step in range(40):
        batch = np.random.RandomState(step).choice(256, 32, replace=False)
        loss = paddle.nn.functional.cross_entropy(network(paddle.to_tensor(images[batch])),
                                                  paddle.to_tensor(labels[batch]))
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
    with paddle.no_grad():  # settle the BN running statistics on the final weights
        for step in range(30):
            network(paddle.to_tensor(images[(step % 8) * 32:(step % 8 + 1) * 32]))
    network.eval()
    held, held_labels = images[256:], labels[256:]
    with paddle.no_grad():
        assert _accuracy(network(paddle.to_tensor(held)).numpy(), held_labels) > 0.8  # chance 0.25
    return network, [images[i:i + 32] for i in range(0, 256, 32)], held, held_labels


def _dygraph(network, images: np.ndarray) -> np.ndarray:
    with paddle.no_grad():
        return network(paddle.to_tensor(images)).numpy()


def _saved_ops(folder) -> Counter:
    """Op types of a saved legacy program (read back with the static loader)."""
    with paddle.pir_utils.OldIrGuard():
        executor = paddle.static.Executor(paddle.CPUPlace())
        program, _, _ = paddle.static.load_inference_model(str(folder / "model"), executor)
    return Counter(op.type for op in program.global_block().ops)


def test_int8_predictor_runs_and_agrees_with_dygraph(trained, tmp_path):
    network, batches, held, labels = trained
    check = export_int8(network, str(tmp_path / "int8"), batches, held)
    expected = _dygraph(network, held)

    got = load_predictor(str(tmp_path / "int8"), int8=True)(held)
    agreement = float(np.mean(got.argmax(1) == expected.argmax(1)))
    relative = float(np.abs(got - expected).max() / np.abs(expected).max())
    assert agreement >= 0.9 and relative < 0.3, (agreement, relative)
    assert abs(_accuracy(got, labels) - _accuracy(expected, labels)) <= 0.05
    assert check.top1_agreement == pytest.approx(agreement)
    assert check.relative_error == pytest.approx(relative)
    assert relative > 1e-3  # quantised for real: not the float graph
    # ... and run by INT8 kernels: the same program with its quantisation simulated in float32
    # (the predictor without enable_onednn_int8) gives other logits.
    simulated = load_predictor(str(tmp_path / "int8"), int8=False)(held)
    assert np.abs(got - simulated).max() > 1e-3 * np.abs(expected).max()

    # The float graph it was calibrated from is the dygraph function, rewrites and all.
    float_logits = load_predictor(str(tmp_path / "int8" / "fp32"), int8=False)(held)
    np.testing.assert_allclose(float_logits, expected, rtol=0, atol=1e-4 * np.abs(expected).max())
    assert "depthwise_conv2d_transpose" not in _saved_ops(tmp_path / "int8" / "fp32")
    quantized = _saved_ops(tmp_path / "int8")
    assert quantized["quantize_linear"] >= quantized["conv2d"] + quantized["depthwise_conv2d"] > 0


@pytest.mark.parametrize("bounds", [dict(min_agreement=0.0), dict(max_relative_error=10.0)])
def test_unrepresentative_calibration_is_refused(trained, tmp_path, bounds):
    """Activation ranges measured on images 1000x too dark: either bound alone refuses it."""
    network, batches, held, _ = trained
    with pytest.raises(ExportError, match=r"agrees with dygraph on the top-1 class of \d+% of 64"):
        export_int8(network, str(tmp_path / "int8"), [batches[0] * 1e-3], held, **bounds)


@pytest.mark.parametrize("make, message", [
    (lambda b: [b[:8, :1]], r"does not accept \(C, H, W\) = \(1, 16, 16\) images"),
    (lambda b: [b[:8], b[:8, :, :8, :8]],
     r"calibration batch 1 holds \(3, 8, 8\) .* batch 0 holds \(3, 16, 16\)"),
    (lambda b: [b[0]], r"calibration batch 0 has shape \(3, 16, 16\); expected .*\(N, C, H, W\)"),
    (lambda b: [], "calibration_batches is empty"),
])
def test_wrong_calibration_batches_are_clear_errors(trained, tmp_path, make, message):
    network, batches, _, _ = trained
    with pytest.raises(ValueError, match=message):
        export_int8(network, str(tmp_path / "int8"), make(batches[0]))
    assert not (tmp_path / "int8").exists()  # refused before anything was written


def test_load_predictor_names_a_missing_model(tmp_path):
    with pytest.raises(ExportError, match="no model.pdmodel and model.pdiparams"):
        load_predictor(str(tmp_path))


@pytest.fixture(scope="module")
def digits_checkpoint(digits_run):
    """The best checkpoint of the shared digits run (tests/conftest.py), trained to ~85 %."""
    return digits_run[0] / "best.pdparams"


def test_eval_int8_reports_int8_top1_beside_fp32(digits_checkpoint, tmp_path, capsys):
    out_dir = tmp_path / "int8"
    assert eval_script.main(["--weights", str(digits_checkpoint), "--eval-samples", "64",
                             "--int8", str(out_dir), "--calibration-samples", "64"]) == 0
    text = capsys.readouterr().out
    fp32_table = re.findall(r"\| oct_mobilenet .*?(\d+\.\d\d)%", text)[0]
    assert re.search(r"INT8 model written to .*int8 \(calibrated on 64 training images, hist\)",
                     text)
    int8_top1, fp32_top1 = re.search(r"top-1 on 64 images: INT8 (\d+\.\d\d)%, fp32 (\d+\.\d\d)%",
                                     text).groups()
    assert fp32_top1 == fp32_table and float(fp32_top1) > 60  # chance is 10%
    assert abs(float(int8_top1) - float(fp32_top1)) <= 5
    assert (out_dir / "model.pdmodel").is_file() and (out_dir / "fp32" / "model.pdmodel").is_file()


@pytest.mark.parametrize("args, message", [
    (["--int8", "DIR", "--calibration-samples", "0"], "--calibration-samples must be >= 1, got 0"),
    (["--calibration-samples", "8"], "--calibration-samples needs --int8 DIR"),
])
def test_eval_int8_bad_flags(digits_checkpoint, tmp_path, args, message):
    args = [str(tmp_path / "out") if a == "DIR" else a for a in args]
    with pytest.raises(UsageError, match=message):
        eval_script.main(["--weights", str(digits_checkpoint), "--eval-samples", "16", *args])


def test_eval_int8_into_a_file_fails_with_one_line(digits_checkpoint, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("")
    assert eval_script.main(["--weights", str(digits_checkpoint), "--eval-samples", "16",
                             "--int8", str(target)]) == 1
    assert f"eval.py: INT8 export failed: {target} is a file" in capsys.readouterr().out
