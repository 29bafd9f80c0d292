"""Octave convolution (Chen et al., "Drop an Octave", ICCV 2019, arXiv 1904.05049), in 1-D, 2-D and 3-D.

A feature map with C channels is split into a high-frequency part of ``C - int(alpha * C)``
channels at full resolution and a low-frequency part of ``int(alpha * C)`` channels at half
resolution along every spatial axis. Four convolutions connect the parts:

    high -> high   conv(x_high)
    high -> low    conv(avg_pool_2x(x_high))
    low  -> high   upsample_nearest_2x(conv(x_low))
    low  -> low    conv(x_low)

Size rule: the low map of a high map of spatial size S is always ``ceil(S / 2)`` on each axis:
(N, C, L) -> ceil(L/2) for :class:`OctaveConv1D`, (N, C, H, W) -> (ceil(H/2), ceil(W/2)) for
:class:`OctaveConv`, (N, C, D, H, W) -> (ceil(D/2), ceil(H/2), ceil(W/2)) for
:class:`OctaveConv3D`. The average pool (window 2 and stride 2 on every axis) runs in ceil mode
and averages only the elements that exist (a trailing odd row is averaged with itself), and the
upsample is cropped to exactly the high map's size, so any input size works, odd sides included.

The three layers are one implementation, :class:`_OctaveConvNd`, instantiated with the ops of
their number of spatial dimensions (:class:`_Spatial`).
"""
from __future__ import annotations

import math
from typing import Callable, ClassVar, Dict, NamedTuple, Optional, Sequence, Tuple, Type, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ._checks import check_int

__all__ = [
    "OctaveChannels",
    "OctaveFeatures",
    "OctaveConv",
    "OctaveConv1D",
    "OctaveConv3D",
    "PathWeights",
    "split_channels",
    "low_frequency_size",
]

#: An int for every spatial axis, or one int per axis: (k,), (kh, kw) or (kd, kh, kw).
IntPair = Union[int, Sequence[int]]

# Under ``paddle.jit.to_static`` a layer sees ``paddle.pir.Value`` (``paddle.static.Variable`` on
# the legacy static graph), not ``paddle.Tensor``: the input checks must accept all three, or an
# exported model would reject its own input.
_TENSOR_TYPES = (paddle.Tensor, paddle.pir.Value, paddle.static.Variable)


class OctaveChannels(NamedTuple):
    """Channel counts of the high- and low-frequency parts of a feature map."""

    high: int
    low: int


class OctaveFeatures(NamedTuple):
    """A feature map split by frequency.

    ``high`` is (N, C_high, H, W) and ``low`` is (N, C_low, ceil(H / 2), ceil(W / 2)); a part
    without channels is None. The channel rule is :func:`split_channels`'s, C_low =
    ``int(alpha * C)`` and C_high = C - C_low, so ``low`` is None whenever ``int(alpha * C) == 0``
    (alpha == 0, but also e.g. alpha = 0.1 with C = 8) and ``high`` is None when alpha == 1.
    The 1-D and 3-D layers give (N, C_high, L) with (N, C_low, ceil(L / 2)), and
    (N, C_high, D, H, W) with (N, C_low, ceil(D / 2), ceil(H / 2), ceil(W / 2)).
    """

    high: Optional[paddle.Tensor]
    low: Optional[paddle.Tensor]


def split_channels(channels: int, alpha: float) -> OctaveChannels:
    """Split ``channels`` into (high, low) as the published implementations do.

    ``low = int(alpha * channels)`` and ``high = channels - low``. Every layer and model here uses
    this one rule, so conv weights, BatchNorm widths and public checkpoints always agree.

    Args:
        channels: total channel count C (>= 0).
        alpha: fraction of channels in the low-frequency part, in [0, 1].
    """
    _check_alpha("alpha", alpha)
    check_int("channels", channels, minimum=0)
    low = int(alpha * channels)
    return OctaveChannels(high=channels - low, low=low)


def low_frequency_size(size: int) -> int:
    """Side of the low-frequency map for a high-frequency side ``size`` (>= 1): ``ceil(size / 2)``."""
    check_int("size", size, minimum=1)
    return (size + 1) // 2


def _check_alpha(name: str, alpha: float) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"{name} must be a float in [0, 1], got {type(alpha).__name__} {alpha!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {alpha}")


