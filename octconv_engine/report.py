"""Plain-text tables the scripts end with."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .checkpoint import Progress
    from .config import RunConfig
    from .data import LoadedData
    from .evaluation import EvalResult
    from .modeling import ModelCost
    from .runtime import Runtime

__all__ = ["human", "format_table", "format_duration", "training_header", "training_summary",
           "evaluation_summary"]


def human(count: float) -> str:
    """1234567 -> '1.23M' (K, M, G: powers of 1000)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(count) >= scale:
            return f"{count / scale:.3g}{unit}"
    return f"{count:g}"


def format_duration(seconds: float) -> str:
    """75.2 -> '1m15s'; under a minute: '42.0s'."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table with columns padded to equal width (readable raw, renders on GitHub)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = lambda row: "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def training_header(cfg: "RunConfig", runtime: "Runtime", data: "LoadedData", cost: "ModelCost",
                    run_dir: Path) -> str:
    """What is about to be trained, on what, where the results go (printed before training)."""
    spec = data.spec
    options = ", ".join(f"{k} {getattr(cfg, k)}" for k in ("width_mult", "width", "small_input")
                        if getattr(cfg, k) is not None)
    return (
        f"{cfg.model} (alpha {cfg.alpha:g}{', ' + options if options else ''}): "
        f"{human(cost.params)} params, {human(cost.macs)} MACs per image\n"
        f"data {spec.name}: {len(data.train)} train / {len(data.eval)} eval images, "
        f"{spec.in_channels}x{spec.image_size}x{spec.image_size}, {spec.num_classes} classes\n"
        f"{runtime.device}, {runtime.world_size} process(es), {runtime.threads} thread(s) each, "
        f"seed {cfg.seed}; logs and checkpoints in {run_dir}"
    )


def training_summary(cfg: "RunConfig", cost: "ModelCost", progress: "Progress",
                     run_dir: Path) -> str:
    """The closing table (model, alpha, params, MACs, best / final top-1, wall time) and paths."""
    final = progress.history[-1].get("eval_top1", float("nan")) if progress.history else float("nan")
    table = format_table(
        ["model", "alpha", "params", "MACs", "best top-1", "final top-1", "wall time"],
        [[cfg.model, f"{cfg.alpha:g}", human(cost.params), human(cost.macs),
          f"{100 * progress.best_top1:.2f}% (epoch {progress.best_epoch})",
          f"{100 * final:.2f}%", format_duration(progress.seconds)]])
    best = Path(run_dir) / "best.pdparams"
    return (f"\n{table}\n\nVisualDL logs:   {run_dir}   (view: visualdl --logdir {run_dir})\n"
            f"best checkpoint: {best}   (evaluate: python eval.py --weights {best})")


def evaluation_summary(model: str, alpha: float, cost: "ModelCost", result: "EvalResult",
                       class_names: Sequence[str]) -> str:
    """eval.py's report: one table of the totals, one of the per-class accuracies."""
    totals = format_table(
        ["model", "alpha", "params", "MACs", "loss", "top-1", "top-5", "images/s"],
        [[model, f"{alpha:g}", human(cost.params), human(cost.macs), f"{result.loss:.4f}",
          f"{100 * result.top1:.2f}%", f"{100 * result.top5:.2f}%",
          f"{result.images_per_second:.1f}"]])
    per_class = format_table(
        ["class", "accuracy"],
        [[name, "-" if acc != acc else f"{100 * acc:.2f}%"]
         for name, acc in zip(class_names, result.per_class)])
    return f"{totals}\n\nper-class accuracy ({result.samples} images):\n{per_class}"
