"""Where each plug-in convolution goes in the zoo's ResNets, and how it is built there.

A :class:`Placement` names the bottleneck convs a plug-in replaces (the 3x3, or the 3x3 and both
1x1s; the downsample stays a plain conv, as in every reference) and the stages that get it
(1-based: ``layer1`` .. ``layer4``). The BatchNorm after each replaced conv stays, as in the
references' ResNets. :data:`PLACEMENTS` holds the references' choices:

- ``spconv``: SPConv (alpha 1/2) as every bottleneck 3x3 (SPConv.pytorch ``resnet_sp.py``).
- ``odconv``: ODConv 1x (one kernel) as every bottleneck conv (OSVAI/ODConv ``od_resnet.py``).
- ``saconv``: deformable SAConv as the bottleneck 3x3 of layers 2-4 (DetectoRS,
  ``stage_with_sac`` with ``use_deform=True``).
- ``dcnv2``: DCNv2 as the bottleneck 3x3 of layers 2-4 (``stage_with_dcn``, as PaddleDetection).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import paddle.nn as nn

from paddle_octconv import DCNv2, ODConv, SAConv, SPConv

from .layers import ConvLayer

__all__ = ["ConvLayer", "Placement", "PLACEMENTS", "placement", "PLUGIN_TYPES"]

#: The plug-in layer classes; a network re-applies their own initialisation after its init.
PLUGIN_TYPES = (SPConv, SAConv, DCNv2, ODConv)


@dataclass(frozen=True)
class Placement:
    """Which bottleneck convs of which stages a plug-in replaces.

    Attributes:
        conv3x3: builds the bottleneck's 3x3 (it carries the block's stride).
        conv1x1: builds the bottleneck's two 1x1 convs, or None to keep them plain.
        stages: the stages (1 = ``layer1`` .. 4 = ``layer4``) whose bottlenecks get it.
    """

    conv3x3: ConvLayer
    conv1x1: Optional[ConvLayer]
    stages: Tuple[int, ...]


def _spconv(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Layer:
    return SPConv(in_channels, out_channels, kernel_size, stride, alpha=0.5)


def _odconv(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Layer:
    return ODConv(in_channels, out_channels, kernel_size, stride, kernel_num=1)


def _saconv(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Layer:
    return SAConv(in_channels, out_channels, kernel_size, stride, deformable=True)


def _dcnv2(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Layer:
    return DCNv2(in_channels, out_channels, kernel_size, stride)


PLACEMENTS: Dict[str, Placement] = {
    "spconv": Placement(_spconv, None, (1, 2, 3, 4)),
    "odconv": Placement(_odconv, _odconv, (1, 2, 3, 4)),
    "saconv": Placement(_saconv, None, (2, 3, 4)),
    "dcnv2": Placement(_dcnv2, None, (2, 3, 4)),
}


def placement(name: str) -> Placement:
    """The placement of the plug-in ``name``; an unknown name is a ValueError listing them."""
    try:
        return PLACEMENTS[name]
    except KeyError:
        raise ValueError(f"unknown plug-in conv {name!r}; known: {', '.join(PLACEMENTS)}") from None
