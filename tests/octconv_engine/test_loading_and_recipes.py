"""The epoch sampler (shuffle by seed and epoch, sharding, skipping), per-sample seeding, recipes."""
import numpy as np
import paddle
import pytest

from octconv_engine.config import resolve_config
from octconv_engine.data import DataSettings, load_data
from octconv_engine.loading import EpochBatchSampler, SeededSamples, sample_seed, train_loader
from octconv_engine.metrics import PerClassAccuracy
from octconv_engine.recipes import SmoothedCrossEntropy, build_optimizer, build_schedule, effective_lr


def _epoch(sampler, epoch, skip=0):
    """The epoch's batches as lists of data-set indices (checking every key names the epoch)."""
    sampler.set_epoch(epoch, skip)
    batches = list(sampler)
    assert all(key_epoch == epoch for batch in batches for _, key_epoch in batch)
    return [[index for index, _ in batch] for batch in batches]


def test_order_depends_on_seed_and_epoch_only():
    a, b = EpochBatchSampler(10, 3, seed=1), EpochBatchSampler(10, 3, seed=1)
    assert _epoch(a, 2) == _epoch(b, 2)
    assert _epoch(a, 2) != _epoch(a, 3)
    assert _epoch(a, 2) != _epoch(EpochBatchSampler(10, 3, seed=2), 2)
    assert len(a) == 4 and sorted(i for batch in _epoch(a, 0) for i in batch) == list(range(10))


def test_iteration_advances_the_epoch_and_skip_applies_once():
    sampler = EpochBatchSampler(10, 3, seed=0)
    full = _epoch(sampler, 5)
    assert _epoch(sampler, 5, skip=2) == full[2:]
    next_epoch = list(sampler)  # epoch 6, nothing skipped
    assert next_epoch == [[(i, 6) for i in batch] for batch in _epoch(EpochBatchSampler(10, 3, seed=0), 6)]


def test_shards_are_disjoint_and_cover_the_data():
    shards = [_epoch(EpochBatchSampler(11, 2, seed=0, rank=r, world_size=2), 0) for r in (0, 1)]
    flat = [sorted(i for batch in shard for i in batch) for shard in shards]
    assert len(flat[0]) == len(flat[1]) == 6
    assert set(flat[0]) | set(flat[1]) == set(range(11))


def test_a_sample_depends_on_seed_epoch_and_index_only():
    digits = load_data(DataSettings("digits")).train  # augmented: random translation
    samples = SeededSamples(digits, seed=3)
    np.random.seed(0)
    first = samples[(5, 2)][0]
    np.random.seed(1)  # the global state does not matter, and is left as it was
    state = np.random.get_state()[1].copy()
    np.testing.assert_array_equal(samples[(5, 2)][0], first)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    assert not np.array_equal(samples[(5, 3)][0], first)  # another epoch, another crop
    assert not np.array_equal(SeededSamples(digits, seed=4)[(5, 2)][0], first)
    assert len({sample_seed(0, e, i) for e in range(3) for i in range(100)}) == 300


def test_the_loader_serves_the_samplers_keys_in_order():
    digits = load_data(DataSettings("digits", train_samples=40)).train
    sampler = EpochBatchSampler(len(digits), 16, seed=5)
    sampler.set_epoch(1, skip=1)
    expected = [SeededSamples(digits, 5)[key][0] for batch in list(sampler)[:2] for key in batch]
    sampler.set_epoch(1, skip=1)
    got = [image for images, _ in train_loader(digits, sampler, num_workers=0) for image in images.numpy()]
    np.testing.assert_array_equal(np.stack(got), np.stack(expected))


def test_lr_scales_with_the_global_batch():
    cfg = resolve_config({"data": "cifar10", "batch_size": 64})
    assert effective_lr(cfg, 512) == pytest.approx(0.2)
    assert effective_lr(resolve_config({"recipe": "adam"}), 512) == 1e-3


def test_warmup_then_cosine_per_step():
    cfg = resolve_config({"data": "cifar10", "epochs": 10, "warmup_epochs": 2, "lr": 0.1,
                          "lr_ref_batch": 0})
    schedule = build_schedule(cfg, steps_per_epoch=5, global_batch=128)
    lrs = []
    for _ in range(50):
        lrs.append(schedule())
        schedule.step()
    assert lrs[0] == 0.0 and lrs[5] == pytest.approx(0.05) and lrs[10] == pytest.approx(0.1)
    assert lrs[11] < 0.1 and lrs[-1] < 0.001 and all(x >= y for x, y in zip(lrs[10:], lrs[11:]))


def test_no_weight_decay_on_batchnorm_and_biases():
    cfg = resolve_config({"weight_decay": 0.5, "lr": 0.1, "lr_ref_batch": 0, "warmup_epochs": 0,
                          "schedule": "constant", "momentum": 0.0})
    net = paddle.nn.Sequential(paddle.nn.Conv2D(1, 2, 3), paddle.nn.BatchNorm2D(2))
    for p in net.parameters():
        p.set_value(paddle.ones_like(p))
    optimizer = build_optimizer(cfg, net, steps_per_epoch=1, global_batch=1)
    (sum(p.sum() for p in net.parameters()) * 0).backward()  # zero gradients: only decay acts
    optimizer.step()
    assert net[0].weight.numpy().max() == pytest.approx(0.95)  # 1 - lr * 0.5
    for p in (net[0].bias, net[1].weight, net[1].bias):
        np.testing.assert_array_equal(p.numpy(), np.ones(p.shape))


def test_label_smoothing_matches_the_formula():
    logits = paddle.to_tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    label = paddle.to_tensor([[0], [2]], dtype="int64")
    log_p = paddle.nn.functional.log_softmax(logits).numpy()
    target = np.full((2, 3), 0.1 / 3)
    target[0, 0] += 0.9
    target[1, 2] += 0.9
    expected = -(target * log_p).sum(1).mean()
    assert SmoothedCrossEntropy(0.1)(logits, label).item() == pytest.approx(expected, rel=1e-6)


def test_per_class_accuracy_survives_hapis_reset():
    metric = PerClassAccuracy(3)
    metric.update(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]))
    metric.reset()
    np.testing.assert_allclose(metric.per_class(), [1.0, 1.0, 0.5])