def _ntuple(name: str, value: IntPair, n: int) -> Tuple[int, ...]:
    """``value`` as one int per spatial axis: an int is repeated, a sequence must have ``n``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n
    if (
        isinstance(value, (tuple, list))
        and len(value) == n
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return tuple(value)
    what = "a pair of ints" if n == 2 else f"a tuple of {n} int{'s' if n > 1 else ''}"
    raise TypeError(f"{name} must be an int or {what} (one per spatial axis), got {value!r}")


def _pair(name: str, value: IntPair) -> Tuple[int, int]:
    return _ntuple(name, value, 2)


class _Spatial(NamedTuple):
    """What depends on the number of spatial dimensions: Paddle's layers and ops, and the names
    of the axes (for shapes in messages)."""

    dims: int
    axes: Tuple[str, ...]
    conv_layer: Type[nn.Layer]
    conv: Callable[..., paddle.Tensor]
    avg_pool: Callable[..., paddle.Tensor]
    norm_layer: Type[nn.Layer]  # the default norm of the BN blocks

    @property
    def layout(self) -> str:
        """The input layout, e.g. ``(N, C, H, W)``."""
        return f"(N, C, {', '.join(self.axes)})"


_SPATIAL = {
    1: _Spatial(1, ("L",), nn.Conv1D, F.conv1d, F.avg_pool1d, nn.BatchNorm1D),
    2: _Spatial(2, ("H", "W"), nn.Conv2D, F.conv2d, F.avg_pool2d, nn.BatchNorm2D),
    3: _Spatial(3, ("D", "H", "W"), nn.Conv3D, F.conv3d, F.avg_pool3d, nn.BatchNorm3D),
}


def _pool(x: paddle.Tensor) -> paddle.Tensor:
    """Average pool with window 2 and stride 2 on every spatial axis of (N, C, L), (N, C, H, W) or
    (N, C, D, H, W), to ceil(size / 2) per axis; a partial window averages the elements it holds."""
    return _SPATIAL[x.ndim - 2].avg_pool(x, kernel_size=2, stride=2, ceil_mode=True, exclusive=True)


@paddle.jit.not_to_static
def _upsample_to(x: paddle.Tensor, x_high: Optional[paddle.Tensor]) -> paddle.Tensor:
    """Nearest 2x upsample of ``x`` along every spatial axis, cropped to ``x_high``'s spatial size
    (no crop when None). ``x`` is (N, C, L), (N, C, H, W) or (N, C, D, H, W), as ``x_high`` is.

    One result, an op chosen per graph kind, because no single op is right in all of them on
    Paddle 3.3.1:

    - dygraph: ``F.interpolate`` nearest to the target size (odd sides pick ``floor(i / 2)``, the
      cropped 2x repeat). Fastest there, and its backward keeps no activation alive.
    - static graphs (``jit.save``, the inference predictor, paddle2onnx): any nearest-interpolation
      op makes the oneDNN predictor's ``run()`` fail, so the upsample is a transposed conv with
      a 2x2 kernel that copies each pixel into its 2x2 block of the same channel. Under PIR the
      ``conv2d_transpose`` op is emitted directly: ``F.conv2d_transpose`` would emit
      ``depthwise_conv2d_transpose``, which has no oneDNN kernel and runs as a slow kernel
      wrapped in layout conversions, while ``conv2d_transpose`` runs as a oneDNN deconvolution.
      That deconvolution takes groups of ``_UPSAMPLE_GROUP_WIDTH`` channels with an identity
      kernel across each group rather than one channel per group: oneDNN's bfloat16 kernels
      handle one-channel groups poorly, and the wider groups cost fp32 nothing measurable
      (both measured: benchmarks/results/layer_choices.md). Odd sides are cropped with ``slice``
      (paddle2onnx 2.1 has no converter for ``crop`` and aborts). 3-D maps use
      ``conv3d_transpose`` with a 2x2x2 kernel (Paddle has no depthwise variant of it to avoid).
    - 1-D maps run as (N, C, L, 1), upsampled along L only: nearest interpolation accepts only
      4-D and 5-D tensors, and a 1-D transposed conv is a 2-D one inside Paddle anyway.
    """
    if x.ndim == 3:
        high = None if x_high is None else x_high.unsqueeze(-1)
        return _upsample_nd(x.unsqueeze(-1), high, factors=(2, 1)).squeeze(-1)
    return _upsample_nd(x, x_high, factors=(2,) * (x.ndim - 2))


#: Channels per group of the upsample's transposed conv in PIR graphs (fewer where C is not a
#: multiple: the greatest common divisor).
_UPSAMPLE_GROUP_WIDTH = 8


def _copy_kernel(channels: int, width: int, factors: Tuple[int, ...], dtype) -> paddle.Tensor:
    """The (channels, width, *factors) kernel of a transposed conv with groups of ``width``
    channels and stride ``factors`` that copies each input pixel of channel i into its block of
    output channel i: kernel[i, j] = 1 where j == i % width, else 0 (all ones when width is 1)."""
    if width == 1:
        return paddle.ones([channels, 1, *factors], dtype=dtype)
    copy = paddle.tile(paddle.eye(width, dtype=dtype), [channels // width, 1])
    return paddle.expand(copy.reshape([channels, width] + [1] * len(factors)),
                         [channels, width, *factors])


def _upsample_nd(x: paddle.Tensor, x_high: Optional[paddle.Tensor],
                 factors: Tuple[int, ...]) -> paddle.Tensor:
    """``_upsample_to`` of a 4-D or 5-D ``x`` by ``factors`` per spatial axis (each 1 or 2)."""
    if paddle.in_dynamic_mode():
        size = (list(x_high.shape[2:]) if x_high is not None
                else [f * s for f, s in zip(factors, x.shape[2:])])
        return F.interpolate(x, size=size, mode="nearest")
    channels = x.shape[1]
    if len(factors) == 3:
        y = F.conv3d_transpose(x, _copy_kernel(channels, 1, factors, x.dtype),
                               stride=list(factors), groups=channels)
    elif paddle.framework.in_pir_mode():
        width = math.gcd(channels, _UPSAMPLE_GROUP_WIDTH)
        y = paddle._C_ops.conv2d_transpose(x, _copy_kernel(channels, width, factors, x.dtype),
                                           list(factors), [0, 0], [], [], "EXPLICIT",
                                           channels // width, [1, 1], "NCHW")
    else:
        # The legacy static graph (FLAGS_enable_pir_api=0) keeps depthwise_conv2d_transpose:
        # there oneDNN's grouped conv2d_transpose measured 2x slower on a whole layer, and a
        # nearest interpolate, though the legacy predictor runs it, fails paddle2onnx.
        y = F.conv2d_transpose(x, _copy_kernel(channels, 1, factors, x.dtype),
                               stride=list(factors), groups=channels)
    if x_high is None:  # alpha_in == 1: the high map is defined as twice the low map
        return y
    high = list(x_high.shape[2:])
    if min(high) >= 0 and high == list(y.shape[2:]):  # static sizes that already agree
        return y
    axes = list(range(2, x.ndim))
    # Under PIR the int32 ``shape`` op has a oneDNN kernel; ``paddle.shape`` (int64 ``shape64``)
    # has none, so the predictor reordered all of x_high out of the oneDNN layout to read its sides.
    sides = (paddle._C_ops.shape(x_high) if paddle.framework.in_pir_mode() else paddle.shape(x_high))[2:]
    return paddle.slice(y, axes=axes, starts=[0] * len(axes), ends=sides)


# ------------------------------------------------------------------- CPU training fast paths
# Paddle 3.3's CPU conv2d and depthwise_conv2d kernels (forward and backward) loop over the batch
# and the groups, calling im2col and one small GEMM per (sample, group). On the small maps and
# narrow layers of 32x32 training that per-call cost is most of a step: in the default train.py
# job (Oct-MobileNet x0.25, batch 32) depthwise and 1x1 convs were 87% of it. In dygraph on CPU a
# path conv therefore runs, where that was measured faster, as ``unfold_matmul``: the patches of
# the whole batch (``F.unfold``; a 1x1 conv needs none) times the weight in ONE batched matmul,
#
#     (G, C_out/G, C_in/G*kh*kw) @ (N, G, C_in/G*kh*kw, H'*W') -> (N, G, C_out/G, H'*W'),
#
# whose backward is two more matmuls and a ``fold``. It is the same sum of products in another
# order (outputs and gradients equal to float32 rounding; tests/paddle_octconv/test_fast_paths.py).
# It loses to the native kernel on large maps, where that kernel's per-sample GEMMs are already
# big, so it applies below size limits measured on two CPU kinds (forward + backward, batch 32;
# the figures are in benchmarks/results/layer_choices.md):
#   1x1, groups 1: any size (its "patches" are the input itself: no extra memory)
#   depthwise k x k: H'*W' <= 64. The unfolded patches, k*k times the input, stay alive for the
#     backward, so on larger maps the path costs a network's training much memory for a
#     speed-up that is small on an AVX2 EPYC and a loss on an AVX-512 one.
#   dense k x k: H'*W' <= 64
# Non-CPU places (cuDNN) and static eval graphs (jit.save, the predictor, ONNX) always use F.conv2d;
# a static *training* graph (a jit.to_static train step on CPU) takes the fast path as dygraph does.

#: Largest output H' * W' at which a depthwise path runs as ``unfold_matmul``.
_DEPTHWISE_MAX_PIXELS = 64
#: Largest output H' * W' at which a dense (groups 1) k x k path, k > 1, runs as ``unfold_matmul``.
_DENSE_MAX_PIXELS = 64


def _output_size(x: paddle.Tensor, weight: paddle.Tensor, padding, dilation) -> Tuple[int, int]:
    """(H', W') of a stride-1 convolution."""
    return tuple(x.shape[2 + i] + 2 * padding[i] - dilation[i] * (weight.shape[2 + i] - 1)
                 for i in range(2))


def _unfold_matmul(x: paddle.Tensor, weight: paddle.Tensor, padding: Tuple[int, int],
                   dilation: Tuple[int, int], groups: int) -> paddle.Tensor:
    """Stride-1 grouped conv2d of (N, C_in, H, W) by (C_out, C_in / G, kh, kw) as one matmul."""
    n, c_in, h, w = x.shape
    c_out, c_group, kh, kw = weight.shape
    out_h, out_w = _output_size(x, weight, padding, dilation)
    if (kh, kw) == (1, 1) and tuple(padding) == (0, 0):
        cols = x.reshape([n, c_in, h * w])  # a 1x1 conv's patches are the pixels themselves
    else:
        cols = F.unfold(x, [kh, kw], paddings=list(padding), dilations=list(dilation))
    patch = c_group * kh * kw
    if groups == 1:
        y = paddle.matmul(weight.reshape([c_out, patch]), cols)
    else:
        y = paddle.matmul(weight.reshape([1, groups, c_out // groups, patch]),
                          cols.reshape([n, groups, patch, out_h * out_w]))
    return y.reshape([n, c_out, out_h, out_w])


def _unfold_matmul_pays(x, weight, padding, dilation, groups: int) -> bool:
    """Whether ``unfold_matmul`` measured faster than the native kernel for this conv."""
    out_h, out_w = _output_size(x, weight, padding, dilation)
    if groups == 1:
        return tuple(weight.shape[2:]) == (1, 1) or out_h * out_w <= _DENSE_MAX_PIXELS
    depthwise = groups == x.shape[1] > 1 and weight.shape[1] == 1
    return depthwise and out_h * out_w <= _DEPTHWISE_MAX_PIXELS


def _runs_on_cpu(x: paddle.Tensor) -> bool:
    if paddle.in_dynamic_mode():
        return x.place.is_cpu_place()
    return paddle.get_device() == "cpu"  # a static graph runs where the process's device is


def cpu_formulation(x: paddle.Tensor, weight: paddle.Tensor, bias: Optional[paddle.Tensor],
                    padding: Tuple[int, int], dilation: Tuple[int, int], groups: int,
                    training: bool = False) -> str:
    """How a stride-1 path conv of ``x`` (N, C_in, H, W) by ``weight`` (C_out, C_in / groups,
    kh, kw) runs here: ``"unfold_matmul"`` or ``"conv2d"`` (Paddle's own op).

    A module-level helper, not part of the package's public API (not in ``__all__``): the layers
    call it, and tests and benchmarks import it from ``paddle_octconv.octconv`` to see which
    formulation a conv gets.

    Dygraph on CPU takes the fast path where it pays. A static graph takes it only when it is a
    training graph (``training``: the layer is in train mode, e.g. a ``paddle.jit.to_static``
    train step) with static channel and map sizes; eval graphs, which ``jit.save``, the
    inference predictor and ONNX export see, keep ``conv2d`` for their oneDNN / ONNX kernels.
    """
    if bias is not None or not _runs_on_cpu(x):
        return "conv2d"
    if not paddle.in_dynamic_mode() and not (training and min(x.shape[1:]) > 0):
        return "conv2d"
    if _unfold_matmul_pays(x, weight, padding, dilation, groups):
        return "unfold_matmul"
    return "conv2d"


def _path_conv2d(x: paddle.Tensor, weight: paddle.Tensor, bias: Optional[paddle.Tensor],
                 padding: Tuple[int, int], dilation: Tuple[int, int], groups: int,
                 training: bool = False) -> paddle.Tensor:
    """The stride-1 convolution of one path, in the formulation chosen for its place and size."""
    if cpu_formulation(x, weight, bias, padding, dilation, groups, training) == "unfold_matmul":
        return _unfold_matmul(x, weight, padding, dilation, groups)
    return F.conv2d(x, weight, bias, 1, padding, dilation, groups)


def _path_conv(x: paddle.Tensor, weight: paddle.Tensor, bias: Optional[paddle.Tensor],
               padding: Tuple[int, ...], dilation: Tuple[int, ...], groups: int,
               training: bool = False) -> paddle.Tensor:
    """The stride-1 convolution of one path of any dimension: 2-D may take a CPU fast path
    (measured only there), 1-D and 3-D run Paddle's own conv1d / conv3d."""
    if x.ndim == 4:
        return _path_conv2d(x, weight, bias, padding, dilation, groups, training)
    return _SPATIAL[x.ndim - 2].conv(x, weight, bias, 1, list(padding), list(dilation), groups)


#: The ``weights`` argument of ``OctaveConv.convolve``: per path name (``"h2h"``, ``"h2l"``,
#: ``"l2h"``, ``"l2l"``) the (weight, bias) to convolve with instead of the path's own parameters;
#: weight (C_out_part, C_in_part / groups, *kernel), bias (C_out_part,) or None.
PathWeights = Dict[str, Tuple[paddle.Tensor, Optional[paddle.Tensor]]]


GROUP_SPLITS = ("width", "count")


class _OctaveConvNd(nn.Layer):
    """The octave convolution over ``_spatial.dims`` spatial axes: the one implementation behind
    :class:`OctaveConv1D`, :class:`OctaveConv` (2-D) and :class:`OctaveConv3D`.

    A subclass only names its :class:`_Spatial` (Paddle's ConvNd, pool and conv op); the channel
    split, groups, bias placement, size rule, input checks and the four paths are shared, so the
    three layers cannot drift apart. Arguments and shapes: see :class:`OctaveConv`.
    """

    _spatial: ClassVar[_Spatial]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        alpha_in: float = 0.5,
        alpha_out: float = 0.5,
        stride: int = 1,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = False,
        group_split: str = "width",
    ) -> None:
        super().__init__()
        name, dims = type(self).__name__, self._spatial.dims
        if group_split not in GROUP_SPLITS:
            raise ValueError(f"group_split must be one of {', '.join(map(repr, GROUP_SPLITS))}, "
                             f"got {group_split!r}")
        for arg, value in (("in_channels", in_channels), ("out_channels", out_channels),
                           ("groups", groups)):
            check_int(arg, value, minimum=1)
        _check_alpha("alpha_in", alpha_in)
        _check_alpha("alpha_out", alpha_out)
        if isinstance(stride, bool) or not isinstance(stride, int):
            raise TypeError(f"{name} stride must be the int 1 or 2, got {type(stride).__name__} {stride!r}")
        if stride not in (1, 2):
            raise ValueError(
                f"{name} supports stride 1 or 2 (stride 2 pools the inputs first), got {stride!r}"
            )
        kernel = _ntuple("kernel_size", kernel_size, dims)
        padding = _ntuple("padding", padding, dims)
        dilation = _ntuple("dilation", dilation, dims)

        self.in_split = split_channels(in_channels, alpha_in)
        self.out_split = split_channels(out_channels, alpha_out)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.alpha_in, self.alpha_out = float(alpha_in), float(alpha_out)
        self.stride, self.groups, self.group_split = stride, groups, group_split
        self.kernel_size, self.padding, self.dilation = kernel, padding, dilation
        self.is_depthwise = groups == in_channels > 1 and group_split == "width"

        has_low = self.in_split.low > 0 or self.out_split.low > 0
        same = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
        if has_low and (padding != same or any(k % 2 == 0 for k in kernel)):
            raise ValueError(
                f"{name} with a low-frequency part needs a size-preserving convolution: an odd "
                f"kernel with padding = dilation * (kernel_size - 1) // 2 = {same}; got "
                f"kernel_size={kernel}, padding={padding}, dilation={dilation}"
            )
        group_split = self._split_groups()

        def path(path_name: str, c_in: int, c_out: int, part_groups: int, with_bias: bool):
            if c_in == 0 or c_out == 0:
                return None
            if c_out % part_groups:
                raise ValueError(
                    f"{path_name}: {c_out} output channels are not divisible by its {part_groups} "
                    f"groups (in_channels={in_channels}, out_channels={out_channels}, groups={groups}, "
                    f"alpha_in={alpha_in}, alpha_out={alpha_out}); choose channels that split evenly"
                )
            return self._spatial.conv_layer(c_in, c_out, kernel, stride=1, padding=padding,
                                            dilation=dilation, groups=part_groups,
                                            bias_attr=None if with_bias else False)

        cin, cout = self.in_split, self.out_split
        self.conv_h2h = path("conv_h2h", cin.high, cout.high, group_split.high, bias)
        self.conv_l2l = path("conv_l2l", cin.low, cout.low, group_split.low, bias)
        cross = not self.is_depthwise
        self.conv_h2l = path("conv_h2l", cin.high if cross else 0, cout.low, group_split.high,
                             bias and self.conv_l2l is None)
        self.conv_l2h = path("conv_l2h", cin.low if cross else 0, cout.high, group_split.low,
                             bias and self.conv_h2h is None)

    def _split_groups(self) -> OctaveChannels:
        """Groups of the paths reading the high and the low input part."""
        groups, cin, cout = self.groups, self.in_split, self.out_split
        if groups == 1:
            return OctaveChannels(1, 1)
        if self.group_split == "count":
            uneven = [f"{name} {count}" for name, count in (
                ("high input", cin.high), ("low input", cin.low), ("high output", cout.high),
                ("low output", cout.low)) if count % groups]
            if uneven:
                raise ValueError(
                    f"group_split='count' gives every path {groups} groups, so each part's "
                    f"channels must be a multiple of {groups}; not so for {', '.join(uneven)} "
                    f"(in_channels={self.in_channels}, out_channels={self.out_channels}, "
                    f"alpha_in={self.alpha_in}, alpha_out={self.alpha_out})")
            return OctaveChannels(groups, groups)
        if self.in_channels % groups:
            raise ValueError(
                f"groups={groups} must divide in_channels={self.in_channels}"
            )
        width = self.in_channels // groups
        if cin.high % width or cin.low % width:
            raise ValueError(
                f"groups={groups} do not split between the high ({cin.high}) and low ({cin.low}) "
                f"input channels: each part must be a multiple of the group width "
                f"in_channels / groups = {width} (alpha_in={self.alpha_in})"
            )
        if self.is_depthwise:
            multiplier = self.out_channels // self.in_channels
            if (self.out_channels % self.in_channels
                    or cout != (cin.high * multiplier, cin.low * multiplier)):
                raise ValueError(
                    f"a depthwise {type(self).__name__} (groups == in_channels) maps each channel "
                    "to its own outputs, so it needs alpha_in == alpha_out and out_channels a "
                    "multiple of in_channels with the same split; got in "
                    f"{tuple(cin)} -> out {tuple(cout)} (high, low) for alpha_in={self.alpha_in}, "
                    f"alpha_out={self.alpha_out}"
                )
        return OctaveChannels(high=cin.high // width, low=cin.low // width)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"alpha_in={self.alpha_in}, alpha_out={self.alpha_out}, stride={self.stride}, "
            f"padding={self.padding}, groups={self.groups}"
            + (f", group_split={self.group_split!r}" if self.group_split != "width" else "")
        )

    # ----------------------------------------------------------------------------- input checks
    # Plain Python on static shapes (-1 for dynamic sides): kept out of the dy2static AST
    # transform, which would otherwise turn the checks' `and`/`any` into graph ops and fail.
    @paddle.jit.not_to_static
    def _parse_input(self, x) -> Tuple[Optional[paddle.Tensor], Optional[paddle.Tensor]]:
        """Return (x_high, x_low) after checking types, ranks, channels and the low map's size."""
        name, spatial = type(self).__name__, self._spatial
        if isinstance(x, _TENSOR_TYPES):
            if self.in_split.low:
                raise TypeError(
                    f"{name} with alpha_in={self.alpha_in} expects a tuple (x_high, x_low) "
                    f"with {self.in_split.low} low-frequency channels, got a single Tensor; pass "
                    "the previous octave layer's output, or use alpha_in=0 for a plain input"
                )
            x_high, x_low = x, None
        elif isinstance(x, (tuple, list)) and len(x) == 2:
            x_high, x_low = x
        else:
            raise TypeError(
                f"{name} expects a Tensor (alpha_in=0) or a tuple (x_high, x_low), got "
                f"{type(x).__name__}" + (f" of length {len(x)}" if isinstance(x, (tuple, list)) else "")
            )
        for part, tensor, channels in (("high", x_high, self.in_split.high),
                                       ("low", x_low, self.in_split.low)):
            if tensor is None:
                if channels:
                    raise ValueError(
                        f"x_{part} is None but alpha_in={self.alpha_in} of in_channels="
                        f"{self.in_channels} gives it {channels} channels"
                    )
                continue
            if not isinstance(tensor, _TENSOR_TYPES):
                raise TypeError(f"x_{part} must be a paddle.Tensor or None, got {type(tensor).__name__}")
            if tensor.ndim != 2 + spatial.dims:
                raise ValueError(
                    f"x_{part} must be {2 + spatial.dims}-D {spatial.layout}, got "
                    f"{tensor.ndim}-D shape {list(tensor.shape)}"
                )
            got = tensor.shape[1]
            if got != channels and got >= 0:
                raise ValueError(
                    f"x_{part} has {got} channels, expected {channels} "
                    f"(in_channels={self.in_channels}, alpha_in={self.alpha_in}: high "
                    f"{self.in_split.high}, low {self.in_split.low})"
                )
        if x_high is not None and x_low is not None:
            expected = [low_frequency_size(s) if s > 0 else -1 for s in x_high.shape[2:]]
            got = list(x_low.shape[2:])
            if any(e >= 0 and g >= 0 and e != g for e, g in zip(expected, got)):
                halves = ", ".join(f"ceil({axis}/2)" for axis in spatial.axes)
                raise ValueError(
                    f"x_low has spatial size {got}, expected {halves} = {expected} for "
                    f"x_high of size {list(x_high.shape[2:])}"
                )
            if x_high.shape[0] != x_low.shape[0] and min(x_high.shape[0], x_low.shape[0]) >= 0:
                raise ValueError(
                    f"x_high and x_low have different batch sizes: {x_high.shape[0]} vs {x_low.shape[0]}"
                )
        return x_high, x_low

    # ---------------------------------------------------------------------------------- forward
    def paths(self) -> Dict[str, nn.Layer]:
        """The path convs that exist, by name: a subset of ``h2h``, ``h2l``, ``l2h``, ``l2l``."""
        convs = {"h2h": self.conv_h2h, "h2l": self.conv_h2l, "l2h": self.conv_l2h,
                 "l2l": self.conv_l2l}
        return {name: conv for name, conv in convs.items() if conv is not None}

    def bias_path(self, part: str) -> Optional[str]:
        """The path that holds output ``part``'s bias ("h" or "l"): the same-frequency path
        when it exists, else the cross path; None when the layer has no such output part."""
        own, cross = ("h2h", "l2h") if part == "h" else ("l2l", "h2l")
        paths = self.paths()
        return own if own in paths else cross if cross in paths else None

    def forward(self, x) -> OctaveFeatures:
        x_high, x_low = self._parse_input(x)
        return self.convolve(x_high, x_low)

    @paddle.jit.not_to_static
    def convolve(self, x_high: Optional[paddle.Tensor], x_low: Optional[paddle.Tensor],
                 weights: Optional[PathWeights] = None) -> OctaveFeatures:
        """The octave convolution of checked inputs, path by path.

        Args:
            x_high, x_low: the input parts, as ``forward`` receives them (checked there).
            weights: None to run the path convs themselves (so their hooks, ``paddle.summary``
                and ``paddle.flops`` see them), or per path the (weight, bias) to use instead,
                e.g. with BatchNorm folded in (see ``OctConvBN``).
        """
        def run(name: str, x: paddle.Tensor) -> paddle.Tensor:
            conv = getattr(self, "conv_" + name)
            if weights is None and (conv._forward_pre_hooks or conv._forward_post_hooks):
                return conv(x)  # hooked (paddle.summary, paddle.flops): let them see the conv
            weight, bias = (conv.weight, conv.bias) if weights is None else weights[name]
            return _path_conv(x, weight, bias, self.padding, self.dilation, conv._groups,
                              training=self.training)

        if self.stride == 2 and x_high is not None and (self.conv_h2h is not None
                                                         or self.conv_h2l is not None):
            x_high = _pool(x_high)

        y_high = run("h2h", x_high) if self.conv_h2h is not None else None
        if self.conv_l2h is not None:
            l2h = run("l2h", x_low)
            if self.stride == 1:
                # stride 2 needs no upsample: x_low is already at the output's high size.
                l2h = _upsample_to(l2h, x_high)
            y_high = l2h if y_high is None else y_high + l2h

        y_low = None
        if self.conv_h2l is not None:
            y_low = run("h2l", _pool(x_high))
        if self.conv_l2l is not None:
            l2l = run("l2l", _pool(x_low) if self.stride == 2 else x_low)
            y_low = l2l if y_low is None else y_low + l2l
        return OctaveFeatures(y_high, y_low)


