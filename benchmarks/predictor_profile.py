#!/usr/bin/env python
"""Where the oneDNN predictor spends an octave network's time, op by op, beside its plain twin.

For each network the script saves the inference graph (as benchmarks/latency.py does: dynamic
batch and sides, or ``--fixed-size``), profiles it with Paddle's predictor profiler (one
thread) in two child processes, one doing ``--runs`` runs and one twice as many, and prints per
op kind the kernels and milliseconds of one run, plain and octave side by side. Kernels per
run are the difference of the two profiles' call counts divided by ``--runs`` (exact: what runs
once, the first run's constant folding of the weights, cancels); the milliseconds are the longer
profile's time of those calls over its runs (the first run's primitive creation is spread over
them). Timings of separate processes are noisy on a loaded machine; the profiler's overhead
inflates every op a little, alike in both columns. Use bench.py for latencies, this for the
breakdown.

    python benchmarks/predictor_profile.py                               # oct_resnet50 at 224
    python benchmarks/predictor_profile.py --model oct_mobilenet --option width_mult=0.5 \\
        --option small_input=true --in-channels 1 --size 28 --batch 8
    python benchmarks/predictor_profile.py --fixed-size    # sides fixed in the saved graph
    python benchmarks/predictor_profile.py --model sp_resnet50 --baseline oct_resnet50  # beside plain ResNet-50

Prints a Markdown table with the CPU and its widest vector ISA; ``--out FILE`` writes it too.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Mapping, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from cpu_kind import cpu_isa, cpu_name  # noqa: E402

__all__ = ["parse_profile", "steady_state", "profile_table", "main"]

# The child: one predictor with the profiler on, ``runs`` runs on a fixed batch; the profiler
# prints its summary to stdout when the predictor is destroyed (at exit).
_CHILD = r"""
import sys, numpy as np
from paddle import inference
graph, weights, shape, runs = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3].split(",")], int(sys.argv[4])
config = inference.Config(graph, weights)
config.enable_mkldnn()
config.set_cpu_math_library_num_threads(1)
config.disable_glog_info()
config.enable_profile()
predictor = inference.create_predictor(config)
handle = predictor.get_input_handle(predictor.get_input_names()[0])
x = np.random.RandomState(0).standard_normal(shape).astype("float32")
handle.reshape(shape)
for _ in range(runs):
    handle.copy_from_cpu(x)
    predictor.run()
