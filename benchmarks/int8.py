#!/usr/bin/env python
"""INT8 against fp32 for octave networks and their plain twins: top-1 on digits, predictor latency.

1. Accuracy: the digits default model (Oct-MobileNet x0.25, alpha 0.5) and its plain twin
   (``--alpha 0``), trained with train.py's defaults (or given by --weights-oct /
   --weights-plain, train.py checkpoints), quantised with ``export_int8`` as ``eval.py --int8``
   does (calibration on --calibration-samples training images); top-1 on the evaluation set in
   fp32 (dygraph, hapi) and INT8 (the oneDNN INT8 predictor).
2. Latency: each network of a pair in three predictors, all six of one batch size timed
   interleaved in this process (benchmarks/timing.py), one thread, batch 1 and 8, medians:
   ``fp32 PIR``    the project's float export (benchmarks/latency.py: PIR, oneDNN);
   ``fp32 legacy`` the simplified legacy-IR float graph ``export_int8`` calibrates from;
   ``INT8``        the quantised model in the legacy predictor with oneDNN INT8.
   Pairs: oct_mobilenet x0.25 on digits (the trained networks) and oct_resnet26 alpha 0.5 /
   alpha 0 at --resnet-size (random weights, calibrated on synthetic images: timing only).

Writes DIR/int8.json and DIR/int8.md (with the CPU and its widest ISA) and prints the table.

    python benchmarks/int8.py --out int8_results
    python benchmarks/int8.py --weights-oct runs/digits-oct_mobilenet-a0.5/best.pdparams \\
        --weights-plain runs/digits-oct_mobilenet-a0/best.pdparams
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import numpy as np  # noqa: E402

from cpu_kind import cpu_isa, cpu_name  # noqa: E402
from latency import predictor_runner, save_for_inference  # noqa: E402
from timing import interleaved  # noqa: E402

from models import create_model  # noqa: E402
from octconv_engine import (build_model, calibration_batches, evaluate, export_int8,  # noqa: E402
                            load_data, load_into, load_predictor, predictor_top1, read_weights,
                            resolve_config, saved_settings, setup_runtime, train_command)
from octconv_engine.data import SyntheticDataset  # noqa: E402
from octconv_engine.eval_command import (CALIBRATION_SAMPLES, INT8_CHECK_SAMPLES,  # noqa: E402
                                         WEIGHT_KEYS)

__all__ = ["main"]

PREDICTORS = ("fp32 PIR", "fp32 legacy", "INT8")


@dataclasses.dataclass
class Subject:
    """One network of a latency pair, with its INT8 export."""

    pair: str
    name: str  # "oct" or "plain"
    network: Any
    image_shape: Tuple[int, int, int]
    int8_dir: Path


def train_digits(alpha: float, workdir: Path) -> Path:
    """train.py's default digits run at ``alpha`` (reused when its folder holds one already)."""
    run_dir = workdir / f"digits-a{alpha:g}"
    best = run_dir / "best.pdparams"
    if not best.is_file():
        print(f"training the digits default model at alpha {alpha:g} -> {run_dir}", flush=True)
        with contextlib.redirect_stdout(io.StringIO()):
            code = train_command.main(["--alpha", f"{alpha:g}", "--log-dir", str(run_dir)])
        if code != 0:
            raise SystemExit(f"training at alpha {alpha:g} failed (exit code {code})")
    return best


def load_checkpoint_network(weights_path: Path, threads: int):
    """(network, data with the train split, settings) of a train.py checkpoint, as eval.py."""
    weights = read_weights(str(weights_path))
    if weights.checkpoint is None:
        raise SystemExit(f"{weights_path}: not a train.py checkpoint (its settings are needed)")
    cfg = resolve_config({"threads": threads}, saved=saved_settings(weights.checkpoint),
                         locked=WEIGHT_KEYS, model_preset=False)
    cfg = dataclasses.replace(cfg.validate(), pretrained=None)
    setup_runtime(cfg.threads, cfg.seed)
    data = load_data(cfg.data_settings(), train=True)
    network = build_model(cfg, data.spec)
    load_into(network, weights, str(weights_path))
    network.eval()
    return network, data, cfg


