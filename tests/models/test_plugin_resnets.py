"""The plug-in ResNet-50s: each plug-in conv sits where its reference puts it, keeps its own
initialisation inside the network, and the plain-network rules are enforced."""
from __future__ import annotations

import numpy as np
import paddle
import pytest

import models
from models.layers import PlainConvBN, conv_bn
from models.plugin_convs import PLACEMENTS, placement
from paddle_octconv import DCNv2, ODConv, SAConv, SPConv

SMALL = dict(num_classes=4, small_input=True, width=0.25)
# builder, plug-in class, stages holding it, bottleneck convs it replaces
EXPECTED = {
    "sp_resnet50": (SPConv, (1, 2, 3, 4), ("conv2",)),
    "od_resnet50": (ODConv, (1, 2, 3, 4), ("conv1", "conv2", "conv3")),
    "sac_resnet50": (SAConv, (2, 3, 4), ("conv2",)),
    "dcn_resnet50": (DCNv2, (2, 3, 4), ("conv2",)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_plugin_replaces_the_reference_convs_of_the_reference_stages(name):
    kind, stages, convs = EXPECTED[name]
    model = models.create_model(name, **SMALL)
    for stage in range(1, 5):
        for block in getattr(model, f"layer{stage}"):
            for conv in ("conv1", "conv2", "conv3"):
                layer = getattr(block, conv).conv
                wanted = kind if stage in stages and conv in convs else paddle.nn.Conv2D
                assert type(layer) is wanted, (stage, conv, type(layer).__name__)
            if block.downsample is not None:  # the shortcut stays plain in every reference
                assert type(block.downsample[0].conv) is paddle.nn.Conv2D
    assert type(model.conv1) is paddle.nn.Conv2D


def test_plugins_keep_their_reference_initialisation_inside_the_network():
    """The network's Kaiming init overwrites every Conv2D; the zero-initialised parts of the
    plug-ins must be restored afterwards."""
    dcn = models.create_model("dcn_resnet50", **SMALL).layer2[0].conv2.conv
    assert not np.any(dcn.conv_offset.weight.numpy()) and not np.any(dcn.conv_offset.bias.numpy())
    sac = models.create_model("sac_resnet50", **SMALL).layer3[1].conv2.conv
    assert not np.any(sac.weight_diff.numpy()) and not np.any(sac.switch.weight.numpy())
    assert np.all(sac.switch.bias.numpy() == 1.0)
    assert sac.deformable  # DetectoRS' SAC runs with use_deform=True
    for context in (sac.pre_context, sac.post_context, sac.offset_s, sac.offset_l):
        assert not np.any(context.weight.numpy())


def test_a_plugin_network_is_a_plain_network_with_the_paddle_layout():
    with pytest.raises(ValueError, match=r"needs alpha=0 \(got 0.5\)"):
        models.sp_resnet50(alpha=0.5)
    with pytest.raises(ValueError, match="layout='paddle'"):
        models.OctResNet((1, 1, 1, 1), alpha=0.0, plugin="spconv")
    with pytest.raises(ValueError, match="unknown plug-in conv 'sp'; known: spconv"):
        models.OctResNet((1, 1, 1, 1), alpha=0.0, layout="paddle", plugin="sp")
    with pytest.raises(ValueError, match="takes no groups"):
        PlainConvBN(8, 8, 3, groups=2, conv_layer=placement("spconv").conv3x3)
    with pytest.raises(ValueError, match="needs layout='paddle' and alpha 0 -> 0"):
        conv_bn(8, 8, 3, 0.5, 0.5, layout="paddle", conv_layer=placement("spconv").conv3x3)


def test_conv_layer_factories_build_the_plugin_with_its_reference_options():
    assert set(PLACEMENTS) == {"spconv", "odconv", "saconv", "dcnv2"}
    sp = placement("spconv").conv3x3(16, 16, 3, 2)
    assert isinstance(sp, SPConv) and sp.representative == 8  # alpha 1/2
    od = placement("odconv").conv1x1(16, 32, 1, 1)
    assert isinstance(od, ODConv) and od.kernel_num == 1
    x = paddle.randn([2, 16, 9, 9])
    assert sp(x).shape == [2, 16, 5, 5] and od(x).shape == [2, 32, 9, 9]
