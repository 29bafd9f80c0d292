"""Export a network for inference (``paddle.jit.save``, ONNX) and check the export.

Each exporter writes, reloads what it wrote, runs it on ``sample`` and compares with the dygraph
network; a mismatch or failure raises :class:`ExportError` and success is only reported after
the check. The oneDNN INT8 export, checked the same way by other measures, is in
:mod:`octconv_engine.int8`.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple, Tuple

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


_FEED = "image"  # the input's name in every exported graph


def _input_spec(sample: np.ndarray) -> list:
    return [InputSpec([None, *sample.shape[1:]], "float32", _FEED)]


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


# paddle2onnx converts the saved graph in a child process: it aborts the whole process (SIGABRT)
# on an unsupported op. optimize_tool=None skips the polygraphy step of paddle.onnx.export, which
# pip-installs onnx_graphsurgeon at run time when it is missing.
_CONVERT = ("import sys, paddle2onnx; paddle2onnx.export(sys.argv[1], sys.argv[2], sys.argv[3], "
            "opset_version=int(sys.argv[4]), optimize_tool=None)")


def _saved_files(prefix: Path) -> Tuple[Path, Path]:
    """The graph and weights ``paddle.jit.save`` wrote: ``.json`` under PIR, else ``.pdmodel``."""
    graph = prefix.with_suffix(".json")
    return (graph if graph.is_file() else prefix.with_suffix(".pdmodel"),
            prefix.with_suffix(".pdiparams"))


def export_onnx(network: nn.Layer, file: str, sample: np.ndarray, opset: int = 13,
                atol: float = 1e-4) -> ExportCheck:
    """Write ``file`` (.onnx) with paddle2onnx, reload it with onnxruntime and compare.

    The network is saved with ``paddle.jit.save`` to a temporary folder and converted there;
    nothing is installed or downloaded on the way.
    """
    try:
        import onnxruntime
        import paddle2onnx  # noqa: F401  (the child process imports it again)
    except ImportError:
        raise ExportError("--onnx needs paddle2onnx and onnxruntime: pip install paddle2onnx "
                          "onnxruntime (or the 'export' extra)") from None
    expected = _reference(network, sample)
    path = Path(file)
    if path.suffix != ".onnx":
        path = path.with_name(path.name + ".onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        prefix = Path(folder) / "model"
        try:
            paddle.jit.save(network, str(prefix), input_spec=_input_spec(sample))
        except Exception as error:
            raise ExportError(f"paddle.jit.save before the ONNX conversion failed: "
                              f"{type(error).__name__}") from error
        graph, weights = _saved_files(prefix)
        proc = subprocess.run([sys.executable, "-c", _CONVERT, str(graph), str(weights), str(path),
                               str(opset)], capture_output=True, text=True)
    if proc.returncode != 0 or not path.is_file():
        lines = (proc.stdout + proc.stderr).strip().splitlines() or [f"exit code {proc.returncode}"]
        raise ExportError(f"ONNX export to {path} failed: {lines[-1]}")
    options = onnxruntime.SessionOptions()
    # errors only: paddle2onnx leaves unused initializers, which onnxruntime reports one
    # warning line each (dozens per model) on the terminal of eval.py --onnx
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: sample})[0]
    return _compare(path, expected, got, atol)
