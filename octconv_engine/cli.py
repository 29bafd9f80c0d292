"""Command-line parsing shared by train.py and eval.py.

Each flag is defined once in :data:`FLAGS` (named after its :class:`~octconv_engine.config.RunConfig`
field) and each script picks the ones it takes. Flags have no argparse defaults: only what the
user typed reaches :func:`octconv_engine.config.resolve_config`, which fills in the rest in a documented
order. Bad input of any kind ends the process with exit code 2 and one line on stderr.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Dict, Mapping, NoReturn, Sequence, Tuple

from .config import DATA_PRESETS, RECIPES, RunConfig
from .data import DATASETS
from .errors import UsageError

__all__ = ["OneLineParser", "FLAGS", "build_parser", "user_settings", "run_script"]


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and exit with code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _per_data(key: str) -> str:
    return ", ".join(f"{name} {getattr(p, key)}" for name, p in DATA_PRESETS.items())


def _per_recipe(key: str) -> str:
    return ", ".join(f"{name} {values[key]:g}" for name, values in RECIPES.items())


def _default_models() -> str:
    parts = []
    for name, preset in DATA_PRESETS.items():
        options = "".join(f" --{k.replace('_', '-')} {v}" for k, v in preset.model_options.items())
        parts.append(f"{name}: {preset.model}{options}")
    return "; ".join(parts)


def _bool_flag(help_text: str) -> Dict[str, Any]:
    return dict(action=argparse.BooleanOptionalAction, help=help_text)


# field name -> (flag strings, argparse keyword arguments)
FLAGS: Dict[str, Tuple[Tuple[str, ...], Dict[str, Any]]] = {
    # model
    "model": (("--model",), dict(metavar="NAME", help=(
        "zoo model (models.list_models()); default per data set: " + _default_models()))),
    "alpha": (("--alpha",), dict(type=float, help=(
        "low-frequency fraction of the octave convolutions; 0 builds the plain counterpart "
        f"(default {RunConfig.alpha})"))),
    "width_mult": (("--width-mult",), dict(type=float, metavar="W", help=(
        "channel multiplier of oct_mobilenet (default: the data set's default model's, else 1.0)"))),
    "width": (("--width",), dict(type=float, metavar="W", help=(
        "channel multiplier of the Oct-ResNets (e.g. 0.25 for a narrow Oct-ResNet-26; default 1.0)"))),
    "small_input": (("--small-input",), _bool_flag(
        "3x3 stride-1 stem without max-pool, for 32x32-class images (default: on for digits, "
        "cifar10, fashion-mnist, synthetic; off for imagefolder)")),
    "zero_init_residual": (("--zero-init-residual",), _bool_flag(
        "zero the last BN of each residual branch (Oct-ResNets; default: the builder's, off)")),
    "pretrained": (("--pretrained",), dict(metavar="FILE", help=(
        "start from these weights (a .pdparams state dict); a classifier of another class "
        "count is left freshly initialised"))),
    # data
    "data": (("--data",), dict(choices=DATASETS, help=f"data set (default {RunConfig.data})")),
    "data_path": (("--data-path",), dict(metavar="PATH", help=(
        "cifar10: cifar-10-python.tar.gz; imagefolder: folder with train/ and val/ class "
        "folders; fashion-mnist: folder with the four idx .gz files (default: where the Debian "
        "package dataset-fashion-mnist puts them)"))),
    "image_size": (("--image-size",), dict(type=int, metavar="PX", help=(
        f"input side in pixels (default: {_per_data('image_size')}; cifar10 32, "
        "fashion-mnist 28 are fixed)"))),
    "num_classes": (("--num-classes",), dict(type=int, metavar="N", help=(
        "classes of synthetic data (default 10; other data sets know theirs)"))),
    "in_channels": (("--in-channels",), dict(type=int, metavar="C", help=(
        "image channels of synthetic data (default 3)"))),
    "train_samples": (("--train-samples",), dict(type=int, metavar="N", help=(
        "use only N training samples, a fixed subset (default 0: all; synthetic: 512)"))),
    "eval_samples": (("--eval-samples",), dict(type=int, metavar="N", help=(
        "use only N evaluation samples, a fixed subset (default 0: all; synthetic: 128)"))),
    "num_workers": (("--num-workers",), dict(type=int, metavar="N", help=(
        "DataLoader worker processes (default 0: load in the main process)"))),
    # recipe
    "recipe": (("--recipe",), dict(choices=tuple(RECIPES), help=(
        "preset of the settings below: paper = SGD momentum 0.9, lr 0.1 per 256 images, cosine "
        "with 5 warm-up epochs, label smoothing 0.1, weight decay 1e-4 (not on BN / biases); "
        f"adam = Adam lr 1e-3, constant (the published Paddle port's) (default {RunConfig.recipe})"))),
    "optimizer": (("--optimizer",), dict(choices=("sgd", "adam", "adamw"), help=(
        "optimizer (default: the recipe's: paper sgd, adam adam)"))),
    "lr": (("--lr",), dict(type=float, help=(
        f"learning rate at --lr-ref-batch images per step (default: {_per_recipe('lr')})"))),
    "lr_ref_batch": (("--lr-ref-batch",), dict(type=int, metavar="N", help=(
        "the lr is scaled by global batch / N; 0: not scaled "
        f"(default: {_per_recipe('lr_ref_batch')})"))),
    "momentum": (("--momentum",), dict(type=float, help=f"SGD momentum (default {RunConfig.momentum})")),
    "weight_decay": (("--weight-decay",), dict(type=float, help=(
        f"L2 weight decay, never on BN parameters and biases (default: {_per_recipe('weight_decay')})"))),
    "label_smoothing": (("--label-smoothing",), dict(type=float, help=(
        f"label smoothing of the loss (default: {_per_recipe('label_smoothing')})"))),
    "schedule": (("--schedule",), dict(choices=("cosine", "constant"), help=(
        "learning-rate schedule after warm-up (default: paper cosine, adam constant)"))),
    "warmup_epochs": (("--warmup-epochs",), dict(type=float, metavar="E", help=(
        f"linear warm-up from 0, in epochs (default: {_per_recipe('warmup_epochs')})"))),
    "epochs": (("--epochs",), dict(type=int, help=f"training epochs (default: {_per_data('epochs')})")),
    "batch_size": (("--batch-size",), dict(type=int, metavar="N", help=(
        f"batch size per process (default: {_per_data('batch_size')})"))),
    # run
    "seed": (("--seed",), dict(type=int, help=(
        f"seed of every RNG; the same seed repeats a run exactly (default {RunConfig.seed})"))),
    "threads": (("--threads",), dict(type=int, metavar="N", help=(
        "CPU threads per process (default 0: the cores divided among the local processes)"))),
    "log_dir": (("--log-dir",), dict(metavar="DIR", help=(
        "folder of the VisualDL logs and the checkpoints last.pdparams / best.pdparams "
        "(default: runs/<data>-<model>-a<alpha>, numbered when taken)"))),
    "resume": (("--resume",), dict(metavar="DIR", help=(
        "continue the run in DIR (or a checkpoint file) from its last checkpoint: model, "
        "optimizer, LR schedule, epoch and RNG state; flags given here override its settings"))),
    "device": (("--device",), dict(choices=("auto", "cpu", "gpu"), help=(
        "where to run: gpu needs paddlepaddle-gpu and a CUDA device; auto takes the GPU when "
        f"there is one (default {RunConfig.device})"))),
    "amp": (("--amp",), dict(action="store_true", help=(
        "automatic mixed precision (paddle.amp O1) on GPU; ignored with a notice on CPU"))),
    "log_freq": (("--log-freq",), dict(type=int, metavar="N", help=(
        f"progress bar and VisualDL step scalars every N batches (default {RunConfig.log_freq})"))),
    "save_every": (("--save-every",), dict(type=int, metavar="N", help=(
        "also save last.pdparams every N batches inside an epoch, so a killed run loses at most "
        "N batches (default 0: at the end of each epoch)"))),
}


def build_parser(prog: str, description: str, groups: Mapping[str, Sequence[str]],
                 extra: Callable[[argparse.ArgumentParser], None] = lambda parser: None
                 ) -> OneLineParser:
    """A parser with the :data:`FLAGS` named in ``groups`` (title -> field names), no defaults.

    ``extra`` adds script-specific arguments (e.g. eval.py's ``--weights``).
    """
    parser = OneLineParser(prog=prog, description=description, argument_default=argparse.SUPPRESS,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    extra(parser)
    for title, names in groups.items():
        group = parser.add_argument_group(title)
        for name in names:
            flags, kwargs = FLAGS[name]
            group.add_argument(*flags, dest=name, **kwargs)
    return parser


def user_settings(namespace: argparse.Namespace) -> Dict[str, Any]:
    """The RunConfig settings the user typed (flags not typed are absent from the namespace)."""
    return {key: value for key, value in vars(namespace).items() if key in FLAGS}


def run_script(main: Callable[[], int], prog: str) -> NoReturn:
    """Run a script's ``main`` and exit with its code; :class:`UsageError` becomes one line on
    stderr and exit code 2, a second Ctrl-C (KeyboardInterrupt) exit code 130."""
    try:
        code = main()
    except UsageError as error:
        print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print(f"{prog}: aborted", file=sys.stderr)
        code = 130
    sys.exit(code)
