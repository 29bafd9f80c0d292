"""Measuring: the rows of one (pair, path, device), A and B interleaved in one process.

:func:`run_pair` (the parent) runs each (path, device) of a pair in a fresh child process;
:func:`measure_path` (the child) builds both sides once per image side and measures every
(threads, size, batch) row. Rows a machine cannot run (no GPU, no bf16, a CPU-only path asked for
on the GPU) are recorded as skipped with the reason.
"""
from __future__ import annotations

import argparse
import copy
import os
from dataclasses import asdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import paddle

from bench_child import peak_rss_mb, reply, run_child
from bench_devices import gpu_unavailable, use_device
from bench_paths import PATHS, Entry, Runner, TimedPath, dygraph_runner, train_runner
from bench_report import Row, short_error
from bench_subjects import (PAIRS, SUBJECTS, Pair, build_model, count_macs, missing_small_stems,
                            pair_is_image)
from timing import interleaved, paired_ratio

__all__ = ["ALL_PATHS", "RSS_TRAIN_STEPS", "DEFAULT_BATCHES", "DEFAULT_SIZES", "set_threads",
           "path_batches", "path_sizes", "row_grid", "path_unavailable", "build_entries",
           "measure", "measure_rss", "train_rss_child", "measure_path", "run_pair"]

ALL_PATHS = ("dygraph", "predictor", "bf16", "train", "rss")
RSS_TRAIN_STEPS = 3
# Defaults per path when --batch / --sizes are not given: inference and memory at batch 1 and 8
# on 224x224 images; training throughput at batch 32 and 128 on 32x32 and 224x224 images.
DEFAULT_BATCHES = {"train": [32, 128]}
DEFAULT_SIZES = {"train": [32, 224]}
_BATCHES, _SIZES = [1, 8], [224]


def set_threads(n: int) -> None:
    """Threads of dygraph CPU kernels (``paddle.set_num_threads`` where it exists)."""
    setter = getattr(paddle, "set_num_threads", None) or paddle.base.core.set_num_threads
    setter(n)


def path_batches(path: str, args: argparse.Namespace) -> List[int]:
    return args.batch if args.batch else DEFAULT_BATCHES.get(path, _BATCHES)


def path_sizes(path: str, args: argparse.Namespace) -> List[int]:
    return args.sizes if args.sizes else DEFAULT_SIZES.get(path, _SIZES)


def row_grid(pair: Pair, path: str, device: str,
             args: argparse.Namespace) -> List[Tuple[int, Optional[int], int]]:
    """The (threads, size, batch) of a path's rows on ``device``, in table order.

    RSS training runs and GPU rows use one CPU thread; fixed-shape pairs have one size, None.
    """
    threads = [1] if path == "rss" or device == "gpu" else args.threads
    sizes = path_sizes(path, args) if pair_is_image(pair) else [None]
    batches = path_batches(path, args)
    return [(t, size, batch) for t in threads for size in sizes for batch in batches]


def path_unavailable(path: str, device: str) -> Optional[str]:
    """None when ``path`` can run on ``device`` here, else why its rows are skipped."""
    devices = PATHS[path].devices if path in PATHS else ("cpu",)
    if device not in devices:
        return f"the {path} path runs on {' / '.join(devices)} only, not {device}"
    if device == "gpu":
        reason = gpu_unavailable()
        if reason:
            return reason
    return PATHS[path].unavailable() if path in PATHS else None


def max_rel_diff(got: List[np.ndarray], want: List[np.ndarray]) -> float:
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
        raise AssertionError(f"output shapes differ: {[g.shape for g in got]} vs "
                             f"{[w.shape for w in want]}")
    return max(float(np.abs(g - w).max() / max(np.abs(w).max(), 1e-12)) for g, w in zip(got, want))


