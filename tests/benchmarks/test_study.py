"""benchmarks/study.py on a tiny slice of its quick preset: every output, resuming, the figures.

Accuracies and timings are never asserted (they are what the study measures); the files, the
records' consistency with the models they name and the resume behaviour are.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import study  # noqa: E402

TINY = ["--preset", "quick", "--train-samples", "96", "--eval-samples", "48", "--image-size", "16",
        "--batch-size", "32"]
FIELDS = {"model", "alpha", "options", "input_shape", "data", "recipe", "seed", "epochs",
          "best_top1", "final_top1", "params", "macs", "train_seconds", "train_images_per_sec",
          "latency_ms", "peak_rss_mb", "trained_on"}


def _study(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        results = study.main([*TINY, *args])
    return results, out.getvalue()


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study") / "out"
    results, printed = _study("--out", str(folder), "--epochs", "1")
    return folder, results, printed


def test_every_output_is_written(first):
    folder, results, printed = first
    assert "[1/2] oct_mobilenet-w0.25-a0-paper-s0" in printed and "[2/2]" in printed
    on_disk = json.loads((folder / "results.json").read_text())
    assert {"runs", "machine", "command"} <= set(on_disk) and on_disk["machine"]["isa"]
    assert on_disk["complete"] is True
    runs = on_disk["runs"]
    assert [r["alpha"] for r in runs] == [0.0, 0.5]
    for run in runs:
        assert FIELDS <= set(run), FIELDS - set(run)
        assert run["input_shape"] == [1, 16, 16] and run["epochs"] == 1 and run["seed"] == 0
        assert 0 <= run["best_top1"] <= 1 and 0 <= run["final_top1"] <= 1
        assert set(run["latency_ms"]) == {"bs1", "bs8"} and all(v > 0 for v in run["latency_ms"].values())
        assert run["peak_rss_mb"] > 100 and run["train_images_per_sec"] > 0
        assert run["data"]["train_samples"] == 96
        assert list((folder / "vdl" / run["name"]).glob("vdlrecords.*.log"))
    from cpu_kind import cpu_isa, cpu_name

    assert {run["trained_on"] for run in runs} == {f"{cpu_name()} ({cpu_isa()})"}
    table = (folder / "results.md").read_text()
    assert "| oct_mobilenet-w0.25 | paper | 0.5 | 1 |" in table and "unknown (one seed)" in table
    assert f"Trained on: {cpu_name()} ({cpu_isa()}) (2 runs)." in table
    for png in ("accuracy_vs_macs.png", "accuracy_vs_latency.png", "curves.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recorded_options_rebuild_the_model_and_its_macs(first):
    from models import create_model
    from paddle_octconv import count_flops, count_params

    for run in first[1]["runs"]:
        network = create_model(run["model"], alpha=run["alpha"], **run["options"])
        assert count_flops(network, (1, *run["input_shape"])) == run["macs"]
        assert count_params(network) == run["params"]


def test_finished_runs_are_read_back_and_unfinished_ones_resume(first):
    folder, results, _ = first
    on_disk = json.loads((folder / "results.json").read_text())
    on_disk["runs"][0]["trained_on"] = "another CPU (AVX2)"  # as if it trained elsewhere
    (folder / "results.json").write_text(json.dumps(on_disk))
    read_back, printed = _study("--out", str(folder), "--epochs", "1", "--no-latency")
    assert printed.count("finished earlier, read back") == 2
    assert read_back["runs"][0]["trained_on"] == "another CPU (AVX2)"  # where it trained stays
    # Asking for more epochs makes both runs unfinished: each continues from its last.pdparams.
    again, printed = _study("--out", str(folder), "--epochs", "2", "--no-latency",
                            "--only", "*-a0.5-*")
    assert "finished earlier" not in printed and "[1/1] oct_mobilenet-w0.25-a0.5-paper-s0" in printed
    # the run left out by --only keeps its record; the selected one has its new epochs
    plain, run = again["runs"]
    assert plain["alpha"] == 0.0 and plain["epochs"] == 1
    assert run["epochs"] == 2 and len(run["eval_top1_per_epoch"]) == 2
    commands = [l for l in (folder / "train.log").read_text().splitlines() if l.startswith("$ ")]
    assert len(commands) == 3 and "--resume" in commands[-1]


def test_finished_runs_listed_in_results_json_need_no_checkpoints(first, tmp_path):
    """A study committed without its .pdparams files continues elsewhere: the records stand."""
    copy = tmp_path / "committed"
    copy.mkdir()
    (copy / "results.json").write_text(json.dumps(first[1]))  # as the first study wrote it
    again, printed = _study("--out", str(copy), "--epochs", "1", "--no-latency")
    assert printed.count("read back from results.json") == 2
    assert not (copy / "train.log").exists()  # nothing trained
    assert [r["final_top1"] for r in again["runs"]] == [r["final_top1"] for r in first[1]["runs"]]


def test_a_study_stopped_half_way_has_written_the_runs_it_finished(tmp_path, monkeypatch):
    real_run_training, calls = study.run_training, []

    def second_run_fails(command, log_file):
        calls.append(command)
        return real_run_training(command, log_file) if len(calls) == 1 else (1, 0.0)

    monkeypatch.setattr(study, "run_training", second_run_fails)
    with pytest.raises(SystemExit, match="a0.5-paper-s0 failed"):
        _study("--out", str(tmp_path), "--epochs", "1", "--no-latency")
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["complete"] is False
    assert [run["name"] for run in on_disk["runs"]] == ["oct_mobilenet-w0.25-a0-paper-s0"]
    assert "| oct_mobilenet-w0.25 | paper | 0 | 1 |" in (tmp_path / "results.md").read_text()


def test_two_studies_on_one_folder_keep_each_others_runs(tmp_path, monkeypatch):
    """Runs of one grid trained by two invocations at once (different --only): each writes
    results.json after its run, and neither drops the run the other finished meanwhile."""
    real_run_training, nested = study.run_training, []

    def other_study_finishes_meanwhile(command, log_file):
        if not nested:  # while the first invocation trains, a second one runs start to end
            nested.append(True)
            _study("--out", str(tmp_path), "--epochs", "1", "--no-latency", "--only", "*-a0.5-*")
        return real_run_training(command, log_file)

    monkeypatch.setattr(study, "run_training", other_study_finishes_meanwhile)
    _study("--out", str(tmp_path), "--epochs", "1", "--no-latency", "--only", "*-a0-*")
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert [run["name"] for run in on_disk["runs"]] == ["oct_mobilenet-w0.25-a0-paper-s0",
                                                         "oct_mobilenet-w0.25-a0.5-paper-s0"]
    assert on_disk["complete"] is True


def test_grid_selection_and_flags_the_grid_owns(capsys):
    names = [c.name for c in study.build_grid(study.PRESETS["fashion"])]
    assert len(names) == len(set(names)) == 18  # 2 families x (5 alphas + 2 extra seeds + 2 adam)
    assert "oct_resnet26-w0.25-a0.5-paper-s1" in names and "oct_mobilenet-w0.5-a0-adam-s0" in names
    # The tuned schedule belongs to the paper recipe: the Adam runs keep the port's (no warm-up).
    fashion = study.PRESETS["fashion"]
    by_name = {c.name: c for c in study.build_grid(fashion)}
    paper, adam = (study.train_command(by_name[f"oct_mobilenet-w0.5-a0.5-{r}-s0"], Path("/nowhere"),
                                       fashion.flags_of(r), 6, 50) for r in ("paper", "adam"))
    assert "--lr" in paper and "--warmup-epochs" in paper and "--data" in paper
    assert "--lr" not in adam and "--warmup-epochs" not in adam and "--data" in adam
    picked = study.select(study.build_grid(study.PRESETS["fashion"]), ["oct_mobilenet-*"], ["*adam*"])
    assert len(picked) == 7 and all("adam" not in c.name for c in picked)
    with pytest.raises(SystemExit):
        study.parse_args(["--out", "x", "--alpha", "0.5"])
    assert "set by the grid" in capsys.readouterr().err


def _plugin_results() -> dict:
    """A plug-in study's results: a plain family over two seeds, an Oct cell in it, and two
    plug-in networks with the plain family as their baseline."""
    def run(family, alpha, seed, top1, macs, baseline="", params=1_000_000):
        return {"name": f"{family}-a{alpha}-s{seed}", "family": family, "baseline": baseline,
                "recipe": "paper", "alpha": alpha, "seed": seed, "final_top1": top1,
                "best_top1": top1, "macs": macs, "params": params, "data": {"name": "x"},
                "eval_top1_per_epoch": [top1], "latency_ms": {"bs1": macs / 1e7, "bs8": macs / 2e6}}

    return {"preset": "plugins", "description": "d", "epochs": 1, "train_flags": [],
            "command": "c", "training_wall_seconds": 60.0,
            "machine": {"cpu": "cpu", "isa": "AVX2", "cores": 2, "paddle": "3.3", "python": "3"},
            "runs": [run("plain", 0.0, 0, 0.90, 100e6), run("plain", 0.0, 1, 0.91, 100e6),
                     run("plain", 0.5, 0, 0.89, 60e6),
                     run("sp", 0.0, 0, 0.925, 70e6, baseline="plain", params=718_250),
                     run("od", 0.0, 0, 0.905, 101e6, baseline="plain")]}


def test_the_plugins_grid_and_its_comparison_with_the_plain_baseline():
    names = [c.name for c in study.build_grid(study.PRESETS["plugins"])]
    assert names[:4] == [f"oct_resnet50-w0.25-a{a}-paper-s{s}" for a in (0, 0.5) for s in (0, 1)]
    assert names[4:] == [f"{p}_resnet50-w0.25-a0-paper-s0" for p in ("sp", "od", "sac", "dcn")]

    from study_report import markdown

    results = _plugin_results()
    results["runs"] = results["runs"][:2] + results["runs"][3:]  # the plain family's alpha 0 only
    results["runs"][2]["trained_on"] = results["runs"][3]["trained_on"] = "AMD EPYC (AVX2)"
    assert "Trained on: not recorded (2 runs), AMD EPYC (AVX2) (2 runs)." in markdown(results)
    rows = {line.split(" | ")[0]: line for line in markdown(results).splitlines()
            if line.startswith("| sp ") or line.startswith("| od ") or line.startswith("| plain ")}
    # against the plain cell's mean (90.50) and its seed spread (1.00 point)
    assert "| +2.00 | yes (spread 1.00) | 0.718M | 70.00M | 0.70x |" in rows["| sp"]
    assert "| +0.00 | no (spread 1.00) |" in rows["| od"]
    assert "| paper | 0 | 2 | 90.50 | 1.00 | 90.50 |  |  |" in rows["| plain"]


def test_the_plots_mark_only_the_plain_network_as_plain(tmp_path, monkeypatch):
    """A star (accuracy plots) and a dashed curve mean plain: the plain family's alpha 0, never a
    plug-in network, which the study also runs at alpha 0; plug-ins get no alpha label."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.axes import Axes

    import study_report

    stars, dashed, labels = [], [], []
    plot, annotate = Axes.plot, Axes.annotate

    def recording_plot(self, *args, **kwargs):
        if kwargs.get("marker") == "*":
            stars.append((args[0][0], args[1][0]))
        if kwargs.get("linestyle") == "--":
            dashed.append(kwargs["label"])
        return plot(self, *args, **kwargs)

    def recording_annotate(self, text, xy, *args, **kwargs):
        labels.append((text, xy))
        return annotate(self, text, xy, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", recording_plot)
    monkeypatch.setattr(Axes, "annotate", recording_annotate)
    study_report.write_report(_plugin_results(), tmp_path)
    # accuracy vs MACs, then vs latency: the plain cell (mean 90.50) in each, nothing else
    assert stars == [(100.0, 90.5), (10.0, 90.5)]
    assert dashed == ["plain-a0.0-s0", "plain-a0.0-s1"]
    assert sorted(text for text, _ in labels) == ["0", "0", "0.5", "0.5"]


COMMITTED_STUDIES = sorted((Path(__file__).resolve().parents[2] / "benchmarks/results/study")
                           .glob("*/results.json"))


@pytest.mark.parametrize("path", COMMITTED_STUDIES, ids=lambda p: p.parent.name)
def test_readme_shows_every_committed_results_table(path):
    """The README shows the table each committed results.json gives (so every figure there was
    measured and none was edited by hand)."""
    import study_report

    root = Path(__file__).resolve().parents[2]
    results = json.loads(path.read_text())
    assert study_report.table(results) in (root / "README.md").read_text(), (
        f"README's {path.parent.name} table is stale: paste study_report.table() of "
        f"{path.relative_to(root)}")


def test_the_fashion_study_is_committed():
    assert "fashion" in [p.parent.name for p in COMMITTED_STUDIES]
