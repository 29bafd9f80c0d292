"""paddle_octconv: Octave Convolution layers for PaddlePaddle.

    >>> import paddle
    >>> from paddle_octconv import OctaveConv
    >>> conv = OctaveConv(64, 128, 3, alpha_in=0.5, alpha_out=0.5, padding=1)
    >>> high, low = conv((paddle.randn([2, 32, 56, 56]), paddle.randn([2, 32, 28, 28])))
    >>> high.shape, low.shape
    ([2, 64, 56, 56], [2, 64, 28, 28])
"""
try:
    import paddle  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised by the packaging test in a subprocess
    raise ImportError(
        "paddle_octconv needs PaddlePaddle, which is not installed. Install the CPU build with "
        "`pip install paddlepaddle` (or `pip install paddle-octconv[cpu]`), or the GPU build with "
        "`pip install paddlepaddle-gpu` (or `pip install paddle-octconv[gpu]`)."
    ) from error

from .blocks import (
    Conv_BN,
    Conv_BN_ACT,
    OctConvBN,
    OctConvBN1D,
    OctConvBN3D,
    OctConvBNAct,
    OctConvBNAct1D,
    OctConvBNAct3D,
)
from .counting import count_flops, count_params
from .cpu import enable_mkl_avx2_on_amd
from .octconv import (
    OctaveChannels,
    OctaveConv,
    OctaveConv1D,
    OctaveConv3D,
    OctaveFeatures,
    PathWeights,
    low_frequency_size,
    split_channels,
)
from .plugins import DCNv2, ODConv, SAConv, SPConv

__version__ = "0.1.0"

__all__ = [
    "OctaveConv",
    "OctaveConv1D",
    "OctaveConv3D",
    "OctaveFeatures",
    "OctaveChannels",
    "PathWeights",
    "OctConvBN",
    "OctConvBNAct",
    "OctConvBN1D",
    "OctConvBNAct1D",
    "OctConvBN3D",
    "OctConvBNAct3D",
    "Conv_BN",
    "Conv_BN_ACT",
    "split_channels",
    "low_frequency_size",
    "count_flops",
    "count_params",
    "SPConv",
    "SAConv",
    "DCNv2",
    "ODConv",
    "enable_mkl_avx2_on_amd",
]