def digits_accuracy(label: str, weights_path: Path, workdir: Path, args) -> Tuple[Dict, Subject]:
    """fp32 and INT8 top-1 of one digits checkpoint; its Subject for the latency part."""
    network, data, cfg = load_checkpoint_network(weights_path, args.threads)
    fp32 = evaluate(network, data.eval, data.spec, cfg.batch_size, verbose=0)
    batches = calibration_batches(data.train, args.calibration_samples, cfg.batch_size, cfg.seed)
    check_images = np.stack([data.eval[i][0]
                             for i in range(min(INT8_CHECK_SAMPLES, len(data.eval)))])
    int8_dir = workdir / f"digits-{label}-int8"
    start = time.perf_counter()
    check = export_int8(network, str(int8_dir), batches, check_images, algo=args.algo,
                        threads=args.threads)
    seconds = time.perf_counter() - start
    int8_top1 = predictor_top1(load_predictor(str(int8_dir), threads=args.threads), data.eval,
                               cfg.batch_size)
    row = dict(model=cfg.model, alpha=cfg.alpha, width_mult=cfg.width_mult,
               eval_images=len(data.eval), calibration_images=sum(len(b) for b in batches),
               algo=args.algo, fp32_top1=fp32.top1, int8_top1=int8_top1,
               delta_points=100 * (int8_top1 - fp32.top1),
               check_top1_agreement=check.top1_agreement,
               check_relative_error=check.relative_error, export_seconds=seconds,
               weights=str(weights_path))
    shape = (data.spec.in_channels, data.spec.image_size, data.spec.image_size)
    return row, Subject("oct_mobilenet x0.25 (digits)", label, network, shape, int8_dir)


def resnet_subjects(size: int, width: float, workdir: Path, args) -> List[Subject]:
    """oct_resnet26 at alpha 0.5 and 0, random weights, INT8-calibrated on synthetic images."""
    images = SyntheticDataset(256, 10, 3, size, seed=1)
    batches = calibration_batches(images, args.calibration_samples, 32, seed=0)
    subjects = []
    for label, alpha in (("oct", 0.5), ("plain", 0.0)):
        network = create_model("oct_resnet26", num_classes=10, alpha=alpha, width=width)
        network.eval()
        int8_dir = workdir / f"resnet26-{label}-int8"
        # Random weights: the logits are near ties, so the check's bounds are off (timing only).
        export_int8(network, str(int8_dir), batches, algo=args.algo, threads=args.threads,
                    min_agreement=0.0, max_relative_error=float("inf"))
        subjects.append(Subject(f"oct_resnet26 x{width:g} ({size}x{size}, random weights)",
                                label, network, (3, size, size), int8_dir))
    return subjects


def pair_latency(subjects: Sequence[Subject], workdir: Path, args) -> List[Dict]:
    """Median ms of every (network, predictor) of one pair, per batch size, timed interleaved."""
    pir = {s.name: save_for_inference(s.network, workdir / f"{s.int8_dir.name}-pir" / "model",
                                      s.image_shape[0]) for s in subjects}
    rows = []
    rng = np.random.RandomState(0)
    for batch in args.batches:
        images = rng.standard_normal((batch, *subjects[0].image_shape)).astype(np.float32)
        runners = {}
        for s in subjects:
            legacy = load_predictor(str(s.int8_dir / "fp32"), int8=False, threads=args.threads)
            int8 = load_predictor(str(s.int8_dir), int8=True, threads=args.threads)
            runners[(s.name, "fp32 PIR")] = predictor_runner(*pir[s.name], images, args.threads)
            runners[(s.name, "fp32 legacy")] = lambda run=legacy: run(images)
            runners[(s.name, "INT8")] = lambda run=int8: run(images)
        timings = interleaved(runners, repeats=args.repeats, warmup=3,
                              min_seconds=args.min_seconds)
        for s in subjects:
            rows.append(dict(pair=s.pair, network=s.name, batch=batch, **{
                kind: timings[(s.name, kind)].median * 1000.0 for kind in PREDICTORS}))
    return rows


