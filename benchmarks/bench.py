#!/usr/bin/env python
"""Side-by-side speed of octave networks and their plain counterparts (a script, not a test).

Every measurement times a pair (A = octave, B = baseline) in ONE process, interleaved A B A B ...,
and reports medians of at least ``--repeats`` runs (more until ``--min-seconds`` of timed runs)
after ``--warmup`` rounds, the time ratio A/B and the MACs ratio A/B beside it. Each (pair, path)
gets a fresh process, so one path's runtime state cannot slow the next one down.

Pairs (``--pairs``):
    resnet50   models.oct_resnet50        vs paddle.vision.models.resnet50   (1000 classes)
    mobilenet  models.oct_mobilenet       vs paddle.vision.models.MobileNetV1
    mobilenet_v2  models.oct_mobilenet_v2 vs paddle.vision.models.mobilenet_v2 (alpha 0.375)
    resnext50  models.oct_resnext50_32x4d vs paddle.vision.models.resnext50_32x4d (alpha 0.5)
    layer      paddle_octconv.OctaveConv  vs reference_octconv.ReferenceOctaveConv (four Conv2D,
               AvgPool2D, Upsample; same weights, outputs asserted equal), 256->256 3x3 at 56x56
    conv       paddle_octconv.OctaveConv  vs paddle.nn.Conv2D of the same channels
Paths (``--paths``):
    dygraph    eval-mode forward under paddle.no_grad()
    predictor  paddle.inference predictor, fp32, oneDNN, after paddle.jit.to_static + jit.save
               (``--predictor-ir auto`` tries the PIR export, and when a side fails there records
               the error and uses the legacy-IR export, FLAGS_enable_pir_api=0, for both sides)
    bf16       the same predictor with oneDNN bf16 (skipped unless the CPU has avx512_bf16 / AMX)
    train      one dygraph training step: forward, loss, backward, SGD update, clear_grad
    rss        peak RSS (VmHWM) of a short training run of each side in its own subprocess, and
               the peak of allocated tensor memory during it

    python benchmarks/bench.py --out bench_results            # everything (~25 min on 2 cores)
    python benchmarks/bench.py --quick                        # batch 1, 1 thread, dygraph + predictor
    python benchmarks/bench.py --pairs resnet50 --paths predictor --batch 1 8 --threads 1 --repeats 20

``--patch FILE.py`` imports a file first (in child processes too): it may monkeypatch the layer or
define ``register(bench)`` to add entries to ``bench.SUBJECTS`` / ``bench.PAIRS``.
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import paddle  # noqa: E402
import paddle.nn as nn  # noqa: E402
import paddle.nn.functional as F  # noqa: E402

from reference_octconv import ReferenceOctaveConv  # noqa: E402
from cpu_kind import cpu_isa, cpu_name  # noqa: E402
from timing import interleaved, paired_ratio  # noqa: E402

ALL_PATHS = ("dygraph", "predictor", "bf16", "train", "rss")
RSS_TRAIN_STEPS = 3
CHILD_TIMEOUT_S = 900.0
LAYER = dict(channels=256, kernel=3, alpha=0.5, size=56)  # the benchmarked single layer


# ------------------------------------------------------------------------------------ subjects
@dataclass
class Subject:
    """Something to benchmark: a deterministic builder and its per-sample input shapes.

    ``build()`` returns a Layer called as ``model(*inputs)`` returning a Tensor or a tuple of them.
    """

    build: Callable[[], nn.Layer]
    input_shapes: Sequence[Tuple[int, ...]]


class _OctaveLayerModel(nn.Layer):
    """An OctaveConv-like layer as a model of two tensors: (x_high, x_low) -> (y_high, y_low)."""

    def __init__(self, layer: nn.Layer) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x_high, x_low):
        return tuple(self.layer((x_high, x_low)))


def _zoo(name: str) -> Callable[[], nn.Layer]:
    def build() -> nn.Layer:
        from models import create_model
        return create_model(name, num_classes=1000)
    return build


def _octave_layer() -> nn.Layer:
    from paddle_octconv import OctaveConv
    c, k, a = LAYER["channels"], LAYER["kernel"], LAYER["alpha"]
    return _OctaveLayerModel(OctaveConv(c, c, k, a, a, padding=k // 2))


def _reference_layer() -> nn.Layer:
    c, k, a = LAYER["channels"], LAYER["kernel"], LAYER["alpha"]
    return _OctaveLayerModel(ReferenceOctaveConv(c, c, k, a, a))


def _conv_layer() -> nn.Layer:
    c, k = LAYER["channels"], LAYER["kernel"]
    return nn.Conv2D(c, c, k, padding=k // 2, bias_attr=False)


def _octave_shapes() -> List[Tuple[int, ...]]:
    c, a, s = LAYER["channels"], LAYER["alpha"], LAYER["size"]
    low = int(a * c)
    return [(c - low, s, s), (low, (s + 1) // 2, (s + 1) // 2)]


IMAGE = (3, 224, 224)
SUBJECTS: Dict[str, Subject] = {
    "oct_resnet50": Subject(_zoo("oct_resnet50"), [IMAGE]),
    "resnet50": Subject(lambda: paddle.vision.models.resnet50(num_classes=1000), [IMAGE]),
    "oct_mobilenet": Subject(_zoo("oct_mobilenet"), [IMAGE]),
    "mobilenet_v1": Subject(lambda: paddle.vision.models.MobileNetV1(num_classes=1000), [IMAGE]),
    "oct_mobilenet_v2": Subject(_zoo("oct_mobilenet_v2"), [IMAGE]),
    "mobilenet_v2": Subject(lambda: paddle.vision.models.mobilenet_v2(num_classes=1000), [IMAGE]),
    "oct_resnext50_32x4d": Subject(_zoo("oct_resnext50_32x4d"), [IMAGE]),
    "resnext50_32x4d": Subject(lambda: paddle.vision.models.resnext50_32x4d(num_classes=1000),
                               [IMAGE]),
    "octconv": Subject(_octave_layer, _octave_shapes()),
    "reference_octconv": Subject(_reference_layer, _octave_shapes()),
    "conv2d": Subject(_conv_layer, [(LAYER["channels"], LAYER["size"], LAYER["size"])]),
}


@dataclass
class Pair:
    """A (octave) against B (baseline). ``same_function``: B gets A's weights and outputs must match."""

    a: str
    b: str
    same_function: bool = False


