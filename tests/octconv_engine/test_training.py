"""End-to-end training in-process through train.main: fit, VisualDL logs, resume, NaN, Ctrl-C."""
import glob
import shutil

import numpy as np
import pytest

import octconv_engine.callbacks
import octconv_engine.training
import train
from octconv_engine.checkpoint import BEST, LAST, load_checkpoint
from octconv_engine.errors import UsageError

SYNTHETIC = ["--data", "synthetic", "--image-size", "16", "--train-samples", "64",
             "--eval-samples", "32", "--batch-size", "16", "--width-mult", "0.25"]


def _run(tmp_path, name, *args):
    run_dir = tmp_path / name
    code = train.main([*SYNTHETIC, "--log-dir", str(run_dir), *args])
    return code, run_dir


def _losses(run_dir):
    return [epoch["train_loss"] for epoch in load_checkpoint(run_dir / LAST)["progress"]["history"]]


def test_synthetic_fit_lowers_the_loss_and_logs_to_visualdl(tmp_path, capsys):
    from visualdl import LogReader

    code, run_dir = _run(tmp_path, "fit", "--epochs", "3", "--log-freq", "1")
    assert code == 0
    losses = _losses(run_dir)
    assert losses[-1] < losses[0]
    out = capsys.readouterr().out
    assert "| model" in out and "best top-1" in out and str(run_dir / BEST) in out

    files = glob.glob(str(run_dir / "vdlrecords.*.log"))
    assert len(files) == 1
    reader = LogReader(file_path=files[0])
    tags = set(reader.get_tags()["scalar"])
    assert tags >= {"train/loss", "train/lr", "train/images_per_sec", "train/top1", "train/top5",
                    "eval/loss", "eval/top1", "eval/top5"}
    assert len(reader.get_data("scalar", "train/loss")) == 12  # 4 steps x 3 epochs
    assert [r.id for r in reader.get_data("scalar", "eval/top1")] == [1, 2, 3]


def test_digits_fit_lowers_the_loss(tmp_path):
    run_dir = tmp_path / "digits"
    assert train.main(["--train-samples", "256", "--eval-samples", "64", "--epochs", "2",
                       "--log-dir", str(run_dir)]) == 0
    losses = _losses(run_dir)
    assert losses[1] < losses[0]


def _weights(run_dir):
    return {k: v.numpy() for k, v in load_checkpoint(run_dir / LAST)["model"].items()}


def test_two_epochs_equal_one_plus_resumed_one(tmp_path, monkeypatch, capsys):
    args = ["--epochs", "2", "--warmup-epochs", "1", "--seed", "7"]
    assert _run(tmp_path, "straight", *args)[0] == 0

    # Stop the second run after its first epoch (and its evaluation) as Ctrl-C would: by
    # setting the interrupt guard's flag, which is checked when the next epoch begins.
    monkeypatch.setattr(octconv_engine.callbacks.InterruptGuard, "on_eval_end",
                        lambda self, logs=None: setattr(self, "requested", True))
    code, run_dir = _run(tmp_path, "resumed", *args)
    monkeypatch.undo()
    assert code == 130
    out = capsys.readouterr().out
    assert f"Resume with: python train.py --resume {run_dir}" in out
    assert load_checkpoint(run_dir / LAST)["progress"]["epoch"] == 1

    moved = tmp_path / "moved"  # a run folder may move between the two parts
    shutil.move(run_dir, moved)
    run_dir = moved
    assert train.main(["--resume", str(run_dir)]) == 0
    straight, resumed = _weights(tmp_path / "straight"), _weights(run_dir)
    assert straight.keys() == resumed.keys()
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key], err_msg=key)
    from visualdl import LogReader

    logs = list(run_dir.glob("vdlrecords.*.log"))
    assert len(logs) == 1  # the resumed part appended to the first part's log
    assert [r.id for r in LogReader(file_path=str(logs[0])).get_data("scalar", "eval/top1")] == [1, 2]
    history = load_checkpoint(run_dir / LAST)["progress"]["history"]
    assert [h["eval_top1"] for h in history] == \
        [h["eval_top1"] for h in load_checkpoint(tmp_path / "straight" / LAST)["progress"]["history"]]


def test_resume_refuses_to_change_the_architecture(tmp_path):
    _, run_dir = _run(tmp_path, "run", "--epochs", "1")
    with pytest.raises(UsageError, match="alpha is 0.5 in the checkpoint"):
        train.main(["--resume", str(run_dir), "--alpha", "0"])


def test_nonfinite_loss_stops_with_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(octconv_engine.training, "build_loss",
                        lambda cfg: (lambda logits, label: logits.mean() * float("nan")))
    code, run_dir = _run(tmp_path, "nan", "--epochs", "2")
    assert code == 1
    assert "the training loss became nan at epoch 1, step 1" in capsys.readouterr().err
    assert not (run_dir / LAST).exists()


def test_an_explicit_log_dir_holding_a_run_is_not_overwritten(tmp_path):
    _, run_dir = _run(tmp_path, "run", "--epochs", "1")
    with pytest.raises(UsageError, match="already holds a run"):
        _run(tmp_path, "run", "--epochs", "1")