class OctaveConv(_OctaveConvNd):
    """Octave convolution: a Conv2D over a feature map split into high and low frequencies.

    Args:
        in_channels: total input channels C_in (high + low).
        out_channels: total output channels C_out (high + low).
        kernel_size: int or (kh, kw).
        alpha_in: fraction of input channels in the low-frequency part, in [0, 1]. 0 means a plain
            input tensor; 1 means the input is all low frequency.
        alpha_out: fraction of output channels in the low-frequency part, in [0, 1].
        stride: 1 or 2. Stride 2 average-pools the inputs first (as the paper's reference does),
            so the output high map is (ceil(H/2), ceil(W/2)).
        padding: int or (ph, pw). Whenever a low-frequency part exists the convolution must keep
            sizes (``padding == dilation * (kernel_size - 1) // 2`` with an odd kernel), otherwise
            the two parts would drift apart in size.
        dilation: int or (dh, dw).
        groups: number of groups. With ``group_split="width"`` the groups are split between the
            parts with the layer's group width ``C_in / groups`` kept (each part must hold whole
            groups); every path uses the group count of the part it reads. With
            ``group_split="count"`` every path has ``groups`` groups of its own part's width (the
            official Oct-ResNeXt: 32 groups in each frequency part at any alpha; parameters equal
            the plain grouped conv's). ``groups == in_channels > 1`` is depthwise: only the
            high->high and low->low paths exist, and ``alpha_in`` must equal ``alpha_out``.
        bias: add a learned bias. Each output part gets exactly one bias, held by the path from
            the same-frequency input (h2h, l2l) when it exists, else by the cross path.
        group_split: ``"width"`` (default) or ``"count"``: how ``groups`` applies to the parts.

    Shapes:
        input: an (N, C_in, H, W) Tensor when ``alpha_in == 0``, or a tuple ``(x_high, x_low)`` of
            (N, C_in_high, H, W) and (N, C_in_low, ceil(H/2), ceil(W/2)); either may be None when
            its part has no channels. With ``alpha_in == 1`` the high map is taken to be twice the
            low map's size.
        output: ``OctaveFeatures(high, low)``, a tuple of (N, C_out_high, H', W') and
            (N, C_out_low, ceil(H'/2), ceil(W'/2)), where H', W' are the sides of the output's
            high map: H' = H and W' = W at stride 1, H' = ceil(H/2) and W' = ceil(W/2) at stride
            2 (a layer with a low part must keep sizes, see ``padding``). A layer with no low
            channels in or out is a plain conv, after the stride-2 pool, with any padding:
            H' = S + 2 * ph - dh * (kh - 1) with S = H at stride 1 and ceil(H/2) at stride 2, and
            W' likewise. A part without channels is None (channel counts as
            :func:`split_channels`): ``low`` whenever ``int(alpha_out * C_out) == 0``
            (``alpha_out == 0``, but also e.g. ``alpha_out = 0.1`` with ``C_out = 8``), ``high``
            when ``alpha_out == 1``.

    Parameters are named as in the public PyTorch checkpoints: ``conv_h2h``, ``conv_h2l``,
    ``conv_l2h`` and ``conv_l2l`` (each a ``paddle.nn.Conv2D``, absent when its path is unused).

    Speed: in dygraph on CPU, a path without bias whose conv is 1x1, or depthwise / dense on a
    small map, runs as unfold + one batched matmul over the whole batch
    (``paddle_octconv.octconv.cpu_formulation`` says which), because Paddle's CPU conv kernels
    call one small GEMM per sample and group, whose per-call cost dominates on such maps; the
    size limits are where that was measured faster (benchmarks/results/layer_choices.md). The
    result equals the plain conv to float32 rounding. A ``jit.to_static`` train-mode graph on CPU
    does the same; eval-mode static graphs (exports) and GPUs always run ``F.conv2d``, and a path
    conv with hooks (``paddle.summary``, ``paddle.flops``) is called as the layer it is.

    :class:`OctaveConv1D` and :class:`OctaveConv3D` are the same layer over 1 and 3 spatial axes.
    """

    _spatial = _SPATIAL[2]