"""

_ROW = re.compile(r"^(\S+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")


def parse_profile(text: str) -> Dict[str, Tuple[int, float]]:
    """{op: (calls, total ms)} from the first "Event Summary" table of Paddle's predictor
    profiler (the main thread's); sub-rows (indented, e.g. infermeta) are skipped."""
    start = text.find("Event Summary")
    if start < 0:
        raise ValueError("no 'Event Summary' table in the profiler output")
    ops: Dict[str, Tuple[int, float]] = {}
    for line in text[start:].splitlines()[2:]:
        if line.startswith("---") or "Profiling Report" in line:
            break
        if line.startswith(" "):
            continue  # a sub-event (infermeta) of the row above
        match = _ROW.match(line)
        if match is None:
            continue
        ops[match.group(1)] = (int(match.group(2)), float(match.group(3)))
    return ops


def steady_state(short: Mapping[str, Tuple[int, float]], long: Mapping[str, Tuple[int, float]],
                 runs: int) -> Dict[str, Tuple[float, float]]:
    """{op: (kernels, ms) of one run} from profiles of ``runs`` and ``2 * runs`` runs: kernels =
    the extra calls / ``runs``; ms = the long profile's time, prorated to those calls (an op
    kind that also ran once, outside the runs, keeps only its per-run share) / ``2 * runs``.
    Ops that did not run more often in the longer profile are left out."""
    result = {}
    for op, (calls, total) in long.items():
        extra = calls - short.get(op, (0, 0.0))[0]
        if extra > 0:
            per_run = extra / runs
            result[op] = (per_run, total * (per_run * 2 * runs / calls) / (2 * runs))
    return result


def profile_table(columns: Mapping[str, Mapping[str, Tuple[float, float]]]) -> str:
    """Markdown: one row per op kind (by the largest time in any column), kernels and ms per run
    in each column, and a total row."""
    names = sorted({op for ops in columns.values() for op in ops},
                   key=lambda op: -max(ops.get(op, (0, 0))[1] for ops in columns.values()))
    header = "| op | " + " | ".join(f"{c}: kernels | {c}: ms" for c in columns) + " |"
    lines = [header, "|" + "---|" * (1 + 2 * len(columns))]
    for op in names:
        cells = []
        for ops in columns.values():
            kernels, ms = ops.get(op, (0.0, 0.0))
            cells += [f"{kernels:g}" if kernels else "", f"{ms:.3f}" if ms else ""]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    totals = []
    for ops in columns.values():
        totals += [f"{sum(k for k, _ in ops.values()):g}", f"{sum(m for _, m in ops.values()):.3f}"]
    lines.append("| **total** | " + " | ".join(totals) + " |")
    return "\n".join(lines)


def _parse_option(text: str) -> Tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option takes KEY=VALUE (e.g. width=0.25), got {text!r}")
    lowered = value.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


def _profile(network, shape: Sequence[int], fixed: bool, runs: int, workdir: Path) -> Dict[str, Tuple[float, float]]:
    from latency import save_for_inference

    sides = [tuple(shape[2:])] if fixed else None
    graph, weights = save_for_inference(network, workdir / "model", shape[1], sides=sides)
    profiles = []
    for count in (runs, 2 * runs):
        # cwd: the profiler also writes a profile.log into the working directory
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(graph), str(weights),
                               ",".join(map(str, shape)), str(count)],
                              capture_output=True, text=True, timeout=1800, cwd=workdir)
        if proc.returncode != 0:
            raise SystemExit(f"predictor_profile.py: the profiled predictor failed: "
                             f"{(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
        profiles.append(parse_profile(proc.stdout))
    return steady_state(*profiles, runs=runs)


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="oct_resnet50", help="zoo builder (default oct_resnet50)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="the octave network's alpha (default: the builder's); the plain twin is alpha 0")
    parser.add_argument("--baseline", default=None, metavar="MODEL",
                        help="the column to compare against: this zoo builder at alpha 0 with the same "
                             "options (default: --model itself at alpha 0, its plain twin; a plug-in "
                             "network, already at alpha 0, needs one, e.g. oct_resnet50)")
    parser.add_argument("--option", type=_parse_option, action="append", default=[],
                        metavar="KEY=VALUE", help="another builder option, e.g. width=0.25")
    parser.add_argument("--in-channels", type=int, default=3)
    parser.add_argument("--size", type=int, default=224, help="input side (default 224)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50,
                        help="runs of the shorter profile; the longer does twice as many (default 50)")
    parser.add_argument("--fixed-size", action="store_true",
                        help="save the graphs with fixed sides (--size) instead of dynamic ones")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    if min(args.size, args.batch, args.runs, args.in_channels) < 1:
        parser.error("--size, --batch, --runs and --in-channels must be positive")

    import paddle
    from models import create_model, list_models
    from models.records import VARIANTS

    for flag, name in (("--model", args.model), ("--baseline", args.baseline)):
        if name is not None and name not in list_models():
            parser.error(f"{flag} {name!r} is not a zoo builder; choose from {', '.join(list_models())}")
    alpha = VARIANTS[args.model].alpha if args.alpha is None else args.alpha
    baseline = args.model if args.baseline is None else args.baseline
    twin = baseline == args.model
    if twin and alpha == 0:
        parser.error(f"{args.model} at alpha 0 is its own plain twin: give --alpha, or --baseline "
                     "with the network to compare against (e.g. --baseline oct_resnet50)")
    options = dict(args.option)
    shape = [args.batch, args.in_channels, args.size, args.size]
    columns: Dict[str, Dict[str, Tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if twin:
            labels = ("plain", f"alpha {alpha:g}")
        else:
            labels = (f"{baseline} alpha 0", args.model + (f" alpha {alpha:g}" if alpha else ""))
        for label, name, value in zip(labels, (baseline, args.model), (0.0, alpha)):
            paddle.seed(0)
            try:
                network = create_model(name, alpha=value, in_channels=args.in_channels, **options)
            except (TypeError, ValueError) as error:
                parser.error(str(error))
            columns[label] = _profile(network, shape, args.fixed_size, args.runs, Path(tmp) / label)
    beside = "its plain twin" if twin else f"{baseline} at alpha 0"
    title = (f"{args.model} beside {beside} {json.dumps(options) if options else ''} batch {args.batch}, "
             f"{args.in_channels}x{args.size}x{args.size} ({'fixed' if args.fixed_size else 'dynamic'} sides), "
             f"oneDNN fp32 predictor, 1 thread, {args.runs} + {2 * args.runs} profiled runs; CPU: {cpu_name()} ({cpu_isa()})")
    text = f"{title}\n\n{profile_table(columns)}\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
