"""Run settings: one flat :class:`RunConfig`, recipe and data-set presets, YAML files.

Every setting is one field of :class:`RunConfig`, with the same name as a YAML key and (with
dashes) as a command-line flag. A setting's value comes from the first of these that gives it:

1. the command line;
2. ``--config FILE.yaml``;
3. the checkpoint being resumed or evaluated (its saved settings);
4. the data set's preset (:data:`DATA_PRESETS`: epochs, batch size, input size, default model,
   and recipe tweaks measured for it, e.g. digits' higher learning rate for a 6-epoch run);
5. the recipe (:data:`RECIPES`: optimizer, learning rate, schedule, regularisation);
6. the field defaults below.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from .data import DATASETS, DataSettings
from .errors import UsageError

__all__ = [
    "RunConfig",
    "RECIPES",
    "DATA_PRESETS",
    "ARCHITECTURE_KEYS",
    "load_config_file",
    "resolve_config",
]


@dataclass
class RunConfig:
    """Every setting of a training or evaluation run (see the module doc for precedence)."""

    # model
    model: str = "oct_mobilenet"
    alpha: float = 0.5
    width_mult: Optional[float] = None
    width: Optional[float] = None
    small_input: Optional[bool] = None
    zero_init_residual: Optional[bool] = None
    pretrained: Optional[str] = None
    # data
    data: str = "digits"
    data_path: Optional[str] = None
    image_size: Optional[int] = None
    num_classes: Optional[int] = None
    in_channels: Optional[int] = None
    train_samples: int = 0
    eval_samples: int = 0
    num_workers: int = 0
    # recipe
    recipe: str = "paper"
    optimizer: str = "sgd"
    lr: float = 0.1
    lr_ref_batch: int = 256
    momentum: float = 0.9
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    schedule: str = "cosine"
    warmup_epochs: float = 5.0
    epochs: int = 10
    batch_size: int = 64
    # run
    seed: int = 0
    threads: int = 0
    log_dir: Optional[str] = None
    resume: Optional[str] = None
    amp: bool = False
    device: str = "auto"
    log_freq: int = 10
    save_every: int = 0

    def data_settings(self) -> DataSettings:
        """The data part, as :func:`octconv_engine.data.load_data` takes it."""
        return DataSettings(self.data, self.data_path, self.image_size, self.num_classes,
                            self.in_channels, self.train_samples, self.eval_samples)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> "RunConfig":
        """Check value ranges (types were checked on the way in); return self.

        Raises:
            UsageError: naming the setting, the rule and the value given.
        """
        rules = [
            ("epochs", self.epochs >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("lr", self.lr > 0, "> 0"),
            ("lr_ref_batch", self.lr_ref_batch >= 0, ">= 0 (0: no scaling with batch size)"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("warmup_epochs", self.warmup_epochs >= 0, ">= 0"),
            ("alpha", 0 <= self.alpha < 1, "in [0, 1) (0: the plain network)"),
            ("threads", self.threads >= 0, ">= 0 (0: all cores)"),
            ("num_workers", self.num_workers >= 0, ">= 0"),
            ("log_freq", self.log_freq >= 1, ">= 1"),
            ("save_every", self.save_every >= 0, ">= 0 (0: at the end of each epoch only)"),
            ("train_samples", self.train_samples >= 0, ">= 0 (0: all)"),
            ("eval_samples", self.eval_samples >= 0, ">= 0 (0: all)"),
        ]
        for key, ok, rule in rules:
            if not ok:
                raise UsageError(f"--{key.replace('_', '-')} must be {rule}, "
                                 f"got {getattr(self, key)}")
        return self


# Presets. "paper" is the OctConv paper's ImageNet recipe (SGD, cosine with warm-up, label
# smoothing, no weight decay on BN and biases, lr 0.1 per 256 images); "adam" is the published
# Paddle port's (Adam, lr 1e-3, constant).
RECIPES: Dict[str, Dict[str, Any]] = {
    "paper": dict(optimizer="sgd", lr=0.1, lr_ref_batch=256, momentum=0.9, weight_decay=1e-4,
                  label_smoothing=0.1, schedule="cosine", warmup_epochs=5.0),
    "adam": dict(optimizer="adam", lr=1e-3, lr_ref_batch=0, weight_decay=0.0,
                 label_smoothing=0.0, schedule="constant", warmup_epochs=0.0),
}


@dataclass(frozen=True)
class DataPreset:
    """Defaults that suit a data set: training length, input shape and the default model."""

    epochs: int
    batch_size: int
    small_input: bool
    image_size: Optional[int] = None
    model: str = "oct_mobilenet"
    model_options: Mapping[str, Any] = field(default_factory=dict)  # applied with `model` only
    extra: Mapping[str, Any] = field(default_factory=dict)  # settings of this data set only
    recipe_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per recipe


DATA_PRESETS: Dict[str, DataPreset] = {
    # Measured on 2 shared CPU cores: 98.3% best / 98.1% final test top-1 in about 2 minutes
    # (>= 95% from epoch 4 on); the plain network (--alpha 0) 98.3% / 98.3%.
    "digits": DataPreset(epochs=6, batch_size=32, small_input=True, image_size=32,
                         model="oct_mobilenet", model_options={"width_mult": 0.25},
                         recipe_overrides={"paper": {"lr": 0.8, "warmup_epochs": 1.0}}),
    "cifar10": DataPreset(epochs=100, batch_size=128, small_input=True, model="oct_resnet26"),
    "fashion-mnist": DataPreset(epochs=30, batch_size=128, small_input=True,
                                model="oct_mobilenet", model_options={"width_mult": 0.5}),
    "imagefolder": DataPreset(epochs=100, batch_size=256, small_input=False, image_size=224,
                              model="oct_resnet50"),
    "synthetic": DataPreset(epochs=1, batch_size=32, small_input=True, image_size=32,
                            model="oct_mobilenet", model_options={"width_mult": 0.25},
                            extra={"num_classes": 10, "in_channels": 3}),
}

# Settings that define the network's weights: a resumed run may not change them.
ARCHITECTURE_KEYS: Tuple[str, ...] = ("model", "alpha", "width_mult", "width", "small_input", "data",
                                      "image_size", "num_classes", "in_channels")

_FIELDS = {f.name: f for f in fields(RunConfig)}
_CHOICES = {"data": DATASETS, "recipe": tuple(RECIPES), "optimizer": ("sgd", "adam", "adamw"),
            "device": ("auto", "cpu", "gpu"),
            "schedule": ("cosine", "constant")}


def _coerce(key: str, value: Any, source: str) -> Any:
    """Check ``value`` against the type of field ``key``; ints are accepted for floats."""
    annotation = str(_FIELDS[key].type)
    if value is None:
        if "Optional" in annotation:
            return None
        raise UsageError(f"{source}: {key} may not be empty")
    kind = next(k for k in ("bool", "int", "float", "str") if k in annotation)
    ok = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, (str, int, float)) and not isinstance(value, bool),
    }[kind]
    if not ok:
        raise UsageError(f"{source}: {key} must be a {kind}, got {value!r}")
    value = {"float": float, "str": str}.get(kind, lambda v: v)(value)
    if key in _CHOICES and value not in _CHOICES[key]:
        raise UsageError(f"{source}: {key} must be one of {', '.join(_CHOICES[key])}, got {value!r}")
    return value


def _normalise(values: Mapping[str, Any], source: str) -> Dict[str, Any]:
    """Map dashed keys to field names, refuse unknown keys and check every value's type."""
    result = {}
    for raw_key, value in values.items():
        key = str(raw_key).replace("-", "_")
        if key not in _FIELDS:
            raise UsageError(f"{source}: unknown setting {raw_key!r}; valid settings: "
                             f"{', '.join(_FIELDS)}")
        result[key] = _coerce(key, value, source)
    return result


