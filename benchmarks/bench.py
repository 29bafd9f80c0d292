#!/usr/bin/env python
"""Side-by-side speed of octave networks and their plain counterparts (a script, not a test).

Every measurement times a pair (A = octave, B = baseline) in ONE process, interleaved A B A B ...,
and reports medians of at least ``--repeats`` runs (more until ``--min-seconds`` of timed runs)
after ``--warmup`` rounds, the time ratio A/B and the MACs ratio A/B beside it. Each (pair, path,
device) gets a fresh process, so one path's runtime state cannot slow the next one down.

Pairs (``--pairs``):
    resnet50   models.oct_resnet50        vs paddle.vision.models.resnet50   (1000 classes)
    mobilenet  models.oct_mobilenet       vs paddle.vision.models.MobileNetV1
    mobilenet_v2  models.oct_mobilenet_v2 vs paddle.vision.models.mobilenet_v2 (alpha 0.375)
    resnext50  models.oct_resnext50_32x4d vs paddle.vision.models.resnext50_32x4d (alpha 0.5)
    sp_resnet50, od_resnet50, sac_resnet50, dcn_resnet50
               the plug-in ResNet-50s (SPConv, ODConv, SAConv, DCNv2) vs paddle.vision's resnet50
    layer      paddle_octconv.OctaveConv  vs reference_octconv.ReferenceOctaveConv (four Conv2D,
               AvgPool2D, Upsample; same weights, outputs asserted equal), 256->256 3x3 at 56x56
    conv       paddle_octconv.OctaveConv  vs paddle.nn.Conv2D of the same channels
Paths (``--paths``):
    dygraph    eval-mode forward under paddle.no_grad()
    predictor  paddle.inference predictor, fp32, oneDNN, after paddle.jit.to_static + jit.save
               (``--predictor-ir auto`` tries the PIR export, and when a side fails there records
               the error and uses the legacy-IR export, FLAGS_enable_pir_api=0, for both sides)
    bf16       the same predictor with oneDNN bf16 (skipped unless the CPU has avx512_bf16 / AMX)
    train      training throughput: images/s of a full step (forward, cross-entropy on random
               labels, backward, Momentum update, clear_grad) of each side and their ratio
    rss        peak RSS (VmHWM) of a short training run of each side in its own subprocess, and
               the peak of allocated tensor memory during it
Sizes and batches: ``--sizes`` are image sides of the model pairs (the layer pairs keep their
shapes); at 32x32-class sides (<= 64) a zoo model uses its small-input stem (stride 1) and a
model without one says so in the row. Defaults: batch 1 8 at 224 for every path but train,
which runs batch 32 128 at 32 and 224. Devices (``--device``): cpu, gpu (paddlepaddle-gpu; the
dygraph and train paths; ``--amp float16|bfloat16`` runs them under auto_cast O1). Rows that
cannot run here (no CUDA build, no GPU, no bf16) are recorded as skipped with the reason. Every
row records the CPU's vector ISA (AVX2 / AVX-512 / AMX).

CPU kernels are those the training engine gets: on an AMD CPU bench.py sets MKL's AVX2 path
(``paddle_octconv.enable_mkl_avx2_on_amd``, as ``train.py`` / ``eval.py`` do), unless
``MKL_DEBUG_CPU_TYPE`` is already set. ``ONEDNN_MAX_CPU_ISA=AVX2`` in the environment runs the
predictor's oneDNN kernels of an AVX2 CPU on a wider one; the rows then say so. Both settings are
recorded in the machine block.

    python benchmarks/bench.py --out bench_results            # everything (train rows dominate)
    python benchmarks/bench.py --quick                        # batch 1, 1 thread, dygraph + predictor
    python benchmarks/bench.py --pairs resnet50 --paths predictor --batch 1 8 --threads 1 --repeats 20
    python benchmarks/bench.py --pairs mobilenet --paths train --batch 32 --sizes 32
    python benchmarks/bench.py --paths dygraph train --device gpu --amp float16

``--patch FILE.py`` imports a file first (in child processes too): it may monkeypatch the layer or
define ``register(bench)`` to add entries to ``bench.SUBJECTS`` / ``bench.PAIRS``.

The work is split by job: ``bench_subjects`` (what is measured, MACs), ``bench_paths`` (how a
side runs), ``bench_devices`` (GPU / bf16 availability), ``bench_measure`` (rows, A/B
interleaved), ``bench_child`` (the child-process protocol), ``bench_report`` (rows, tables).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional, Sequence

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from bench_child import CHILD_TIMEOUT_S, reply  # noqa: E402
from bench_devices import DEVICES  # noqa: E402
from bench_measure import ALL_PATHS, measure_path, run_pair, train_rss_child  # noqa: E402
from bench_paths import AMP_DTYPES, PATHS, Entry, Runner, TimedPath, export_child  # noqa: E402,F401
from bench_report import Row, machine_info, markdown  # noqa: E402
from bench_subjects import PAIRS, SUBJECTS, Pair, Subject  # noqa: E402,F401
from paddle_octconv import enable_mkl_avx2_on_amd  # noqa: E402

__all__ = ["SUBJECTS", "PAIRS", "Subject", "Pair", "PATHS", "TimedPath", "Runner", "Entry", "Row",
           "parse_args", "main"]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", help=f"default: all ({', '.join(PAIRS)})")
    parser.add_argument("--paths", nargs="+", choices=ALL_PATHS, help="default: all")
    parser.add_argument("--batch", nargs="+", type=int,
                        help="default: 1 8 (train: 32 128)")
    parser.add_argument("--sizes", nargs="+", type=int,
                        help="image sides of the model pairs (default: 224; train: 32 224)")
    parser.add_argument("--threads", nargs="+", type=int,
                        help=f"default: 1 {os.cpu_count()} (all cores)")
    parser.add_argument("--device", nargs="+", choices=DEVICES, default=["cpu"],
                        help="cpu and/or gpu (dygraph and train paths; default: cpu)")
    parser.add_argument("--amp", choices=AMP_DTYPES,
                        help="GPU rows: run dygraph / train under paddle.amp.auto_cast O1")
    parser.add_argument("--repeats", type=int, help="timed rounds, at least (default 10)")
    parser.add_argument("--min-seconds", type=float,
                        help="more rounds until the timed ones took this long (default 4; quick 1)")
    parser.add_argument("--warmup", type=int, help="untimed rounds first (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="batch 1, 1 thread, dygraph + predictor, warmup 1 (flags override)")
    parser.add_argument("--predictor-ir", choices=("auto", "pir", "legacy"), default="auto")
    parser.add_argument("--child-timeout", type=float, default=CHILD_TIMEOUT_S,
                        help=f"seconds per row before a path's process is killed "
                             f"(default {CHILD_TIMEOUT_S:.0f})")
    parser.add_argument("--patch", action="append", default=[],
                        help="python file imported first (monkeypatches / extra subjects)")
    parser.add_argument("--out", help="directory for results.json and results.md")
    parser.add_argument("--_child", nargs=1, help=argparse.SUPPRESS)
    parser.add_argument("--subject", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("batch", "sizes", "threads"):
        bad = [v for v in getattr(args, name) or [] if v < 1]
        if bad:
            parser.error(f"--{name} values must be positive, got {bad}")
    quick = args.quick
    # --batch / --sizes stay None unless given: each path then takes its own defaults.
    defaults = dict(pairs=list(PAIRS), paths=["dygraph", "predictor"] if quick else list(ALL_PATHS),
                    batch=[1] if quick else None,
                    threads=[1] if quick else sorted({1, os.cpu_count() or 1}),
                    repeats=10, warmup=1 if quick else 3, min_seconds=1.0 if quick else 4.0)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def load_patches(paths: Sequence[str]) -> None:
    for i, path in enumerate(paths):
        spec = importlib.util.spec_from_file_location(f"bench_patch_{i}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if hasattr(module, "register"):
            module.register(sys.modules[__name__])


def child_main(args: argparse.Namespace) -> None:
    """The child's side of ``bench_child.run_child``: one command, its answer printed last."""
    command = args._child[0]
    if command == "measure":
        rows = measure_path(args.pairs[0], args.paths[0], args, args.workdir, args.device[0])
        reply({"rows": [asdict(row) for row in rows]})
    elif command == "export":
        export_child(args)
    elif command == "train-rss":
        train_rss_child(args)
    else:
        raise SystemExit(f"unknown child command {command!r}")


def main(argv: Optional[Sequence[str]] = None) -> List[Row]:
    # Before any product runs (MKL reads it once); the child processes inherit it.
    enable_mkl_avx2_on_amd()
    args = parse_args(argv)
    load_patches(args.patch)
    if args._child:
        child_main(args)
        return []
    unknown = sorted(set(args.pairs) - set(PAIRS))
    if unknown:
        raise SystemExit(f"unknown pair(s) {unknown}; choose from {list(PAIRS)}")
    info = machine_info()
    rows: List[Row] = []
    with tempfile.TemporaryDirectory(prefix="octbench_") as workdir:
        for pair_name in args.pairs:
            rows += run_pair(pair_name, args, workdir)
    info["loadavg_end"] = os.getloadavg()
    command = "python benchmarks/bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    table = markdown(rows, info, command)
    print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(
            {"machine": info, "command": command, "rows": [asdict(r) for r in rows]}, indent=1))
        (out / "results.md").write_text(table)
    return rows


if __name__ == "__main__":
    main()
