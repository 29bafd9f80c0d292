"""One record per zoo variant: the single source of truth for what a builder name means.

A :class:`Variant` holds the architecture arguments its builder passes to the family's model
class, the builder's default alpha, the figures this project measures for the default build
(exact integers), the published results (figures in the rounding they were published with, the
source, and the exact integers this project measures for the same options), and the checkpoint
file ``pretrained=True`` reads. Builder docstrings, ``list_models()``, ``hubconf.py``, the README
model table (:func:`markdown_table`) and the figure tests all read these records.

Figures: params are trainable parameters (``paddle_octconv.count_params``); MACs are the
multiply-accumulates of every conv and linear layer for one 224x224 image with 1000 classes
(``paddle_octconv.count_flops(model, (1, 3, 224, 224))``).

    >>> from models.records import VARIANTS
    >>> VARIANTS["oct_resnet50"].params, VARIANTS["oct_resnet50"].macs
    (25557032, 2367143936)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

__all__ = ["Source", "Published", "PublishedCheckpoint", "Variant", "VARIANTS", "variant",
           "in_published_rounding", "markdown_table"]


@dataclass(frozen=True)
class Source:
    """Where figures are published: a short name for tables and the page that holds them."""

    name: str
    url: str


D_LI14 = Source("d-li14/octconv.pytorch", "https://github.com/d-li14/octconv.pytorch")
OFFICIAL = Source("facebookresearch/OctConv", "https://github.com/facebookresearch/OctConv")
OPENVINO = Source("OpenVINO Open Model Zoo", "https://github.com/openvinotoolkit/open_model_zoo")
SENET = Source("Hu et al. 2018 (SENet)", "https://arxiv.org/abs/1709.01507")
SPCONV = Source("qiulinzhang/SPConv.pytorch", "https://github.com/qiulinzhang/SPConv.pytorch")
ODCONV = Source("OSVAI/ODConv", "https://github.com/OSVAI/ODConv")

_UNITS = {"K": 1e3, "M": 1e6, "G": 1e9}


def in_published_rounding(published: str, value: int) -> str:
    """``value`` written as ``published`` is (same unit, same decimals): ("25.557M", 25557032)
    -> "25.557M", ("256M", 247621424) -> "248M"."""
    match = re.fullmatch(r"\d+(?:\.(\d+))?([KMG])", published)
    if match is None:
        raise ValueError(f"a published figure looks like '25.557M' or '2.4G', got {published!r}")
    decimals = len(match.group(1) or "")
    return f"{value / _UNITS[match.group(2)]:.{decimals}f}{match.group(2)}"


@dataclass(frozen=True)
class Published:
    """One published result of a variant, and what this project measures for the same options.

    Attributes:
        options: the builder options of the published model, e.g. ``{"alpha": 0.25}``.
        source: where it is published.
        top1: ImageNet top-1 (%), or None when the source gives only the cost.
        params / macs: the cost as published, in its rounding ("25.557M", "256M", "2.4G"), or
            None when the source does not give it.
        measured: (params, macs) this project counts for ``options`` (exact; asserted by the
            tests), or None when ``options`` cannot be built here (``differs`` says why).
        differs: why a measured figure does not round to the published one ("" when both do).
        note: how it was trained (e.g. "label smoothing").
    """

    options: Mapping[str, object]
    source: Source
    top1: Optional[float] = None
    params: Optional[str] = None
    macs: Optional[str] = None
    measured: Optional[Tuple[int, int]] = None
    differs: str = ""
    note: str = ""

    def reproduced(self) -> bool:
        """Whether every published figure is the measured one in the published rounding."""
        if self.measured is None:
            return False
        return all(in_published_rounding(text, value) == text
                   for text, value in zip((self.params, self.macs), self.measured)
                   if text is not None)

    def describe(self) -> str:
        """One line: options, published figures, top-1, note, and a differing measurement."""
        parts = [", ".join(f"{k}={v}" for k, v in self.options.items())]
        parts += [f"{text} {what}" for text, what in ((self.params, "params"),
                                                      (self.macs, "MACs")) if text]
        if self.top1 is not None:
            parts.append(f"top-1 {self.top1}")
        if self.note:
            parts.append(self.note)
        text = ", ".join(parts) + f" ({self.source.name})"
        if self.differs:
            measured = ("not built here" if self.measured is None else
                        f"measured here {self.measured[0]:,} params, {self.measured[1]:,} MACs")
            text += f" [{measured}: {self.differs}]"
        return text


@dataclass(frozen=True)
class PublishedCheckpoint:
    """A public ImageNet checkpoint of a variant (see models.weights).

    Attributes:
        top1: the ImageNet top-1 accuracy (%) published with it.
        options: the builder options it was trained with, e.g. ``{"alpha": 0.5}`` (as
            :class:`Published`: ``create_model(name, **options)`` builds the architecture).
        source: where it is published (the README there links the file).
    """

    top1: float
    options: Mapping[str, object] = field(default_factory=lambda: {"alpha": 0.5})
    source: Source = D_LI14

    @property
    def options_text(self) -> str:
        """The options as keyword arguments, e.g. "alpha=0.5, width_mult=1.0"."""
        return ", ".join(f"{key}={value!r}" for key, value in self.options.items())


@dataclass(frozen=True)
class Variant:
    """What a builder name means.

    Attributes:
        name: the builder and registry name, e.g. "oct_resnet50".
        title: the name in papers and tables, e.g. "Oct-ResNet-50".
        family: the module that builds it: "oct_resnet", "oct_mobilenet", "oct_mobilenet_v2".
        arch: architecture arguments the builder passes to the family's model class.
        alpha: the builder's default alpha.
        params / macs: measured for the default build (exact; asserted by the tests).
        plain_macs: the same at alpha 0 (params do not depend on alpha in this zoo).
        published: published results (figures, top-1, source) with their own measurements.
        plain_twin: the ``paddle.vision.models`` function that alpha 0 equals in params and
            MACs, and, where ``plain_twin_outputs``, in outputs once its weights are copied.
        checkpoint: the public ImageNet checkpoint ``models.convert`` reads, if one exists.
        note: an architecture choice worth knowing (shown in the docstring and the README).
        foreign_checkpoint: a public checkpoint in a layout ``models.convert`` does not read.
        defaults: other builder defaults to show beside alpha (e.g. width_mult).
    """

    name: str
    title: str
    family: str
    arch: Mapping[str, object]
    alpha: float
    params: int
    macs: int
    plain_macs: int
    published: Tuple[Published, ...] = ()
    plain_twin: str = ""
    plain_twin_outputs: bool = False
    checkpoint: Optional[PublishedCheckpoint] = None
    note: str = ""
    foreign_checkpoint: str = ""
    defaults: Mapping[str, object] = field(default_factory=dict)

    @property
    def checkpoint_file(self) -> str:
        """The file name ``pretrained=True`` looks for in the cache folder."""
        return f"{self.name}.pdparams"

    @property
    def options(self) -> str:
        """The default options, e.g. "alpha=0.5, width_mult=1.0"."""
        return ", ".join(f"{k}={v}" for k, v in {"alpha": self.alpha, **self.defaults}.items())

    @property
    def docstring(self) -> str:
        """The builder's docstring: the figures, the published results, the plain twin."""
        lines = [
            f"{self.title} ({self.options}): {self.params / 1e6:.1f}M params, "
            f"{_short(self.macs)} MACs at 224 px.",
            "",
            f"Measured here: {self.params:,} params, {self.macs:,} MACs; alpha 0: "
            f"{self.plain_macs:,} MACs.",
        ]
        lines += [f"Published: {result.describe()}." for result in self.published]
        if self.note:
            lines.append(self.note)
        if self.plain_twin:
            same = ("the same outputs once its weights are copied" if self.plain_twin_outputs
                    else "the same params and MACs")
            lines.append(f"alpha=0 is paddle.vision.models.{self.plain_twin} ({same}).")
        dilation = ("; output_stride=16 | 8 dilates the last stages instead of striding"
                    if self.family == _RESNET else "")
        lines += [
            "",
            "pretrained: False, a .pdparams path, or True for <cache>/"
            f"{self.checkpoint_file} (models.weights). Other options: see the model class.",
            "features_only=True (with out_indices, feature_output): the stages as a detection / "
            f"segmentation backbone, a models.features.FeatureNet{dilation}.",
            f"Record: models.records.VARIANTS[{self.name!r}].",
        ]
        return "\n".join(lines)


