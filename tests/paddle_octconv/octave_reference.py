"""Independent numpy reference of octave convolution, for the layer tests.

Everything here is float64 numpy written from the paper's description and the published channel
rules; nothing calls paddle_octconv, so a bug in the layer cannot hide in its own reference.
(The module name is specific on purpose: pytest puts each test folder on sys.path, and a bare
``reference`` could collide with another folder's helper.)
"""
from __future__ import annotations

import itertools
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np

PATHS = ("h2h", "h2l", "l2h", "l2l")


def conv(x, weight, bias=None, padding=0, dilation=1, groups=1):
    """Stride-1 grouped convolution over every axis after (N, C): 1-D (N, C, L), 2-D (N, C, H, W)
    or 3-D (N, C, D, H, W) (cross-correlation, as deep-learning frameworks define it).
    ``padding`` and ``dilation``: an int for every axis, or one int per axis."""
    n, c_in, *size = x.shape
    c_out, c_per_group, *kernel = weight.shape
    assert len(size) == len(kernel), (x.shape, weight.shape)
    assert c_in == c_per_group * groups and c_out % groups == 0, (x.shape, weight.shape, groups)
    pads = (padding,) * len(size) if np.isscalar(padding) else tuple(padding)
    dils = (dilation,) * len(size) if np.isscalar(dilation) else tuple(dilation)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in pads))
    out_size = [s + 2 * p - d * (k - 1) for s, p, d, k in zip(size, pads, dils, kernel)]
    xg = xp.reshape(n, groups, c_per_group, *xp.shape[2:])
    wg = weight.reshape(groups, c_out // groups, c_per_group, *kernel)
    out = np.zeros((n, groups, c_out // groups, *out_size))
    for offset in itertools.product(*(range(k) for k in kernel)):  # one kernel tap at a time
        window = tuple(slice(o * d, o * d + s) for o, d, s in zip(offset, dils, out_size))
        out += np.einsum("ngc...,goc->ngo...", xg[(Ellipsis, *window)], wg[(Ellipsis, *offset)])
    out = out.reshape(n, c_out, *out_size)
    return out if bias is None else out + bias.reshape(1, -1, *[1] * len(size))


def avg_pool_2x_ceil(x):
    """Window-2/stride-2 mean on every spatial axis, to ceil(side / 2) (L; H, W; or D, H, W); a
    window cut by an odd edge averages what it holds."""
    n, c, *size = x.shape
    padded = np.full((n, c, *(s + s % 2 for s in size)), np.nan)
    padded[(slice(None), slice(None), *(slice(0, s) for s in size))] = x
    pairs = [d for s in size for d in ((s + 1) // 2, 2)]  # each side -> (side / 2, 2)
    return np.nanmean(padded.reshape(n, c, *pairs), axis=tuple(3 + 2 * i for i in range(len(size))))


def upsample_nearest_2x(x, size):
    """Repeat every element 2x along each spatial axis, then keep the first ``size`` (odd sides)."""
    for axis in range(2, x.ndim):
        x = x.repeat(2, axis=axis)
    return x[(slice(None), slice(None), *(slice(0, s) for s in size))]


def split(channels: int, alpha: float) -> Tuple[int, int]:
    """(high, low) channels under the published rule: low = int(alpha * C)."""
    low = int(alpha * channels)
    return channels - low, low


class PathSpec(NamedTuple):
    weight_shape: Tuple[int, ...]  # (C_out, C_in / groups, *kernel)
    groups: int


def path_specs(in_channels, out_channels, kernel, alpha_in, alpha_out, groups=1, dims=2
               ) -> Dict[str, PathSpec]:
    """Weight shape and group count of every path the documented layer has, with a ``kernel``
    wide kernel on each of ``dims`` spatial axes.

    groups=1 is an ordinary conv on every path. Otherwise the groups keep the width
    in_channels / groups and are shared out between the high and low input parts; each path uses
    the groups of the part it reads. Depthwise (groups == in_channels > 1)
    has no cross paths, as in the paper and the reference code.
    """
    in_high, in_low = split(in_channels, alpha_in)
    out_high, out_low = split(out_channels, alpha_out)
    width = in_channels // groups
    groups_of = {"h": 1, "l": 1} if groups == 1 else {"h": in_high // width, "l": in_low // width}
    c_in = {"h": in_high, "l": in_low}
    c_out = {"h": out_high, "l": out_low}
    depthwise = groups == in_channels > 1
    specs = {}
    for name in PATHS:
        src, dst = name[0], name[2]
        if c_in[src] and c_out[dst] and not (depthwise and src != dst):
            g = groups_of[src]
            specs[name] = PathSpec((c_out[dst], c_in[src] // g) + (kernel,) * dims, g)
    return specs


def octave_conv(x_high: Optional[np.ndarray], x_low: Optional[np.ndarray], weights: Dict[str, np.ndarray],
                groups: Dict[str, int], stride=1, padding=0, dilation=1):
    """(y_high, y_low) of an octave convolution in 1-D, 2-D or 3-D (the inputs' spatial axes); a
    path missing from ``weights`` does not exist.

    Stride 2 average-pools the inputs first; high -> low pools then convolves; low -> high
    convolves then upsamples to the high output's size (no upsample at stride 2, where the low
    input already has that size); an output part no path reaches is None.
    """
    if stride == 2 and x_high is not None:
        x_high = avg_pool_2x_ceil(x_high)
    high_size = x_high.shape[2:] if x_high is not None else tuple(2 * s for s in x_low.shape[2:])

    def run(name, x):
        return conv(x, weights[name], padding=padding, dilation=dilation, groups=groups[name])

    high_terms, low_terms = [], []
    if "h2h" in weights:
        high_terms.append(run("h2h", x_high))
    if "l2h" in weights:
        l2h = run("l2h", x_low)
        high_terms.append(upsample_nearest_2x(l2h, high_size) if stride == 1 else l2h)
    if "h2l" in weights:
        low_terms.append(run("h2l", avg_pool_2x_ceil(x_high)))
    if "l2l" in weights:
        low_terms.append(run("l2l", avg_pool_2x_ceil(x_low) if stride == 2 else x_low))
    return (sum(high_terms) if high_terms else None, sum(low_terms) if low_terms else None)


def batch_norm_eval(x, mean, variance, weight, bias, epsilon=1e-5):
    """Inference-mode BatchNorm over the channel axis of (N, C, *spatial)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(variance.reshape(shape) + epsilon) * weight.reshape(shape) \
        + bias.reshape(shape)
