#!/usr/bin/env python
"""CPU training throughput of the zoo, this checkout against another one, in ONE process.

A training step is what ``train.py`` runs per batch: forward, cross-entropy, backward, Momentum
update, clear_grad. Each variant's steps run interleaved (A B A B ..., ``benchmarks/timing.py``),
so the ratio holds on a shared, noisy machine; the report gives images/s (median), the paired
ratio new / old, and the CPU's vector ISA (AVX2 / AVX-512 / AMX), since the figures depend on it.

Variants:
    new        this checkout's paddle_octconv + models (dygraph)
    old        ``--baseline DIR``'s paddle_octconv + models (e.g. ``git archive 2525c01 | tar -x -C DIR``),
               imported under their own module objects, with the same initial weights
    static     this checkout, the train step under ``paddle.jit.to_static`` (``--static``): what an
               engine-level static-graph train step would give

    python benchmarks/train_speed.py --baseline /tmp/base2525                 # default model, batch 32
    python benchmarks/train_speed.py --baseline /tmp/base2525 --subjects oct_resnet26 --batch 32 128
    python benchmarks/train_speed.py --subjects mobilenet_default --static --threads 1 2

End to end (``--end-to-end N``): N rounds of the whole ``python train.py --log-dir TMP`` main job,
alternating the checkouts (old, new, old, new ...), each in a fresh process; the report gives
each run's wall time and final top-1. ``--env NAME=VALUE`` adds a variant: this checkout with
that environment (e.g. MKL_DEBUG_CPU_TYPE=5, an engine-level setting).

    python benchmarks/train_speed.py --baseline /tmp/base2525 --end-to-end 2 --env MKL_DEBUG_CPU_TYPE=5
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, Iterator, List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import paddle  # noqa: E402

from cpu_kind import cpu_isa, cpu_name  # noqa: E402
from timing import interleaved, paired_ratio  # noqa: E402

__all__ = ["Subject", "SUBJECTS", "train_step", "end_to_end", "main"]

_PACKAGES = ("paddle_octconv", "models")


@dataclass(frozen=True)
class Subject:
    """A model as a training run builds it: ``models.create_model(name, **options)`` on
    (batch, in_channels, size, size) images with ``num_classes`` labels."""

    model: str
    options: Dict[str, object] = field(default_factory=dict)
    in_channels: int = 3
    size: int = 32
    num_classes: int = 10


SUBJECTS: Dict[str, Subject] = {
    # train.py's default main job: digits (1 channel, 32x32), Oct-MobileNet alpha .5, width .25.
    "mobilenet_default": Subject("oct_mobilenet", {"alpha": 0.5, "width_mult": 0.25,
                                                   "small_input": True, "in_channels": 1},
                                 in_channels=1),
    "mobilenet_plain": Subject("oct_mobilenet", {"alpha": 0.0, "width_mult": 0.25,
                                                 "small_input": True, "in_channels": 1},
                               in_channels=1),
    "oct_resnet26": Subject("oct_resnet26", {"alpha": 0.5, "small_input": True}),
    "resnet26": Subject("oct_resnet26", {"alpha": 0.0, "small_input": True}),
}


@contextlib.contextmanager
def _isolated_import(root: Path) -> Iterator[None]:
    """Import ``paddle_octconv`` and ``models`` from ``root`` without disturbing this checkout's."""
    def pop() -> Dict[str, ModuleType]:
        return {name: sys.modules.pop(name) for name in list(sys.modules)
                if name.split(".")[0] in _PACKAGES}

    saved = pop()
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
        pop()
        sys.modules.update(saved)


def build(subject: Subject, root: Optional[Path] = None) -> paddle.nn.Layer:
    """The subject's network from this checkout (root None) or from the checkout at ``root``."""
    if root is None:
        return importlib.import_module("models").create_model(
            subject.model, num_classes=subject.num_classes, **subject.options)
    with _isolated_import(root):
        return importlib.import_module("models").create_model(
            subject.model, num_classes=subject.num_classes, **subject.options)


def train_step(network: paddle.nn.Layer, images: paddle.Tensor, labels: paddle.Tensor,
               static: bool = False) -> Callable[[], float]:
    """A zero-argument training step (forward, loss, backward, Momentum, clear_grad)."""
    network.train()
    optimizer = paddle.optimizer.Momentum(0.01, momentum=0.9, parameters=network.parameters())
    loss_fn = paddle.nn.CrossEntropyLoss()

    def forward_loss(x, y):
        return loss_fn(network(x), y)

    if static:
        forward_loss = paddle.jit.to_static(forward_loss, full_graph=True)

    def step() -> float:
        loss = forward_loss(images, labels)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        return float(loss)

    return step


