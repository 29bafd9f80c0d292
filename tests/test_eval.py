"""eval.py: reproduces train.py's top-1 from a checkpoint, exports round-trip, all weight kinds."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

import eval as eval_script

ROOT = Path(__file__).resolve().parents[1]
# The shared digits run's evaluation images (tests/conftest.py: DIGITS_EVAL_SAMPLES).
DATA = ["--eval-samples", "128"]
# What eval.py needs to rebuild the model of a bare state dict of that run.
BARE_OPTIONS = ["--model", "oct_mobilenet", "--width-mult", "0.25", "--small-input", *DATA]


@pytest.fixture(scope="module")
def trained(digits_run):
    """The shared digits run (tests/conftest.py): (run folder, the best and final top-1 its
    table printed)."""
    run_dir, printed = digits_run
    row = [line for line in printed.splitlines() if line.startswith("| oct_mobilenet")][0]
    best, final = re.findall(r"(\d+\.\d\d)%", row)
    assert float(best) > 50 and float(final) > 50, row  # chance is 10%
    return run_dir, best, final


def _top1(text: str) -> str:
    row = [line for line in text.splitlines() if line.startswith("| oct_mobilenet")][0]
    return re.findall(r"(\d+\.\d\d)%", row)[0]


def _checkpoint_logits(path: Path, images: np.ndarray) -> np.ndarray:
    """Logits of the checkpoint's weights, put into a fresh model with set_state_dict: a path
    independent of eval.py's weight loading."""
    from models import oct_mobilenet
    from octconv_engine.checkpoint import load_checkpoint

    network = oct_mobilenet(num_classes=10, in_channels=1, width_mult=0.25, small_input=True)
    network.set_state_dict(load_checkpoint(path)["model"])
    network.eval()
    with paddle.no_grad():
        return network(paddle.to_tensor(images)).numpy()


def _eval_logits(monkeypatch, args, images: np.ndarray) -> np.ndarray:
    """Run eval.main and return the logits of the network it evaluated."""
    import octconv_engine.eval_command as command

    networks = []
    build = command.build_model
    monkeypatch.setattr(command, "build_model", lambda *a: networks.append(build(*a)) or networks[-1])
    assert eval_script.main(args) == 0
    network = networks[0]
    network.eval()
    with paddle.no_grad():
        return network(paddle.to_tensor(images)).numpy()


@pytest.fixture(scope="module")
def images():
    from octconv_engine.data import DataSettings, load_data

    data = load_data(DataSettings("digits", eval_samples=8), train=False).eval
    return np.stack([data[i][0] for i in range(8)])


def test_checkpoint_reproduces_top1_and_exports_round_trip(trained, tmp_path):
    run_dir, best, _ = trained
    run = subprocess.run([sys.executable, "eval.py", "--weights", str(run_dir / "best.pdparams"),
                          "--export", str(tmp_path / "inference"), "--onnx",
                          str(tmp_path / "model.onnx")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _top1(run.stdout) == best
    assert "per-class accuracy (128 images)" in run.stdout
    assert re.search(r"inference model written to .*inference; reloaded and checked on 8 images.*"
                     r"same top-1: yes", run.stdout)
    assert re.search(r"ONNX written to .*model.onnx; reloaded and checked on 8 images.*"
                     r"same top-1: yes", run.stdout)
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "inference" / "model.pdiparams").is_file()
    assert "onnxruntime" not in run.stdout + run.stderr  # no runtime log lines on the terminal


def test_last_checkpoint_reproduces_the_final_top1_and_logits(trained, capsys, monkeypatch, images):
    run_dir, _, final = trained
    logits = _eval_logits(monkeypatch, ["--weights", str(run_dir / "last.pdparams")], images)
    assert _top1(capsys.readouterr().out) == final
    np.testing.assert_allclose(logits, _checkpoint_logits(run_dir / "last.pdparams", images),
                               rtol=1e-5, atol=1e-5)


def _bare_state_dict(run_dir, tmp_path):
    from octconv_engine.checkpoint import load_checkpoint

    state = load_checkpoint(run_dir / "best.pdparams")["model"]
    path = tmp_path / "weights.pdparams"
    paddle.save(state, str(path))
    return state, path


def test_bare_pdparams_with_model_options(trained, tmp_path, capsys, monkeypatch, images):
    run_dir, best, _ = trained
    _, path = _bare_state_dict(run_dir, tmp_path)
    logits = _eval_logits(monkeypatch, ["--weights", str(path), *BARE_OPTIONS], images)
    assert _top1(capsys.readouterr().out) == best
    np.testing.assert_allclose(logits, _checkpoint_logits(run_dir / "best.pdparams", images),
                               rtol=1e-5, atol=1e-5)


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def test_pytorch_checkpoint_is_converted_on_the_fly(trained, tmp_path, capsys):
    run_dir, best, _ = trained
    state, _ = _bare_state_dict(run_dir, tmp_path)
    path = tmp_path / "weights.pth"
    if not _torch_available():
        path.write_bytes(b"not read: torch is missing")
        from octconv_engine.errors import UsageError

        with pytest.raises(UsageError, match="pip install torch"):
            eval_script.main(["--weights", str(path), *BARE_OPTIONS])
        return
    import torch

    # The public PyTorch layout: BN running_mean / running_var, Linear weights [out, in].
    torch_state = {}
    for key, value in state.items():
        array = value.numpy()
        key = key.replace("._mean", ".running_mean").replace("._variance", ".running_var")
        torch_state["module." + key] = torch.from_numpy(array.T.copy() if key == "fc.weight" else array)
    torch.save({"state_dict": torch_state}, path)
    assert eval_script.main(["--weights", str(path), *BARE_OPTIONS]) == 0
    assert _top1(capsys.readouterr().out) == best


@pytest.mark.parametrize("args, message", [
    (["--weights", "/nonexistent.pdparams"], "no such file"),
    (["--weights", "WEIGHTS", "--alpha", "0"], "alpha is 0.5 in the checkpoint; it cannot be changed"),
    (["--weights", "BARE"], "--model is needed"),
    (["--weights", "BARE", "--model", "oct_resnet26", *DATA], "does not fit"),
    ([], "the following arguments are required: --weights"),
])
def test_bad_input_exits_2_with_one_line(trained, tmp_path, args, message):
    run_dir, _, _ = trained
    _, bare = _bare_state_dict(run_dir, tmp_path)
    args = [{"WEIGHTS": str(run_dir / "best.pdparams"), "BARE": str(bare)}.get(a, a) for a in args]
    run = subprocess.run([sys.executable, "eval.py", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr[-2000:]
    assert lines[0].startswith("eval.py: error: ") and message in lines[0]
