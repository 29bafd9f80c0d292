"""eval.py: reproduces train.py's top-1 from a checkpoint, exports round-trip, all weight kinds."""
import re
import subprocess
import sys
from pathlib import Path

import paddle
import pytest

import eval as eval_script
import train

ROOT = Path(__file__).resolve().parents[1]
DATA = ["--data", "synthetic", "--image-size", "16", "--eval-samples", "48", "--num-classes", "4"]
TINY = [*DATA, "--train-samples", "96", "--batch-size", "16", "--width-mult", "0.25"]
# What eval.py needs to rebuild the model of a bare state dict of the TINY run.
BARE_OPTIONS = ["--model", "oct_mobilenet", "--width-mult", "0.25", *DATA]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny train.py run: (run folder, the best and final top-1 its table printed)."""
    run_dir = tmp_path_factory.mktemp("eval") / "run"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert train.main([*TINY, "--epochs", "3", "--lr", "0.4", "--log-dir", str(run_dir)]) == 0
    row = [line for line in out.getvalue().splitlines() if line.startswith("| oct_mobilenet")][0]
    best, final = re.findall(r"(\d+\.\d\d)%", row)
    return run_dir, best, final


def _top1(text: str) -> str:
    row = [line for line in text.splitlines() if line.startswith("| oct_mobilenet")][0]
    return re.findall(r"(\d+\.\d\d)%", row)[0]


def test_checkpoint_reproduces_top1_and_exports_round_trip(trained, tmp_path):
    run_dir, best, _ = trained
    run = subprocess.run([sys.executable, "eval.py", "--weights", str(run_dir / "best.pdparams"),
                          "--export", str(tmp_path / "inference"), "--onnx",
                          str(tmp_path / "model.onnx")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _top1(run.stdout) == best
    assert "per-class accuracy (48 images)" in run.stdout
    assert re.search(r"inference model written to .*inference; reloaded and checked on 8 images.*"
                     r"same top-1: yes", run.stdout)
    assert re.search(r"ONNX written to .*model.onnx; reloaded and checked on 8 images.*"
                     r"same top-1: yes", run.stdout)
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "inference" / "model.pdiparams").is_file()


def test_last_checkpoint_reproduces_the_final_top1(trained, capsys):
    run_dir, _, final = trained
    assert eval_script.main(["--weights", str(run_dir / "last.pdparams")]) == 0
    assert _top1(capsys.readouterr().out) == final


def _bare_state_dict(run_dir, tmp_path):
    from octconv_engine.checkpoint import load_checkpoint

    state = load_checkpoint(run_dir / "best.pdparams")["model"]
    path = tmp_path / "weights.pdparams"
    paddle.save(state, str(path))
    return state, path


def test_bare_pdparams_with_model_options(trained, tmp_path, capsys):
    run_dir, best, _ = trained
    _, path = _bare_state_dict(run_dir, tmp_path)
    assert eval_script.main(["--weights", str(path), *BARE_OPTIONS]) == 0
    assert _top1(capsys.readouterr().out) == best


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
