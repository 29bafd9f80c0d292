"""The package's import contract: a clear pip hint without Paddle, and an honest __all__."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: a meta-path finder placed first makes `import paddle` (and any
# paddle.* submodule) fail as it would on a machine without a Paddle build, while leaving
# everything else, paddle_octconv included, importable.
WITHOUT_PADDLE = textwrap.dedent("""
    import sys

    class NoPaddle:
        def find_spec(self, name, path=None, target=None):
            if name == "paddle" or name.startswith("paddle."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoPaddle())
    import paddle_octconv
""")


def test_import_without_paddle_says_which_pip_command_to_run():
    proc = subprocess.run([sys.executable, "-c", WITHOUT_PADDLE], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0, "paddle_octconv imported although paddle could not be"
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: "), proc.stderr
    assert "pip install paddlepaddle" in last_line and "pip install paddlepaddle-gpu" in last_line


def test_everything_in_all_exists_and_the_public_api_is_in_it():
    import paddle_octconv

    missing = [name for name in paddle_octconv.__all__ if not hasattr(paddle_octconv, name)]
    assert not missing
    assert len(set(paddle_octconv.__all__)) == len(paddle_octconv.__all__)
    assert {"OctaveConv", "OctConvBN", "OctConvBNAct", "Conv_BN", "Conv_BN_ACT", "count_flops",
            "count_params", "split_channels", "low_frequency_size"} <= set(paddle_octconv.__all__)


@pytest.mark.parametrize("name", ["OctaveConv", "OctConvBN", "OctConvBNAct", "count_flops", "count_params"])
def test_public_objects_are_documented(name):
    import paddle_octconv

    assert (getattr(paddle_octconv, name).__doc__ or "").strip(), f"{name} has no docstring"


def test_the_wheel_holds_the_libraries_and_console_commands_and_no_generic_modules(tmp_path):
    """``pip install .`` installs what the wheel holds: built here with setuptools' PEP 517
    backend (no pip: nothing is downloaded) from a copy of the repository."""
    import shutil
    import zipfile

    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.py", "README.md", "train.py", "eval.py", "hubconf.py"):
        shutil.copy(REPO / name, source / name)
    for package in ("paddle_octconv", "models", "octconv_engine"):
        shutil.copytree(REPO / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    build = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-c", build, str(tmp_path / "dist")], cwd=source,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = tmp_path / "dist" / proc.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"paddle_octconv", "models", "octconv_engine"}
    assert "octconv-train = octconv_engine.train_command:console" in entry_points
    assert "octconv-eval = octconv_engine.eval_command:console" in entry_points


@pytest.mark.parametrize("command, module", [("octconv-train", "train_command"),
                                             ("octconv-eval", "eval_command")])
def test_console_commands_run_under_their_own_name(command, module):
    run = (f"import sys; sys.argv = [{command!r}, '--help']; "
           f"from octconv_engine.{module} import console; console()")
    proc = subprocess.run([sys.executable, "-c", run], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"usage: {command} ")
