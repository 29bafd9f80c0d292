"""Deformable convolution for the plug-ins (DCNv2, deformable SAConv), one function for both.

``deform_conv`` computes Paddle's ``deform_conv2d`` (DCNv1 without a mask, DCNv2 with one) by
one of two routes with the same result:

- Paddle's op, in static graphs (so saved models and ONNX hold the one ``deformable_conv`` op)
  and wherever no gradient is needed (its forward kernel is the faster one);
- where a gradient is needed in dygraph, the same sampling written with differentiable ops: the
  bilinear samples of every tap (by ``F.grid_sample``, or on small maps with many channels by a
  matmul with the dense interpolation weights), times the mask, then the kernel as a 1x1 conv
  over the sampled taps. Paddle's CPU backward of ``deformable_conv`` is a scalar scatter loop,
  many times slower than its forward; the backward of these ops is not
  (``benchmarks/results/layer_choices.md`` has the measurements).

The sampled route reproduces the op's conventions exactly, gradients included:

- a position counts only with ``-1 < y < H`` and ``-1 < x < W``; elsewhere both value and
  position gradient are zero (``paddle.where`` sends it to a point far outside);
- at integer positions (every tap at zero offsets, so at initialisation) the op's position
  gradient is the one-sided difference ``x[floor(p) + 1] - x[floor(p)]``. The matmul sampler
  builds its weights from ``floor(p)`` itself; ``grid_sample`` takes normalised coordinates and
  floors their unnormalised value, so the round trip must be exact: the input is zero-padded on
  the bottom / right to power-of-two sides (zeros are what the op samples outside the map
  anyway), where ``(2p + 1) / W - 1`` and back are exact in binary.
"""
from __future__ import annotations

from typing import Optional, Sequence

import paddle
import paddle.nn.functional as F
from paddle.vision.ops import deform_conv2d

__all__ = ["deform_conv"]

#: Where an invalid sampling position is sent: every bilinear neighbour is outside the map.
_OUTSIDE = -8.0


def _needs_grad(*tensors: Optional[paddle.Tensor]) -> bool:
    return paddle.is_grad_enabled() and any(t is not None and not t.stop_gradient for t in tensors)


def _power_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()


def deform_conv(x: paddle.Tensor, offset: paddle.Tensor, weight: paddle.Tensor,
                bias: Optional[paddle.Tensor], stride: Sequence[int], padding: Sequence[int],
                dilation: Sequence[int], deformable_groups: int = 1, groups: int = 1,
                mask: Optional[paddle.Tensor] = None) -> paddle.Tensor:
    """``paddle.vision.ops.deform_conv2d`` with the same arguments (stride / padding / dilation
    as (h, w) pairs).

    Shapes: x (N, C, H, W); offset (N, 2 * G * kh * kw, H', W'), a (dy, dx) pair per deformable
    group and tap; weight (O, C / groups, kh, kw); mask (N, G * kh * kw, H', W') or None;
    out (N, O, H', W').
    """
    if not paddle.in_dynamic_mode() or not _needs_grad(x, offset, weight, bias, mask):
        return deform_conv2d(x, offset, weight, bias, list(stride), list(padding), list(dilation),
                             deformable_groups, groups, mask)
    return _sampled_deform_conv(x, offset, weight, bias, stride, padding, dilation,
                                deformable_groups, groups, mask)


def _tap_positions(offset: paddle.Tensor, size: Sequence[int], kernel: Sequence[int],
                   stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                   deformable_groups: int):
    """The (y, x) sampling positions, each (N, G, kh * kw, H', W'), invalid ones sent outside."""
    n, _, out_h, out_w = offset.shape
    (kh, kw), dtype = kernel, offset.dtype
    taps = kh * kw
    pairs = offset.reshape([n, deformable_groups, taps, 2, out_h, out_w])
    tap_y = (paddle.arange(kh, dtype=dtype) * dilation[0]).reshape([kh, 1]).tile([1, kw])
    tap_x = (paddle.arange(kw, dtype=dtype) * dilation[1]).reshape([1, kw]).tile([kh, 1])
    row = (paddle.arange(out_h, dtype=dtype) * stride[0] - padding[0]).reshape([1, out_h, 1])
    col = (paddle.arange(out_w, dtype=dtype) * stride[1] - padding[1]).reshape([1, 1, out_w])
    y = pairs[:, :, :, 0] + (tap_y.reshape([taps, 1, 1]) + row)
    x = pairs[:, :, :, 1] + (tap_x.reshape([taps, 1, 1]) + col)
    height, width = size
    valid = (y > -1) & (y < height) & (x > -1) & (x < width)
    outside = paddle.full_like(y, _OUTSIDE)
    return paddle.where(valid, y, outside), paddle.where(valid, x, outside)