class OctaveConv1D(_OctaveConvNd):
    """Octave convolution over sequences: a Conv1D over a map split into high and low frequencies.

    The low part is at half length, ``ceil(L / 2)`` (window-2 average pool in ceil mode, nearest
    2x upsample cropped to the high length). Arguments and rules (channel split by alpha, the four
    paths, groups and depthwise, ``group_split``, stride 1 or 2, bias placement, the padding that
    keeps sizes, the errors) are those of :class:`OctaveConv`, with ``kernel_size``, ``padding``
    and ``dilation`` an int or a tuple of one int. ``alpha_in = alpha_out = 0`` is a
    ``paddle.nn.Conv1D``; the path convs ``conv_h2h`` ... ``conv_l2l`` are ``nn.Conv1D``.

    Shapes:
        input: an (N, C_in, L) Tensor when ``alpha_in == 0``, or a tuple ``(x_high, x_low)`` of
            (N, C_in_high, L) and (N, C_in_low, ceil(L/2)); either may be None when its part has
            no channels (with ``alpha_in == 1`` the high length is taken to be 2 * the low one).
        output: ``OctaveFeatures(high, low)`` of (N, C_out_high, L') and (N, C_out_low,
            ceil(L'/2)), L' = L at stride 1 and ceil(L/2) at stride 2 (without any low part, L'
            follows the plain-conv rule of :class:`OctaveConv`'s H'); a part without channels is
            None.
    """

    _spatial = _SPATIAL[1]


