"""Helpers for comparing a zoo model at alpha 0 with its paddle.vision twin."""
import numpy as np
import paddle


def randomize(model: paddle.nn.Layer, seed: int = 0) -> paddle.nn.Layer:
    """Give every parameter and BN statistic a distinct random value; return it in eval mode."""
    rng = np.random.default_rng(seed)
    for key, value in model.state_dict().items():
        shape = value.shape
        if key.endswith("_variance"):
            array = rng.uniform(0.5, 1.5, shape)
        elif key.endswith(("_mean", "bias")):
            array = rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:  # BN weight
            array = rng.uniform(0.5, 1.5, shape)
        else:  # conv / linear weight, He-scaled so activations stay O(1)
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            array = rng.normal(0.0, (2.0 / fan_in) ** 0.5, shape)
        value.set_value(array.astype("float32"))
    model.eval()
    return model


def copy_by_order(source: paddle.nn.Layer, target: paddle.nn.Layer) -> None:
    """Copy ``source``'s state into ``target`` entry by entry in registration order, asserting
    that both have as many entries with the same shapes (the two layer trees line up)."""
    src, dst = source.state_dict(), target.state_dict()
    assert len(src) == len(dst), (len(src), len(dst))
    state = {}
    for (src_key, value), (dst_key, own) in zip(src.items(), dst.items()):
        assert value.shape == own.shape, (src_key, dst_key)
        assert src_key.rsplit(".", 1)[-1] == dst_key.rsplit(".", 1)[-1], (src_key, dst_key)
        state[dst_key] = value
    target.set_state_dict(state)
    target.eval()


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())
