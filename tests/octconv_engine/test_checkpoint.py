"""Atomic checkpoint writes, RNG capture, optimizer state keyed by parameter path."""
import random

import numpy as np
import paddle
import pytest

import octconv_engine.checkpoint as checkpoint
from octconv_engine.checkpoint import (FORMAT, atomic_save, capture_rng_state, find_checkpoint,
                               load_checkpoint, optimizer_state_by_path,
                               optimizer_state_from_path, restore_rng_state)
from octconv_engine.errors import UsageError


def _record(value: float) -> dict:
    return {"format": FORMAT, "model": {"w": paddle.full([3], value)}, "progress": {"epoch": 1}}


def test_atomic_save_round_trip(tmp_path):
    path = tmp_path / "last.pdparams"
    atomic_save(_record(1.0), path)
    loaded = load_checkpoint(path)
    np.testing.assert_array_equal(loaded["model"]["w"].numpy(), [1.0, 1.0, 1.0])
    assert [p.name for p in tmp_path.iterdir()] == ["last.pdparams"]  # no temporary left


class _FailingFile:
    """A file object whose write puts half the bytes on disk and then fails (a crash mid-write)."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, data):
        self.file.write(bytes(data)[: len(data) // 2])
        self.file.flush()
        raise OSError("disk full (simulated)")

    def __getattr__(self, name):
        return getattr(self.file, name)


def test_interrupted_write_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    path = tmp_path / "last.pdparams"
    atomic_save(_record(1.0), path)

    real_open = open
    monkeypatch.setattr(checkpoint, "open",
                        lambda file, mode="r", *a, **k: _FailingFile(real_open(file, mode, *a, **k)),
                        raising=False)
    with pytest.raises(UsageError, match=r"cannot write .*last.pdparams: disk full \(simulated\); "
                                         r"the previous last.pdparams is unchanged"):
        atomic_save(_record(2.0), path)
    monkeypatch.undo()

    loaded = load_checkpoint(path)  # still the complete first checkpoint
    np.testing.assert_array_equal(loaded["model"]["w"].numpy(), [1.0, 1.0, 1.0])
    assert [p.name for p in tmp_path.iterdir()] == ["last.pdparams"]  # half-written temp removed


def test_failed_rename_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pdparams"
    atomic_save(_record(1.0), path)

    def crash(*args):
        raise KeyboardInterrupt  # e.g. a kill between writing and renaming

    monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_save(_record(2.0), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["model"]["w"].numpy()[0] == 1.0


def test_load_refuses_other_files(tmp_path):
    bare = tmp_path / "bare.pdparams"
    paddle.save({"w": paddle.ones([1])}, str(bare))
    with pytest.raises(UsageError, match="not a train.py checkpoint"):
        load_checkpoint(bare)
    garbage = tmp_path / "garbage.pdparams"
    garbage.write_bytes(b"\x00\x01 not pickle")
    with pytest.raises(UsageError, match="cannot be read"):
        load_checkpoint(garbage)
    with pytest.raises(UsageError, match="no checkpoint there"):
        find_checkpoint(tmp_path / "run")


def test_rng_state_round_trip():
    state = capture_rng_state()
    expected = (random.random(), np.random.rand(), paddle.rand([1]).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), paddle.rand([1]).item()) == expected


def test_optimizer_state_survives_other_generated_parameter_names():
    def make():
        net = paddle.nn.Sequential(paddle.nn.Linear(2, 3), paddle.nn.BatchNorm1D(3))
        opt = paddle.optimizer.Momentum(0.1, parameters=net.parameters())
        net(paddle.ones([4, 2])).sum().backward()
        opt.step()
        return net, opt

    net_a, opt_a = make()
    state = optimizer_state_by_path(opt_a, net_a)
    assert "0.weight_velocity_0" in state
    net_b, opt_b = make()  # a second model in the process: other generated names
    mapped = optimizer_state_from_path(state, net_b)
    assert set(mapped) == set(opt_b.state_dict())
