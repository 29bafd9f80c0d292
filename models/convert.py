"""Convert a PyTorch checkpoint in the d-li14/octconv.pytorch layout into a Paddle ``.pdparams``.

    python -m models.convert --arch oct_resnet50 --src oct_resnet50.pth --dst oct_resnet50.pdparams

Parameter names are the same in both frameworks; what differs is handled here:

- a ``{'state_dict': ...}`` wrapper and the ``module.`` prefix of (Distributed)DataParallel are
  removed;
- BatchNorm ``running_mean`` / ``running_var`` become ``_mean`` / ``_variance``, and
  ``num_batches_tracked`` (unused by Paddle) is dropped;
- Linear weights, stored [out, in] by PyTorch, are transposed to Paddle's [in, out];
- floating-point tensors are stored as float32.

The result is checked against the model the builder makes (``num_classes`` is read from the
checkpoint's classifier): every key and shape must match, or nothing is written. Without
``--dst`` the file goes to the cache folder that ``pretrained=True`` reads.

Only this command needs PyTorch (``pip install torch``, or the ``convert`` extra of this package);
the conversion of an already loaded state dict (:func:`convert_state_dict`) does not.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import paddle
import paddle.nn as nn

from .records import VARIANTS
from .registry import create_model
from .weights import cache_dir, load_weights

__all__ = ["D_LI14_ARCHS", "unwrap_checkpoint", "convert_state_dict", "load_torch_checkpoint",
           "convert", "main"]

#: The builders with d-li14/octconv.pytorch's networks, whose checkpoints this converts: its
#: Oct-ResNets (no SE, grouped or plug-in convs: the records' architectures with only ``layers``)
#: and its Oct-MobileNet V1.
D_LI14_ARCHS = tuple(name for name, record in VARIANTS.items()
                     if record.family in ("oct_resnet", "oct_mobilenet") and set(record.arch) <= {"layers"})

_BN_BUFFERS = {"running_mean": "_mean", "running_var": "_variance"}
_DROPPED = ("num_batches_tracked",)
_PREFIX = "module."


def unwrap_checkpoint(checkpoint: Mapping[str, Any]) -> Dict[str, Any]:
    """The state dict in ``checkpoint`` (its ``'state_dict'`` entry if any), without ``module.``."""
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"a checkpoint must be a dict, got {type(checkpoint).__name__}")
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise ValueError(f"checkpoint['state_dict'] must be a dict, got {type(state).__name__}")
    return {key[len(_PREFIX):] if key.startswith(_PREFIX) else key: value
            for key, value in state.items()}


def convert_state_dict(torch_state: Mapping[str, Any], model: nn.Layer) -> Dict[str, np.ndarray]:
    """Rename and reshape a PyTorch state dict (values: arrays or tensors) for ``model``.

    Args:
        torch_state: the PyTorch state dict, already unwrapped (see :func:`unwrap_checkpoint`).
        model: the Paddle model it is meant for; its Linear layers say which weights to transpose.

    Returns:
        A Paddle state dict of numpy arrays (not yet checked against ``model``).
    """
    linear_weights = {f"{name}.weight" for name, layer in model.named_sublayers()
                      if isinstance(layer, nn.Linear)}
    converted: Dict[str, np.ndarray] = {}
    for key, value in torch_state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in _DROPPED:
            continue
        if leaf in _BN_BUFFERS:
            key = f"{prefix}.{_BN_BUFFERS[leaf]}" if prefix else _BN_BUFFERS[leaf]
        array = _to_numpy(key, value)
        if key in linear_weights:
            array = array.T
        if np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float32)
        converted[key] = np.ascontiguousarray(array)
    return converted


def _to_numpy(key: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{key}: expected a tensor, got {type(value).__name__}")
    return value


def load_torch_checkpoint(path: os.PathLike) -> Dict[str, Any]:
    """Read a ``.pth`` with PyTorch (``weights_only=True``: runs no code); unwrap its state dict."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            "models.convert reads PyTorch checkpoints and needs PyTorch, which is not installed. "
            "Install the CPU build with `pip install torch --index-url "
            "https://download.pytorch.org/whl/cpu` (or `pip install paddle-octconv[convert]`); "
            "nothing else in paddle-octconv needs it."
        ) from error
    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types (UnpicklingError, RuntimeError, ...)
        raise ValueError(f"cannot read {path} as a PyTorch checkpoint: {error}") from error
    return unwrap_checkpoint(checkpoint)


