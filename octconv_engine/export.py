"""Export a network for inference (``paddle.jit.save``, ONNX) and check the export on a batch.

Each exporter writes, reloads what it wrote, runs it on ``sample`` and compares with the dygraph
network; a mismatch or failure raises :class:`ExportError` and success is only reported after
the check.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
import paddle
import paddle.nn as nn
from paddle.static import InputSpec

__all__ = ["ExportError", "ExportCheck", "export_inference", "export_onnx"]


class ExportError(Exception):
    """An export failed or its reloaded model disagrees with the dygraph network."""


class ExportCheck(NamedTuple):
    """Where the export went and how close the reloaded model is to the dygraph network."""

    path: Path
    max_abs_diff: float
    same_top1: bool


def _reference(network: nn.Layer, sample: np.ndarray) -> np.ndarray:
    network.eval()
    with paddle.no_grad():
        return network(paddle.to_tensor(sample)).numpy()


def _compare(path: Path, expected: np.ndarray, got: np.ndarray, atol: float) -> ExportCheck:
    diff = float(np.max(np.abs(expected - got)))
    tolerance = atol * max(1.0, float(np.max(np.abs(expected))))
    same_top1 = bool((expected.argmax(1) == got.argmax(1)).all())
    if not diff <= tolerance:
        raise ExportError(f"{path}: the reloaded model differs from dygraph by {diff:.3g} "
                          f"(tolerance {tolerance:.3g})")
    return ExportCheck(path, diff, same_top1)


def _input_spec(sample: np.ndarray) -> list:
    return [InputSpec([None, *sample.shape[1:]], "float32", "image")]


def export_inference(network: nn.Layer, directory: str, sample: np.ndarray,
                     atol: float = 1e-4) -> ExportCheck:
    """``paddle.jit.save`` to ``directory/model``, reload with ``paddle.jit.load`` and compare.

    Args:
        network: the dygraph model.
        directory: output folder (created).
        sample: a float32 (N, C, H, W) batch to check with.
        atol: tolerance on the logits, relative to their largest magnitude.
    """
    expected = _reference(network, sample)
    prefix = Path(directory) / "model"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    try:
        paddle.jit.save(network, str(prefix), input_spec=_input_spec(sample))
        loaded = paddle.jit.load(str(prefix))
        loaded.eval()
        got = loaded(paddle.to_tensor(sample)).numpy()
    except Exception as error:
        raise ExportError(f"paddle.jit.save to {prefix} failed: {type(error).__name__}: "
                          f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}") from error
    return _compare(Path(directory), expected, got, atol)


def export_onnx(network: nn.Layer, file: str, sample: np.ndarray, opset: int = 13,
                atol: float = 1e-4) -> ExportCheck:
    """``paddle.onnx.export`` to ``file`` (.onnx), reload with onnxruntime and compare.

    ``paddle.onnx.export`` ends with ``SystemExit`` when paddle2onnx fails; that becomes an
    :class:`ExportError` here.
    """
    try:
        import onnxruntime
    except ImportError:
        raise ExportError("--onnx needs paddle2onnx and onnxruntime: pip install paddle2onnx "
                          "onnxruntime (or the 'export' extra)") from None
    expected = _reference(network, sample)
    path = Path(file)
    if path.suffix != ".onnx":
        path = path.with_name(path.name + ".onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            paddle.onnx.export(network, str(path.with_suffix("")), input_spec=_input_spec(sample),
                               opset_version=opset)
    except (SystemExit, Exception) as error:
        detail = log.getvalue().strip().splitlines()[-1:] or [repr(error)]
        raise ExportError(f"ONNX export to {path} failed: {detail[0]}") from None
    if not path.is_file():
        raise ExportError(f"ONNX export reported success but wrote no {path}")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: sample})[0]
    return _compare(path, expected, got, atol)
