"""Plug-in convolutions beside OctaveConv: drop-in replacements for a plain ``nn.Conv2D``.

Every layer takes ``(in_channels, out_channels, kernel_size, stride, ...)`` and maps an
(N, C_in, H, W) Tensor to an (N, C_out, ceil(H / stride), ceil(W / stride)) Tensor, with the
initialisation of its reference (``reset_parameters()`` restores it, e.g. after a backbone's
own weight init has overwritten the zero-initialised parts):

- :class:`SPConv`: split-based conv ("Split to Be Slim", IJCAI 2020).
- :class:`SAConv`: switchable atrous conv (DetectoRS, CVPR 2021).
- :class:`DCNv2`: modulated deformable conv (CVPR 2019), over ``paddle.vision.ops.deform_conv2d``.
- :class:`ODConv`: omni-dimensional dynamic conv (ICLR 2022).

Each layer's main convolution runs in an ``nn.Conv2D`` sub-layer, so
:func:`paddle_octconv.count_flops` counts it (SAConv's twice: it runs at two dilations).
"""
from .dcnv2 import DCNv2
from .odconv import ODConv
from .saconv import SAConv
from .spconv import SPConv

__all__ = ["SPConv", "SAConv", "DCNv2", "ODConv"]