PAIRS: Dict[str, Pair] = {
    "resnet50": Pair("oct_resnet50", "resnet50"),
    "mobilenet": Pair("oct_mobilenet", "mobilenet_v1"),
    "mobilenet_v2": Pair("oct_mobilenet_v2", "mobilenet_v2"),
    "resnext50": Pair("oct_resnext50_32x4d", "resnext50_32x4d"),
    "layer": Pair("octconv", "reference_octconv", same_function=True),
    "conv": Pair("octconv", "conv2d"),
}


def build_model(name: str, state_file: Optional[str] = None) -> nn.Layer:
    """Build subject ``name`` with seeded weights, or with the weights saved in ``state_file``."""
    paddle.seed(0)
    model = SUBJECTS[name].build()
    if state_file:
        model.set_state_dict(paddle.load(state_file))
    return model


def make_inputs(name: str, batch: int) -> List[np.ndarray]:
    rng = np.random.default_rng(batch)
    return [rng.standard_normal((batch, *shape), dtype=np.float32)
            for shape in SUBJECTS[name].input_shapes]


def set_threads(n: int) -> None:
    """Threads of dygraph CPU kernels (``paddle.set_num_threads`` where it exists)."""
    setter = getattr(paddle, "set_num_threads", None) or paddle.base.core.set_num_threads
    setter(n)


def as_list(outputs) -> List[paddle.Tensor]:
    return [o for o in outputs if o is not None] if isinstance(outputs, (tuple, list)) else [outputs]