def measure(subject_name: str, batch: int, baseline: Optional[Path], variants: List[str],
            repeats: int, min_seconds: float, warmup: int) -> Dict[str, object]:
    subject = SUBJECTS[subject_name]
    paddle.seed(0)
    images = paddle.randn([batch, subject.in_channels, subject.size, subject.size])
    labels = paddle.randint(0, subject.num_classes, [batch, 1])
    reference = build(subject)
    networks = {}
    for name in variants:
        network = build(subject, baseline if name == "old" else None)
        network.set_state_dict(reference.state_dict())  # the same initial weights everywhere
        networks[name] = network
    steps = {name: train_step(net, images, labels, static=name == "static")
             for name, net in networks.items()}
    timings = interleaved(steps, repeats=repeats, warmup=warmup, min_seconds=min_seconds)
    row: Dict[str, object] = {"subject": subject_name, "batch": batch,
                              "threads": paddle.base.core.get_num_threads()
                              if hasattr(paddle.base.core, "get_num_threads") else None}
    for name, timing in timings.items():
        row[f"{name}_ms"] = round(1e3 * timing.median, 2)
        row[f"{name}_img_s"] = round(batch / timing.median, 1)
        row[f"{name}_rounds"] = len(timing.times)
    for name in timings:
        if name != "new" and "new" in timings:
            # > 1: "new" is faster.  Median of per-round ratios old_i / new_i.
            row[f"speedup_vs_{name}"] = round(paired_ratio(timings[name], timings["new"]), 3)
    return row


_SUMMARY_ROW = re.compile(r"^\|[^|]+\|[^|]+\|[^|]+\|[^|]+\|\s*([\d.]+)%[^|]*\|\s*([\d.]+)%\s*\|")


def run_train_py(checkout: Path, env: Dict[str, str], extra: List[str]) -> Dict[str, object]:
    """One ``python train.py --log-dir TMP`` run in ``checkout``: wall seconds and top-1."""
    with tempfile.TemporaryDirectory() as log_dir:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "train.py", "--log-dir", log_dir, *extra],
                              cwd=checkout, env={**os.environ, **env}, capture_output=True,
                              text=True)
        wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"train.py in {checkout} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    best = final = None
    for line in done.stdout.splitlines():
        match = _SUMMARY_ROW.match(line)
        if match:
            best, final = float(match.group(1)), float(match.group(2))
    return {"wall_s": round(wall, 1), "best_top1": best, "final_top1": final}


def end_to_end(baseline: Optional[Path], rounds: int, envs: List[str],
               extra: List[str]) -> Dict[str, object]:
    """Alternating whole train.py runs of the variants; medians and per-round ratios."""
    variants: Dict[str, tuple] = {}
    if baseline is not None:
        variants["old"] = (baseline, {})
    variants["new"] = (ROOT, {})
    for item in envs:
        name, _, value = item.partition("=")
        variants[f"new+{item}"] = (ROOT, {name: value})
    runs: Dict[str, List[Dict[str, object]]] = {name: [] for name in variants}
    for number in range(rounds):
        for name, (checkout, env) in variants.items():
            result = run_train_py(checkout, env, extra)
            runs[name].append(result)
            print(json.dumps({"round": number, "variant": name, **result}), flush=True)
    summary: Dict[str, object] = {}
    for name, results in runs.items():
        summary[name] = {"median_wall_s": statistics.median(r["wall_s"] for r in results),
                         "final_top1": [r["final_top1"] for r in results]}
        if "old" in runs and name != "old":
            summary[name]["speedup_vs_old"] = round(statistics.median(
                o["wall_s"] / r["wall_s"] for o, r in zip(runs["old"], results)), 3)
    return summary


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--subjects", nargs="+", default=["mobilenet_default"],
                        choices=sorted(SUBJECTS))
    parser.add_argument("--batch", nargs="+", type=int, default=[32])
    parser.add_argument("--threads", nargs="+", type=int, default=[2])
    parser.add_argument("--baseline", type=Path, default=None,
                        help="checkout to compare against (holds paddle_octconv/ and models/)")
    parser.add_argument("--variants", nargs="+", choices=("new", "old", "static"), default=None,
                        help="what to time (default: new, and old with --baseline)")
    parser.add_argument("--static", action="store_true",
                        help="also time this checkout's step under paddle.jit.to_static")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--end-to-end", type=int, default=0, metavar="N",
                        help="time N alternating rounds of the whole train.py main job instead")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="with --end-to-end: also run this checkout with that environment")
    parser.add_argument("--train-args", nargs=argparse.REMAINDER, default=[],
                        help="with --end-to-end: extra train.py arguments (last on the line)")
    args = parser.parse_args(argv)
    if args.baseline is not None and not (args.baseline / "paddle_octconv").is_dir():
        parser.error(f"--baseline {args.baseline} holds no paddle_octconv/ folder; make one with "
                     "`git archive 2525c01 | tar -x -C DIR`")

    variants = args.variants or ["new"] + (["old"] if args.baseline else [])
    if args.static and "static" not in variants:
        variants.append("static")
    if "old" in variants and args.baseline is None:
        parser.error("the old variant needs --baseline DIR")
    header = {"cpu": cpu_name(), "isa": cpu_isa(), "paddle": paddle.__version__,
              "env": {k: v for k, v in os.environ.items() if k.startswith(("MKL_", "OMP_", "KMP_", "FLAGS_"))}}
    print(json.dumps(header), flush=True)
    if args.end_to_end:
        summary = {**header, **end_to_end(args.baseline, args.end_to_end, args.env, args.train_args)}
        print(json.dumps(summary), flush=True)
        if args.json:
            args.json.write_text(json.dumps(summary, indent=1))
        return 0
    rows = []
    for threads in args.threads:
        paddle.base.core.set_num_threads(threads)
        for subject in args.subjects:
            for batch in args.batch:
                row = {**measure(subject, batch, args.baseline, variants, args.repeats,
                                 args.min_seconds, args.warmup), "threads": threads, **header}
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