def _sampled_deform_conv(x, offset, weight, bias, stride, padding, dilation, deformable_groups,
                         groups, mask):
    n, channels, height, width = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    out_h, out_w = offset.shape[2], offset.shape[3]
    taps = kh * kw
    y, x_pos = _tap_positions(offset, (height, width), (kh, kw), stride, padding, dilation,
                              deformable_groups)
    per_group = channels // deformable_groups
    sample = _sample_by_matmul if _matmul_is_cheaper(height * width, per_group) else _sample_by_grid
    sampled = sample(x, y, x_pos, mask, deformable_groups)
    # (N, G, C / G, taps * H' * W'), channel-major with the taps inside: the kernel over
    # (C, taps) is one 1x1 conv, grouped as the deformable conv
    columns = sampled.reshape([n, channels * taps, out_h, out_w])
    kernel = weight.reshape([out_channels, group_channels * taps, 1, 1])
    return F.conv2d(columns, kernel, bias, groups=groups)


def _matmul_is_cheaper(pixels: int, channels: int) -> bool:
    """Which sampler, for maps of ``pixels`` pixels and ``channels`` channels per deformable
    group: per output tap and sample, ``grid_sample`` costs about 1.45 * C units (forward +
    backward, the mask included), the matmul route (pixels + 16) * (1 + C / 100) (the dense
    weights and their backward, then the product; 16: the fixed cost of its small ops), a fit
    to both routes' times over maps of 4x4-28x28 and C 16-512
    (``benchmarks/results/layer_choices.md``). Small maps with many channels go by matmul."""
    return (pixels + 16) * (channels + 100) < 145 * channels


def _sample_by_grid(x, y, x_pos, mask, deformable_groups):
    """Bilinear samples by ``grid_sample``: (N, G, C / G, taps * H' * W')."""
    n, channels, height, width = x.shape
    _, _, taps, out_h, out_w = y.shape
    padded_h, padded_w = _power_of_two(height), _power_of_two(width)
    if (padded_h, padded_w) != (height, width):
        x = F.pad(x, [0, padded_w - width, 0, padded_h - height])
    grid = paddle.stack([(2 * x_pos + 1) / padded_w - 1, (2 * y + 1) / padded_h - 1], axis=-1)
    if x.stop_gradient and not grid.stop_gradient:
        # Paddle 3.3's CPU grid_sample backward crashes (segfault) when only the grid needs a
        # gradient: a first deformable layer on the input images
        x = x.detach()
        x.stop_gradient = False
    sampled = F.grid_sample(
        x.reshape([n * deformable_groups, channels // deformable_groups, padded_h, padded_w]),
        grid.reshape([n * deformable_groups, taps * out_h, out_w, 2]),
        mode="bilinear", padding_mode="zeros", align_corners=False)
    sampled = sampled.reshape([n, deformable_groups, channels // deformable_groups, -1])
    if mask is not None:
        # an explicit expand: Paddle's backward of a broadcast multiply is slower
        sampled = sampled * mask.reshape([n, deformable_groups, 1, -1]).expand(sampled.shape)
    return sampled


def _axis_weights(position: paddle.Tensor, size: int) -> paddle.Tensor:
    """Linear-interpolation weights of each position over the ``size`` pixels of one axis:
    (..., size), ``1 - f`` at floor(p) and ``f`` at floor(p) + 1 with f = p - floor(p), so the
    position gradient at an integer is the op's one-sided difference."""
    low = paddle.floor(position).detach()
    fraction = (position - low).unsqueeze(-1)
    pixels = paddle.arange(size, dtype=position.dtype)
    low = low.unsqueeze(-1)
    at_low = (pixels == low).astype(position.dtype)
    at_high = (pixels == low + 1).astype(position.dtype)
    return (1 - fraction) * at_low + fraction * at_high


def _sample_by_matmul(x, y, x_pos, mask, deformable_groups):
    """Bilinear samples as one matmul per sample with the (taps * H' * W', H * W) matrix of
    interpolation weights (four non-zero per row; the mask folded into them): cheaper than
    ``grid_sample`` on small maps, where the dense matrix is small. (N, G, C / G, taps * H' * W')."""
    n, channels, height, width = x.shape
    rows = _axis_weights(y, height).reshape([n, deformable_groups, -1, height])
    cols = _axis_weights(x_pos, width).reshape([n, deformable_groups, -1, width])
    if mask is not None:
        rows = rows * mask.reshape([n, deformable_groups, -1, 1])
    weights = (rows.unsqueeze(-1) * cols.unsqueeze(-2)).reshape([n, deformable_groups, -1, height * width])
    x = x.reshape([n, deformable_groups, channels // deformable_groups, height * width])
    return paddle.matmul(x, weights, transpose_y=True)