# ------------------------------------------------------------------------------------ MACs
class _FromImage(nn.Layer):
    """Feeds a multi-input subject from one (N, C, H, W) tensor, for ``count_flops``.

    The tensor is split along channels into the subject's inputs; a smaller input is average-pooled
    to its size. Pools are not counted, so the count is the subject's own convolution MACs.
    """

    def __init__(self, model: nn.Layer, shapes: Sequence[Tuple[int, ...]]) -> None:
        super().__init__()
        self.model, self.shapes = model, shapes

    def forward(self, x):
        parts, start = [], 0
        for c, h, _ in self.shapes:
            part = x[:, start:start + c]
            start += c
            parts.append(part if h == x.shape[2] else F.adaptive_avg_pool2d(part, h))
        return self.model(*parts)


def count_macs(name: str, model: nn.Layer) -> int:
    """Multiply-accumulates of one sample (``paddle_octconv.count_flops``)."""
    from paddle_octconv import count_flops
    shapes = SUBJECTS[name].input_shapes
    if len(shapes) == 1:
        return count_flops(model, (1, *shapes[0]))
    full = (sum(s[0] for s in shapes), *max(shapes, key=lambda s: s[1])[1:])
    return count_flops(_FromImage(model, shapes), (1, *full))


# ------------------------------------------------------------------------------------ paths
@dataclass
class Entry:
    """One side of a pair, built once: its eval model, the saved weights and a work directory."""

    name: str
    model: nn.Layer
    state_file: str
    workdir: str
    patches: Sequence[str]
    exports: Dict[str, object] = field(default_factory=dict)  # ir -> model file or its error


@dataclass
class Runner:
    """``run()`` is the timed unit; ``fetch()`` returns its outputs as numpy arrays (for checks)."""

    run: Callable[[], object]
    fetch: Callable[[], List[np.ndarray]]


def dygraph_runner(entry: Entry, batch: int, threads: int, **_) -> Runner:
    model = entry.model
    model.eval()
    xs = [paddle.to_tensor(a) for a in make_inputs(entry.name, batch)]

    def run():
        with paddle.no_grad():
            return as_list(model(*xs))

    return Runner(run, lambda: [t.numpy() for t in run()])


def train_runner(entry: Entry, batch: int, threads: int, model: Optional[nn.Layer] = None,
                 **_) -> Runner:
    """A training step of a fresh copy of the entry's model (or of ``model``)."""
    model = model if model is not None else build_model(entry.name, entry.state_file)
    model.train()
    xs = [paddle.to_tensor(a) for a in make_inputs(entry.name, batch)]
    optimizer = paddle.optimizer.SGD(learning_rate=1e-4, parameters=model.parameters())

    def run():
        loss = paddle.add_n([out.square().mean() for out in as_list(model(*xs))])
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        return loss

    return Runner(run, lambda: [run().numpy()])


def export(entry: Entry, ir: str) -> str:
    """to_static + jit.save of the entry's weights in a child process; returns the model file."""
    if ir not in entry.exports:
        prefix = os.path.join(entry.workdir, f"{entry.name}_{ir}", "model")
        env = dict(os.environ, FLAGS_enable_pir_api="1" if ir == "pir" else "0")
        try:
            run_child(["export", "--subject", entry.name, "--state", entry.state_file,
                       "--prefix", prefix], entry.patches, env=env)
            entry.exports[ir] = prefix + (".json" if ir == "pir" else ".pdmodel")
        except Exception as error:  # remembered: later batches and thread counts skip the retry
            entry.exports[ir] = error
    if isinstance(entry.exports[ir], Exception):
        raise entry.exports[ir]
    return entry.exports[ir]


def predictor_runner(entry: Entry, batch: int, threads: int, ir: str = "pir",
                     bf16: bool = False, **_) -> Runner:
    from paddle import inference
    model_file = export(entry, ir)
    config = inference.Config(model_file, os.path.splitext(model_file)[0] + ".pdiparams")
    config.enable_mkldnn()
    if bf16:
        config.enable_mkldnn_bfloat16()
    config.enable_new_ir(ir == "pir")
    config.set_cpu_math_library_num_threads(threads)
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    inputs = make_inputs(entry.name, batch)
    handles = [predictor.get_input_handle(n) for n in predictor.get_input_names()]
    for handle, array in zip(handles, inputs):
        handle.reshape(array.shape)
    outputs = [predictor.get_output_handle(n) for n in predictor.get_output_names()]

    def run():
        for handle, array in zip(handles, inputs):
            handle.copy_from_cpu(array)
        predictor.run()
        return [out.copy_to_cpu() for out in outputs]

    return Runner(run, run)


