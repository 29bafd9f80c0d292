"""Backbones for detection and segmentation: a zoo network as a multi-scale feature extractor.

Every builder takes ``features_only=True`` (timm's convention) and then returns a
:class:`FeatureNet`: ``forward(x)`` maps (N, C, H, W) images to a list with one map per selected
stage, and ``feature_info`` (a :class:`FeatureInfo`) gives each selected stage's channels,
reduction (stride) and module name. The head (pooling, classifier) is not part of it.

    >>> import paddle
    >>> from models import create_model
    >>> net = create_model("oct_resnet50", features_only=True, out_indices=(1, 2, 3, 4))
    >>> [list(f.shape) for f in net(paddle.randn([1, 3, 225, 225]))]
    [[1, 256, 57, 57], [1, 512, 29, 29], [1, 1024, 15, 15], [1, 2048, 8, 8]]
    >>> net.feature_info.channels(), net.feature_info.reduction()
    ([256, 512, 1024, 2048], [4, 8, 16, 32])

Stages: a stage is the output of the last layer at one reduction level, from the stem's to the
network's last (the layers a family offers, in :meth:`feature_stages` of its model class):

- ResNet family (Oct-ResNet, Oct-ResNeXt, Oct-SE-ResNet): 0 ``relu`` (the stem, before the
  max-pool; reduction 2), 1 ``layer1`` (4), 2 ``layer2`` (8), 3 ``layer3`` (16), 4 ``layer4`` (32).
  ``output_stride=16`` / ``8`` dilates layer4 / layer3 and layer4 instead of striding, so their
  reductions stay at 16 / 8.
- Oct-MobileNet V1: ``features.1``, ``.3``, ``.5``, ``.11``, ``.13`` (reductions 2 ... 32).
- Oct-MobileNetV2: ``features.1``, ``.3``, ``.6``, ``.13``, ``.17`` (2 ... 32); ``features.18``,
  the 1x1 conv to 1280 channels, belongs to the head, as timm's ``conv_head``.

With ``small_input=True`` the stem does not stride (nor, in a ResNet, max-pool): every reduction
is 2x smaller in a MobileNet and, from stage 1 on, 4x smaller in a ResNet. A map of a stage with
reduction r is ceil(H / r) x ceil(W / r) for any input size, odd sides included.

One map per stage (``feature_output="merged"``, the default): a stage's octave output
(high, low) becomes ``concat([high, up(low)])`` along channels, where ``up`` is the nearest
upsample of OctaveConv's own low->high path (2x, cropped to exactly the high map's size, so odd
sides work; exported graphs run it without an interpolate op). Channels ``[0, C_high)`` are the
high part, ``[C_high, C)`` the low part; C_i is the stage's total width, and the map has the
high map's size and reduction. A plain stage (alpha 0, or a stage without a low part) is its map.

``feature_output="pairs"`` gives each stage as the network computes it: ``OctaveFeatures(high,
low)``, low None for a plain stage, else at (ceil(H_i / 2), ceil(W_i / 2)), twice the reduction;
``feature_info.octave_channels()`` gives both widths.

Weights: a FeatureNet holds the network's own layers under their own names, so its state dict is
the classification network's less the head and the stages after the last selected one (the
prefixes in ``left_out``). :func:`models.weights.load_weights` ignores a checkpoint's keys under
those prefixes and checks every other key and shape strictly, so ``pretrained=`` reads the
classification checkpoints, and ``output_stride`` changes no parameter shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, List, Literal, NamedTuple, Optional, Sequence, Tuple, Union

import paddle
import paddle.nn as nn

from paddle_octconv import OctaveChannels, OctaveFeatures
# The nearest upsample of OctaveConv's low->high path: one definition of "low map to high size"
# (odd sides cropped, a transposed conv instead of interpolate in exported graphs).
from paddle_octconv.octconv import _upsample_to

from .common import as_features, check_bool, check_choice

__all__ = ["FeatureOutput", "FEATURE_OUTPUTS", "NUM_STAGES", "NO_DILATION", "FeatureStage",
           "StageInfo", "FeatureInfo", "FeatureNet", "FeatureOptions", "feature_options",
           "merge_octave", "check_out_indices", "chain_stages", "with_features"]

FeatureOutput = Literal["merged", "pairs"]
FEATURE_OUTPUTS: Tuple[str, ...] = ("merged", "pairs")
#: Stages every family of this zoo offers (the stem's level and four more; see the module doc).
NUM_STAGES = 5
#: Why a MobileNet takes only output_stride=32 (the end of its ValueError).
NO_DILATION = (" (a MobileNet always strides; output_stride 16 and 8 dilate the ResNet family: "
               "oct_resnet*, oct_resnext*, oct_se_resnet50)")


class FeatureStage(NamedTuple):
    """A stage as a network describes it (``feature_stages()`` of every zoo model).

    Attributes:
        module: the layer whose output the stage is, e.g. "layer2" or "features.3".
        layers: paths of the layers that run, in order, from the previous stage's output (the
            image for stage 0) to this stage's.
        channels: (high, low) widths of the output; low 0 for a plain map.
        reduction: the input's size over the high map's (the stride).
    """

    module: str
    layers: Tuple[str, ...]
    channels: OctaveChannels
    reduction: int


@dataclass(frozen=True)
class StageInfo:
    """One selected stage of a :class:`FeatureNet`.

    Attributes:
        index: the stage number (0: the stem's level).
        module: the layer whose output it is (a state-dict prefix of the classification network).
        channels: C_i of the merged map, high + low.
        octave: the (high, low) widths of the pair; low 0 for a plain stage.
        reduction: the stride of the merged map (= the high map's).
    """

    index: int
    module: str
    channels: int
    octave: OctaveChannels
    reduction: int

    @property
    def low_reduction(self) -> Optional[int]:
        """The stride of the low map of the pair (twice ``reduction``), None for a plain stage."""
        return 2 * self.reduction if self.octave.low else None


class FeatureInfo(Sequence[StageInfo]):
    """The selected stages of a :class:`FeatureNet`, in output order (timm's FeatureInfo).

    ``channels()``, ``reduction()``, ``module_name()`` and ``octave_channels()`` give one value
    per output, or with ``idx`` (a position in the output list, not a stage number) one value.
    """

    def __init__(self, stages: Sequence[StageInfo], output: FeatureOutput) -> None:
        self._stages, self.output = tuple(stages), output

    def __len__(self) -> int:
        return len(self._stages)

    def __getitem__(self, idx):
        return self._stages[idx]

    def __iter__(self) -> Iterator[StageInfo]:
        return iter(self._stages)

    def __repr__(self) -> str:
        return f"FeatureInfo(output={self.output!r}, stages={list(self._stages)})"

    def _get(self, field: str, idx: Optional[int]):
        if idx is not None:
            return getattr(self._stages[idx], field)
        return [getattr(stage, field) for stage in self._stages]

    @property
    def out_indices(self) -> Tuple[int, ...]:
        """The stage numbers of the outputs."""
        return tuple(stage.index for stage in self._stages)

    def channels(self, idx: Optional[int] = None) -> Union[int, List[int]]:
        """C_i of each output's merged map (high + low)."""
        return self._get("channels", idx)

    def octave_channels(self, idx: Optional[int] = None
                        ) -> Union[OctaveChannels, List[OctaveChannels]]:
        """(high, low) widths of each output's pair (low 0 for a plain stage)."""
        return self._get("octave", idx)

    def reduction(self, idx: Optional[int] = None) -> Union[int, List[int]]:
        """The stride of each output (of the high map in a pair; its low map has twice that)."""
        return self._get("reduction", idx)

    def module_name(self, idx: Optional[int] = None) -> Union[str, List[str]]:
        """The layer each output comes from, e.g. "layer2"."""
        return self._get("module", idx)


def merge_octave(features: OctaveFeatures) -> paddle.Tensor:
    """One map of a (high, low) pair: the low map upsampled (nearest, to the high map's exact
    size) and concatenated after the high map along channels; a plain pair is its high map.

    Shapes: (N, C_h, H, W) and (N, C_l, ceil(H / 2), ceil(W / 2)) -> (N, C_h + C_l, H, W).
    """
    high, low = features
    if low is None:
        return high
    return paddle.concat([high, _upsample_to(low, high)], axis=1)


def check_out_indices(out_indices: Optional[Sequence[int]], num_stages: int) -> Tuple[int, ...]:
    """``out_indices`` as a tuple: None -> every stage; else increasing stage numbers in
    [0, num_stages). A bad value is a TypeError / ValueError naming the valid ones."""
    valid = f"increasing stage numbers in 0..{num_stages - 1}, e.g. {tuple(range(num_stages))}"
    if out_indices is None:
        return tuple(range(num_stages))
    if not isinstance(out_indices, (tuple, list)) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in out_indices):
        raise TypeError(f"out_indices must be a tuple of ints ({valid}), got {out_indices!r}")
    indices = tuple(out_indices)
    if (not indices or any(i < 0 or i >= num_stages for i in indices)
            or any(a >= b for a, b in zip(indices, indices[1:]))):
        raise ValueError(f"out_indices must be {valid}; got {out_indices!r}")
    return indices


class FeatureOptions(NamedTuple):
    """The checked ``features_only`` options of a builder (see :func:`feature_options`)."""

    features_only: bool
    out_indices: Optional[Tuple[int, ...]]
    feature_output: FeatureOutput


def feature_options(features_only: bool, out_indices: Optional[Sequence[int]],
                    feature_output: FeatureOutput) -> FeatureOptions:
    """Check a builder's feature options before anything is built.

    ``out_indices`` and ``feature_output`` apply only with ``features_only=True``: given without
    it they are a ValueError (they would be silently ignored otherwise).
    """
    check_bool("features_only", features_only)
    check_choice("feature_output", feature_output, FEATURE_OUTPUTS)
    if not features_only and (out_indices is not None or feature_output != "merged"):
        raise ValueError("out_indices and feature_output apply to a feature extractor: pass "
                         "features_only=True as well (or leave them out)")
    indices = check_out_indices(out_indices, NUM_STAGES) if out_indices is not None else None
    return FeatureOptions(features_only, indices, feature_output)


def with_features(build: Callable[[], nn.Layer],
                  options: FeatureOptions) -> Callable[[], nn.Layer]:
    """``build`` itself, or, for ``features_only``, a callable building the network and
    returning its :class:`FeatureNet` (for :func:`models.weights.build_with_weights`)."""
    if not options.features_only:
        return build
    return lambda: FeatureNet(build(), options.out_indices, options.feature_output)


def chain_stages(prefix: str, reductions: Sequence[int],
                 channels: Sequence[OctaveChannels]) -> Tuple[FeatureStage, ...]:
    """The stages of a chain of layers ``prefix.0`` ... ``prefix.{n-1}`` whose outputs have
    ``reductions`` and ``channels``: one stage per reduction level, ending at its last layer."""
    stages, start = [], 0
    for i, reduction in enumerate(reductions):
        if i + 1 == len(reductions) or reductions[i + 1] != reduction:
            stages.append(FeatureStage(f"{prefix}.{i}",
                                       tuple(f"{prefix}.{j}" for j in range(start, i + 1)),
                                       channels[i], reduction))
            start = i + 1
    return tuple(stages)


def _left_out(model: nn.Layer, used: Sequence[str]) -> Tuple[str, ...]:
    """State-dict prefixes ("fc.", "features.18.") of ``model``'s layers outside ``used``."""
    used = set(used)
    left: List[str] = []

    def walk(prefix: str, layer: nn.Layer) -> None:
        for name, child in layer.named_children():
            path = f"{prefix}{name}"
            if path in used:
                continue
            if any(u.startswith(path + ".") for u in used):
                walk(path + ".", child)
            elif child.state_dict():
                left.append(path + ".")

    walk("", model)
    return tuple(left)


class FeatureNet(nn.Layer):
    """A zoo network's stages as a feature extractor (see the module docstring for the stages,
    the merging rule and the weights).

    Args:
        model: a network with ``feature_stages()`` (every model of :mod:`models`); the
            FeatureNet takes its layers (shares them), not its head.
        out_indices: the stage numbers to return, increasing; None: every stage.
        feature_output: "merged" (one map per stage) or "pairs" (``OctaveFeatures`` per stage).

    Shapes:
        input: (N, C_in, H, W) images, any H, W >= 1.
        output: a list with, per selected stage i, an (N, C_i, ceil(H / r_i), ceil(W / r_i))
            Tensor (``feature_info.channels(i)``, ``feature_info.reduction(i)``), or an
            ``OctaveFeatures`` pair in "pairs" mode.

    Attributes:
        feature_info: a :class:`FeatureInfo` of the selected stages.
        left_out: state-dict prefixes of the network that this one does not hold (its head and
            the stages after the last selected one); checkpoint keys under them are ignored.
    """

    def __init__(self, model: nn.Layer, out_indices: Optional[Sequence[int]] = None,
                 feature_output: FeatureOutput = "merged") -> None:
        super().__init__()
        if not callable(getattr(model, "feature_stages", None)):
            raise TypeError(f"FeatureNet needs a network with feature_stages() (a models zoo "
                            f"network), got {type(model).__name__}")
        stages = tuple(model.feature_stages())
        self.out_indices = check_out_indices(out_indices, len(stages))
        self.feature_output = check_choice("feature_output", feature_output, FEATURE_OUTPUTS)
        kept = stages[:self.out_indices[-1] + 1]  # later stages are neither held nor run
        by_path = dict(model.named_sublayers())
        self._stage_layers: List[List[nn.Layer]] = []
        for stage in kept:
            self._stage_layers.append([self._attach(path, by_path[path]) for path in stage.layers])
        self.left_out = _left_out(model, [path for stage in kept for path in stage.layers])
        self.feature_info = FeatureInfo(
            [StageInfo(i, stages[i].module, sum(stages[i].channels), stages[i].channels,
                       stages[i].reduction) for i in self.out_indices],
            self.feature_output)

    def _attach(self, path: str, layer: nn.Layer) -> nn.Layer:
        """Hold ``layer`` under ``path`` (e.g. "features.3"), so state-dict keys stay the
        network's own."""
        *parents, name = path.split(".")
        owner: nn.Layer = self
        for parent in parents:
            if parent not in owner._sub_layers:
                owner.add_sublayer(parent, nn.Layer())
            owner = owner._sub_layers[parent]
        owner.add_sublayer(name, layer)
        return layer

    def forward(self, x: paddle.Tensor) -> List[Union[paddle.Tensor, OctaveFeatures]]:
        outputs = []
        for index, layers in enumerate(self._stage_layers):
            for layer in layers:
                x = layer(x)
            if index in self.out_indices:
                pair = as_features(x)
                outputs.append(pair if self.feature_output == "pairs" else merge_octave(pair))
        return outputs