class OctaveConv3D(_OctaveConvNd):
    """Octave convolution over volumes or clips: a Conv3D over a map split by frequency.

    The low part is at half resolution on every axis, ``(ceil(D/2), ceil(H/2), ceil(W/2))``
    (2x2x2 average pool in ceil mode, nearest 2x upsample cropped to the high map). Arguments
    and rules are those of :class:`OctaveConv`, with ``kernel_size``, ``padding`` and
    ``dilation`` an int or (kd, kh, kw)-style triples. ``alpha_in = alpha_out = 0`` is a
    ``paddle.nn.Conv3D``; the path convs ``conv_h2h`` ... ``conv_l2l`` are ``nn.Conv3D``.

    Shapes:
        input: an (N, C_in, D, H, W) Tensor when ``alpha_in == 0``, or a tuple ``(x_high, x_low)``
            of (N, C_in_high, D, H, W) and (N, C_in_low, ceil(D/2), ceil(H/2), ceil(W/2)); either
            may be None when its part has no channels.
        output: ``OctaveFeatures(high, low)`` of (N, C_out_high, D', H', W') and
            (N, C_out_low, ceil(D'/2), ceil(H'/2), ceil(W'/2)): D', H', W' are D, H, W at
            stride 1 and each side halved (rounded up) at stride 2 (without any low part they
            follow the plain-conv rule of :class:`OctaveConv`'s H'); a part without channels is
            None.
    """

    _spatial = _SPATIAL[3]