def bf16_unsupported() -> Optional[str]:
    """None when the CPU has bf16 arithmetic for oneDNN, else the reason to skip."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return "cannot read /proc/cpuinfo to detect bf16 support"
    if {"avx512_bf16", "amx_bf16"} & set(flags):
        return None
    return "CPU has neither avx512_bf16 nor amx_bf16"


@dataclass
class TimedPath:
    """A timed path: how to build a runner, the option sets to try in order, and availability."""

    make: Callable[..., Runner]
    variants: Callable[[argparse.Namespace], List[Tuple[str, dict]]] = lambda args: [("", {})]
    unavailable: Callable[[], Optional[str]] = lambda: None
    check_against_dygraph: bool = False


def _ir_variants(bf16: bool) -> Callable[[argparse.Namespace], List[Tuple[str, dict]]]:
    def variants(args):
        irs = ["pir", "legacy"] if args.predictor_ir == "auto" else [args.predictor_ir]
        return [(f"{ir} IR", dict(ir=ir, bf16=bf16)) for ir in irs]
    return variants


PATHS: Dict[str, TimedPath] = {
    "dygraph": TimedPath(dygraph_runner),
    "predictor": TimedPath(predictor_runner, _ir_variants(False), check_against_dygraph=True),
    "bf16": TimedPath(predictor_runner, _ir_variants(True), bf16_unsupported),
    "train": TimedPath(train_runner),
}


# ------------------------------------------------------------------------------------ measuring
@dataclass
class Row:
    pair: str
    path: str
    batch: int
    threads: int
    a: str
    b: str
    unit: str = "ms"
    a_value: Optional[float] = None
    b_value: Optional[float] = None
    ratio: Optional[float] = None
    paired_ratio: Optional[float] = None
    macs_ratio: Optional[float] = None
    note: str = ""
    error: str = ""
    failures: List[str] = field(default_factory=list)  # option sets tried first that failed


def short_error(error: BaseException) -> str:
    """The telling line of an error message, without Paddle's C++ source locations."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = next((l for l in lines if "Error" in l or "support" in l), lines[-1] if lines else "")
    text = re.sub(r"\s*\(at /paddle/[^)]*\)", "", text).replace("(Unimplemented) ", "")
    return f"{type(error).__name__}: {text}"[:240]


def max_rel_diff(got: List[np.ndarray], want: List[np.ndarray]) -> float:
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
        raise AssertionError(f"output shapes differ: {[g.shape for g in got]} vs "
                             f"{[w.shape for w in want]}")
    return max(float(np.abs(g - w).max() / max(np.abs(w).max(), 1e-12)) for g, w in zip(got, want))


def build_runners(path: TimedPath, entries: Sequence[Entry], batch: int, threads: int,
                  args: argparse.Namespace) -> Tuple[List[Runner], str, List[str]]:
    """Runners for both sides with the first option set that works for both (each run once).

    Returns the runners, the option set's label and the failures of the option sets before it.
    """
    failures: List[str] = []
    for label, variant in path.variants(args):
        runners = []
        for entry in entries:
            try:
                runner = path.make(entry, batch, threads, **variant)
                runner.fetch()
                runners.append(runner)
            except Exception as error:  # recorded, then the next option set is tried
                failures.append(f"{label + ' ' if label else ''}failed for {entry.name}: "
                                f"{short_error(error)}")
                break
        else:
            return runners, label, failures
    raise RuntimeError("; ".join(failures))


