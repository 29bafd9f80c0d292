"""The octave study: do Oct models match their plain twins at lower cost? One recipe, real data.

Trains a grid of runs (model family x alpha x recipe x seed) with train.py, each in its own
process (the same data code, recipes, checkpoints and VisualDL logging; its peak RSS measured),
then times every architecture in the oneDNN inference predictor (one thread, batch 1 and 8,
each family's alphas interleaved with its plain twin) and writes, under ``--out DIR``:

    DIR/results.json             every run: model, alpha, options, top-1, MACs, latency, RSS, ...
    DIR/results.md               each Oct cell beside its plain twin, with the seed spread
    DIR/accuracy_vs_macs.png     one line per family across alpha, the plain point marked
    DIR/accuracy_vs_latency.png
    DIR/curves.png               eval top-1 per epoch, one line per run
    DIR/vdl/<run>/               each run's VisualDL log and checkpoints
                                 (visualdl --logdir DIR/vdl overlays the runs)

Resumable: a finished run is read back from its folder, a half-finished one continues from its
last.pdparams (saved every --save-every batches too), so stopping and re-running the same
command goes on where it stopped. A finished run whose folder holds no checkpoint (results.json
committed without the .pdparams files) is read back from results.json. --only / --skip select runs by name (shell patterns).

examples:
  python benchmarks/study.py --preset quick --out study-quick          # digits, a few minutes
  python benchmarks/study.py --preset fashion --out study-fashion      # the published study
  python benchmarks/study.py --preset fashion --out s --only 'oct_mobilenet-*' --epochs 30
  python benchmarks/study.py --preset fashion --out s --data imagefolder --data-path /data/mine
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

__all__ = ["Cell", "PRESETS", "build_grid", "main"]


@dataclass(frozen=True)
class Family:
    """A model family of the grid: the zoo builder and its options (other than alpha).

    ``alphas`` / ``seeds`` replace the preset's for this family (a plain plug-in network runs at
    alpha 0 only); ``baseline`` is the label of the family whose alpha-0 cell a family without
    its own plain cell is compared with (the plain ResNet for the plug-in ResNets).
    """

    model: str
    options: Tuple[Tuple[str, Any], ...] = ()  # train.py flags, e.g. (("width_mult", 0.25),)
    alphas: Optional[Tuple[float, ...]] = None
    seeds: Optional[Tuple[int, ...]] = None
    baseline: str = ""

    @property
    def label(self) -> str:
        return self.model + "".join(f"-{key.split('_')[0][0]}{value:g}" for key, value in self.options)


@dataclass(frozen=True)
class Cell:
    """One training run of the grid."""

    family: Family
    alpha: float
    recipe: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.family.label}-a{self.alpha:g}-{self.recipe}-s{self.seed}"


@dataclass(frozen=True)
class Preset:
    """A grid and the training settings every run of it shares."""

    families: Tuple[Family, ...]
    alphas: Tuple[float, ...]
    seeds: Tuple[int, ...]
    multi_seed_alphas: Tuple[float, ...]  # these alphas run every seed, the others the first
    extra_recipes: Tuple[str, ...]  # run at alpha 0 and 0.5, first seed, besides "paper"
    train_flags: Tuple[str, ...]  # data and schedule, passed to every train.py run
    epochs: int
    description: str
    recipe_flags: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()  # (recipe, flags of its runs only)

    def flags_of(self, recipe: str) -> Tuple[str, ...]:
        """The train.py flags of a run under ``recipe``: the shared ones, then the recipe's."""
        return self.train_flags + dict(self.recipe_flags).get(recipe, ())


