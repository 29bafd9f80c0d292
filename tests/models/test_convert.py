"""`python -m models.convert`: PyTorch checkpoints in the d-li14 layout -> Paddle, logit-exact.

The PyTorch models come from tests/models/torch_reference.py, an independent re-implementation;
the tests that need PyTorch skip (saying why) when it is not installed.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

import models
from models import convert, weights
from models.weights import IncompatibleWeightsError

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4  # max |paddle - torch| / max |torch|


@pytest.fixture
def ref():
    pytest.importorskip("torch", reason="PyTorch is not installed; `pip install torch==2.13.0` "
                                        "(CPU wheel) to run the converter round-trip tests")
    import torch_reference
    return torch_reference


def torch_logits(model, images: np.ndarray) -> np.ndarray:
    import torch
    with torch.no_grad():
        return model(torch.from_numpy(images)).numpy()


def paddle_logits(model, images: np.ndarray) -> np.ndarray:
    model.eval()
    with paddle.no_grad():
        return model(paddle.to_tensor(images)).numpy()


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


def images(size: int = 64, batch: int = 2) -> np.ndarray:
    return np.random.RandomState(0).randn(batch, 3, size, size).astype("float32")


# ------------------------------------------------------------------------------- with PyTorch
def test_cli_round_trip_oct_resnet(ref, tmp_path):
    import torch
    reference = ref.randomize(ref.OctResNet((2, 2, 2, 2), num_classes=10, alpha=0.5))
    src, dst = tmp_path / "oct_resnet26.pth", tmp_path / "out" / "oct_resnet26.pdparams"
    torch.save(reference.state_dict(), src)
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    result = subprocess.run(
        [sys.executable, "-m", "models.convert", "--arch", "oct_resnet26", "--src", str(src),
         "--dst", str(dst)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"wrote {dst}" in result.stdout
    model = models.oct_resnet26(pretrained=dst, num_classes=10)
    x = images(64)
    assert relative_error(paddle_logits(model, x), torch_logits(reference, x)) <= TOLERANCE


def test_wrapped_checkpoint_oct_mobilenet(ref, tmp_path):
    import torch
    reference = ref.randomize(ref.OctMobileNet(num_classes=6, alpha=0.5), seed=1)
    wrapped = {"epoch": 150, "best_acc1": 71.25,
               "state_dict": {"module." + k: v for k, v in reference.state_dict().items()}}
    src, dst = tmp_path / "oct_mobilenet.pth.tar", tmp_path / "oct_mobilenet.pdparams"
    torch.save(wrapped, src)
    assert convert.main(["--arch", "oct_mobilenet", "--src", str(src), "--dst", str(dst)]) == 0
    model = models.oct_mobilenet(pretrained=dst, num_classes=6)
    x = images(96)
    assert relative_error(paddle_logits(model, x), torch_logits(reference, x)) <= TOLERANCE


def test_default_destination_is_the_cache(ref, tmp_path, monkeypatch, capsys):
    import torch
    monkeypatch.setenv(weights.ENV_CACHE_DIR, str(tmp_path / "cache"))
    reference = ref.randomize(ref.OctMobileNet(num_classes=1000, alpha=0.5), seed=2)
    src = tmp_path / "mobilenet.pth"
    torch.save(reference.state_dict(), src)
    assert convert.main(["--arch", "oct_mobilenet", "--src", str(src)]) == 0
    assert (tmp_path / "cache" / "oct_mobilenet.pdparams").is_file()
    assert "oct_mobilenet.pdparams" in capsys.readouterr().out
    model = models.oct_mobilenet(pretrained=True)
    x = images(64, batch=1)
    assert relative_error(paddle_logits(model, x), torch_logits(reference, x)) <= TOLERANCE


def test_wrong_architecture_names_the_keys_and_writes_nothing(ref, tmp_path, capsys):
    import torch
    src, dst = tmp_path / "mobilenet.pth", tmp_path / "out.pdparams"
    torch.save(ref.OctMobileNet(num_classes=3, alpha=0.5).state_dict(), src)
    assert convert.main(["--arch", "oct_resnet26", "--src", str(src), "--dst", str(dst)]) == 1
    error = capsys.readouterr().err
    assert "missing from the file" in error and "layer1.0.conv1.bn_h._mean" in error
    assert "unexpected in the file" in error and "features.0.0.weight" in error
    assert not dst.exists() and not list(tmp_path.glob("*.partial"))


def test_wrong_alpha_is_a_shape_mismatch(ref, tmp_path, capsys):
    import torch
    src = tmp_path / "mobilenet.pth"
    torch.save(ref.OctMobileNet(num_classes=3, alpha=0.5).state_dict(), src)
    args = ["--arch", "oct_mobilenet", "--src", str(src), "--dst", str(tmp_path / "x.pdparams")]
    assert convert.main(args + ["--alpha", "0.25"]) == 1
    assert "shape mismatch" in capsys.readouterr().err


def test_unreadable_or_foreign_checkpoints(ref, tmp_path, capsys):
    import torch
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    assert convert.main(["--arch", "oct_resnet26", "--src", str(garbage)]) == 1
    assert "cannot read" in capsys.readouterr().err
    no_classifier = tmp_path / "backbone.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, no_classifier)
    assert convert.main(["--arch", "oct_resnet26", "--src", str(no_classifier)]) == 1
    assert "has no fc.bias" in capsys.readouterr().err


# ---------------------------------------------------------------------------- without PyTorch
def test_convert_state_dict_renames_drops_and_transposes():
    model = models.oct_mobilenet(num_classes=4, width_mult=0.25)
    state = {}
    for key, value in model.state_dict().items():
        array = np.random.rand(*value.shape).astype("float64")
        if key.endswith("._mean"):
            key = key[:-len("._mean")] + ".running_mean"
            state[key[:-len(".running_mean")] + ".num_batches_tracked"] = np.array(7)
        elif key.endswith("._variance"):
            key = key[:-len("._variance")] + ".running_var"
        elif key == "fc.weight":
            array = array.T  # PyTorch stores [out, in]
        state[key] = array
    converted = convert.convert_state_dict(state, model)
    assert sorted(converted) == sorted(model.state_dict())
    assert converted["fc.weight"].shape == (256, 4)
    np.testing.assert_array_equal(converted["fc.weight"], state["fc.weight"].T.astype("float32"))
    np.testing.assert_array_equal(converted["features.0.1._variance"],
                                  state["features.0.1.running_var"].astype("float32"))
    assert all(value.dtype == np.float32 for value in converted.values())
    assert models.load_weights(model, converted) == []


def test_unwrap_checkpoint():
    inner = {"module.fc.bias": 1, "module.conv1.weight": 2}
    unwrapped = convert.unwrap_checkpoint({"state_dict": inner, "epoch": 3})
    assert unwrapped == {"fc.bias": 1, "conv1.weight": 2}
    assert convert.unwrap_checkpoint({"fc.bias": 1}) == {"fc.bias": 1}
    with pytest.raises(ValueError, match="must be a dict"):
        convert.unwrap_checkpoint([1, 2])
    with pytest.raises(ValueError, match=r"checkpoint\['state_dict'\] must be a dict"):
        convert.unwrap_checkpoint({"state_dict": 5})


def test_non_tensor_values_are_refused():
    with pytest.raises(ValueError, match="fc.bias: expected a tensor, got str"):
        convert.convert_state_dict({"fc.bias": "x"}, models.oct_mobilenet(width_mult=0.25))


def test_missing_torch_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    src = tmp_path / "x.pth"
    src.write_bytes(b"")
    with pytest.raises(ImportError, match="pip install torch"):
        convert.load_torch_checkpoint(src)
    assert convert.main(["--arch", "oct_resnet26", "--src", str(src)]) == 1
    assert "needs PyTorch, which is not installed" in capsys.readouterr().err


def test_cli_argument_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        convert.main(["--arch", "oct_resnet18", "--src", str(tmp_path / "x.pth")])
    assert info.value.code == 2 and "invalid choice: 'oct_resnet18'" in capsys.readouterr().err
    for other in ("sp_resnet50", "oct_mobilenet_v2", "oct_resnext50_32x4d", "oct_se_resnet50"):
        with pytest.raises(SystemExit) as info:  # zoo networks d-li14 has no checkpoints of
            convert.main(["--arch", other, "--src", str(tmp_path / "x.pth")])
        assert info.value.code == 2 and f"invalid choice: '{other}'" in capsys.readouterr().err
    assert set(convert.D_LI14_ARCHS) == {"oct_mobilenet", "oct_resnet26", "oct_resnet50", "oct_resnet101",
                                         "oct_resnet152", "oct_resnet200"}
    with pytest.raises(SystemExit):
        convert.main(["--arch", "oct_resnet26", "--src", str(tmp_path / "absent.pth")])
    assert "no such file" in capsys.readouterr().err


def test_torch_is_imported_only_by_the_converter_command():
    code = "import sys, models, models.convert, hubconf; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_incompatible_error_is_a_value_error():
    assert issubclass(IncompatibleWeightsError, ValueError)
