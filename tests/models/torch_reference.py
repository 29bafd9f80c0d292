"""An independent PyTorch re-implementation of Oct-ResNet and Oct-MobileNet in the d-li14 layout.

Written for the converter tests only, from the paper's equations and the published checkpoint
key layout (docs in /work/shared/notes/anchors.md), sharing no code with ``models``. The state
dicts it makes have the keys of the public checkpoints (``layer1.0.conv1.conv.conv_h2l.weight``,
``bn_h.running_mean``, ``fc.weight`` [out, in], ...). Inputs must be multiples of 32 pixels, like
the public code.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def split(channels: int, alpha: float):
    low = int(alpha * channels)
    return channels - low, low


def pool(x):
    return F.avg_pool2d(x, 2, 2)


class OctConv(nn.Module):
    """The four octave paths; stride 2 average-pools the inputs first."""

    def __init__(self, cin, cout, k, a_in, a_out, stride=1, depthwise=False):
        super().__init__()
        (hi, li), (ho, lo) = split(cin, a_in), split(cout, a_out)
        self.stride = stride

        def conv(ci, co, allowed=True):
            if not (ci and co and allowed):
                return None
            return nn.Conv2d(ci, co, k, 1, k // 2, groups=ci if depthwise else 1, bias=False)

        self.conv_h2h = conv(hi, ho)
        self.conv_h2l = conv(hi, lo, not depthwise)
        self.conv_l2h = conv(li, ho, not depthwise)
        self.conv_l2l = conv(li, lo)

    def forward(self, x):
        x_h, x_l = x if isinstance(x, tuple) else (x, None)
        if self.stride == 2:
            x_h = pool(x_h)
        y_h = self.conv_h2h(x_h) if self.conv_h2h is not None else None
        y_l = self.conv_h2l(pool(x_h)) if self.conv_h2l is not None else None
        if x_l is not None:
            if self.conv_l2h is not None:
                up = self.conv_l2h(x_l)
                if self.stride == 1:
                    up = F.interpolate(up, scale_factor=2, mode="nearest")
                y_h = up if y_h is None else y_h + up
            if self.conv_l2l is not None:
                ll = self.conv_l2l(pool(x_l) if self.stride == 2 else x_l)
                y_l = ll if y_l is None else y_l + ll
        return y_h, y_l


class ConvBN(nn.Module):
    def __init__(self, cin, cout, k, a_in, a_out, stride=1, depthwise=False, act=True):
        super().__init__()
        self.conv = OctConv(cin, cout, k, a_in, a_out, stride, depthwise)
        ho, lo = split(cout, a_out)
        self.bn_h = nn.BatchNorm2d(ho)
        self.bn_l = nn.BatchNorm2d(lo) if lo else None
        self.act = act

    def forward(self, x):
        h, l = self.conv(x)
        h = self.bn_h(h)
        l = self.bn_l(l) if l is not None else None
        if self.act:
            h, l = F.relu(h), (F.relu(l) if l is not None else None)
        return h, l


class Bottleneck(nn.Module):
    def __init__(self, cin, planes, stride, a_in, a_out):
        super().__init__()
        self.conv1 = ConvBN(cin, planes, 1, a_in, a_out)
        self.conv2 = ConvBN(planes, planes, 3, a_out, a_out, stride)
        self.conv3 = ConvBN(planes, planes * 4, 1, a_out, a_out, act=False)
        self.downsample = None
        if stride != 1 or cin != planes * 4:
            self.downsample = nn.Sequential(
                ConvBN(cin, planes * 4, 1, a_in, a_out, stride, act=False))

    def forward(self, x):
        skip = self.downsample(x) if self.downsample is not None else (
            x if isinstance(x, tuple) else (x, None))
        h, l = self.conv3(self.conv2(self.conv1(x)))
        return F.relu(h + skip[0]), (F.relu(l + skip[1]) if l is not None else None)


class OctResNet(nn.Module):
    def __init__(self, layers, num_classes, alpha):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        alphas = (0.0, alpha, alpha, alpha, 0.0)
        cin = 64
        stages = zip((64, 128, 256, 512), (1, 2, 2, 2), layers)
        for i, (planes, stride, blocks) in enumerate(stages):
            stage = [Bottleneck(cin, planes, stride, alphas[i], alphas[i + 1])]
            stage += [Bottleneck(planes * 4, planes, 1, alphas[i + 1], alphas[i + 1])
                      for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            cin = planes * 4
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x[0], 1), 1))


class OctMobileNet(nn.Module):
    BLOCKS = ((64, 1, 1), (128, 2, 1), (128, 1, 1), (256, 2, 1), (256, 1, 1), (512, 2, 1),
              (512, 1, 1), (512, 1, 1), (512, 1, 1), (512, 1, 1), (512, 1, 0), (1024, 2, 0),
              (1024, 1, 0))

    def __init__(self, num_classes, alpha):
        super().__init__()
        stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        features = [stem]
        cin, a_in = 32, 0.0
        for cout, stride, octave in self.BLOCKS:
            a_out = alpha if octave else 0.0
            features.append(nn.Sequential(ConvBN(cin, cin, 3, a_in, a_in, stride, depthwise=True),
                                          ConvBN(cin, cout, 1, a_in, a_out)))
            cin, a_in = cout, a_out
        self.features = nn.Sequential(*features)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        h, _ = self.features(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every weight and BN statistic a distinct random value; return the model in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
                module.weight.normal_(0, (2.0 / fan_out) ** 0.5, generator=generator)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0, 0.1, generator=generator)
                module.running_mean.normal_(0, 0.1, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)
                module.num_batches_tracked.fill_(123)
            elif isinstance(module, nn.Linear):
                module.weight.normal_(0, 0.05, generator=generator)
                module.bias.normal_(0, 0.05, generator=generator)
    return model.eval()
