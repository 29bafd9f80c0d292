"""Semantic segmentation with an Oct backbone and a small FPN head, trained on synthetic data.

The backbone is a zoo builder with ``features_only=True`` (stages 1-4, strides 4 to 32, the
octave stages merged into one map each; see models.features). The head is a feature pyramid (Lin
et al. 2017): a 1x1 lateral conv per stage to one width, a top-down path (the coarser map
upsampled, nearest, to the finer one's exact size, and added), a 3x3 conv on the finest map, a
1x1 classifier and a bilinear upsample to the image size. The data: noise images holding one
rectangle each, of class 1 or 2, drawn into the colour channel of its class; the labels mark it.
A few Adam steps on CPU take seconds and the printed loss falls.

    python examples/segmentation_fpn.py                              # oct_resnet26 x0.25
    python examples/segmentation_fpn.py --arch oct_mobilenet --width 0.5 --steps 30
    python examples/segmentation_fpn.py --output-stride 16           # a dilated layer4
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout: the root holds models

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import paddle.nn as nn  # noqa: E402
import paddle.nn.functional as F  # noqa: E402

import models  # noqa: E402
from models.records import variant  # noqa: E402

NUM_CLASSES = 3  # background and two kinds of rectangle
OUT_INDICES = (1, 2, 3, 4)  # strides 4, 8, 16, 32 (the stem's stride-2 map is left out)


class FPNHead(nn.Layer):
    """Feature pyramid over the backbone's maps, then per-pixel logits at the finest one.

    Args:
        in_channels: the channels of each backbone map, finest first
            (``feature_info.channels()``).
        channels: the pyramid's width.
        num_classes: output classes.

    Shapes: maps (N, C_i, H_i, W_i), finest first, and the image size (H, W) ->
    (N, num_classes, H, W) logits.
    """

    def __init__(self, in_channels: Sequence[int], channels: int, num_classes: int) -> None:
        super().__init__()
        self.lateral = nn.LayerList([nn.Conv2D(c, channels, 1) for c in in_channels])
        self.smooth = nn.Sequential(nn.Conv2D(channels, channels, 3, padding=1, bias_attr=False),
                                    nn.BatchNorm2D(channels), nn.ReLU())
        self.classifier = nn.Conv2D(channels, num_classes, 1)

    def forward(self, maps: List[paddle.Tensor], size: Tuple[int, int]) -> paddle.Tensor:
        top = self.lateral[-1](maps[-1])
        for lateral, feature in zip(self.lateral[-2::-1], maps[-2::-1]):
            # exact target sizes: a stride-2 level of an odd-sided map is not 2x smaller
            top = lateral(feature) + F.interpolate(top, size=feature.shape[2:], mode="nearest")
        logits = self.classifier(self.smooth(top))
        return F.interpolate(logits, size=list(size), mode="bilinear", align_corners=False)


class Segmenter(nn.Layer):
    """An Oct backbone (``features_only``) and an :class:`FPNHead`: images -> per-pixel logits."""

    def __init__(self, arch: str, width: float, output_stride: int, channels: int) -> None:
        super().__init__()
        family_width = "width_mult" if "mobilenet" in variant(arch).family else "width"
        options = {family_width: width}
        if output_stride != 32:  # a MobileNet refuses any other value with a ValueError
            options["output_stride"] = output_stride
        self.backbone = models.create_model(arch, features_only=True, out_indices=OUT_INDICES,
                                            **options)
        self.head = FPNHead(self.backbone.feature_info.channels(), channels, NUM_CLASSES)

    def forward(self, images: paddle.Tensor) -> paddle.Tensor:
        return self.head(self.backbone(images), images.shape[2:])


def synthetic_batch(rng: np.random.Generator, batch: int, size: int
                    ) -> Tuple[paddle.Tensor, paddle.Tensor]:
    """(N, 3, size, size) noise images with one rectangle each and (N, size, size) labels."""
    images = rng.normal(0.0, 0.5, (batch, 3, size, size)).astype("float32")
    labels = np.zeros((batch, size, size), dtype="int64")
    for image, label in zip(images, labels):
        cls = int(rng.integers(1, NUM_CLASSES))
        top, left = rng.integers(0, size // 2, 2)
        height, width = rng.integers(size // 4, size // 2 + 1, 2)
        image[cls - 1, top:top + height, left:left + width] += 2.0  # the colour of its class
        label[top:top + height, left:left + width] = cls
    return paddle.to_tensor(images), paddle.to_tensor(labels)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="oct_resnet26", choices=models.list_models())
    parser.add_argument("--width", type=float, default=0.25,
                        help="the backbone's width (width_mult of a MobileNet)")
    parser.add_argument("--output-stride", type=int, default=32,
                        help="16 or 8 dilates a ResNet's last stages")
    parser.add_argument("--channels", type=int, default=32, help="the FPN's width")
    parser.add_argument("--size", type=int, default=64, help="image side (odd sides work)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> List[float]:
    """Train for ``--steps`` steps (a fresh synthetic batch each); print and return the losses."""
    args = parse_args(argv)
    paddle.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = Segmenter(args.arch, args.width, args.output_stride, args.channels)
    info = model.backbone.feature_info
    print(f"{args.arch} backbone: stages {info.out_indices}, channels {info.channels()}, "
          f"strides {info.reduction()}")
    optimizer = paddle.optimizer.Adam(learning_rate=args.lr, parameters=model.parameters())
    model.train()
    losses = []
    for step in range(args.steps):
        images, labels = synthetic_batch(rng, args.batch, args.size)
        logits = model(images).transpose([0, 2, 3, 1])  # (N, H, W, classes)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(float(loss))
        print(f"step {step + 1:3d}/{args.steps}: loss {losses[-1]:.4f}")
    return losses


if __name__ == "__main__":
    main()
