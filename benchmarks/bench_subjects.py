"""What ``bench.py`` measures: subjects (a builder and its inputs), pairs of them, and their MACs.

A subject is an image model (one (C, H, W) input whose side the benchmark may choose, e.g. the zoo
and ``paddle.vision`` networks) or a model of fixed input shapes (the single layers). A pair is
A (octave) against B (baseline). ``--patch`` files may add entries to :data:`SUBJECTS` and
:data:`PAIRS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from reference_octconv import ReferenceOctaveConv

__all__ = ["Subject", "Pair", "SUBJECTS", "PAIRS", "LAYER", "IMAGE", "SMALL_INPUT_MAX_SIDE",
           "build_model", "input_shapes", "make_inputs", "make_labels", "count_macs",
           "missing_small_stems", "pair_is_image"]

LAYER = dict(channels=256, kernel=3, alpha=0.5, size=56)  # the benchmarked single layer
IMAGE = (3, 224, 224)
SMALL_INPUT_MAX_SIDE = 64  # images up to this side are "32x32-class": small-input stems apply


@dataclass
class Subject:
    """Something to benchmark: a deterministic builder and its per-sample input shapes.

    ``build()`` returns a Layer called as ``model(*inputs)`` returning a Tensor or a tuple of them.

    Attributes:
        build: the builder; ``build(small_input=True)`` when ``small_input`` is set.
        input_shapes: per-sample shapes of the inputs, (C, H, W) each, at the default size.
        image_model: one (C, H, W) image input of any side: ``--sizes`` choose H = W.
        small_input: the builder takes ``small_input=True`` (the zoo's stride-1 stem for 32x32-class
            images), used at sides <= :data:`SMALL_INPUT_MAX_SIDE`.
        num_classes: logits of a classifier (its training loss is cross-entropy on random labels);
            0 for other subjects (their loss is the mean square of the outputs).
        small_stand_in: what ``build(small_input=True)`` builds when it is another network than
            the subject (a paddle.vision model's zoo twin at alpha 0), for the row's note.
    """

    build: Callable[..., nn.Layer]
    input_shapes: Sequence[Tuple[int, ...]]
    image_model: bool = False
    small_input: bool = False
    num_classes: int = 0
    small_stand_in: str = ""

    def uses_small_stem(self, size: Optional[int]) -> bool:
        return self.small_input and size is not None and size <= SMALL_INPUT_MAX_SIDE


class _OctaveLayerModel(nn.Layer):
    """An OctaveConv-like layer as a model of two tensors: (x_high, x_low) -> (y_high, y_low)."""

    def __init__(self, layer: nn.Layer) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x_high, x_low):
        return tuple(self.layer((x_high, x_low)))


def _zoo(name: str) -> Subject:
    def build(**options) -> nn.Layer:
        from models import create_model
        return create_model(name, num_classes=1000, **options)
    return Subject(build, [IMAGE], image_model=True, small_input=True, num_classes=1000)


def _vision(builder: Callable[..., nn.Layer], small_twin: str) -> Subject:
    """A ``paddle.vision`` classifier; it has no small-input stem, so at 32x32-class sizes the
    baseline is the zoo's ``small_twin`` at alpha 0 with the small stem (the same plain network
    at 224: equal params and MACs), so both sides of a 32x32 row do the same stem's work."""
    def build(small_input: bool = False) -> nn.Layer:
        if small_input:
            from models import create_model
            return create_model(small_twin, num_classes=1000, alpha=0.0, small_input=True)
        return builder(num_classes=1000)
    return Subject(build, [IMAGE], image_model=True, small_input=True, num_classes=1000,
                   small_stand_in=f"{small_twin} at alpha 0 with the small-input stem")