def load_config_file(path: str) -> Dict[str, Any]:
    """Read a YAML mapping of settings (keys as in :class:`RunConfig`, dashes allowed)."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--config {path}: no such file (expected a YAML mapping of settings)")
    try:
        values = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        first = str(error).strip().splitlines()[0]
        raise UsageError(f"--config {path}: not valid YAML ({first})") from None
    if not isinstance(values, dict):
        raise UsageError(f"--config {path}: expected a YAML mapping of settings, "
                         f"got a {type(values).__name__}")
    return _normalise(values, f"--config {path}")


def resolve_config(cli: Mapping[str, Any], config_file: Optional[str] = None,
                   saved: Optional[Mapping[str, Any]] = None, locked: Sequence[str] = (),
                   model_preset: bool = True) -> RunConfig:
    """Merge the sources of settings in the order the module doc gives.

    Args:
        cli: the settings typed on the command line (argparse leaves out the others).
        config_file: path of a YAML file of settings, or None.
        saved: the settings stored in a checkpoint (resumed or evaluated), or None.
        locked: keys that may not differ from ``saved`` (the weights depend on them).
        model_preset: apply the data set's default model options (e.g. width_mult) when the
            model is the data set's default model; eval.py of a bare state dict passes False.

    Raises:
        UsageError: unknown key, wrong type, a choice out of range, or a locked key changed.
    """
    user = {**(load_config_file(config_file) if config_file else {}),
            **_normalise(cli, "command line")}
    if saved:
        base = _normalise({k: v for k, v in saved.items() if k in _FIELDS}, "checkpoint")
        for key in locked:
            if key in user and user[key] != base.get(key):
                raise UsageError(f"{key} is {base.get(key)!r} in the checkpoint; it cannot be "
                                 f"changed to {user[key]!r} (leave --{key.replace('_', '-')} out)")
        return RunConfig(**{**base, **user})
    data = user.get("data", RunConfig.data)
    preset = DATA_PRESETS[data]
    recipe = user.get("recipe", RunConfig.recipe)
    values: Dict[str, Any] = {**RECIPES[recipe], **preset.recipe_overrides.get(recipe, {}),
                              "epochs": preset.epochs, "batch_size": preset.batch_size,
                              "small_input": preset.small_input, "image_size": preset.image_size,
                              "model": preset.model, **preset.extra}
    if model_preset and user.get("model", preset.model) == preset.model:
        values.update(preset.model_options)
    return RunConfig(**{**values, **user})
