"""The octave study's report: the Markdown table (each Oct cell beside its plain twin) and plots.

Statistics: a cell is the runs of one (family, alpha, recipe) over seeds; its top-1 is their
mean and its spread their range (max - min). A family's seed spread is the largest spread of
its multi-seed cells; a difference from the plain cell is called real only when it is larger
than that spread (with a single seed everywhere, no difference is called real). A family with a
``baseline`` (a plug-in network) is compared with the baseline family's plain cell and spread.
"""
from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ["cells_of", "write_report", "markdown", "table"]

Key = Tuple[str, str, float]  # (family, recipe, alpha)


def cells_of(runs: Sequence[Dict[str, Any]]) -> Dict[Key, List[Dict[str, Any]]]:
    """Runs grouped by (family, recipe, alpha), in first-seen order."""
    cells: Dict[Key, List[Dict[str, Any]]] = {}
    for run in runs:
        cells.setdefault((run["family"], run["recipe"], run["alpha"]), []).append(run)
    return cells


def _is_plain(runs: Sequence[Dict[str, Any]]) -> bool:
    """A plain network: alpha 0 and no baseline (a plug-in network at alpha 0 is not plain)."""
    return runs[0]["alpha"] == 0.0 and not runs[0].get("baseline")


def _mean(runs: Sequence[Dict[str, Any]], key: str) -> float:
    return statistics.fmean(r[key] for r in runs)


def _spread(runs: Sequence[Dict[str, Any]], key: str = "final_top1") -> Optional[float]:
    values = [r[key] for r in runs]
    return max(values) - min(values) if len(values) > 1 else None


def _family_spread(cells: Dict[Key, List[Dict[str, Any]]], family: str) -> Optional[float]:
    spreads = [s for (f, _, _), runs in cells.items() if f == family
               for s in [_spread(runs)] if s is not None]
    return max(spreads) if spreads else None


def _pct(value: Optional[float], signed: bool = False) -> str:
    if value is None:
        return ""
    return f"{value * 100:+.2f}" if signed else f"{value * 100:.2f}"


def _millions(count: Optional[int]) -> str:
    return f"{count / 1e6:.3f}M" if count else ""


def _latency(runs: Sequence[Dict[str, Any]], batch: str) -> Optional[float]:
    values = [r.get("latency_ms", {}).get(batch) for r in runs]
    return values[0] if values and values[0] is not None else None


def table(results: Dict[str, Any]) -> str:
    """The results table alone (Markdown): one row per cell, Oct cells with their differences
    from plain. The README's Results section shows it as written for the committed results."""
    cells = cells_of(results["runs"])
    header = ("| family | recipe | alpha | seeds | final top-1 % (mean) | spread | best top-1 % | "
              "vs plain (points) | real? | params | MACs | MACs vs plain | latency bs1 ms | bs8 ms | "
              "latency vs plain (bs1 / bs8) | train img/s | peak RSS MB |")
    lines = [header, "|" + "|".join(["---"] * (header.count("|") - 1)) + "|"]
    for (family, recipe, alpha), runs in cells.items():
        # an Oct cell against its family's plain cell; a plug-in family against its baseline's
        baseline = runs[0].get("baseline") or ""
        twin = baseline if baseline and alpha == 0.0 else family
        plain = cells.get((twin, recipe, 0.0))
        top1 = _mean(runs, "final_top1")
        spread = _spread(runs)
        family_spread = _family_spread(cells, twin)
        versus = verdict = macs_ratio = latency_ratio = ""
        if plain is not None and plain is not runs:
            delta = top1 - _mean(plain, "final_top1")
            versus = _pct(delta, signed=True)
            if family_spread is None:
                verdict = "unknown (one seed)"
            else:
                verdict = ("yes" if abs(delta) > family_spread else "no") + \
                          f" (spread {family_spread * 100:.2f})"
            macs_ratio = f"{runs[0]['macs'] / plain[0]['macs']:.2f}x"
            ratios = [(_latency(runs, b), _latency(plain, b)) for b in ("bs1", "bs8")]
            latency_ratio = " / ".join(f"{a / b:.2f}x" if a and b else "-" for a, b in ratios)
        speed = [r["train_images_per_sec"] for r in runs if r.get("train_images_per_sec")]
        rss = [r["peak_rss_mb"] for r in runs if r.get("peak_rss_mb")]
        lat1, lat8 = _latency(runs, "bs1"), _latency(runs, "bs8")
        lines.append("| " + " | ".join([
            family, recipe, f"{alpha:g}", str(len(runs)), _pct(top1),
            _pct(spread) if spread is not None else "", _pct(_mean(runs, "best_top1")),
            versus, verdict, _millions(runs[0].get("params")), f"{runs[0]['macs'] / 1e6:.2f}M",
            macs_ratio,
            f"{lat1:.3f}" if lat1 else "", f"{lat8:.3f}" if lat8 else "", latency_ratio,
            f"{statistics.fmean(speed):.0f}" if speed else "",
            f"{max(rss):.0f}" if rss else "",
        ]) + " |")
    return "\n".join(lines)


