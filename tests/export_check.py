"""Runners for the saved inference graphs the export tests compare with dygraph: the oneDNN
predictor and onnxruntime over a paddle2onnx conversion. Each returns ``run(x) -> y`` for one
(N, C, ...) float32 input, so a test only states what it expects of the outputs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Tuple

import numpy as np
import pytest

Runner = Callable[[np.ndarray], np.ndarray]


class SavedOp(NamedTuple):
    name: str  # without the dialect: "conv2d", "add", ...
    inputs: List[int]  # value ids
    outputs: List[int]
    attributes: Dict[str, Any]  # name -> value (arrays as lists)
    output_shapes: List[List[int]]  # -1 for a dynamic side


def _attribute(value: Dict[str, Any]) -> Any:
    data = value["D"]
    return [_attribute(item) for item in data] if value["#"].endswith("a_array") else data


def saved_ops(model_file: Path) -> Tuple[List[SavedOp], Dict[int, List[int]]]:
    """A saved PIR program's (``.json``) ops in order, parameters left out, and each parameter's
    shape by value id."""
    ops = json.loads(Path(model_file).read_text())["program"]["regions"][0]["blocks"][0]["ops"]

    def ids(values):
        return [v["%"] if isinstance(v, dict) else v for v in values]
    shapes = {op["O"]["%"]: op["O"]["TT"]["D"][1] for op in ops if op["#"] == "p"}
    return ([SavedOp(op["#"].split(".", 1)[-1], ids(op["I"]), ids(op["O"]),
                     {a["N"]: _attribute(a["AT"]) for a in op.get("A", [])},
                     [o["TT"]["D"][1] for o in op["O"] if isinstance(o, dict) and "TT" in o])
             for op in ops if op["#"] != "p"],
            shapes)

# paddle2onnx aborts the whole process (SIGABRT) on an unsupported op and raises SystemExit on
# other failures, so the conversion runs in a child; a failure then shows its log instead of
# killing pytest. It converts the saved files directly: paddle.onnx.export would trace the model
# again and, through polygraphy's constant folding, pip-install onnx_graphsurgeon at run time.
CONVERT = "import sys, paddle2onnx; paddle2onnx.export(*sys.argv[1:4], opset_version=11, optimize_tool=None)"


def onednn_runner(model_file: Path, params_file: Path) -> Runner:
    """The oneDNN inference predictor over a PIR program (``.json``) and its ``.pdiparams``."""
    from paddle import inference

    config = inference.Config(str(model_file), str(params_file))
    config.enable_mkldnn()
    config.disable_glog_info()
    assert config.mkldnn_enabled()
    predictor = inference.create_predictor(config)
    (input_name,), (output_name,) = predictor.get_input_names(), predictor.get_output_names()

    def run(x: np.ndarray) -> np.ndarray:
        handle = predictor.get_input_handle(input_name)
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(x)
        predictor.run()
        return predictor.get_output_handle(output_name).copy_to_cpu()

    return run


def convert_to_onnx(model_file: Path, params_file: Path, onnx_file: Path) -> Path:
    """paddle2onnx in a child process; skips where it is not installed, fails with its log."""
    pytest.importorskip("paddle2onnx", reason="paddle2onnx is not installed (pip install paddle-octconv[export])")
    proc = subprocess.run([sys.executable, "-c", CONVERT, str(model_file), str(params_file), str(onnx_file)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and onnx_file.is_file(), \
        f"paddle2onnx failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
    return onnx_file


def onnx_runner(onnx_file: Path) -> Tuple[Runner, object]:
    """onnxruntime's CPU session over ``onnx_file``: the runner and the graph's one input (its
    ``shape`` shows which sides are dynamic)."""
    ort = pytest.importorskip("onnxruntime",
                              reason="onnxruntime is not installed (pip install paddle-octconv[export])")
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (input_meta,) = session.get_inputs()
    return (lambda x: session.run(None, {input_meta.name: x})[0]), input_meta
