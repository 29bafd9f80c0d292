"""Behaviour every zoo builder shares, checked once over the registry rather than per family."""
import numpy as np
import paddle
import pytest

import models
from paddle_octconv import count_params

slow = pytest.mark.slow
HEAVY = {"oct_resnet101", "oct_resnet152", "oct_resnet200"}
ALL_BUILDERS = [pytest.param(name, marks=slow) if name in HEAVY else name
                for name in models.list_models()]
# Small instances for the tests that train or export: quick, but every block kind is present.
SMALL = {
    "oct_resnet26": dict(small_input=True),
    "oct_mobilenet": dict(small_input=True, width_mult=0.25),
}


def test_every_registered_family_has_a_small_instance_here():
    families = {name.rstrip("0123456789") for name in models.list_models()}
    assert families == {name.rstrip("0123456789") for name in SMALL}


@pytest.mark.parametrize("arch", ALL_BUILDERS)
def test_summary_and_odd_sizes(arch, capsys):
    model = models.create_model(arch, num_classes=7)
    info = paddle.summary(model, (1, 3, 224, 224))
    assert info["trainable_params"] == count_params(model)
    assert "Total params" in capsys.readouterr().out
    model.eval()
    with paddle.no_grad():
        for size in (224, 225, 100):
            assert model(paddle.randn([1, 3, size, size])).shape == [1, 7], size
        small = models.create_model(arch, num_classes=7, small_input=True)
        small.eval()
        for size in (32, 33):
            assert small(paddle.randn([2, 3, size, size])).shape == [2, 7], size


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_train_step_reduces_loss(arch):
    paddle.seed(0)
    model = models.create_model(arch, num_classes=3, **SMALL[arch])
    optimizer = paddle.optimizer.Adam(learning_rate=1e-3, parameters=model.parameters())
    images, labels = paddle.randn([8, 3, 32, 32]), paddle.to_tensor([0, 1, 2, 0, 1, 2, 0, 1])
    losses = []
    for _ in range(4):
        loss = paddle.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(float(loss))
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_export_with_dynamic_input_size(arch, tmp_path):
    model = models.create_model(arch, num_classes=4, **SMALL[arch])
    model.eval()
    images = paddle.randn([2, 3, 33, 33])  # odd sides: the low maps are ceil(H / 2)
    expected = model(images).numpy()
    spec = [paddle.static.InputSpec([None, 3, None, None], "float32")]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True),
                    str(tmp_path / "model"))
    loaded = paddle.jit.load(str(tmp_path / "model"))
    np.testing.assert_allclose(loaded(images).numpy(), expected, rtol=1e-5, atol=1e-5)
