"""Bad files end to end: each a one-line error naming the file, exit code 2, nothing lost.

Truncated and foreign weight files for --resume, --weights, --pretrained and ``pretrained=``;
an image folder holding an unreadable image (train and val); a full disk while saving.
"""
from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

import octconv_engine.checkpoint as checkpoint
import train
from models import oct_mobilenet
from octconv_engine.checkpoint import LAST, load_checkpoint
from octconv_engine.cli import run_script

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--width-mult", "0.25", "--image-size", "16", "--batch-size", "4", "--epochs", "1"]
SYNTHETIC = ["--data", "synthetic", *TINY, "--train-samples", "16", "--eval-samples", "8"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Damaged files: a truncated Paddle file, a foreign one, a bare state dict, image folders."""
    from PIL import Image

    root = tmp_path_factory.mktemp("bad")
    state = oct_mobilenet(num_classes=10, in_channels=3, width_mult=0.25).state_dict()
    paddle.save(state, str(root / "bare.pdparams"))
    whole = (root / "bare.pdparams").read_bytes()
    (root / "truncated.pdparams").write_bytes(whole[: len(whole) // 2])
    (root / "foreign.pdparams").write_bytes(b"PK\x03\x04 this is a zip of something else")
    rng = np.random.RandomState(0)
    for broken in ("train", "val"):
        for split in ("train", "val"):
            for cls in ("cat", "dog"):
                folder = root / f"images-bad-{broken}" / split / cls
                folder.mkdir(parents=True)
                for i in range(4):
                    Image.fromarray(rng.randint(0, 256, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        (root / f"images-bad-{broken}" / broken / "dog" / "2.png").write_bytes(b"not a png")
    return root


CASES = {
    "resume truncated": (["train.py", "--resume", "{root}/truncated.pdparams"],
                         "truncated.pdparams: cannot be read as a Paddle file"),
    "resume foreign": (["train.py", "--resume", "{root}/foreign.pdparams"],
                       "foreign.pdparams: cannot be read as a Paddle file"),
    "resume bare weights": (["train.py", "--resume", "{root}/bare.pdparams"],
                            "bare.pdparams: not a train.py checkpoint"),
    "weights truncated": (["eval.py", "--weights", "{root}/truncated.pdparams", "--model",
                           "oct_mobilenet"], "--weights {root}/truncated.pdparams: cannot be read"),
    "weights foreign": (["eval.py", "--weights", "{root}/foreign.pdparams", "--model",
                         "oct_mobilenet"], "--weights {root}/foreign.pdparams: cannot be read"),
    "pretrained truncated": (["train.py", *SYNTHETIC, "--pretrained", "{root}/truncated.pdparams",
                              "--log-dir", "{root}/run-pretrained"], "truncated.pdparams"),
    "unreadable train image": (["train.py", "--data", "imagefolder", "--data-path",
                                "{root}/images-bad-train", *TINY, "--model", "oct_mobilenet",
                                "--log-dir", "{root}/run-train"],
                               "{root}/images-bad-train/train/dog/2.png: cannot be read as an image"),
    "unreadable val image": (["train.py", "--data", "imagefolder", "--data-path",
                              "{root}/images-bad-val", *TINY, "--model", "oct_mobilenet",
                              "--log-dir", "{root}/run-val"],
                             "{root}/images-bad-val/val/dog/2.png: cannot be read as an image"),
}


def test_bad_files_exit_2_with_one_line_naming_the_file(files):
    fill = lambda text: text.replace("{root}", str(files))
    runs = {name: subprocess.Popen([sys.executable, *map(fill, args)], cwd=ROOT, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for name, (args, _) in CASES.items()}
    for name, run in runs.items():
        _, err = run.communicate(timeout=300)  # an unreadable image once hung the loader
        lines = err.strip().splitlines()
        script = CASES[name][0][0]
        assert run.returncode == 2 and len(lines) == 1, (name, err[-3000:])
        assert lines[0].startswith(f"{script}: error: ") and fill(CASES[name][1]) in lines[0], (name, lines)
    # The unreadable training image stopped the run before any checkpoint was written.
    assert not (files / "run-train" / LAST).exists()


def test_pretrained_argument_with_a_damaged_file_is_a_value_error(files):
    for name in ("truncated", "foreign"):
        with pytest.raises(ValueError, match=f"{name}.pdparams"):
            oct_mobilenet(pretrained=str(files / f"{name}.pdparams"), width_mult=0.25)


def test_a_full_disk_while_saving_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch,
                                                                            capsys):
    run_dir = tmp_path / "run"
    writes = []

    def open_on_a_filling_disk(file, mode="r", *args, **kwargs):
        if "w" in mode:
            writes.append(file)
            if len(writes) > 2:  # epoch 1 wrote last + best; epoch 2's last finds the disk full
                raise OSError(errno.ENOSPC, "No space left on device")
        return open(file, mode, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "open", open_on_a_filling_disk, raising=False)
    args = [*SYNTHETIC, "--epochs", "2", "--log-dir", str(run_dir)]
    with pytest.raises(SystemExit) as exit_code:
        run_script(lambda: train.main(args), "train.py")
    monkeypatch.undo()
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_code.value.code == 2 and len(lines) == 1, lines
    assert lines[0] == (f"train.py: error: cannot write {run_dir / LAST}: No space left on device; "
                        "the previous last.pdparams is unchanged. Free disk space (or choose another "
                        "--log-dir) and resume")
    assert load_checkpoint(run_dir / LAST)["progress"]["epoch"] == 1  # intact and loadable
    assert sorted(p.name for p in run_dir.glob("*.pdparams*")) == ["best.pdparams", "last.pdparams"]
    assert train.main(["--resume", str(run_dir)]) == 0  # and it resumes once there is space
    assert load_checkpoint(run_dir / LAST)["progress"]["epoch"] == 2