def _short(macs: int) -> str:
    return f"{macs / 1e9:.2f}G" if macs >= 1e9 else f"{macs / 1e6:.0f}M"


_PRE_ACT = "pre-activation network of the official ablation"
_COUNTER = ("the official MAC figures sit 1.6-2.8M above the conv + linear MACs counted here for "
            "every Oct-MobileNet (V1 and V2) alike; for the same Oct-MobileNet V1 d-li14 publishes "
            "318.2M, this project's count exactly, and the official 321M: another counter, not "
            "another network")
_PRE_ACT_BN = ("the official network is a pre-activation one, whose BN layers sit on other "
               "tensors (other widths)")
_RESNET, _MOBILENET, _MOBILENET_V2 = "oct_resnet", "oct_mobilenet", "oct_mobilenet_v2"
_RESNEXT = {"groups": 32, "base_width": 4, "layout": "paddle"}
_RESNEXT_NOTE = (
    "Each frequency part of a grouped conv keeps the 32 groups (every path has 32 groups, as the "
    "official code: OctaveConv's group_split='count'), which keeps the params of plain ResNeXt at "
    "every alpha (alpha 0.25: 3,170,988,544 MACs for ResNeXt-50). Convs between plain maps are "
    "plain Conv2D + BN (stride-2 ones subsample), so alpha 0 is paddle.vision's ResNeXt."
)
_FBAI = "https://dl.fbaipublicfiles.com/octconv/"
_PLUGIN_RESNET50 = {"layers": (3, 4, 6, 3), "layout": "paddle"}