def _octave_layer() -> nn.Layer:
    from paddle_octconv import OctaveConv
    c, k, a = LAYER["channels"], LAYER["kernel"], LAYER["alpha"]
    return _OctaveLayerModel(OctaveConv(c, c, k, a, a, padding=k // 2))


def _reference_layer() -> nn.Layer:
    c, k, a = LAYER["channels"], LAYER["kernel"], LAYER["alpha"]
    return _OctaveLayerModel(ReferenceOctaveConv(c, c, k, a, a))


def _conv_layer() -> nn.Layer:
    c, k = LAYER["channels"], LAYER["kernel"]
    return nn.Conv2D(c, c, k, padding=k // 2, bias_attr=False)


def _octave_shapes() -> List[Tuple[int, ...]]:
    c, a, s = LAYER["channels"], LAYER["alpha"], LAYER["size"]
    low = int(a * c)
    return [(c - low, s, s), (low, (s + 1) // 2, (s + 1) // 2)]


vision = paddle.vision.models
SUBJECTS: Dict[str, Subject] = {
    "oct_resnet50": _zoo("oct_resnet50"),
    "resnet50": _vision(vision.resnet50, "oct_resnet50"),
    "oct_mobilenet": _zoo("oct_mobilenet"),
    "mobilenet_v1": _vision(vision.MobileNetV1, "oct_mobilenet"),
    "oct_mobilenet_v2": _zoo("oct_mobilenet_v2"),
    "mobilenet_v2": _vision(vision.mobilenet_v2, "oct_mobilenet_v2"),
    "oct_resnext50_32x4d": _zoo("oct_resnext50_32x4d"),
    "resnext50_32x4d": _vision(vision.resnext50_32x4d, "oct_resnext50_32x4d"),
    # the plug-in convolutions in the same ResNet-50 (their baseline: plain resnet50)
    **{name: _zoo(name) for name in ("sp_resnet50", "od_resnet50", "sac_resnet50", "dcn_resnet50")},
    "octconv": Subject(_octave_layer, _octave_shapes()),
    "reference_octconv": Subject(_reference_layer, _octave_shapes()),
    "conv2d": Subject(_conv_layer, [(LAYER["channels"], LAYER["size"], LAYER["size"])]),
}


@dataclass
class Pair:
    """A (octave) against B (baseline). ``same_function``: B gets A's weights and outputs must match."""

    a: str
    b: str
    same_function: bool = False


PAIRS: Dict[str, Pair] = {
    "resnet50": Pair("oct_resnet50", "resnet50"),
    "mobilenet": Pair("oct_mobilenet", "mobilenet_v1"),
    "mobilenet_v2": Pair("oct_mobilenet_v2", "mobilenet_v2"),
    "resnext50": Pair("oct_resnext50_32x4d", "resnext50_32x4d"),
    **{name: Pair(name, "resnet50") for name in ("sp_resnet50", "od_resnet50", "sac_resnet50",
                                                 "dcn_resnet50")},
    "layer": Pair("octconv", "reference_octconv", same_function=True),
    "conv": Pair("octconv", "conv2d"),
}


def pair_is_image(pair: Pair) -> bool:
    """Whether ``--sizes`` apply to the pair (both sides are image models)."""
    return SUBJECTS[pair.a].image_model and SUBJECTS[pair.b].image_model


def missing_small_stems(pair: Pair, size: Optional[int]) -> List[str]:
    """The sides of ``pair`` that run their full-size stem on a 32x32-class ``size``."""
    if size is None or size > SMALL_INPUT_MAX_SIDE:
        return []
    return [name for name in (pair.a, pair.b) if not SUBJECTS[name].small_input]


def build_model(name: str, state_file: Optional[str] = None,
                size: Optional[int] = None) -> nn.Layer:
    """Build subject ``name`` for images of side ``size`` (its small-input stem at 32x32-class
    sides) with seeded weights, or with the weights saved in ``state_file``."""
    subject = SUBJECTS[name]
    paddle.seed(0)
    model = subject.build(small_input=True) if subject.uses_small_stem(size) else subject.build()
    if state_file:
        model.set_state_dict(paddle.load(state_file))
    return model


def input_shapes(name: str, size: Optional[int] = None) -> List[Tuple[int, ...]]:
    """Per-sample input shapes of subject ``name``: (C, size, size) for an image model when ``size``
    is given, else the subject's own shapes."""
    subject = SUBJECTS[name]
    if size is None or not subject.image_model:
        return list(subject.input_shapes)
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"an image side is a positive int, got {size!r}")
    return [(subject.input_shapes[0][0], size, size)]


def make_inputs(name: str, batch: int, size: Optional[int] = None) -> List[np.ndarray]:
    """Seeded standard-normal inputs, (batch, *shape) each."""
    rng = np.random.default_rng(batch)
    return [rng.standard_normal((batch, *shape), dtype=np.float32)
            for shape in input_shapes(name, size)]


def make_labels(name: str, batch: int) -> Optional[np.ndarray]:
    """Seeded class labels (batch,) int64 for a classifier subject; None for the others."""
    classes = SUBJECTS[name].num_classes
    return np.random.default_rng(batch).integers(0, classes, batch) if classes else None


class _FromImage(nn.Layer):
    """Feeds a multi-input subject from one (N, C, H, W) tensor, for ``count_flops``.

    The tensor is split along channels into the subject's inputs; a smaller input is average-pooled
    to its size. Pools are not counted, so the count is the subject's own convolution MACs.
    """

    def __init__(self, model: nn.Layer, shapes: Sequence[Tuple[int, ...]]) -> None:
        super().__init__()
        self.model, self.shapes = model, shapes

    def forward(self, x):
        parts, start = [], 0
        for c, h, _ in self.shapes:
            part = x[:, start:start + c]
            start += c
            parts.append(part if h == x.shape[2] else F.adaptive_avg_pool2d(part, h))
        return self.model(*parts)


def count_macs(name: str, model: nn.Layer, size: Optional[int] = None) -> int:
    """Multiply-accumulates of one sample at ``size`` (``paddle_octconv.count_flops``)."""
    from paddle_octconv import count_flops
    shapes = input_shapes(name, size)
    if len(shapes) == 1:
        return count_flops(model, (1, *shapes[0]))
    full = (sum(s[0] for s in shapes), *max(shapes, key=lambda s: s[1])[1:])
    return count_flops(_FromImage(model, shapes), (1, *full))
