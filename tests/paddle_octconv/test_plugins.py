"""The plug-in convolutions (SPConv, SAConv, DCNv2, ODConv) against float64 numpy references.

Each reference below is written from the paper's / reference code's semantics (the formulas in
each layer's module docstring), with numpy only: a strided, dilated, grouped conv, a ceil-mode
average pool, a reflect-padded box filter, bilinear sampling with zeros outside the map. Every
parameter is first set to random values (the zero-initialised switch, offsets and contexts
included), so every path is exercised; the tests read the parameters by their documented names.
"""
from __future__ import annotations

import math

import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddle_octconv import DCNv2, ODConv, SAConv, SPConv, count_flops, count_params

TOL = dict(rtol=1e-4, atol=1e-4)
SIZES = ((9, 7), (8, 10))  # odd and even, never square


# ----------------------------------------------------------------------------- numpy reference
def np_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Grouped, strided, dilated cross-correlation with zero padding (ints apply to both axes)."""
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    ph, pw = (padding, padding) if np.isscalar(padding) else padding
    dh, dw = (dilation, dilation) if np.isscalar(dilation) else dilation
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    assert c == cg * groups and o % groups == 0
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, i, j])
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def np_avg_pool_ceil(x, s):
    """s x s / stride s mean to ceil(H / s), ceil(W / s); a cut window averages what it holds."""
    n, c, h, w = x.shape
    ho, wo = -(-h // s), -(-w // s)
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * s:(i + 1) * s, j * s:(j + 1) * s].mean(axis=(2, 3))
    return out


def np_bn(x, bn):
    """BatchNorm2D in eval mode from its running statistics."""
    mean, var, g, b = (bn[k].reshape(1, -1, 1, 1) for k in ("_mean", "_variance", "weight", "bias"))
    return (x - mean) / np.sqrt(var + 1e-5) * g + b


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_gap(x):
    return x.mean(axis=(2, 3), keepdims=True)


def np_bilinear(img, y, x):
    """Sample (C, H, W) ``img`` at float positions (y, x) of any equal shape; zero outside the
    map, and each of the four neighbours outside the map counts zero (DCN's convention)."""
    c, h, w = img.shape
    out = np.zeros((c,) + y.shape)
    inside = (y > -1) & (y < h) & (x > -1) & (x < w)
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    for dy in (0, 1):
        for dx in (0, 1):
            yi, xi = y0 + dy, x0 + dx
            weight = (1 - np.abs(y - yi)) * (1 - np.abs(x - xi))
            ok = inside & (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
            out += np.where(ok, img[:, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)] * weight, 0.0)
    return out


# ------------------------------------------------------------------------------------- helpers
def params(layer):
    """All parameters and buffers as float64 numpy, by structured name."""
    state = {name: np.asarray(value.numpy(), dtype=np.float64) for name, value in layer.state_dict().items()}
    return state


def sub(state, prefix):
    return {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}


def randomize(layer, seed=0, scale=0.3):
    """Random values for every parameter, and running statistics away from 0 / 1."""
    rng = np.random.default_rng(seed)
    for name, value in layer.state_dict().items():
        shape = value.shape
        if name.endswith("_variance"):
            new = rng.uniform(0.5, 2.0, shape)
        elif name.endswith("_mean"):
            new = rng.standard_normal(shape) * 0.5
        else:
            new = rng.standard_normal(shape) * scale
        value.set_value(new.astype("float32"))
    layer.eval()
    return layer


def run(layer, x):
    return layer(paddle.to_tensor(x.astype("float32"))).numpy()


def inputs(c, size, n=2, seed=1):
    return np.random.default_rng(seed).standard_normal((n, c) + tuple(size))


# ---------------------------------------------------------------------------------------- SPConv
def np_spconv(x, p, stride, alpha, groups, k):
    r = int(alpha * x.shape[1])
    x_rep, x_red = x[:, :r], x[:, r:]
    pool = (lambda t: t) if stride == 1 else (lambda t: np_avg_pool_ceil(t, stride))
    rep = np_conv(x_rep, p["gwc.weight"], stride=stride, padding=k // 2, groups=groups) \
        + np_conv(pool(x_rep), p["pwc.weight"])
    rep = np_bn(rep, sub(p, "bn1"))
    red = np_bn(np_conv(pool(x_red), p["conv1x1.weight"], p["conv1x1.bias"]), sub(p, "bn2"))
    w = np_softmax(np.stack([rep.mean(axis=(2, 3)), red.mean(axis=(2, 3))], -1), axis=-1)
    return rep * w[..., 0, None, None] + red * w[..., 1, None, None]


@pytest.mark.parametrize("stride", (1, 2))
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("c_in,c_out,alpha,groups,k", [(8, 12, 0.5, 2, 3), (10, 6, 0.25, 2, 3),
                                                       (12, 8, 0.5, 1, 5)])
def test_spconv_matches_reference(c_in, c_out, alpha, groups, k, size, stride):
    layer = randomize(SPConv(c_in, c_out, k, stride, alpha=alpha, groups=groups))
    x = inputs(c_in, size)
    got = run(layer, x)
    assert got.shape == (2, c_out, -(-size[0] // stride), -(-size[1] // stride))
    np.testing.assert_allclose(got, np_spconv(x, params(layer), stride, alpha, groups, k), **TOL)


def test_spconv_reference_shapes_and_params():
    """The reference SPConv_3x3(64, 64): gwc 32->64 groups 2, pwc 32->64, conv1x1 32->64 + bias,
    two BN(64): 9216 + 2048 + 2112 + 256 = 13632 parameters."""
    layer = SPConv(64, 64)
    shapes = {k: v.shape for k, v in layer.state_dict().items() if "_mean" not in k and "_variance" not in k}
    assert shapes == {"gwc.weight": [64, 16, 3, 3], "pwc.weight": [64, 32, 1, 1],
                      "conv1x1.weight": [64, 32, 1, 1], "conv1x1.bias": [64],
                      "bn1.weight": [64], "bn1.bias": [64], "bn2.weight": [64], "bn2.bias": [64]}
    assert count_params(layer) == 13632


# ---------------------------------------------------------------------------------------- SAConv
def np_ws(w):
    flat = w.reshape(w.shape[0], -1)
    mean = flat.mean(axis=1)
    std = np.sqrt(flat.var(axis=1, ddof=1) + 1e-5)
    return (w - mean.reshape(-1, 1, 1, 1)) / std.reshape(-1, 1, 1, 1)


def np_saconv(x, p, stride, dilation, groups, k):
    x = x + np_conv(np_gap(x), p["pre_context.weight"], p["pre_context.bias"])
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
    box = sum(padded[:, :, i:i + x.shape[2], j:j + x.shape[3]] for i in range(5) for j in range(5)) / 25
    s = np_conv(box, p["switch.weight"], p["switch.bias"], stride=stride)
    w = np_ws(p["conv.weight"])
    pad = dilation * (k - 1) // 2

    def conv(weight, scale, offset_conv):  # dilation scale * d; deformable when it has offsets
        if offset_conv + ".weight" not in p:
            return np_conv(x, weight, p.get("conv.bias"), stride, scale * pad, scale * dilation, groups)
        offset = np_conv(box, p[offset_conv + ".weight"], p[offset_conv + ".bias"], stride, 1)
        return np_deform_conv(x, offset, None, weight, p.get("conv.bias"), stride, scale * pad,
                              scale * dilation, groups, 1, k)

    small, large = conv(w, 1, "offset_s"), conv(w + p["weight_diff"], 3, "offset_l")
    y = s * small + (1 - s) * large
    return y + np_conv(np_gap(y), p["post_context.weight"], p["post_context.bias"])


@pytest.mark.parametrize("stride", (1, 2))
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("c_in,c_out,dilation,groups,bias", [(6, 8, 1, 1, False), (8, 4, 2, 2, True)])
def test_saconv_matches_reference(c_in, c_out, dilation, groups, bias, size, stride):
    layer = randomize(SAConv(c_in, c_out, 3, stride, dilation=dilation, groups=groups, bias=bias))
    x = inputs(c_in, size)
    got = run(layer, x)
    assert got.shape == (2, c_out, -(-size[0] // stride), -(-size[1] // stride))
    np.testing.assert_allclose(got, np_saconv(x, params(layer), stride, dilation, groups, 3), **TOL)


@pytest.mark.parametrize("stride", (1, 2))
@pytest.mark.parametrize("c_in,c_out,dilation,groups", [(6, 8, 1, 1), (8, 4, 2, 2)])
def test_deformable_saconv_matches_reference(c_in, c_out, dilation, groups, stride):
    layer = randomize(SAConv(c_in, c_out, 3, stride, dilation=dilation, groups=groups,
                             deformable=True))
    for offset in (layer.offset_s, layer.offset_l):  # offsets of a few pixels, fractional
        offset.weight.set_value(offset.weight * 3)
    x = inputs(c_in, (9, 7))
    p = params(layer)
    assert {"offset_s.weight", "offset_l.bias"} <= set(p)
    got = run(layer, x)
    assert got.shape == (2, c_out, -(-9 // stride), -(-7 // stride))
    np.testing.assert_allclose(got, np_saconv(x, p, stride, dilation, groups, 3), **TOL)
    # at init the offsets are zero: the same as the layer without them
    paddle.seed(3)
    fresh = SAConv(c_in, c_out, 3, stride, dilation=dilation, groups=groups, deformable=True)
    assert not params(fresh)["offset_s.weight"].any() and not params(fresh)["offset_l.bias"].any()


def test_saconv_starts_as_a_weight_standardised_conv():
    """The reference's init: switch 1, dW 0, zero contexts: out = conv(x, ws(W), dilation d)."""
    paddle.seed(0)
    layer = SAConv(6, 8, 3, 1, dilation=2).eval()
    p = params(layer)
    assert not p["weight_diff"].any() and not p["switch.weight"].any() and (p["switch.bias"] == 1).all()
    for name in ("pre_context", "post_context"):
        assert not p[f"{name}.weight"].any() and not p[f"{name}.bias"].any()
    x = inputs(6, (9, 7))
    np.testing.assert_allclose(run(layer, x), np_conv(x, np_ws(p["conv.weight"]), padding=2, dilation=2), **TOL)


# ----------------------------------------------------------------------------------------- DCNv2
def np_deform_conv(x, offset, mask, weight, bias, stride, pad, dilation, groups, dgroups, k):
    """y(p) = sum_t w_t * m_t(p) * x(p*s - pad + d*p_t + dp_t(p)): ``offset`` holds [dy, dx]
    pairs per (deformable group, tap); ``mask`` (N, G * k^2, H', W') or None for DCNv1."""
    n, c, h, w = x.shape
    taps = k * k
    ho, wo = offset.shape[2:]
    base_y = (np.arange(ho) * stride - pad)[:, None] * np.ones((1, wo))
    base_x = (np.arange(wo) * stride - pad)[None, :] * np.ones((ho, 1))
    cols = np.zeros((n, c, taps, ho, wo))  # sampled, masked input per tap
    cg = c // dgroups
    for b in range(n):
        for g in range(dgroups):
            for t in range(taps):
                i, j = divmod(t, k)
                dy, dx = offset[b, 2 * (g * taps + t)], offset[b, 2 * (g * taps + t) + 1]
                sampled = np_bilinear(x[b, g * cg:(g + 1) * cg], base_y + i * dilation + dy, base_x + j * dilation + dx)
                cols[b, g * cg:(g + 1) * cg, t] = sampled * (1.0 if mask is None else mask[b, g * taps + t])
    o = weight.shape[0]  # (O, C / groups, k, k)
    out = np.zeros((n, o, ho, wo))
    og, cig = o // groups, c // groups
    for g in range(groups):
        wg = weight[g * og:(g + 1) * og].reshape(og, cig, taps)
        out[:, g * og:(g + 1) * og] = np.einsum("nctyx,oct->noyx", cols[:, g * cig:(g + 1) * cig], wg)
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def np_dcnv2(x, p, stride, dilation, groups, dgroups, k):
    """Offsets and masks from a conv with 3 * G * k^2 channels: [dy, dx] pairs per (group, tap)
    first, then the mask logits."""
    pad = dilation * (k - 1) // 2
    om = np_conv(x, p["conv_offset.weight"], p["conv_offset.bias"], stride, pad, dilation)
    taps = k * k
    offset, mask = om[:, :2 * dgroups * taps], np_sigmoid(om[:, 2 * dgroups * taps:])
    return np_deform_conv(x, offset, mask, p["conv.weight"], p.get("conv.bias"), stride, pad,
                          dilation, groups, dgroups, k)


@pytest.mark.parametrize("stride", (1, 2))
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("c_in,c_out,dilation,groups,dgroups,bias",
                         [(4, 6, 1, 1, 1, False), (6, 12, 2, 2, 3, True)])
def test_dcnv2_matches_reference(c_in, c_out, dilation, groups, dgroups, bias, size, stride):
    layer = randomize(DCNv2(c_in, c_out, 3, stride, dilation=dilation, groups=groups,
                            deformable_groups=dgroups, bias=bias))
    # offsets of a few pixels, fractional, some reaching outside the map
    layer.conv_offset.weight.set_value(layer.conv_offset.weight * 3)
    x = inputs(c_in, size)
    p = params(layer)
    om = np_conv(x, p["conv_offset.weight"], p["conv_offset.bias"], stride, dilation, dilation)
    assert np.abs(om[:, :2 * dgroups * 9]).max() > 2  # the test reaches beyond neighbouring pixels
    got = run(layer, x)
    assert got.shape == (2, c_out, -(-size[0] // stride), -(-size[1] // stride))
    np.testing.assert_allclose(got, np_dcnv2(x, p, stride, dilation, groups, dgroups, 3), **TOL)


def test_dcnv2_starts_as_half_a_plain_conv():
    """Zero offset-and-mask conv: offsets 0 and masks sigmoid(0) = 1/2, so out = conv(x, W) / 2."""
    paddle.seed(0)
    layer = DCNv2(4, 6, 3, 2).eval()
    p = params(layer)
    assert not p["conv_offset.weight"].any() and not p["conv_offset.bias"].any()
    assert p["conv_offset.weight"].shape == (27, 4, 3, 3)
    x = inputs(4, (9, 7))
    np.testing.assert_allclose(run(layer, x), np_conv(x, p["conv.weight"], stride=2, padding=1) / 2, **TOL)


# ---------------------------------------------------------------------------------------- ODConv
def np_odconv(x, p, stride, dilation, groups, n_kernels, k, temperature=1.0):
    a = np_conv(np_gap(x), p["attention.fc.weight"])
    a = np.maximum(np_bn(a, sub(p, "attention.bn")), 0)
    head = lambda name: np_conv(a, p[f"attention.{name}.weight"], p[f"attention.{name}.bias"]) / temperature  # noqa: E731
    channel = np_sigmoid(head("channel_fc"))  # (N, C_in, 1, 1)
    filt = np_sigmoid(head("filter_fc")) if "attention.filter_fc.weight" in p else 1.0
    spatial = np_sigmoid(head("spatial_fc")).reshape(-1, 1, 1, k, k) if k > 1 else np.ones((len(x), 1, 1, 1, 1))
    kernel_att = np_softmax(head("kernel_fc"), axis=1).reshape(len(x), -1) if n_kernels > 1 else np.ones((len(x), 1))
    kernels = p["conv.weight"].reshape(n_kernels, -1, *p["conv.weight"].shape[1:])  # (n, O, C/g, k, k)
    out = []
    for b in range(len(x)):
        mixed = np.einsum("j,joikl->oikl", kernel_att[b], kernels * spatial[b][None])
        out.append(np_conv(x[b:b + 1] * channel[b:b + 1], mixed, None, stride,
                           dilation * (k - 1) // 2, dilation, groups))
    return np.concatenate(out) * filt


@pytest.mark.parametrize("stride", (1, 2))
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("c_in,c_out,k,dilation,groups,n", [
    (8, 12, 3, 1, 1, 1),    # ODConv 1x, the bottleneck 3x3
    (8, 12, 3, 2, 2, 4),    # 4x, grouped, dilated
    (12, 8, 1, 1, 1, 1),    # 1x1 1x: no spatial head, a plain conv of a static kernel
    (12, 8, 1, 1, 1, 3),    # 1x1 with kernel attention
    (8, 8, 3, 1, 8, 2),     # depthwise: no filter head
])
def test_odconv_matches_reference(c_in, c_out, k, dilation, groups, n, size, stride):
    layer = randomize(ODConv(c_in, c_out, k, stride, dilation=dilation, groups=groups, kernel_num=n,
                             min_channels=4))
    x = inputs(c_in, size, n=3)
    got = run(layer, x)
    assert got.shape == (3, c_out, -(-size[0] // stride), -(-size[1] // stride))
    np.testing.assert_allclose(got, np_odconv(x, params(layer), stride, dilation, groups, n, k), **TOL)


@pytest.mark.parametrize("temperature", (0.5, 2.0, 30.0))
def test_odconv_temperature_divides_every_heads_logits(temperature):
    """T divides the logits of all four heads (the reference's attention can change T, for
    annealing); at T = 1 no division is traced, so this is the only test of the division."""
    layer = randomize(ODConv(8, 12, 3, 1, kernel_num=3, min_channels=4, temperature=temperature))
    x = inputs(8, (9, 7), n=3)
    p = params(layer)
    np.testing.assert_allclose(run(layer, x), np_odconv(x, p, 1, 1, 1, 3, 3, temperature), **TOL)
    assert np.abs(np_odconv(x, p, 1, 1, 1, 3, 3, temperature) - np_odconv(x, p, 1, 1, 1, 3, 3)).max() > 1e-2


@pytest.mark.parametrize("c_in,c_out,k,dilation,groups,n,stride", [
    (8, 12, 3, 2, 2, 4, 2), (8, 12, 3, 1, 1, 1, 1), (12, 8, 1, 1, 1, 3, 2)])
def test_odconv_static_graph_matches_reference(c_in, c_out, k, dilation, groups, n, stride):
    """A static graph convolves per sample by unfold + matmul (dygraph by a batch-grouped conv):
    that path too, with a dynamic batch and sides, against the numpy reference."""
    layer = randomize(ODConv(c_in, c_out, k, stride, dilation=dilation, groups=groups, kernel_num=n,
                             min_channels=4))
    spec = [paddle.static.InputSpec([None, c_in, None, None], "float32")]
    static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
    for batch, size in ((3, (9, 7)), (1, (8, 10))):
        x = inputs(c_in, size, n=batch)
        np.testing.assert_allclose(run(static, x), np_odconv(x, params(layer), stride, dilation, groups, n, k), **TOL)


def test_odconv_heads_and_params_follow_the_reference():
    """ODConv(64, 64, 3), 1x: attention width max(int(64 / 16), 16) = 16; fc 64*16, BN 32,
    channel 16*64+64, filter 16*64+64, spatial 16*9+9, kernel 64*64*9: 41,961 parameters."""
    layer = ODConv(64, 64, 3)
    assert layer.attention.fc.weight.shape == [16, 64, 1, 1]
    assert layer.attention.kernel_fc is None  # n = 1
    assert count_params(layer) == 1024 + 32 + 1088 + 1088 + 153 + 36864 == 40249
    assert ODConv(16, 16, 3, groups=16).attention.filter_fc is None  # depthwise
    assert ODConv(64, 64, 1).attention.spatial_fc is None


# ---------------------------------------------------------------------------------- initialisation
def _std_close(weight, expected):
    got = float(weight.numpy().std())
    assert abs(got / expected - 1) < 0.08, (got, expected)


def test_reference_initialisations():
    paddle.seed(0)
    sp = SPConv(128, 128)
    _std_close(sp.gwc.weight, math.sqrt(2 / (128 * 9)))  # Kaiming normal, fan_out
    _std_close(sp.pwc.weight, math.sqrt(2 / 128))
    bound = 1 / math.sqrt(64)
    bias = sp.conv1x1.bias.numpy()
    assert np.abs(bias).max() <= bound and np.abs(bias).max() > bound / 2  # PyTorch's default bias
    od = ODConv(64, 128, 3, kernel_num=4)
    _std_close(od.conv.weight, math.sqrt(2 / (128 * 9)))  # per kernel: fan_out = C_out * k * k
    _std_close(od.attention.fc.weight, math.sqrt(2 / 16))
    for head in (od.attention.channel_fc, od.attention.filter_fc, od.attention.spatial_fc, od.attention.kernel_fc):
        assert not head.bias.numpy().any()
    dcn = DCNv2(64, 64, 3)
    _std_close(dcn.conv.weight, math.sqrt(2 / (64 * 9)))  # Paddle's conv default: fan_in


def test_reset_parameters_restores_the_zero_initialised_parts():
    """A backbone's init (Kaiming on every Conv2D) overwrites the switch / offset / contexts;
    reset_parameters() is the hook to restore them."""
    layers = [SAConv(8, 8), DCNv2(8, 8)]
    for layer in layers:
        randomize(layer)
        layer.reset_parameters()
    sa, dcn = layers
    assert (sa.switch.bias.numpy() == 1).all() and not sa.weight_diff.numpy().any()
    assert not dcn.conv_offset.weight.numpy().any()


# ----------------------------------------------------------------------------- common behaviour
LAYERS = {
    "SPConv": lambda: SPConv(8, 12, 3, 2),
    "SAConv": lambda: SAConv(8, 12, 3, 2),
    "DCNv2": lambda: DCNv2(8, 12, 3, 2),
    "ODConv": lambda: ODConv(8, 12, 3, 2, kernel_num=2, min_channels=4),
}


@pytest.mark.parametrize("name", LAYERS)
def test_gradients_reach_every_parameter(name):
    layer = randomize(LAYERS[name](), seed=3)
    layer.train()
    x = paddle.to_tensor(inputs(8, (9, 7), seed=4).astype("float32"), stop_gradient=False)
    y = layer(x)
    (y * paddle.to_tensor(np.random.default_rng(5).standard_normal(y.shape).astype("float32"))).sum().backward()
    assert x.grad is not None and np.abs(x.grad.numpy()).sum() > 0
    trainable = [(pname, p) for pname, p in layer.named_parameters() if not p.stop_gradient]
    for pname, param in trainable:
        assert param.grad is not None, pname
        grad = param.grad.numpy()
        assert np.isfinite(grad).all() and np.abs(grad).sum() > 0, pname


@pytest.mark.parametrize("name", LAYERS)
def test_count_flops_sees_the_main_convolution(name):
    """The MACs at 9 x 7 -> 5 x 4 (stride 2) per layer, by hand from the layer's definition."""
    out_px = 5 * 4
    main = out_px * 12 * 8 * 9
    expected = {
        # gwc (groups 2) + pwc and conv1x1 on the pooled halves
        "SPConv": out_px * 12 * 4 * 9 // 2 + 2 * out_px * 12 * 4,
        # two dilations + the switch (1x1 at stride 2) + contexts on 1 x 1 pools
        "SAConv": 2 * main + out_px * 8 + 8 * 8 + 12 * 12,
        # deformable conv + its offset-and-mask conv (27 channels)
        "DCNv2": main + out_px * 27 * 8 * 9,
        # one mixed kernel per sample + attention: fc 8->4, channel 4->8, filter 4->12, spatial 4->9, kernel 4->2
        "ODConv": main + 8 * 4 + 4 * 8 + 4 * 12 + 4 * 9 + 4 * 2,
    }[name]
    assert count_flops(LAYERS[name](), (1, 8, 9, 7)) == expected


BAD_ARGS = [
    (SPConv, dict(in_channels=0, out_channels=8), ValueError, "in_channels"),
    (SPConv, dict(in_channels=8.0, out_channels=8), TypeError, "in_channels"),
    (SPConv, dict(in_channels=8, out_channels=8, alpha=1.0), ValueError, "both parts"),
    (SPConv, dict(in_channels=8, out_channels=8, alpha=0.1), ValueError, "both parts"),
    (SPConv, dict(in_channels=6, out_channels=8), ValueError, "groups=2 must divide"),
    (SPConv, dict(in_channels=8, out_channels=8, kernel_size=2), ValueError, "odd kernel"),
    (SPConv, dict(in_channels=8, out_channels=8, stride=0), ValueError, r"stride must be a positive int, got 0"),
    (SAConv, dict(in_channels=1, out_channels=4, kernel_size=1), ValueError, "two weights"),
    (SAConv, dict(in_channels=6, out_channels=4, groups=4), ValueError, "groups=4 must divide"),
    (SAConv, dict(in_channels=4, out_channels=4, bias=1), TypeError, "bias"),
    (SAConv, dict(in_channels=4, out_channels=4, dilation=(1,)), TypeError, "dilation"),
    (DCNv2, dict(in_channels=6, out_channels=4, deformable_groups=4), ValueError, "deformable_groups=4"),
    (DCNv2, dict(in_channels=6, out_channels=4, deformable_groups=3), ValueError, "out_channels=4"),
    (DCNv2, dict(in_channels=4, out_channels=4, kernel_size=(3, 4)), ValueError, "odd kernel"),
    (DCNv2, dict(in_channels=4, out_channels=4, stride=True), TypeError,
     r"stride must be a positive int, got bool True"),
    (ODConv, dict(in_channels=4, out_channels=4, kernel_num=0), ValueError, r"kernel_num must be a positive int, got 0"),
    (ODConv, dict(in_channels=4, out_channels=4, reduction=0), ValueError, "reduction"),
    (ODConv, dict(in_channels=4, out_channels=4, temperature="1"), TypeError, "temperature"),
    (ODConv, dict(in_channels=6, out_channels=4, groups=4), ValueError, "groups=4 must divide"),
]


@pytest.mark.parametrize("cls,kwargs,error,match", BAD_ARGS,
                         ids=[f"{c.__name__}-{'-'.join(map(str, k.values()))}" for c, k, _, _ in BAD_ARGS])
def test_bad_arguments_are_refused(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("name", LAYERS)
def test_bad_inputs_are_refused(name):
    layer = LAYERS[name]()
    with pytest.raises(ValueError, match="built for 8 input channels, got 6"):
        layer(paddle.zeros([1, 6, 9, 9]))
    with pytest.raises(ValueError, match="4-D"):
        layer(paddle.zeros([8, 9, 9]))
    with pytest.raises(TypeError, match="paddle.Tensor"):
        layer(np.zeros((1, 8, 9, 9), dtype="float32"))


def test_saconv_refuses_maps_too_small_for_its_switch():
    with pytest.raises(ValueError, match="H and W must be >= 3"):
        SAConv(4, 4)(paddle.zeros([1, 4, 2, 5]))


@pytest.mark.parametrize("name", LAYERS)
def test_a_plain_conv_slot_accepts_each_layer(name):
    """The shared interface: positional (in, out, kernel, stride), a Tensor out at ceil(H / s)."""
    cls = {"SPConv": SPConv, "SAConv": SAConv, "DCNv2": DCNv2, "ODConv": ODConv}[name]
    model = nn.Sequential(cls(8, 16, 3, 2), nn.BatchNorm2D(16), nn.ReLU(), cls(16, 8, 3, 1))
    y = model(paddle.randn([2, 8, 11, 5]))
    assert isinstance(y, paddle.Tensor) and y.shape == [2, 8, 6, 3]
