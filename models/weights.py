"""Pretrained weights: where they are looked for, and a strict key + shape check when loading them.

``pretrained`` of every builder is one of:

- ``False`` (default): random initialisation.
- a path to a ``.pdparams`` file (a Paddle state dict, e.g. written by ``python -m models.convert``
  or ``paddle.save(model.state_dict(), path)``).
- ``True``: ``<cache>/<arch>.pdparams``, where ``<cache>`` is ``$PADDLE_OCTCONV_HOME`` if that
  environment variable is set, else ``~/.cache/paddle_octconv``. Nothing is ever downloaded: when
  the file is absent the error says which file to put there and how to make it.

Loading is strict: every key and shape of the file must match the model, and an error names the
missing, unexpected and mismatched keys. A model may name state-dict prefixes it leaves out of
the network the file is for (``left_out``: a :class:`models.features.FeatureNet`'s head and
unused stages); the file's keys under them are ignored, every other one is checked as strictly.
One exception, the classifier rule: when the only
difference is the shape of the classifier (``fc.weight`` / ``fc.bias``) because the model was built
with another ``num_classes`` than the checkpoint's, everything else is loaded, the classifier keeps
its fresh initialisation, and a ``UserWarning`` says so (the usual fine-tuning start).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, TypeVar, Union

import paddle
import paddle.nn as nn

from .records import VARIANTS, PublishedCheckpoint

__all__ = [
    "ENV_CACHE_DIR",
    "PublishedCheckpoint",
    "PUBLISHED_CHECKPOINTS",
    "IncompatibleWeightsError",
    "KeyCheck",
    "cache_dir",
    "resolve_pretrained",
    "check_state_dict",
    "describe_key_check",
    "load_weights",
    "build_with_weights",
]

PretrainedArg = Union[bool, str, os.PathLike]
Model = TypeVar("Model", bound=nn.Layer)

ENV_CACHE_DIR = "PADDLE_OCTCONV_HOME"
_DEFAULT_CACHE_DIR = "~/.cache/paddle_octconv"
_TORCH_SUFFIXES = (".pth", ".pt", ".tar", ".ckpt")


# Public checkpoints that models.convert reads, by architecture (from models.records).
PUBLISHED_CHECKPOINTS: Dict[str, PublishedCheckpoint] = {
    name: record.checkpoint for name, record in VARIANTS.items() if record.checkpoint is not None
}


class IncompatibleWeightsError(ValueError):
    """A state dict whose keys or shapes do not match the model it is loaded into."""


class KeyCheck(NamedTuple):
    """The differences between a model's state dict and a loaded one (sorted key names)."""

    missing: List[str]
    unexpected: List[str]
    mismatched: List[Tuple[str, List[int], List[int]]]  # (key, model shape, file shape)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)


def cache_dir() -> Path:
    """The folder ``pretrained=True`` reads: $PADDLE_OCTCONV_HOME, else ~/.cache/paddle_octconv."""
    return Path(os.environ.get(ENV_CACHE_DIR) or _DEFAULT_CACHE_DIR).expanduser()


def _how_to_make(arch: str, path: Path) -> str:
    published = PUBLISHED_CHECKPOINTS.get(arch)
    record = VARIANTS.get(arch)
    foreign = record.foreign_checkpoint if record is not None else ""
    if published is None:
        origin = (
            f"No public ImageNet checkpoint exists for {arch} in a layout models.convert reads"
            + (f" (the official one, {foreign}, is an MXNet network of another layout)"
               if foreign else "")
            + f"; train one and save it there with paddle.save(model.state_dict(), "
            f"{str(path)!r})."
        )
    else:
        origin = (
            f"Download the PyTorch checkpoint of {arch} ({published.options_text}, ImageNet "
            f"top-1 {published.top1}) linked in the README of {published.source.name} "
            f"({published.source.url}) and convert it:\n"
            f"    python -m models.convert --arch {arch} --src <downloaded .pth> --dst {path}"
        )
    return (
        f"{origin}\nAlternatively pass pretrained='<file>.pdparams' to load a state dict from "
        f"elsewhere. The cache folder is ${ENV_CACHE_DIR} if set, else {_DEFAULT_CACHE_DIR}; "
        "nothing is downloaded."
    )


def resolve_pretrained(arch: str, pretrained: PretrainedArg) -> Optional[Path]:
    """The ``.pdparams`` file ``pretrained`` refers to for ``arch``, or None for ``False``.

    Raises:
        TypeError: ``pretrained`` is not a bool, str or path.
        FileNotFoundError: the file does not exist (the message says how to make it).
        ValueError: the path is a PyTorch checkpoint, which has to be converted first.
    """
    if pretrained is False or pretrained is None:
        return None
    if pretrained is True:
        record = VARIANTS.get(arch)
        path = cache_dir() / (record.checkpoint_file if record else f"{arch}.pdparams")
        if not path.is_file():
            raise FileNotFoundError(
                f"pretrained=True loads the Paddle weights of {arch} from {path}, which does not "
                f"exist.\n{_how_to_make(arch, path)}"
            )
        return path
    if not isinstance(pretrained, (str, os.PathLike)):
        raise TypeError(
            "pretrained must be False, True or the path of a .pdparams file, got "
            f"{type(pretrained).__name__} {pretrained!r}"
        )
    path = Path(pretrained).expanduser()
    if path.suffix in _TORCH_SUFFIXES:
        raise ValueError(
            f"pretrained={str(pretrained)!r} looks like a PyTorch checkpoint; convert it first:\n"
            f"    python -m models.convert --arch {arch} --src {path} "
            f"--dst {path.with_suffix('.pdparams')}"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained={str(pretrained)!r}: no such file ({path.resolve()}).\n"
            f"{_how_to_make(arch, path)}"
        )
    return path


