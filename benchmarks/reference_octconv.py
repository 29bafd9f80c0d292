"""A straightforward OctaveConv, as the published ports write it: the benchmark's baseline layer.

Four separate ``Conv2D`` (h2h, h2l, l2h, l2l), an ``AvgPool2D(2, 2)`` layer and a nearest
``Upsample(scale_factor=2)`` layer, one add per output part. Parameter names are those of
:class:`paddle_octconv.OctaveConv`, so ``reference.set_state_dict(octave.state_dict())`` gives the
same function and the benchmark can assert equal outputs. Even input sides only, groups == 1
(enough for the benchmarked layer; the real layer handles the general case).
"""
from __future__ import annotations

from typing import Optional, Tuple

import paddle
import paddle.nn as nn

__all__ = ["ReferenceOctaveConv"]


class ReferenceOctaveConv(nn.Layer):
    """Octave convolution written out path by path (no fusion, no size handling).

    Args:
        in_channels, out_channels: total channels (high + low).
        kernel_size: odd int; padding is ``kernel_size // 2``.
        alpha_in, alpha_out: low-frequency fractions (``low = int(alpha * C)``).
        stride: 1, or 2 to average-pool the inputs first.

    Shapes: ``(x_high, x_low)`` (or a Tensor when alpha_in == 0) -> ``(y_high, y_low)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 alpha_in: float = 0.5, alpha_out: float = 0.5, stride: int = 1) -> None:
        super().__init__()
        low_in, low_out = int(alpha_in * in_channels), int(alpha_out * out_channels)
        high_in, high_out = in_channels - low_in, out_channels - low_out
        self.stride = stride
        self.downsample = nn.AvgPool2D(kernel_size=2, stride=2)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

        def conv(c_in: int, c_out: int) -> Optional[nn.Conv2D]:
            if not c_in or not c_out:
                return None
            return nn.Conv2D(c_in, c_out, kernel_size, padding=kernel_size // 2, bias_attr=False)

        self.conv_h2h = conv(high_in, high_out)
        self.conv_h2l = conv(high_in, low_out)
        self.conv_l2h = conv(low_in, high_out)
        self.conv_l2l = conv(low_in, low_out)

    def forward(self, x) -> Tuple[Optional[paddle.Tensor], Optional[paddle.Tensor]]:
        x_high, x_low = (x, None) if isinstance(x, paddle.Tensor) else x
        if self.stride == 2:
            x_high = self.downsample(x_high)
        y_high = self.conv_h2h(x_high) if self.conv_h2h is not None else None
        y_low = self.conv_h2l(self.downsample(x_high)) if self.conv_h2l is not None else None
        if x_low is not None:
            l2h = self.conv_l2h(x_low) if self.conv_l2h is not None else None
            if l2h is not None and self.stride == 1:
                l2h = self.upsample(l2h)
            if self.stride == 2:
                x_low = self.downsample(x_low)
            l2l = self.conv_l2l(x_low) if self.conv_l2l is not None else None
            y_high = _add(y_high, l2h)
            y_low = _add(y_low, l2l)
        return y_high, y_low


def _add(a: Optional[paddle.Tensor], b: Optional[paddle.Tensor]) -> Optional[paddle.Tensor]:
    if a is None or b is None:
        return b if a is None else a
    return a + b
