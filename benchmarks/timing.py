"""The one timer every benchmark path uses: interleaved runs of several callables in one process.

Running A B A B ... (rather than all A, then all B) exposes both sides to the same machine load, so
their ratio stays meaningful on a shared or throttling machine even when absolute times drift.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping


@dataclass
class Timing:
    """Wall-clock seconds of the timed runs of one callable."""

    times: List[float]

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def interleaved(fns: Mapping[str, Callable[[], object]], repeats: int,
                warmup: int = 2, min_seconds: float = 0.0,
                max_repeats: int = 1000) -> Dict[str, Timing]:
    """Time each callable round-robin, after ``warmup`` untimed rounds.

    Args:
        fns: name -> zero-argument callable that runs (and finishes) one measured unit of work.
        repeats: at least this many timed rounds; every callable runs once per round, in the
            mapping's order.
        warmup: untimed rounds first (oneDNN primitive caches, allocator, lazy initialisation).
        min_seconds: keep adding rounds until the timed rounds took at least this long (a median
            of ten 15 ms runs is at the mercy of one burst of load; of a hundred it is not).
        max_repeats: never more rounds than this.

    Returns:
        name -> :class:`Timing` with one entry per round.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    spent = 0.0
    rounds = 0
    while rounds < repeats or (spent < min_seconds and rounds < max_repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            times[name].append(elapsed)
            spent += elapsed
        rounds += 1
    return {name: Timing(values) for name, values in times.items()}


def paired_ratio(a: Timing, b: Timing) -> float:
    """Median of the per-round ratios a_i / b_i: robust when the machine load changes between rounds."""
    return statistics.median(x / y for x, y in zip(a.times, b.times))