def build_entries(pair: Pair, workdir: str, patches: Sequence[str],
                  size: Optional[int] = None) -> List[Entry]:
    """Both sides of ``pair`` for images of side ``size``, their weights saved in ``workdir``."""
    entries: List[Entry] = []
    for name in (pair.a, pair.b):
        model = build_model(name, size=size)
        if pair.same_function and entries:
            model.set_state_dict(copy.deepcopy(entries[0].model.state_dict()))
        state_file = os.path.join(workdir, f"{name}_{size or 'fixed'}.pdparams")
        paddle.save(model.state_dict(), state_file)
        entries.append(Entry(name, model, state_file, workdir, patches, size))
    return entries


def build_runners(path: TimedPath, entries: Sequence[Entry], batch: int, threads: int,
                  args: argparse.Namespace, device: str) -> Tuple[List[Runner], str, List[str]]:
    """Runners for both sides with the first option set that works for both (each run once).

    Returns the runners, the option set's label and the failures of the option sets before it.
    """
    failures: List[str] = []
    for label, variant in path.variants(args):
        runners = []
        for entry in entries:
            try:
                runner = path.make(entry, batch, threads, device=device, amp=args.amp, **variant)
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


def _setting_notes(pair: Pair, path: TimedPath, size: Optional[int], device: str,
                   amp: Optional[str]) -> List[str]:
    """What the row's numbers depend on beyond its columns: stems, AMP."""
    notes = [f"{name} has no small-input stem: its full-size stem runs at {size}x{size}"
             for name in missing_small_stems(pair, size)]
    notes += [f"{name} at {size}x{size} is {SUBJECTS[name].small_stand_in}"
              for name in (pair.a, pair.b)
              if SUBJECTS[name].small_stand_in and SUBJECTS[name].uses_small_stem(size)]
    if amp and path.devices != ("cpu",):
        notes.append(f"AMP {amp} O1" if device == "gpu" else "AMP applies to GPU rows only")
    return notes


def measure(pair_name: str, path_name: str, entries: Sequence[Entry], batch: int, threads: int,
            args: argparse.Namespace, macs_ratio: float, device: str = "cpu") -> Row:
    """One timed row (the path runs on ``device`` here: :func:`path_unavailable`): both sides'
    runners, checked, then timed interleaved."""
    pair, path = PAIRS[pair_name], PATHS[path_name]
    size = entries[0].size
    row = Row(pair_name, path_name, batch, threads, pair.a, pair.b, macs_ratio=macs_ratio,
              size=size, device=device)
    set_threads(threads)
    try:
        runners, label, row.failures = build_runners(path, entries, batch, threads, args, device)
        notes = ([label] if label else []) + check_outputs(pair, path, runners, entries, batch)
    except Exception as error:
        row.error = short_error(error)
        return row
    timings = interleaved({"a": runners[0].run, "b": runners[1].run}, args.repeats, args.warmup,
                          min_seconds=args.min_seconds)
    a_s, b_s = timings["a"].median, timings["b"].median
    row.a_value, row.b_value = a_s * 1e3, b_s * 1e3
    row.ratio = row.a_value / row.b_value
    row.paired_ratio = paired_ratio(timings["a"], timings["b"])
    if path.throughput:
        row.a_images_per_s, row.b_images_per_s = batch / a_s, batch / b_s
        row.images_ratio = row.a_images_per_s / row.b_images_per_s
    row.note = "; ".join(notes + _setting_notes(pair, path, size, device, args.amp))
    return row


def measure_rss(pair_name: str, entries: Sequence[Entry], batch: int, macs_ratio: float) -> Row:
    """Peak RSS of RSS_TRAIN_STEPS training steps of each side, each in a fresh subprocess.

    The child builds its model from the seed (loading a state file would leave its buffers in the
    allocator's cache and blur the comparison); it also reports the peak of allocated tensor memory.
    """
    pair = PAIRS[pair_name]
    size = entries[0].size
    row = Row(pair_name, "rss", batch, 1, pair.a, pair.b, unit="MB", macs_ratio=macs_ratio,
              size=size)
    sized = [] if size is None else ["--sizes", str(size)]
    try:
        a_info, b_info = [run_child(["train-rss", "--subject", e.name, "--batch", str(batch),
                                     *sized], e.patches) for e in entries]
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


