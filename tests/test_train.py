"""train.py as a user runs it: --help, bad input, Ctrl-C, --amp on CPU, 2-process launch on CPU."""
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
TINY = ["--data", "synthetic", "--image-size", "16", "--train-samples", "64", "--eval-samples",
        "32", "--batch-size", "8", "--width-mult", "0.25"]


def _script(*args, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, *map(str, args)], cwd=kwargs.pop("cwd", ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            **kwargs)


def test_help_documents_every_flag():
    from octconv_engine.cli import FLAGS

    out, _ = _script("train.py", "--help").communicate(timeout=120)
    for flags, _ in FLAGS.values():
        assert flags[0] in out
    assert "--config" in out and "python -m paddle.distributed.launch" in out


BAD_INPUT = {
    "unknown flag": (["--bogus"], "unrecognized arguments: --bogus"),
    "not a number": (["--epochs", "abc"], "argument --epochs: invalid int value: 'abc'"),
    "bad choice": (["--data", "mnist"], "argument --data: invalid choice"),
    "out of range": (["--lr", "-1"], "--lr must be > 0, got -1.0"),
    "unknown model": (["--model", "resnet9"], "unknown model 'resnet9'; choose from"),
    "cifar without path": (["--data", "cifar10"], "needs --data-path to the python-version archive"),
    "missing fashion folder": (["--data", "fashion-mnist", "--data-path", "/nonexistent"],
                               "missing train-images-idx3-ubyte.gz"),
    "missing config": (["--config", "/nonexistent.yaml"], "no such file"),
    "missing resume": (["--resume", "/nonexistent"], "no checkpoint there"),
}


def test_bad_input_exits_2_with_one_line():
    runs = {name: _script("train.py", *args) for name, (args, _) in BAD_INPUT.items()}
    for name, run in runs.items():
        out, err = run.communicate(timeout=180)
        lines = err.strip().splitlines()
        assert run.returncode == 2, (name, err)
        assert len(lines) == 1 and lines[0].startswith("train.py: error: "), (name, err)
        assert BAD_INPUT[name][1] in lines[0], (name, lines[0])


def test_ctrl_c_mid_epoch_saves_that_step_and_says_how_to_resume(tmp_path):
    run_dir = tmp_path / "run"
    # 256 batches per epoch, the progress bar updated after each: Ctrl-C lands mid-epoch 1.
    run = _script("train.py", *TINY, "--train-samples", "2048", "--epochs", "200", "--log-freq",
                  "1", "--log-dir", run_dir, "--amp")
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: run.stdout.read(64), "")))
    reader.start()
    deadline = time.time() + 180
    while (not re.search(r"step +([3-9]|\d\d+)/256", "".join(chunks)) and time.time() < deadline
           and run.poll() is None):
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    reader.join(timeout=120)
    err = run.stderr.read()
    out = "".join(chunks)
    assert run.wait(timeout=120) == 130, err
    assert out.count("--amp ignored: mixed precision needs a GPU") == 1
    assert f"Resume with: python train.py --resume {run_dir}" in out
    from octconv_engine.checkpoint import load_checkpoint

    progress = load_checkpoint(run_dir / "last.pdparams")["progress"]
    assert progress["epoch"] == 0 and progress["step"] >= 3, progress  # saved on the interrupt
    assert f"Interrupted after epoch 0 + {progress['step']} steps" in out and "Traceback" not in err


def test_two_process_launch_on_cpu_writes_one_set_of_logs(tmp_path):
    run_dir = tmp_path / "run"
    run = _script("-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
                  tmp_path / "launch", ROOT / "train.py", *TINY, "--epochs", "2", "--log-dir",
                  run_dir, cwd=tmp_path)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, (out[-2000:], err[-2000:])
    assert len(list(run_dir.glob("vdlrecords.*.log"))) == 1
    assert sorted(p.name for p in run_dir.glob("*.pdparams")) == ["best.pdparams", "last.pdparams"]
    rank0 = (tmp_path / "launch" / "workerlog.0").read_text()
    rank1 = (tmp_path / "launch" / "workerlog.1").read_text()
    assert "| model" in rank0 and "| model" not in rank1  # only rank 0 reports
    from octconv_engine.checkpoint import load_checkpoint

    assert load_checkpoint(run_dir / "last.pdparams")["progress"]["epoch"] == 2