def check_state_dict(model: nn.Layer, state: Mapping[str, object]) -> KeyCheck:
    """Compare the keys and shapes of ``state`` with ``model.state_dict()``."""
    expected = {key: list(value.shape) for key, value in model.state_dict().items()}
    got = {key: list(getattr(value, "shape", ())) for key, value in state.items()}
    return KeyCheck(
        missing=sorted(set(expected) - set(got)),
        unexpected=sorted(set(got) - set(expected)),
        mismatched=sorted(
            (key, expected[key], got[key])
            for key in set(expected) & set(got) if expected[key] != got[key]
        ),
    )


def describe_key_check(check: KeyCheck, limit: int = 12) -> str:
    """One indented line per kind of difference, naming up to ``limit`` keys each."""
    def listing(title: str, items: List[str]) -> str:
        shown = ", ".join(items[:limit])
        more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
        return f"\n  {title} ({len(items)}): {shown}{more}"

    text = ""
    if check.missing:
        text += listing("missing from the file", check.missing)
    if check.unexpected:
        text += listing("unexpected in the file", check.unexpected)
    if check.mismatched:
        text += listing("shape mismatch (model vs file)",
                        [f"{key} {ours} vs {theirs}" for key, ours, theirs in check.mismatched])
    return text


def load_weights(model: nn.Layer, state: Mapping[str, object], source: str = "the state dict",
                 classifier: str = "fc") -> List[str]:
    """Load ``state`` into ``model`` after a strict key and shape check.

    Args:
        model: the model to fill.
        state: a Paddle state dict (name -> Tensor or ndarray).
        source: how to name ``state`` in messages (e.g. its path).
        classifier: the name of the model's final Linear layer, for the classifier rule.

    Returns:
        The keys left out by the classifier rule (empty when everything was loaded); keys under
        ``model.left_out`` (a feature extractor's head) are ignored and not listed.

    Raises:
        IncompatibleWeightsError: keys are missing or unexpected, or shapes differ outside the
            classifier (the message counts each kind and names the first keys of each).
    """
    left_out = tuple(getattr(model, "left_out", ()))
    if left_out:  # e.g. fc.* of a classification checkpoint loaded into a FeatureNet
        state = {key: value for key, value in state.items() if not key.startswith(left_out)}
    check = check_state_dict(model, state)
    classifier_only = all(key.startswith(classifier + ".") for key, _, _ in check.mismatched)
    skipped: List[str] = []
    if check.mismatched and classifier_only and not check.missing and not check.unexpected:
        skipped = [key for key, _, _ in check.mismatched]
        shapes = "; ".join(f"{key} {ours} in the model vs {theirs} in the file"
                           for key, ours, theirs in check.mismatched)
        warnings.warn(
            f"{source}: the classifier shapes differ ({shapes}): num_classes differs from the "
            f"checkpoint's. Loaded every other weight; {', '.join(skipped)} keep their fresh "
            "initialisation.",
            UserWarning, stacklevel=2,
        )
        own = model.state_dict()
        state = {**state, **{key: own[key] for key in skipped}}
    elif not check.ok:
        raise IncompatibleWeightsError(
            f"{source} does not fit {type(model).__name__}:{describe_key_check(check)}\n"
            "Check the architecture and its options (alpha, width_mult, small_input, in_channels)."
        )
    model.set_state_dict(dict(state))
    return skipped


def build_with_weights(arch: str, pretrained: PretrainedArg, build: Callable[[], Model],
                       classifier: str = "fc") -> Model:
    """``build()`` the model of ``arch`` and load the weights ``pretrained`` refers to into it.

    The weights file is looked for first, so a missing file fails fast, before the model is built.

    Raises:
        as :func:`resolve_pretrained` and :func:`load_weights`; ValueError for an unreadable file.
    """
    path = resolve_pretrained(arch, pretrained)
    model = build()
    if path is None:
        return model
    try:
        state = paddle.load(str(path))
    except Exception as error:  # paddle.load raises many types for truncated or foreign files
        raise ValueError(f"{path} cannot be read by paddle.load: {error}") from error
    if not isinstance(state, Mapping):
        raise IncompatibleWeightsError(
            f"{path} holds a {type(state).__name__}, not a state dict (name -> tensor)"
        )
    load_weights(model, state, source=str(path), classifier=classifier)
    return model
