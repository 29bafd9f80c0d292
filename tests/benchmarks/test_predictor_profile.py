"""benchmarks/predictor_profile.py: the profiler table's parsing, the steady-state arithmetic and
one end-to-end run whose kernel counts are checked against the network's own layers."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import predictor_profile as pp  # noqa: E402
from cpu_kind import cpu_isa  # noqa: E402

from models import create_model  # noqa: E402
from paddle_octconv import OctaveConv  # noqa: E402

# The shape of Paddle 3.3's predictor profiler output (first table: the main thread).
SAMPLE = """
-------------------------       Event Summary       -------------------------

Event                                  Calls       Total       Min.        Max.        Ave.        Ratio.
onednn_op.fused_conv2d                 580         120.5       0.01        4.2         0.2078      0.47
onednn_op.multiply                     86          66.0        0.05        16.3        0.7674      0.26
pd_op.cast                             22          7.0         0.006       0.6         0.3181      0.02
  PhiKernelInstruction::infermeta      22          0.9         0.001       0.1         0.0409      0.003

------------------------->     Profiling Report     <-------------------------

Event                                  Calls       Total       Min.        Max.        Ave.        Ratio.
thread56::pd_op.full_int_array         1           0.02        0.02        0.02        0.02        0.63
"""


def test_parse_profile_reads_the_first_table_without_sub_rows():
    assert pp.parse_profile(SAMPLE) == {"onednn_op.fused_conv2d": (580, 120.5),
                                        "onednn_op.multiply": (86, 66.0), "pd_op.cast": (22, 7.0)}
    with pytest.raises(ValueError, match="no 'Event Summary' table"):
        pp.parse_profile("nothing here")


def test_steady_state_drops_what_ran_once_and_prorates_mixed_ops():
    short = {"conv": (29 * 10, 30.0), "fold": (86, 66.0), "cast": (12 + 10, 5.0)}
    long = {"conv": (29 * 20, 58.0), "fold": (86, 66.0), "cast": (12 + 20, 8.0)}
    got = pp.steady_state(short, long, runs=10)
    assert set(got) == {"conv", "cast"}  # the one-time folding is gone
    assert got["conv"] == pytest.approx((29, 58.0 / 20))
    # cast: 1 call per run of 32 calls in the long profile -> 20/32 of its 8 ms over 20 runs
    assert got["cast"] == pytest.approx((1, 8.0 * 20 / 32 / 20))


def test_table_has_a_row_per_op_and_totals():
    table = pp.profile_table({"plain": {"conv": (29, 2.0)}, "alpha 0.5": {"conv": (74, 4.0), "pool": (22, 1.0)}})
    lines = table.splitlines()
    assert lines[0] == "| op | plain: kernels | plain: ms | alpha 0.5: kernels | alpha 0.5: ms |"
    assert lines[2] == "| conv | 29 | 2.000 | 74 | 4.000 |" and lines[3] == "| pool |  |  | 22 | 1.000 |"
    assert lines[-1] == "| **total** | 29 | 2.000 | 96 | 5.000 |"


def test_end_to_end_kernel_counts_follow_the_network(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # and nothing is left in the working directory
    options = ["--option", "width=0.25", "--option", "small_input=true"]
    assert pp.main(["--model", "oct_resnet26", *options, "--size", "12", "--runs", "3",
                    "--out", str(tmp_path / "profile.md")]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["profile.md"]
    text = (tmp_path / "profile.md").read_text()
    assert text in capsys.readouterr().out and f"({cpu_isa()})" in text
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in text.splitlines() if line.startswith("| ")}
    # each stride-1 OctaveConv with a low input upsamples its l2h once: one conv2d_transpose
    net = create_model("oct_resnet26", alpha=0.5, width=0.25, small_input=True)
    upsamples = sum(1 for layer in net.sublayers()
                    if isinstance(layer, OctaveConv) and layer.conv_l2h is not None and layer.stride == 1)
    assert rows["onednn_op.conv2d_transpose"][1:3] == ["", ""]  # none in the plain network
    assert float(rows["onednn_op.conv2d_transpose"][3]) == upsamples > 0


def test_baseline_puts_another_network_beside_the_model(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = ["--option", "width=0.25", "--option", "small_input=true"]
    assert pp.main(["--model", "sp_resnet50", "--baseline", "oct_resnet50", *options,
                    "--size", "12", "--runs", "2"]) == 0
    text = capsys.readouterr().out
    assert "sp_resnet50 beside oct_resnet50 at alpha 0" in text
    header = next(line for line in text.splitlines() if line.startswith("| op |"))
    assert header == ("| op | oct_resnet50 alpha 0: kernels | oct_resnet50 alpha 0: ms "
                      "| sp_resnet50: kernels | sp_resnet50: ms |")
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in text.splitlines() if line.startswith("| ")}
    # SPConv splits its input (two slices per layer, one layer per bottleneck): plain ResNet-50 none
    net = create_model("sp_resnet50", width=0.25, small_input=True)
    layers = sum(1 for layer in net.sublayers() if type(layer).__name__ == "SPConv")
    assert rows["onednn_op.slice"][1:3] == ["", ""] and float(rows["onednn_op.slice"][3]) == 2 * layers == 32


def test_bad_arguments_exit_2(capsys):
    for argv, message in ((["--model", "resnet9"], "not a zoo builder"), (["--option", "width"], "KEY=VALUE"),
                          (["--runs", "0"], "must be positive"),
                          (["--model", "sp_resnet50"], "its own plain twin: give --alpha, or --baseline"),
                          (["--baseline", "resnet50"], "--baseline 'resnet50' is not a zoo builder")):
        with pytest.raises(SystemExit) as info:
            pp.main(argv)
        assert info.value.code == 2 and message in capsys.readouterr().err