def check_outputs(pair: Pair, path: TimedPath, runners: Sequence[Runner], entries: Sequence[Entry],
                  batch: int) -> List[str]:
    """Assert equal A/B outputs for same-function pairs; compare predictors with dygraph."""
    notes = []
    outputs = [r.fetch() for r in runners]
    if pair.same_function:
        diff = max_rel_diff(outputs[0], outputs[1])
        if diff > 1e-4:
            raise AssertionError(f"A and B outputs differ: max rel diff {diff:.2e}")
        notes.append(f"A=B to {diff:.0e}")
    if path.check_against_dygraph:
        diffs = [max_rel_diff(out, dygraph_runner(e, batch, 1).fetch())
                 for out, e in zip(outputs, entries)]
        notes.append("vs dygraph " + "/".join(f"{d:.0e}" for d in diffs))
    return notes


def measure(pair_name: str, path_name: str, entries: Sequence[Entry], batch: int, threads: int,
            args: argparse.Namespace, macs_ratio: float) -> Row:
    pair, path = PAIRS[pair_name], PATHS[path_name]
    row = Row(pair_name, path_name, batch, threads, pair.a, pair.b, macs_ratio=macs_ratio)
    reason = path.unavailable()
    if reason:
        row.note = f"skipped: {reason}"
        return row
    set_threads(threads)
    try:
        runners, label, row.failures = build_runners(path, entries, batch, threads, args)
        notes = ([label] if label else []) + check_outputs(pair, path, runners, entries, batch)
    except Exception as error:
        row.error = short_error(error)
        return row
    timings = interleaved({"a": runners[0].run, "b": runners[1].run}, args.repeats, args.warmup,
                          min_seconds=args.min_seconds)
    row.a_value, row.b_value = timings["a"].median * 1e3, timings["b"].median * 1e3
    row.ratio = row.a_value / row.b_value
    row.paired_ratio = paired_ratio(timings["a"], timings["b"])
    row.note = "; ".join(notes)
    return row


def measure_rss(pair_name: str, entries: Sequence[Entry], batch: int, macs_ratio: float) -> Row:
    """Peak RSS of RSS_TRAIN_STEPS training steps of each side, each in a fresh subprocess.

    The child builds its model from the seed (loading a state file would leave its buffers in the
    allocator's cache and blur the comparison); it also reports the peak of allocated tensor memory.
    """
    pair = PAIRS[pair_name]
    row = Row(pair_name, "rss", batch, 1, pair.a, pair.b, unit="MB", macs_ratio=macs_ratio)
    try:
        a_info, b_info = [run_child(["train-rss", "--subject", e.name, "--batch", str(batch)],
                                    e.patches) for e in entries]
    except Exception as error:
        row.error = short_error(error)
        return row
    row.a_value, row.b_value = a_info["peak_rss_mb"], b_info["peak_rss_mb"]
    row.ratio = row.a_value / row.b_value
    a_growth, b_growth = row.a_value - a_info["rss_built_mb"], row.b_value - b_info["rss_built_mb"]
    row.note = (f"RSS growth in training {a_growth:.0f} / {b_growth:.0f} MB; "
                + "; ".join(f"{label} {a_info[key]:.0f} / {b_info[key]:.0f} MB"
                            + (f" = {a_info[key] / b_info[key]:.2f}" if b_info[key] > 1 else "")
                            for label, key in (("peak tensors", "tensor_peak_mb"),
                                               ("allocator reserve", "reserved_peak_mb"))))
    return row