def markdown(results: Mapping[str, Any]) -> str:
    lines = [
        "# INT8 (oneDNN, post-training quantisation) against fp32",
        "",
        f"CPU: {results['cpu']} ({results['isa']}); {results['threads']} thread(s); "
        f"calibration: {results['calibration_samples']} images, algo `{results['algo']}`. "
        + results["note"],
        "",
        "## Top-1 on digits",
        "",
        "| model | alpha | eval images | fp32 top-1 | INT8 top-1 | INT8 - fp32 | export time |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["accuracy"]:
        lines.append(f"| {row['model']} x{row['width_mult']:g} | {row['alpha']:g} | "
                     f"{row['eval_images']} | {100 * row['fp32_top1']:.2f}% | "
                     f"{100 * row['int8_top1']:.2f}% | {row['delta_points']:+.2f} points | "
                     f"{row['export_seconds']:.0f} s |")
    lines += [
        "",
        "## Predictor latency (median ms per batch)",
        "",
        "| pair | network | batch | fp32 PIR | fp32 legacy | INT8 | INT8 speed-up vs fp32 PIR |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["latency"]:
        lines.append(f"| {row['pair']} | {row['network']} | {row['batch']} | "
                     + " | ".join(f"{row[kind]:.2f}" for kind in PREDICTORS)
                     + f" | {row['fp32 PIR'] / row['INT8']:.2f}x |")
    lines += ["", "oct / plain time ratio per predictor:", "",
              "| pair | batch | " + " | ".join(PREDICTORS) + " |", "|---|---|---|---|---|"]
    by_key = {(r["pair"], r["batch"], r["network"]): r for r in results["latency"]}
    for pair, batch in dict.fromkeys((r["pair"], r["batch"]) for r in results["latency"]):
        oct_row, plain_row = by_key[(pair, batch, "oct")], by_key[(pair, batch, "plain")]
        lines.append(f"| {pair} | {batch} | " + " | ".join(
            f"{oct_row[kind] / plain_row[kind]:.2f}" for kind in PREDICTORS) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("int8_results"))
    parser.add_argument("--weights-oct", type=Path, help="train.py checkpoint of the digits "
                        "default model (default: train it under --out)")
    parser.add_argument("--weights-plain", type=Path, help="train.py checkpoint of its --alpha 0 "
                        "twin (default: train it under --out)")
    parser.add_argument("--calibration-samples", type=int, default=CALIBRATION_SAMPLES)
    parser.add_argument("--algo", default="hist")
    parser.add_argument("--resnet-size", type=int, default=64, help="input side of oct_resnet26")
    parser.add_argument("--resnet-width", type=float, default=1.0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--min-seconds", type=float, default=3.0)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    workdir = args.out / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    checkpoints = {"oct": args.weights_oct or train_digits(0.5, workdir),
                   "plain": args.weights_plain or train_digits(0.0, workdir)}
    accuracy, digits = [], []
    for label, path in checkpoints.items():
        row, subject = digits_accuracy(label, path, workdir, args)
        accuracy.append(row)
        digits.append(subject)
        print(f"{label}: fp32 {100 * row['fp32_top1']:.2f}%, INT8 {100 * row['int8_top1']:.2f}%",
              flush=True)
    latency = pair_latency(digits, workdir, args)
    latency += pair_latency(resnet_subjects(args.resnet_size, args.resnet_width, workdir, args),
                            workdir, args)
    results = dict(
        cpu=cpu_name(), isa=cpu_isa(), threads=args.threads, algo=args.algo,
        calibration_samples=args.calibration_samples, accuracy=accuracy, latency=latency,
        note=("Latency: every network and predictor of one pair and batch size timed "
              "interleaved in one process; medians of at least "
              f"{args.repeats} rounds and {args.min_seconds:g} s."))
    (args.out / "int8.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.out / "int8.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