_VARIANT_LIST = (
    Variant(
        "oct_resnet26", "Oct-ResNet-26", _RESNET, {"layers": (2, 2, 2, 2)}, 0.5,
        15_995_176, 1_480_032_256, 2_342_256_640,
        (Published({"alpha": 0.5}, OFFICIAL, top1=75.5, note=_PRE_ACT),),
    ),
    Variant(
        "oct_resnet50", "Oct-ResNet-50", _RESNET, {"layers": (3, 4, 6, 3)}, 0.5,
        25_557_032, 2_367_143_936, 4_089_184_256,
        (Published({"alpha": 0.5}, D_LI14, 77.64, "25.557M", "2.367G",
                   (25_557_032, 2_367_143_936), note="cosine schedule, 120 epochs"),
         Published({"alpha": 0}, D_LI14, 77.15, "25.557M", "4.089G",
                   (25_557_032, 4_089_184_256), note="plain ResNet-50"),
         Published({"alpha": 0.5}, OFFICIAL, top1=77.4, note=_PRE_ACT)),
        plain_twin="resnet50",
        checkpoint=PublishedCheckpoint(77.64),
    ),
    Variant(
        "oct_resnet101", "Oct-ResNet-101", _RESNET, {"layers": (3, 4, 23, 3)}, 0.5,
        44_549_160, 3_991_240_704, 7_801_405_440,
        (Published({"alpha": 0.5}, D_LI14, 78.79, "44.549M", "3.991G",
                   (44_549_160, 3_991_240_704)),
         Published({"alpha": 0}, D_LI14, 78.90, "44.549M", "7.801G",
                   (44_549_160, 7_801_405_440), note="plain ResNet-101"),
         Published({"alpha": 0.5}, OFFICIAL, top1=78.7, note=_PRE_ACT)),
        plain_twin="resnet101",
        checkpoint=PublishedCheckpoint(78.79),
    ),
    Variant(
        "oct_resnet152", "Oct-ResNet-152", _RESNET, {"layers": (3, 8, 36, 3)}, 0.5,
        60_192_808, 5_615_337_472, 11_513_626_624,
        (Published({"alpha": 0.5}, D_LI14, 79.26, "60.193M", "5.615G",
                   (60_192_808, 5_615_337_472)),
         Published({"alpha": 0}, D_LI14, 79.23, "60.193M", "11.514G",
                   (60_192_808, 11_513_626_624), note="plain ResNet-152")),
        plain_twin="resnet152",
        checkpoint=PublishedCheckpoint(79.26),
    ),
    Variant(
        "oct_resnet200", "Oct-ResNet-200", _RESNET, {"layers": (3, 24, 36, 3)}, 0.5,
        64_673_832, 7_143_899_136, 15_007_481_856,
        (Published({"alpha": 0.5}, OFFICIAL, top1=79.5, note=_PRE_ACT),),
    ),
    Variant(
        "oct_resnext50_32x4d", "Oct-ResNeXt-50 (32x4d)", _RESNET,
        {"layers": (3, 4, 6, 3), **_RESNEXT}, 0.5,
        25_028_904, 2_386_511_872, 4_230_479_872,
        (Published({"alpha": 0.5}, OFFICIAL, top1=78.4, note=_PRE_ACT),
         Published({"alpha": 0.25}, OFFICIAL, top1=78.8, note=_PRE_ACT),
         Published({"alpha": 0.25}, OPENVINO, params="25.02M",
                   measured=(25_028_904, 3_170_988_544),
                   differs=f"25,028,904 rounds to 25.03M; {_PRE_ACT_BN}")),
        plain_twin="resnext50_32x4d", plain_twin_outputs=True, note=_RESNEXT_NOTE,
        foreign_checkpoint=_FBAI + "ablation/a04_resnext-50_32x4d_alpha-0.500.tar",
    ),
    Variant(
        "oct_resnext101_32x4d", "Oct-ResNeXt-101 (32x4d)", _RESNET,
        {"layers": (3, 4, 23, 3), **_RESNEXT}, 0.5,
        44_177_704, 4_022_550_528, 7_969_996_800,
        (Published({"alpha": 0.5}, OFFICIAL, top1=78.9, note=_PRE_ACT),
         Published({"alpha": 0.25}, OFFICIAL, top1=79.6, note=_PRE_ACT)),
        plain_twin="resnext101_32x4d", plain_twin_outputs=True, note=_RESNEXT_NOTE,
        foreign_checkpoint=_FBAI + "ablation/a07_resnext-101_32x4d_alpha-0.500.tar",
    ),
    Variant(
        "oct_se_resnet50", "Oct-SE-ResNet-50", _RESNET,
        {"layers": (3, 4, 6, 3), "se_reduction": 16}, 0.125,
        28_088_024, 3_567_711_232, 4_091_699_200,
        (Published({"alpha": 0.125}, OFFICIAL, top1=78.7, note=_PRE_ACT),
         Published({"alpha": 0.125}, OPENVINO, params="28.082M",
                   measured=(28_088_024, 3_567_711_232), differs=_PRE_ACT_BN)),
        note="Oct-ResNet-50 (d-li14 layout) with an OctaveSE block (reduction 16) after the last "
             "BN of every bottleneck: both parts pooled and concatenated, one shared reduction, "
             "one expansion + sigmoid per part, as the official code.",
        foreign_checkpoint=_FBAI + "ablation/a05_se-resnet-50_alpha-0.125.tar",
    ),
    Variant(
        "sp_resnet50", "SP-ResNet-50 (SPConv)", _RESNET, {**_PLUGIN_RESNET50, "plugin": "spconv"}, 0.0,
        18_345_448, 2_907_439_104, 2_907_439_104,
        (Published({"alpha": 0}, SPCONV, 76.26, "18.34M", "2.97G", (18_345_448, 2_907_439_104),
                   differs="the published params leave out the 3,776 biases of the redundant "
                           "parts' 1x1 convs, which its code has (18,341,672 without them); "
                           "its FLOPs come from another counter than the conv + linear MACs "
                           "counted here from its code"),),
        note="The plain ResNet-50 (layout 'paddle') with SPConv (alpha 1/2, groups 2) as every "
             "bottleneck 3x3, each followed by the bottleneck's BN, as SPConv.pytorch's "
             "resnet_sp.py; the downsample stays a plain conv.",
    ),
    Variant(
        "od_resnet50", "OD-ResNet-50 (ODConv 1x)", _RESNET, {**_PLUGIN_RESNET50, "plugin": "odconv"},
        0.0, 28_635_112, 4_092_215_984, 4_092_215_984,
        (Published({"alpha": 0}, ODCONV, 77.87, "28.64M", "3.916G", (28_635_112, 4_092_215_984),
                   differs="the reference counts its plain ResNet-50 at 3.858G where this "
                           "project counts 4.089G; here ODConv adds 3.0M MACs of attention "
                           "to the plain network's"),),
        note="The plain ResNet-50 (layout 'paddle') with ODConv (one kernel, reduction 1/16) as "
             "every bottleneck conv (both 1x1s and the 3x3), as OSVAI/ODConv's od_resnet.py; the "
             "downsample stays a plain conv.",
    ),
    Variant(
        "sac_resnet50", "SAC-ResNet-50 (SAConv)", _RESNET, {**_PLUGIN_RESNET50, "plugin": "saconv"},
        0.0, 40_426_505, 5_847_307_776, 5_847_307_776,
        note="The plain ResNet-50 (layout 'paddle') with SAConv (switchable atrous conv, "
             "dilations 1 and 3, deformable as DetectoRS' use_deform=True) as the bottleneck 3x3 "
             "of layers 2-4, as DetectoRS (stage_with_sac); its kernel runs twice, hence the "
             "MACs (the offset convs counted, the bilinear sampling not). The "
             "reference publishes detection results only (HTC R-50 + SAC: 46.4 box AP on COCO).",
    ),
    Variant(
        "dcn_resnet50", "DCN-ResNet-50 (DCNv2)", _RESNET, {**_PLUGIN_RESNET50, "plugin": "dcnv2"},
        0.0, 26_428_295, 4_278_172_160, 4_278_172_160,
        note="The plain ResNet-50 (layout 'paddle') with DCNv2 (modulated deformable conv, one "
             "deformable group) as the bottleneck 3x3 of layers 2-4, as PaddleDetection's and "
             "mmdetection's stage_with_dcn; MACs count the offset-and-mask convs and the kernel, "
             "not the bilinear sampling.",
    ),
    Variant(
        "oct_mobilenet", "Oct-MobileNet V1", _MOBILENET, {}, 0.5,
        4_231_976, 318_167_680, 568_740_352,
        (Published({"alpha": 0.5, "width_mult": 1.0}, D_LI14, 71.25, "4.232M", "318.2M",
                   (4_231_976, 318_167_680), note="150 epochs"),
         Published({"alpha": 0, "width_mult": 1.0}, D_LI14, 72.24, "4.232M", "568.7M",
                   (4_231_976, 568_740_352), note="plain MobileNet V1"),
         Published({"alpha": 0.5, "width_mult": 1.0}, OFFICIAL, 72.5, "4.2M", "321M",
                   (4_231_976, 318_167_680), differs=_COUNTER),
         Published({"alpha": 0.375, "width_mult": 0.75}, OFFICIAL, 70.5, "2.6M", "213M",
                   (2_585_560, 211_379_016), differs=_COUNTER)),
        plain_twin="mobilenet_v1",
        checkpoint=PublishedCheckpoint(71.25, options={"alpha": 0.5, "width_mult": 1.0}),
        defaults={"width_mult": 1.0},
    ),
    Variant(
        "oct_mobilenet_v2", "Oct-MobileNetV2", _MOBILENET_V2, {}, 0.375,
        3_504_872, 247_621_424, 300_774_272,
        (Published({"alpha": 0.375, "width_mult": 1.0, "layout": "official"}, OFFICIAL, 72.0,
                   "3.5M", "256M", (3_505_960, 254_031_408), differs=_COUNTER,
                   note="label smoothing"),
         Published({"alpha": 0.5, "width_mult": 1.125, "layout": "official"}, OFFICIAL, 73.0,
                   "4.2M", "295M", (4_243_006, 292_764_600), differs=_COUNTER,
                   note="label smoothing")),
        plain_twin="mobilenet_v2", plain_twin_outputs=True,
        note="The default layout='paddle' is paddle.vision's MobileNetV2 (channels by "
             "make_divisible; block 1 has no expansion conv, so it stays plain and blocks 2-13 "
             "are octave): 247,621,424 MACs at alpha 0.375 where the official network "
             "(layout='official': int() channels, an expansion conv in every block, blocks 1-13 "
             "octave) has 254,031,408; at width 1.125 the channel rounding differs too "
             "(4,354,936 params against 4,243,006).",
        foreign_checkpoint=_FBAI + "others/mobilenet_v2_100_alpha-0.375.params",
        defaults={"width_mult": 1.0},
    ),
)

VARIANTS: Dict[str, Variant] = {v.name: v for v in _VARIANT_LIST}


def variant(name: str) -> Variant:
    """The record of ``name``; an unknown name is a ValueError listing the known ones."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"no variant record named {name!r}; known: {', '.join(VARIANTS)}") from None


def markdown_table() -> str:
    """The README model table (one row per variant) and the variants' notes, from the records."""
    rows = [
        "| builder (defaults) | params | MACs | MACs at alpha 0 | published: options, figures, "
        "ImageNet top-1 (source) |",
        "|---|---:|---:|---:|---|",
    ]
    for v in VARIANTS.values():
        published = "<br>".join(result.describe() for result in v.published)
        rows.append(f"| `{v.name}` ({v.options}) | {v.params:,} | {v.macs:,} | "
                    f"{v.plain_macs:,} | {published} |")
    rows.append("")
    rows += [f"- `{v.name}`: {v.note}" for v in VARIANTS.values() if v.note]
    return "\n".join(rows)