# ------------------------------------------------------------------------------------ children
def run_child(command: List[str], patches: Sequence[str], env: Optional[dict] = None,
              timeout: float = CHILD_TIMEOUT_S, echo: bool = False) -> dict:
    """Run ``bench.py --_child COMMAND`` in a fresh process; return the JSON object it printed last.

    ``echo``: pass the child's earlier JSON lines (finished rows) through as they come, so a long
    run shows its progress.
    """
    argv = [sys.executable, str(Path(__file__).resolve()), "--_child", *command]
    for patch in patches:
        argv += ["--patch", patch]
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            lines = []
            for line in proc.stdout:
                if echo and line.startswith('{"pair"'):
                    print(line, end="", flush=True)
                lines.append(line)
            proc.wait()
        finally:
            watchdog.cancel()
        if proc.returncode:
            stderr.seek(0)
            raise RuntimeError(f"child {command[0]} of {command[2]} failed: "
                               + short_error(RuntimeError(stderr.read())))
    lines = [line for line in lines if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB.

    Not ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` in the parent: on Linux a child started by
    fork/vfork + exec inherits the parent's high-water mark, so every child would report at least
    the benchmark process's own peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_main(args: argparse.Namespace) -> None:
    command = args._child[0]
    if command == "measure":
        rows = measure_path(args.pairs[0], args.paths[0], args, args.workdir)
        print(json.dumps({"rows": [asdict(row) for row in rows]}))
        return
    model = build_model(args.subject, args.state)  # the rss child builds from the seed (no state)
    if command == "export":
        from paddle.static import InputSpec
        specs = [InputSpec([None, *shape], "float32")
                 for shape in SUBJECTS[args.subject].input_shapes]
        model.eval()
        paddle.jit.save(paddle.jit.to_static(model, input_spec=specs, full_graph=True), args.prefix)
        print(json.dumps({}))
    elif command == "train-rss":
        set_threads(1)
        built = peak_rss_mb()
        runner = train_runner(Entry(args.subject, None, "", "", []), args.batch[0], 1, model=model)
        del model
        stats = paddle.base.core
        before = {kind: stats.host_memory_stat_current_value(kind, 0)
                  for kind in ("Allocated", "Reserved")}
        for kind in before:
            stats.host_memory_stat_reset_peak_value(kind, 0)
        for _ in range(RSS_TRAIN_STEPS):
            runner.run()
        growth = {kind: (stats.host_memory_stat_peak_value(kind, 0) - value) / 2 ** 20
                  for kind, value in before.items()}
        print(json.dumps({"peak_rss_mb": peak_rss_mb(), "rss_built_mb": built,
                          "tensor_peak_mb": growth["Allocated"],
                          "reserved_peak_mb": growth["Reserved"]}))
    else:
        raise SystemExit(f"unknown child command {command!r}")


# ------------------------------------------------------------------------------------ report
def machine_info() -> dict:
    return {"cpu": cpu_name(), "isa": cpu_isa(), "cores": os.cpu_count(),
            "paddle": paddle.__version__, "python": platform.python_version(),
            "bf16": bf16_unsupported() or "supported", "loadavg_start": os.getloadavg()}


def fmt(value: Optional[float], digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def markdown(rows: Sequence[Row], info: dict, command: str) -> str:
    lines = [
        f"Machine: {info['cpu']} ({info.get('isa', 'ISA not recorded')}), {info['cores']} cores, "
        f"Paddle {info['paddle']}, Python "
        f"{info['python']}; load average {info['loadavg_start'][0]:.1f} at start, "
        f"{info['loadavg_end'][0]:.1f} at end.",
        f"Command: `{command}`",
        "",
        ("Times are medians of interleaved runs (A B A B ...) in one process per pair and path; "
         "ratios are A / B."),
        "",
        "| pair (A vs B) | path | batch | threads | A | B | A/B time | A/B MACs | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    footnotes: Dict[str, int] = {}

    def ref(text: str) -> str:
        return f"[{footnotes.setdefault(text, len(footnotes) + 1)}]"

    for r in rows:
        a = f"{r.a_value:.1f} {r.unit}" if r.a_value is not None else ""
        b = f"{r.b_value:.1f} {r.unit}" if r.b_value is not None else ""
        notes = [r.note] if r.note else []
        notes += [ref(text) for text in r.failures + ([f"ERROR {r.error}"] if r.error else [])]
        lines.append(f"| {r.pair}: {r.a} vs {r.b} | {r.path} | {r.batch} | {r.threads} | {a} | "
                     f"{b} | {fmt(r.ratio, 2)} | {fmt(r.macs_ratio, 2)} | {'; '.join(notes)} |")
    if footnotes:
        lines.append("")
        lines += [f"[{n}] {text.replace('|', '/')}" for text, n in footnotes.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ main
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", help=f"default: all ({', '.join(PAIRS)})")
    parser.add_argument("--paths", nargs="+", choices=ALL_PATHS, help="default: all")
    parser.add_argument("--batch", nargs="+", type=int, help="default: 1 8")
    parser.add_argument("--threads", nargs="+", type=int,
                        help=f"default: 1 {os.cpu_count()} (all cores)")
    parser.add_argument("--repeats", type=int, help="timed rounds, at least (default 10)")
    parser.add_argument("--min-seconds", type=float,
                        help="more rounds until the timed ones took this long (default 4; quick 1)")
    parser.add_argument("--warmup", type=int, help="untimed rounds first (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="batch 1, 1 thread, dygraph + predictor, warmup 1 (flags override)")
    parser.add_argument("--predictor-ir", choices=("auto", "pir", "legacy"), default="auto")
    parser.add_argument("--patch", action="append", default=[],
                        help="python file imported first (monkeypatches / extra subjects)")
    parser.add_argument("--out", help="directory for results.json and results.md")
    parser.add_argument("--_child", nargs=1, help=argparse.SUPPRESS)
    parser.add_argument("--subject", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = dict(pairs=list(PAIRS), paths=["dygraph", "predictor"] if quick else list(ALL_PATHS),
                    batch=[1] if quick else [1, 8],
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


def build_entries(pair: Pair, workdir: str, patches: Sequence[str]) -> List[Entry]:
    entries = []
    for name in (pair.a, pair.b):
        model = build_model(name)
        if pair.same_function and entries:
            model.set_state_dict(copy.deepcopy(entries[0].model.state_dict()))
        state_file = os.path.join(workdir, f"{name}.pdparams")
        paddle.save(model.state_dict(), state_file)
        entries.append(Entry(name, model, state_file, workdir, patches))
    return entries


def row_grid(path: str, args: argparse.Namespace) -> List[Tuple[int, int]]:
    """The (threads, batch) of a path's rows, in table order (RSS training runs use one thread)."""
    return [(threads, batch) for threads in ([1] if path == "rss" else args.threads)
            for batch in args.batch]


def measure_path(pair_name: str, path: str, args: argparse.Namespace, workdir: str) -> List[Row]:
    """Every (threads, batch) row of one pair on one path, in this process."""
    pair = PAIRS[pair_name]
    entries = build_entries(pair, workdir, args.patch)
    macs_ratio = count_macs(pair.a, entries[0].model) / count_macs(pair.b, entries[1].model)
    rows = []
    for threads, batch in row_grid(path, args):
        row = (measure_rss(pair_name, entries, batch, macs_ratio) if path == "rss" else
               measure(pair_name, path, entries, batch, threads, args, macs_ratio))
        print(json.dumps(asdict(row)), flush=True)
        rows.append(row)
    return rows


def run_pair(pair_name: str, args: argparse.Namespace, workdir: str) -> List[Row]:
    """Each path of the pair in a fresh child process.

    In one long process the paths disturb each other: after the dygraph rows, the same oneDNN
    predictors measured 1.5-1.7x slower at batch 1 (state the earlier runtime leaves behind; which
    part of it was not pinned down), enough to flip a ratio. A and B still share one process per
    path.
    """
    rows = []
    for path in args.paths:
        command = ["measure", "--pairs", pair_name, "--paths", path, "--workdir", workdir,
                   "--batch", *map(str, args.batch), "--threads", *map(str, args.threads),
                   "--repeats", str(args.repeats), "--warmup", str(args.warmup),
                   "--min-seconds", str(args.min_seconds),
                   "--predictor-ir", args.predictor_ir]
        try:
            found = run_child(command, args.patch, echo=True)["rows"]
            rows += [Row(**row) for row in found]
        except Exception as error:  # the path's rows carry the error; other paths still run
            pair = PAIRS[pair_name]
            rows += [Row(pair_name, path, batch, threads, pair.a, pair.b, error=short_error(error))
                     for threads, batch in row_grid(path, args)]
    return rows


def main(argv: Optional[Sequence[str]] = None) -> List[Row]:
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