PRESETS: Dict[str, Preset] = {
    "quick": Preset(
        families=(Family("oct_mobilenet", (("width_mult", 0.25),)),),
        alphas=(0.0, 0.5), seeds=(0,), multi_seed_alphas=(), extra_recipes=(),
        train_flags=("--data", "digits"), epochs=3,
        description="digits, the default model at alpha 0 and 0.5, one seed, 3 epochs"),
    "fashion": Preset(
        families=(Family("oct_mobilenet", (("width_mult", 0.5),)),
                  Family("oct_resnet26", (("width", 0.25),))),
        alphas=(0.0, 0.125, 0.25, 0.5, 0.75), seeds=(0, 1), multi_seed_alphas=(0.0, 0.5),
        extra_recipes=("adam",),
        # A fixed stratified 20,000-image subset of the 60,000 (time on 2 CPU cores), all
        # 10,000 test images. The schedule is the paper recipe's (SGD, cosine, label smoothing)
        # with a 1-epoch warm-up and lr 0.4 per 256 images, tuned once on the plain Oct-MobileNet
        # (benchmarks/results/study/schedule_tuning.md) and used unchanged for every alpha.
        train_flags=("--data", "fashion-mnist", "--train-samples", "20000", "--batch-size", "64"),
        recipe_flags=(("paper", ("--warmup-epochs", "1", "--lr", "0.4")),),  # adam: the port's own
        epochs=6,
        description=("Fashion-MNIST 28x28, 20,000 training images (stratified) / 10,000 test, "
                     "Oct-MobileNet (width 0.5) and Oct-ResNet-26 (width 0.25), paper recipe "
                     "with lr 0.4 per 256 images and 1 warm-up epoch, 6 epochs; 2 seeds at "
                     "alpha 0 and 0.5; the published "
                     "port's Adam recipe at alpha 0 and 0.5")),
    "plugins": Preset(
        families=(Family("oct_resnet50", (("width", 0.25),)),
                  *(Family(name, (("width", 0.25),), alphas=(0.0,), seeds=(0,),
                           baseline="oct_resnet50-w0.25")
                    for name in ("sp_resnet50", "od_resnet50", "sac_resnet50", "dcn_resnet50"))),
        alphas=(0.0, 0.5), seeds=(0, 1), multi_seed_alphas=(0.0, 0.5), extra_recipes=(),
        # The fashion preset's data and tuned schedule, on a ResNet-50 at width 0.25.
        train_flags=("--data", "fashion-mnist", "--train-samples", "20000", "--batch-size", "64"),
        recipe_flags=(("paper", ("--warmup-epochs", "1", "--lr", "0.4")),),
        epochs=6,
        description=("Fashion-MNIST 28x28, 20,000 training images (stratified) / 10,000 test, "
                     "ResNet-50 at width 0.25 (small-input stem): plain and Oct (alpha 0.5), "
                     "2 seeds each, and SPConv, ODConv, SAConv, DCNv2 in it (one seed each), "
                     "the fashion preset's paper recipe, 6 epochs")),
}


def build_grid(preset: Preset) -> List[Cell]:
    """Every run of ``preset``, plain cells first within each family."""
    cells: List[Cell] = []
    for family in preset.families:
        alphas = preset.alphas if family.alphas is None else family.alphas
        all_seeds = preset.seeds if family.seeds is None else family.seeds
        for alpha in alphas:
            seeds = all_seeds if alpha in preset.multi_seed_alphas else all_seeds[:1]
            cells += [Cell(family, alpha, "paper", seed) for seed in seeds]
        for recipe in preset.extra_recipes:
            cells += [Cell(family, alpha, recipe, all_seeds[0]) for alpha in (0.0, 0.5)
                      if alpha in alphas]
    return cells


def select(cells: Sequence[Cell], only: Sequence[str], skip: Sequence[str]) -> List[Cell]:
    """The cells whose names match one of ``only`` (all when empty) and none of ``skip``."""
    match = lambda name, patterns: any(fnmatch.fnmatchcase(name, p) for p in patterns)
    return [c for c in cells if (not only or match(c.name, only)) and not match(c.name, skip)]


