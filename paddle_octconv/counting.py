"""Parameter and multiply-accumulate counting for octave (and plain) networks.

``count_flops`` counts the multiply-accumulates (MACs) of every convolution (transposed ones too)
and linear layer at the sizes it really sees during one forward pass, so half-resolution octave
paths count a quarter (in 2-D; a half in 1-D, an eighth in 3-D).
This is the convention of the published OctConv figures (Oct-ResNet-50: 2.367G at 224x224).
1-D, 2-D and 3-D models are counted alike: (N, C, L), (N, C, H, W) and (N, C, D, H, W) inputs.
It does not use ``paddle.flops``, which crashes on numpy >= 2.4 (Paddle 3.3.1).

To use ``paddle.flops`` itself on these models, install ``numpy<2.4``; it reaches the Conv2D
sub-layers of each OctaveConv through its hooks, but also counts BatchNorm, activations and
pools, so its total is larger than the conv + linear MACs reported here.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import paddle
import paddle.nn as nn

from .octconv import _OctaveConvNd

__all__ = ["count_params", "count_flops"]


def count_params(model: nn.Layer) -> int:
    """Number of trainable parameters (BatchNorm running statistics are not counted)."""
    if not isinstance(model, nn.Layer):
        raise TypeError(f"count_params expects a paddle.nn.Layer, got {type(model).__name__}")
    return int(sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient))


#: The plain convolutions counted: output elements * (in_channels / groups) * kernel volume.
_CONVS = (nn.Conv1D, nn.Conv2D, nn.Conv3D)
#: Transposed convolutions: every input element times (out_channels / groups) * kernel volume
#: (the products a transposed conv scatters into its output; zero-insertion is not counted).
_TRANSPOSED_CONVS = (nn.Conv1DTranspose, nn.Conv2DTranspose, nn.Conv3DTranspose)


def _conv_macs(conv: nn.Layer, output: paddle.Tensor) -> int:
    in_per_group = conv._in_channels // conv._groups
    kernel = int(np.prod(conv._kernel_size))
    return int(np.prod(output.shape)) * in_per_group * kernel


def _transposed_conv_macs(conv: nn.Layer, x: paddle.Tensor) -> int:
    # weight: (C_in, C_out / groups, *kernel)
    return int(np.prod(x.shape)) * int(np.prod(conv.weight.shape[1:]))


def _octave_conv_macs(layer: _OctaveConvNd, inputs, output) -> int:
    """MACs of each octave path at the resolution it is computed at.

    h2h runs at the high output's size, h2l and l2l at the low output's, l2h at x_low's size
    (before the upsample); "size" is the product of the spatial sides, in any dimension.
    """
    x = inputs[0]
    x_low = None if isinstance(x, paddle.Tensor) else x[1]
    per_pixel = {
        name: conv._out_channels * (conv._in_channels // conv._groups) * int(np.prod(conv._kernel_size))
        for name in ("conv_h2h", "conv_h2l", "conv_l2h", "conv_l2l")
        if (conv := getattr(layer, name)) is not None
    }
    y_high, y_low = output
    pixels = {
        "conv_h2h": y_high, "conv_l2h": x_low, "conv_h2l": y_low, "conv_l2l": y_low,
    }
    total = 0
    for name, macs_per_pixel in per_pixel.items():
        ref = pixels[name]
        total += macs_per_pixel * int(ref.shape[0]) * int(np.prod(ref.shape[2:]))
    return total


def count_flops(model: nn.Layer, input_size: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass on a zero input of ``input_size``.

    Args:
        model: any ``paddle.nn.Layer`` taking one (N, C, L), (N, C, H, W) or (N, C, D, H, W)
            Tensor.
        input_size: (N, C, L), (N, C, H, W) or (N, C, D, H, W); the count covers the whole
            batch (use N=1 for per-sample figures).

    Returns:
        MACs of every Conv1D / Conv2D / Conv3D (the paths of OctaveConv1D / OctaveConv /
        OctaveConv3D included), Conv1DTranspose / Conv2DTranspose / Conv3DTranspose and Linear
        layer, as an int. Other layers (pools, norms, activations, functional ops) count 0.
    """
    if not isinstance(model, nn.Layer):
        raise TypeError(f"count_flops expects a paddle.nn.Layer, got {type(model).__name__}")
    if not 3 <= len(input_size) <= 5 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in input_size):
        raise ValueError("input_size must be 3 to 5 positive ints, (N, C, L), (N, C, H, W) or "
                         f"(N, C, D, H, W), got {tuple(input_size)}")

    counts: Dict[int, int] = {}
    handles = []
    inside_octave = {
        id(conv)
        for layer in model.sublayers(include_self=True) if isinstance(layer, _OctaveConvNd)
        for conv in layer.sublayers()
    }

    def hook(layer, inputs, output):
        if isinstance(layer, _OctaveConvNd):
            macs = _octave_conv_macs(layer, inputs, output)
        elif isinstance(layer, _CONVS):
            macs = _conv_macs(layer, output)
        elif isinstance(layer, _TRANSPOSED_CONVS):
            macs = _transposed_conv_macs(layer, inputs[0])
        else:  # nn.Linear: in_features * out_features per row
            macs = int(np.prod(output.shape)) * layer.weight.shape[0]
        counts[id(layer)] = counts.get(id(layer), 0) + macs

    for layer in model.sublayers(include_self=True):
        if isinstance(layer, _OctaveConvNd) or (
            isinstance(layer, (*_CONVS, *_TRANSPOSED_CONVS, nn.Linear)) and id(layer) not in inside_octave
        ):
            handles.append(layer.register_forward_post_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            model(paddle.zeros(list(input_size), dtype="float32"))
    finally:
        for handle in handles:
            handle.remove()
        if was_training:
            model.train()
    return int(sum(counts.values()))
