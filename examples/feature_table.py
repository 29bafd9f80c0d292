"""The README's table of backbone feature shapes, measured by running the networks.

For each builder family (at its defaults: alpha, width 1.0) and each ``output_stride`` of the
ResNet family, a ``features_only=True`` network is run on one 224x224 and one 225x225 image; each
cell gives a stage's channels C (high + low), its stride and the map size that came out, which
is checked against the stride (ceil(H / stride)) and ``feature_info`` before it is written.

    python examples/feature_table.py        # prints the markdown table
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout: the root holds models

import paddle  # noqa: E402

import models  # noqa: E402

SIZES = (224, 225)
# (row title, builder, options): oct_resnet50 stands for the whole ResNet family, whose
# builders all have these stages (tests/models/test_features.py checks it).
ROWS: Tuple[Tuple[str, str, dict], ...] = (
    ("ResNet family¹", "oct_resnet50", {}),
    ("ResNet family¹, `output_stride=16`", "oct_resnet50", {"output_stride": 16}),
    ("ResNet family¹, `output_stride=8`", "oct_resnet50", {"output_stride": 8}),
    ("`oct_mobilenet`", "oct_mobilenet", {}),
    ("`oct_mobilenet_v2`", "oct_mobilenet_v2", {}),
)
FOOTNOTE = ("¹ `oct_resnet26` ... `oct_resnet200`, `oct_resnext50_32x4d`, `oct_resnext101_32x4d` "
            "(alpha 0.5), `oct_se_resnet50` (alpha 0.125: its low parts are int(0.125 C)) and the "
            "plug-in ResNet-50s `sp_resnet50` ... `dcn_resnet50` (plain: no low parts; output "
            "stride 32 only); measured on `oct_resnet50`.")


def measure(arch: str, options: dict, size: int) -> Tuple[List[str], List[str]]:
    """Module names and cells "C (high+low), /stride, HxW" of ``arch``'s stages at ``size``."""
    net = models.create_model(arch, features_only=True, **options)
    net.eval()
    with paddle.no_grad():
        maps = net(paddle.zeros([1, 3, size, size]))
    info, cells = net.feature_info, []
    for i, feature in enumerate(maps):
        _, channels, height, width = feature.shape
        stride = info.reduction(i)
        if channels != info.channels(i) or height != width or height != math.ceil(size / stride):
            raise AssertionError(f"{arch} stage {i}: {feature.shape} disagrees with feature_info "
                                 f"({info.channels(i)} channels, stride {stride})")
        high, low = info.octave_channels(i)
        split = f" ({high}+{low})" if low else ""
        cells.append(f"{channels}{split}, /{stride}, {height}x{width}")
    return info.module_name(), cells


def markdown_table(sizes: Sequence[int] = SIZES) -> str:
    """The table: one row per (family, input size), one column per stage."""
    lines = ["| network | stages | input | stage 0 | stage 1 | stage 2 | stage 3 | stage 4 |",
             "|---|---|---|---|---|---|---|---|"]
    for title, arch, options in ROWS:
        for row, size in enumerate(sizes):
            modules, cells = measure(arch, options, size)
            names = ", ".join(f"`{m}`" for m in modules) if row == 0 else ""  # once per network
            lines.append(f"| {title} | {names} | {size}x{size} | " + " | ".join(cells) + " |")
    lines += ["", FOOTNOTE]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