# ------------------------------------------------------------------------------- one run
def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def train_command(cell: Cell, run_dir: Path, train_flags: Sequence[str], epochs: int,
                  save_every: int) -> List[str]:
    """The train.py command line of ``cell`` (resuming when ``run_dir`` holds a checkpoint)."""
    if (run_dir / "last.pdparams").is_file():
        return [sys.executable, str(ROOT / "train.py"), "--resume", str(run_dir),
                "--epochs", str(epochs)]
    options = [part for key, value in cell.family.options for part in (_flag(key), f"{value:g}")]
    return [sys.executable, str(ROOT / "train.py"), "--model", cell.family.model,
            "--alpha", f"{cell.alpha:g}", *options, "--recipe", cell.recipe,
            "--seed", str(cell.seed), "--epochs", str(epochs), *train_flags,
            "--save-every", str(save_every), "--log-dir", str(run_dir)]


def run_training(command: List[str], log_file: Path) -> Tuple[int, float]:
    """Run one train.py process (output appended to ``log_file``): (exit code, peak RSS MB)."""
    with open(log_file, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def read_run(cell: Cell, run_dir: Path) -> Dict[str, Any]:
    """A finished (or partial) run's record, from its last.pdparams."""
    from octconv_engine.checkpoint import load_checkpoint
    from octconv_engine.config import RunConfig
    from octconv_engine.data import DataSpec
    from octconv_engine.modeling import model_options

    checkpoint = load_checkpoint(run_dir / "last.pdparams")
    cfg = RunConfig(**checkpoint["config"])
    spec_values = dict(checkpoint["spec"], class_names=tuple(checkpoint["spec"]["class_names"]))
    spec = DataSpec(**spec_values)
    options = {k: v for k, v in model_options(cfg, spec).items() if k not in ("alpha", "pretrained")}
    progress = checkpoint["progress"]
    history = progress["history"]
    train_seconds = sum(epoch.get("train_seconds", 0.0) for epoch in history)
    images = sum(epoch.get("train_images", 0) for epoch in history)
    return {
        "name": cell.name, "family": cell.family.label, "baseline": cell.family.baseline,
        "model": cfg.model, "alpha": cfg.alpha,
        "options": options, "input_shape": [spec.in_channels, spec.image_size, spec.image_size],
        "data": {"name": cfg.data, "train_samples": cfg.train_samples or None,
                 "eval_samples": cfg.eval_samples or None},
        "recipe": cfg.recipe, "seed": cfg.seed, "epochs": progress["epoch"],
        "best_top1": progress["best_top1"], "best_epoch": progress["best_epoch"],
        "final_top1": history[-1].get("eval_top1") if history else None,
        "eval_top1_per_epoch": [epoch.get("eval_top1") for epoch in history],
        "train_seconds": train_seconds,
        "train_images_per_sec": images / train_seconds if train_seconds else None,
        "wall_seconds": progress["seconds"],
        "log_dir": str(run_dir),
    }


def model_cost(record: Dict[str, Any]) -> Tuple[int, int]:
    """(params, MACs per image) of the run's model, rebuilt from its recorded options."""
    from models import create_model
    from paddle_octconv import count_flops, count_params

    network = create_model(record["model"], alpha=record["alpha"], **record["options"])
    return count_params(network), count_flops(network, (1, *record["input_shape"]))


def recorded_runs(results_file: Path) -> Dict[str, Dict[str, Any]]:
    """The runs a results.json holds, by name (none if it does not exist yet)."""
    if not results_file.is_file():
        return {}
    return {run["name"]: run for run in json.loads(results_file.read_text())["runs"]}


# ------------------------------------------------------------------------------- the grid
def _progress_line(done: int, total: int, started: float, ran: int, name: str) -> str:
    elapsed = time.time() - started
    eta = f", ETA {elapsed / ran * (total - done) / 60:.0f} min" if ran else ""
    return f"[{done + 1}/{total}] {name} (elapsed {elapsed / 60:.1f} min{eta})"


def train_grid(cells: Sequence[Cell], out: Path, preset: Preset, args: argparse.Namespace,
               previous: Dict[str, Dict[str, Any]],
               on_record: Callable[[List[Dict[str, Any]]], None] = lambda records: None,
               ) -> List[Dict[str, Any]]:
    """Train (or read back) every cell; returns their records. ``on_record`` gets the records
    so far after each run (the study writes its partial results there)."""
    records, started, ran = [], time.time(), 0
    for number, cell in enumerate(cells):
        run_dir = out / "vdl" / cell.name
        prior = previous.get(cell.name)
        if (not (run_dir / "last.pdparams").is_file() and prior is not None
                and prior.get("epochs", 0) >= args.epochs):
            # Its record is in results.json but its checkpoints are not here (a committed
            # study continued on another machine): the record stands.
            print(f"[{number + 1}/{len(cells)}] {cell.name}: finished earlier, read back from "
                  "results.json", flush=True)
            records.append(dict(prior))
            on_record(records)
            continue
        finished = ((run_dir / "last.pdparams").is_file()
                    and read_run(cell, run_dir)["epochs"] >= args.epochs)
        if finished:
            print(f"[{number + 1}/{len(cells)}] {cell.name}: finished earlier, read back", flush=True)
        else:
            print(_progress_line(number, len(cells), started, ran, cell.name), flush=True)
            command = train_command(cell, run_dir, [*preset.flags_of(cell.recipe), *args.train_flags],
                                    args.epochs, args.save_every)
            run_dir.mkdir(parents=True, exist_ok=True)
            code, rss = run_training(command, out / "train.log")
            if code != 0:
                raise SystemExit(f"study.py: {cell.name} failed (exit code {code}); see "
                                 f"{out / 'train.log'}, then run the same command again to resume")
            ran += 1
        record = read_run(cell, run_dir)
        record["peak_rss_mb"] = (previous.get(cell.name, {}).get("peak_rss_mb") if finished else rss)
        where = previous.get(cell.name, {}).get("trained_on") if finished else trained_on()
        if where:
            record["trained_on"] = where
        record["params"], record["macs"] = model_cost(record)
        if "latency_ms" in previous.get(cell.name, {}):  # kept unless measured again
            record["latency_ms"] = previous[cell.name]["latency_ms"]
        records.append(record)
        on_record(records)
    return records


def measure_latency(records: List[Dict[str, Any]], out: Path, threads: int = 1) -> None:
    """Fill in ``latency_ms`` of every record: each family's architectures timed interleaved,
    together with the families that name it as their ``baseline``."""
    from latency import predictor_latency
    from models import create_model

    groups: Dict[str, Dict[str, Dict[str, Any]]] = {}  # group -> network key -> a record
    for record in records:
        key = f"{record['family']}-a{record['alpha']:g}"
        groups.setdefault(record.get("baseline") or record["family"], {}).setdefault(key, record)
    for group, members in groups.items():
        networks = {key: create_model(r["model"], alpha=r["alpha"], **r["options"])
                    for key, r in members.items()}
        shape = next(iter(members.values()))["input_shape"]
        print(f"latency: {', '.join(networks)} interleaved ({shape[1]}x{shape[2]}, "
              f"{threads} thread)", flush=True)
        latency = predictor_latency(networks, shape, out / "latency" / group, threads=threads)
        for record in records:
            key = f"{record['family']}-a{record['alpha']:g}"
            if key in latency:
                record["latency_ms"] = latency[key]


def machine() -> Dict[str, Any]:
    """CPU model, vector ISA, cores, versions (of the machine this invocation runs on)."""
    import paddle
    from cpu_kind import cpu_isa, cpu_name

    return {"cpu": cpu_name(), "isa": cpu_isa(), "cores": os.cpu_count(),
            "paddle": paddle.__version__, "python": platform.python_version()}


def trained_on() -> str:
    """The CPU a run trains on, kept in its record: a study continued across machines says
    which run trained where (its images/s depend on it)."""
    from cpu_kind import cpu_isa, cpu_name

    return f"{cpu_name()} ({cpu_isa()})"


# ------------------------------------------------------------------------------- the CLI
def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="study.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=tuple(PRESETS), default="quick",
                        help="the grid: " + "; ".join(f"{k}: {p.description}" for k, p in PRESETS.items()))
    parser.add_argument("--out", required=True, metavar="DIR", help="results folder (resumed when it exists)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the preset's)")
    parser.add_argument("--only", nargs="*", default=[], metavar="PATTERN",
                        help="run only the runs whose names match (shell patterns, e.g. 'oct_mobilenet-*')")
    parser.add_argument("--skip", nargs="*", default=[], metavar="PATTERN", help="leave these runs out")
    parser.add_argument("--save-every", type=int, default=50, metavar="N",
                        help="checkpoint every N batches inside an epoch (default 50)")
    parser.add_argument("--no-latency", action="store_true", help="skip the predictor timing")
    parser.add_argument("--list", action="store_true", help="print the runs and exit")
    args, train_flags = parser.parse_known_args(argv)
    bad = [flag for flag in train_flags if flag.startswith("--") and flag.split("=")[0] in
           ("--model", "--alpha", "--recipe", "--seed", "--log-dir", "--resume")]
    if bad:
        parser.error(f"{bad[0]} is set by the grid; select runs with --only / --skip instead")
    args.train_flags = train_flags  # passed through to train.py (--data, --data-path, --lr ...)
    args.epochs = args.epochs or PRESETS[args.preset].epochs
    if args.epochs < 1 or args.save_every < 0:
        parser.error("--epochs must be >= 1 and --save-every >= 0")
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    from study_report import write_report

    args = parse_args(argv)
    preset = PRESETS[args.preset]
    cells = select(build_grid(preset), args.only, args.skip)
    if args.list or not cells:
        print("\n".join(cell.name for cell in cells) or "no run matches --only / --skip")
        return {}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "results.json"
    previous = recorded_runs(results_file)
    command = " ".join(["python", "benchmarks/study.py", *(argv if argv is not None else sys.argv[1:])])
    print(f"study {args.preset}: {len(cells)} runs, {args.epochs} epochs each, results in {out}", flush=True)
    started = time.time()

    grid = [cell.name for cell in build_grid(preset)]

    def write(records: List[Dict[str, Any]]) -> Dict[str, Any]:
        # Written after every run too, so a study stopped half-way still shows what it measured.
        # Runs of earlier invocations not (yet) reached by this one stay: results.json is the
        # study's record of every run it has finished, in grid order.
        # Read again: another invocation on the same --out (other --only runs, beside this one)
        # may have finished runs since this one started.
        done = {record["name"] for record in records}
        kept = [record for name, record in {**previous, **recorded_runs(results_file)}.items()
                if name not in done]
        runs = sorted([*records, *kept],
                      key=lambda r: grid.index(r["name"]) if r["name"] in grid else len(grid))
        results = {"preset": args.preset, "description": preset.description, "epochs": args.epochs,
                   "train_flags": [*preset.train_flags, *args.train_flags],
                   "recipe_flags": {recipe: list(flags) for recipe, flags in preset.recipe_flags},
                   "runs": runs,
                   "complete": {r["name"] for r in runs} >= set(grid), "machine": machine(),
                   "command": command, "seconds_this_invocation": time.time() - started,
                   "training_wall_seconds": sum(r["wall_seconds"] for r in runs)}
        temporary = results_file.with_suffix(f".json.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(results, indent=1))
        temporary.replace(results_file)  # never a half-written results.json
        write_report(results, out)
        return results

    records = train_grid(cells, out, preset, args, previous, on_record=write)
    if not args.no_latency:
        measure_latency(records, out)
    results = write(records)
    print(f"wrote {results_file}, {out / 'results.md'} and the plots", flush=True)
    return results


if __name__ == "__main__":
    main()
