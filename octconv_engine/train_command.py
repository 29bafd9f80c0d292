"""Train an OctConv zoo model with hapi, VisualDL logs and resumable checkpoints.

With no arguments: Oct-MobileNet (width 0.25, small-input stem) on scikit-learn's digits
(1,797 real 8x8 images upscaled to 32x32, stratified 80/20 split), offline, a few minutes on
2 CPU cores. `--alpha 0` trains the plain counterpart under the identical recipe.

examples:
  python train.py
  python train.py --alpha 0
  python train.py --data cifar10 --data-path cifar-10-python.tar.gz --recipe paper
  python train.py --data imagefolder --data-path /data/imagenet --model oct_resnet50
  python train.py --resume runs/digits-oct_mobilenet-a0.5 --epochs 20
  python -m paddle.distributed.launch --gpus 0,1,2,3 train.py --data imagefolder --data-path /data/imagenet
  python -m paddle.distributed.launch --nproc_per_node 2 train.py    # CPU: 2 processes (gloo)

Installed with pip, the same command is `octconv-train` (`octconv-train --help`).
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from octconv_engine import (ARCHITECTURE_KEYS, LAST, NonFiniteLossError, Trainer, TrainingInterrupted,
                    build_model, build_parser, check_model_name, choose_run_dir, describe_recipe,
                    find_checkpoint, load_checkpoint, load_data, model_cost, resolve_config,
                    run_script, saved_settings, setup_runtime, training_header, training_summary,
                    user_settings)

PROG = "train.py"  # the name in messages when run as `python train.py`
COMMAND = "octconv-train"  # the console command `pip install` creates
FLAG_GROUPS = {
    "model": ("model", "alpha", "width_mult", "width", "small_input", "zero_init_residual",
              "pretrained"),
    "data": ("data", "data_path", "image_size", "num_classes", "in_channels", "train_samples",
             "eval_samples", "num_workers"),
    "recipe (every setting may also come from --config FILE.yaml)": (
        "recipe", "optimizer", "lr", "lr_ref_batch", "momentum", "weight_decay",
        "label_smoothing", "schedule", "warmup_epochs", "epochs", "batch_size"),
    "run": ("seed", "threads", "device", "log_dir", "resume", "amp", "log_freq", "save_every"),
}


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.yaml", default=None, help=(
        "YAML mapping of settings named like the flags (lr: 0.05, batch-size: 128 ...); "
        "flags typed on the command line win"))


def _invocation(prog: str) -> str:
    """How the user started this script: ``python train.py`` or the console command."""
    return f"python {prog}" if prog.endswith(".py") else prog


def main(argv: Optional[Sequence[str]] = None, prog: str = PROG) -> int:
    parser = build_parser(prog, __doc__, FLAG_GROUPS, extra=add_config_flag)
    args = parser.parse_args(argv)

    # Settings: command line > --config > resumed checkpoint > data-set preset > recipe.
    resume_file = find_checkpoint(args.resume) if "resume" in args else None
    resumed = load_checkpoint(resume_file) if resume_file else None
    cfg = resolve_config(user_settings(args), args.config,
                         saved=saved_settings(resumed) if resumed else None,
                         locked=ARCHITECTURE_KEYS).validate()
    check_model_name(cfg.model)
    runtime = setup_runtime(cfg.threads, cfg.seed, cfg.amp, cfg.device)
    say = print if runtime.is_main else (lambda *_, **__: None)  # only rank 0 reports

    data = load_data(cfg.data_settings())
    network = build_model(cfg, data.spec)
    cost = model_cost(network, data.spec)
    trainer = Trainer(cfg, runtime, data, network, choose_run_dir(cfg, resume_file), resumed)
    say(training_header(cfg, runtime, data, cost, trainer.run_dir))
    say(describe_recipe(cfg, trainer.global_batch))

    try:
        progress = trainer.fit()
    except TrainingInterrupted:
        say(f"Interrupted after epoch {trainer.progress.epoch} + {trainer.progress.step} steps; "
            f"saved {trainer.run_dir / LAST}. Resume with: {_invocation(prog)} --resume {trainer.run_dir}")
        return 130
    except NonFiniteLossError as error:
        say(f"{prog}: {error}", file=sys.stderr)
        return 1

    say(training_summary(cfg, cost, progress, trainer.run_dir))
    return 0


def console() -> None:
    """Entry point of the ``octconv-train`` console command."""
    run_script(lambda: main(prog=COMMAND), COMMAND)
