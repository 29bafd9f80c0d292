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

    # Adam on 128 images: the loss falls by 0.15-0.25 in 3 epochs over seeds 0-5, well clear of
    # the step-to-step noise; the paper recipe's warm-up at this size barely moves it, and a
    # comparison of two noisy epoch means then fails on one CPU kind and passes on another.
    code, run_dir = _run(tmp_path, "fit", "--epochs", "3", "--log-freq", "1", "--recipe", "adam",
                         "--train-samples", "128")
    assert code == 0
    losses = _losses(run_dir)
    assert losses[-1] < losses[0] - 0.05
    out = capsys.readouterr().out
    assert "| model" in out and "best top-1" in out and str(run_dir / BEST) in out

    files = glob.glob(str(run_dir / "vdlrecords.*.log"))
    assert len(files) == 1
    reader = LogReader(file_path=files[0])
    tags = set(reader.get_tags()["scalar"])
    assert tags >= {"train/loss", "train/lr", "train/images_per_sec", "train/top1", "train/top5",
                    "eval/loss", "eval/top1", "eval/top5"}
    assert len(reader.get_data("scalar", "train/loss")) == 24  # 8 steps x 3 epochs
    assert [r.id for r in reader.get_data("scalar", "eval/top1")] == [1, 2, 3]


def test_digits_fit_lowers_the_loss(tmp_path):
    run_dir = tmp_path / "digits"
    assert train.main(["--train-samples", "256", "--eval-samples", "64", "--epochs", "2",
                       "--batch-size", "16", "--lr", "1.6", "--warmup-epochs", "0.5",
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


# Digits: augmented (random translation), so any sample drawn out of turn would show.
DIGITS = ["--image-size", "16", "--train-samples", "160", "--eval-samples", "32",
          "--batch-size", "32", "--epochs", "2", "--warmup-epochs", "1", "--seed", "3"]


class _Killed(BaseException):
    """Stands for SIGKILL: nothing of the engine runs after it (no interrupt save)."""


def _stop_at_batch(monkeypatch, number, how):
    """Make the run stop when its ``number``-th batch (1-based, over all epochs) has ended:
    ``how`` is "ctrl-c" (the interrupt guard's flag, as the SIGINT handler sets it) or "kill"."""
    seen = []

    def on_train_batch_end(self, step, logs=None):
        seen.append(step)
        if len(seen) == number:
            if how == "kill":
                raise _Killed()
            self.requested = True

    monkeypatch.setattr(octconv_engine.callbacks.InterruptGuard, "on_train_batch_end",
                        on_train_batch_end, raising=False)


@pytest.fixture(scope="module")
def straight_digits(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    assert train.main([*DIGITS, "--log-dir", str(run_dir)]) == 0
    return _weights(run_dir)


def _assert_same_weights(expected, run_dir):
    resumed = _weights(run_dir)
    assert expected.keys() == resumed.keys()
    for key in expected:
        np.testing.assert_array_equal(expected[key], resumed[key], err_msg=key)


def test_ctrl_c_mid_epoch_resumes_bit_identically_on_augmented_data(straight_digits, tmp_path,
                                                                   monkeypatch):
    run_dir = tmp_path / "run"
    _stop_at_batch(monkeypatch, 8, "ctrl-c")  # 5 batches per epoch: epoch 2, batch 3
    assert train.main([*DIGITS, "--log-dir", str(run_dir)]) == 130
    monkeypatch.undo()
    progress = load_checkpoint(run_dir / LAST)["progress"]
    assert (progress["epoch"], progress["step"]) == (1, 3)
    assert train.main(["--resume", str(run_dir)]) == 0
    _assert_same_weights(straight_digits, run_dir)


def test_killed_after_a_mid_epoch_save_resumes_bit_identically(straight_digits, tmp_path,
                                                               monkeypatch):
    run_dir = tmp_path / "run"
    _stop_at_batch(monkeypatch, 9, "kill")  # dies in epoch 2, batch 4; saved after batch 2
    with pytest.raises(_Killed):
        train.main([*DIGITS, "--save-every", "2", "--log-dir", str(run_dir)])
    monkeypatch.undo()
    progress = load_checkpoint(run_dir / LAST)["progress"]
    assert (progress["epoch"], progress["step"], progress["global_step"]) == (1, 2, 7)
    assert train.main(["--resume", str(run_dir)]) == 0
    _assert_same_weights(straight_digits, run_dir)


def test_a_network_drawing_paddle_randomness_resumes_bit_identically(tmp_path, monkeypatch):
    """Dropout draws from Paddle's RNG, which the checkpoint must carry across the resume."""
    import paddle.nn as nn

    import octconv_engine.train_command as command

    build = command.build_model

    def with_dropout(cfg, spec):
        network = build(cfg, spec)
        network.fc = nn.Sequential(nn.Dropout(0.5), network.fc)
        return network

    monkeypatch.setattr(command, "build_model", with_dropout)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert train.main([*DIGITS, "--log-dir", str(straight)]) == 0
    _stop_at_batch(monkeypatch, 7, "ctrl-c")
    assert train.main([*DIGITS, "--log-dir", str(stopped)]) == 130
    monkeypatch.setattr(octconv_engine.callbacks.InterruptGuard, "on_train_batch_end",
                        lambda self, step, logs=None: None, raising=False)
    assert train.main(["--resume", str(stopped)]) == 0
    _assert_same_weights(_weights(straight), stopped)