def train_rss_child(args: argparse.Namespace) -> None:
    """The child's side of :func:`measure_rss`: training steps of a model built from the seed."""
    size = args.sizes[0] if args.sizes else None
    model = build_model(args.subject, size=size)
    set_threads(1)
    built = peak_rss_mb()
    runner = train_runner(Entry(args.subject, None, "", "", [], size), args.batch[0], 1,
                          model=model)
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
    reply({"peak_rss_mb": peak_rss_mb(), "rss_built_mb": built,
           "tensor_peak_mb": growth["Allocated"], "reserved_peak_mb": growth["Reserved"]})


def measure_path(pair_name: str, path: str, args: argparse.Namespace, workdir: str,
                 device: str = "cpu") -> List[Row]:
    """Every (threads, size, batch) row of one pair on one path and device, in this process."""
    pair = PAIRS[pair_name]
    grid = row_grid(pair, path, device, args)
    reason = path_unavailable(path, device)
    if reason:  # nothing is built: the rows say why they were not measured
        rows = [Row(pair_name, path, batch, threads, pair.a, pair.b, size=size, device=device,
                    unit="MB" if path == "rss" else "ms", note=f"skipped: {reason}")
                for threads, size, batch in grid]
        for row in rows:
            reply(asdict(row))
        return rows
    use_device(device)
    sides: Dict[Optional[int], Tuple[List[Entry], float]] = {}
    rows = []
    for threads, size, batch in grid:
        if size not in sides:  # both sides at this image side, and their MACs ratio there
            entries = build_entries(pair, workdir, args.patch, size)
            macs = [count_macs(e.name, e.model, size) for e in entries]
            sides[size] = entries, macs[0] / macs[1]
        entries, macs_ratio = sides[size]
        row = (measure_rss(pair_name, entries, batch, macs_ratio) if path == "rss" else
               measure(pair_name, path, entries, batch, threads, args, macs_ratio, device))
        reply(asdict(row))
        rows.append(row)
    return rows


def _child_flags(args: argparse.Namespace, path: str) -> List[str]:
    flags = ["--batch", *map(str, path_batches(path, args)),
             "--sizes", *map(str, path_sizes(path, args)),
             "--threads", *map(str, args.threads),
             "--repeats", str(args.repeats), "--warmup", str(args.warmup),
             "--min-seconds", str(args.min_seconds), "--predictor-ir", args.predictor_ir]
    return flags + (["--amp", args.amp] if args.amp else [])


def run_pair(pair_name: str, args: argparse.Namespace, workdir: str) -> List[Row]:
    """Each (path, device) of the pair in a fresh child process.

    In one long process the paths disturb each other: after the dygraph rows, the same oneDNN
    predictors measured 1.5-1.7x slower at batch 1 (state the earlier runtime leaves behind; which
    part of it was not pinned down), enough to flip a ratio. A and B still share one process per
    path.
    """
    pair = PAIRS[pair_name]
    rows = []
    for device in args.device:
        for path in args.paths:
            grid = row_grid(pair, path, device, args)
            command = ["measure", "--pairs", pair_name, "--paths", path, "--device", device,
                       "--workdir", workdir, *_child_flags(args, path)]
            try:
                found = run_child(command, args.patch, echo=True,
                                  timeout=args.child_timeout * len(grid))["rows"]
                rows += [Row(**row) for row in found]
            except Exception as error:  # the path's rows carry the error; other paths still run
                rows += [Row(pair_name, path, batch, threads, pair.a, pair.b, size=size,
                             device=device, error=short_error(error))
                         for threads, size, batch in grid]
    return rows