def _num_classes(state: Mapping[str, Any], classifier: str = "fc") -> int:
    bias = state.get(f"{classifier}.bias")
    if bias is None:
        raise ValueError(
            f"the checkpoint has no {classifier}.bias, so it is not a d-li14/octconv.pytorch "
            f"classification model; its first keys are {list(state)[:5]}"
        )
    return int(bias.shape[0])


def convert(arch: str, src: os.PathLike, dst: os.PathLike, **model_kwargs) -> Path:
    """Convert the PyTorch checkpoint ``src`` of ``arch`` into ``dst`` (.pdparams); return ``dst``.

    Args:
        arch: a name of :func:`models.list_models` whose network is a d-li14 one (:data:`D_LI14_ARCHS`).
        src: the PyTorch checkpoint.
        dst: where to write the Paddle state dict (parent folders are created).
        **model_kwargs: builder options the checkpoint was trained with (e.g. ``alpha=0.5``).

    Raises:
        ImportError: PyTorch is not installed.
        ValueError: ``src`` is unreadable or not a classification state dict.
        IncompatibleWeightsError: the converted keys or shapes do not match the model (the
            message names them); nothing is written then.
    """
    torch_state = load_torch_checkpoint(src)
    model = create_model(arch, num_classes=_num_classes(torch_state), **model_kwargs)
    state = convert_state_dict(torch_state, model)
    load_weights(model, state, source=f"{src} (converted)")  # strict check: raises on any mismatch
    dst = Path(dst).expanduser()
    dst.parent.mkdir(parents=True, exist_ok=True)
    unfinished = dst.with_name(dst.name + ".partial")  # renamed when complete: no torn files
    paddle.save({key: paddle.to_tensor(value) for key, value in state.items()}, str(unfinished))
    os.replace(unfinished, dst)
    return dst


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models.convert",
        description="Convert a d-li14/octconv.pytorch checkpoint into a Paddle .pdparams file.",
    )
    parser.add_argument("--arch", required=True, choices=D_LI14_ARCHS,
                        help="model name (the architectures of d-li14/octconv.pytorch)")
    parser.add_argument("--src", required=True, type=Path, help="PyTorch checkpoint (.pth)")
    parser.add_argument("--dst", type=Path, default=None,
                        help="output .pdparams (default: <cache>/<arch>.pdparams, read by "
                             "pretrained=True; <cache> is $PADDLE_OCTCONV_HOME or "
                             "~/.cache/paddle_octconv)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="alpha the checkpoint was trained with (default: the builder's, 0.5)")
    parser.add_argument("--width-mult", type=float, default=None,
                        help="width_mult of an oct_mobilenet checkpoint (default 1.0)")
    args = parser.parse_args(argv)

    if not args.src.is_file():
        parser.error(f"--src {args.src}: no such file")
    dst = args.dst if args.dst is not None else cache_dir() / f"{args.arch}.pdparams"
    kwargs: Dict[str, Any] = {"alpha": VARIANTS[args.arch].alpha if args.alpha is None else args.alpha}
    if args.width_mult is not None:
        kwargs["width_mult"] = args.width_mult
    try:
        written = convert(args.arch, args.src, dst, **kwargs)
    except (ImportError, ValueError, TypeError) as error:
        print(f"models.convert: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written}: all keys and shapes match {args.arch}; load it with "
          f"{args.arch}(pretrained={str(written)!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