def _trained_on(runs: Sequence[Dict[str, Any]]) -> str:
    """" Trained on: A (n runs), B (m runs)." where runs record their CPU, else ""."""
    counts = Counter(run.get("trained_on", "not recorded") for run in runs)
    if set(counts) <= {"not recorded"}:
        return ""
    return " Trained on: " + ", ".join(f"{cpu} ({n} run{'s' * (n > 1)})"
                                       for cpu, n in counts.items()) + "."


def markdown(results: Dict[str, Any]) -> str:
    """results.md: what was run, the table (see :func:`table`), the machine and the command."""
    info = results["machine"]
    first = results["runs"][0] if results["runs"] else {}
    data = first.get("data", {})
    return "\n".join([
        f"# Octave study: `{results['preset']}`",
        "",
        results["description"],
        "",
        f"This run: {results['epochs']} epochs per run"
        + (f", train.py flags {' '.join(results['train_flags'])}" if results["train_flags"] else "")
        + "".join(f"; {recipe} runs also {' '.join(flags)}"
                  for recipe, flags in results.get("recipe_flags", {}).items())
        + ".",
        "",
        f"Data: {data.get('name')}, {data.get('train_samples') or 'all'} training images, "
        f"{data.get('eval_samples') or 'all'} test images; top-1 on the test images after the "
        f"last epoch (final) and at the best epoch (best). Latency: oneDNN fp32 predictor, one "
        f"thread, at the run's input size, each family's alphas timed interleaved. A difference "
        f"is real only when larger than the family's seed spread (the largest max - min of a "
        f"cell over seeds).",
        "",
        table(results),
        "",
        f"Machine: {info['cpu']} ({info['isa']}), {info['cores']} cores, Paddle {info['paddle']}, "
        f"Python {info['python']}. Training wall time of all runs: "
        f"{results['training_wall_seconds'] / 60:.1f} min.{_trained_on(results['runs'])}",
        "",
        f"Command: `{results['command']}`",
        "",
    ])


def _plot_against(results: Dict[str, Any], x_of, xlabel: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = cells_of(results["runs"])
    figure, axes = plt.subplots(figsize=(7, 4.5))
    drawn = 0
    for family in dict.fromkeys(f for f, _, _ in cells):
        for recipe in dict.fromkeys(r for f, r, _ in cells if f == family):
            points = sorted((alpha, runs) for (f, r, alpha), runs in cells.items()
                            if f == family and r == recipe)
            xs = [x_of(runs) for _, runs in points]
            ys = [_mean(runs, "final_top1") * 100 for _, runs in points]
            if any(x is None for x in xs):
                continue
            line, = axes.plot(xs, ys, marker="o", label=f"{family} ({recipe})")
            drawn += 1
            for (alpha, runs), x, y in zip(points, xs, ys):
                if runs[0].get("baseline"):
                    continue  # a plug-in network: its legend entry names it; alpha means nothing
                axes.annotate(f"{alpha:g}", (x, y), textcoords="offset points", xytext=(4, 4),
                              fontsize=8)
                if _is_plain(runs):
                    axes.plot([x], [y], marker="*", markersize=15, color=line.get_color(),
                              linestyle="none")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("final top-1 (%)")
    axes.set_title(f"{results['preset']}: accuracy vs cost (labels: alpha; star: plain)")
    axes.grid(alpha=0.3)
    if drawn:
        axes.legend(fontsize=8)
    else:  # a study stopped before its latency step
        axes.text(0.5, 0.5, "not measured yet", ha="center", va="center", transform=axes.transAxes)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _plot_curves(results: Dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for run in results["runs"]:
        values = [v * 100 for v in run["eval_top1_per_epoch"] if v is not None]
        axes.plot(range(1, len(values) + 1), values, marker=".", label=run["name"],
                  linestyle="--" if _is_plain([run]) else "-")
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("eval top-1 (%)")
    axes.set_title(f"{results['preset']}: eval top-1 per epoch (dashed: plain)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=6, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(results: Dict[str, Any], out: Path) -> None:
    """results.md and the three plots under ``out``."""
    (out / "results.md").write_text(markdown(results))
    _plot_against(results, lambda runs: runs[0]["macs"] / 1e6, "MACs per image (M)",
                  out / "accuracy_vs_macs.png")
    _plot_against(results, lambda runs: _latency(runs, "bs1"),
                  "predictor latency, batch 1, 1 thread (ms)", out / "accuracy_vs_latency.png")
    _plot_curves(results, out / "curves.png")
