"""INT8 inference: Paddle's post-training quantisation for the oneDNN INT8 predictor.

:func:`export_int8` writes a quantised model, reloads it in the INT8 predictor and checks it
against the dygraph network by top-1 agreement and a bounded relative error (quantisation
changes the logits by design); a failure raises :class:`~octconv_engine.export.ExportError`.
Paddle 3.3 quantises legacy-IR programs only, so this module works on legacy-IR exports.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn
from paddle.io import Dataset

from .export import _FEED, ExportError, _compare, _input_spec, _reference

__all__ = ["Int8Check", "INT8_ALGOS", "export_int8", "load_predictor", "calibration_batches",
           "predictor_top1"]

# Paddle 3.3's post-training quantisation (paddle.static.quantization) reads and writes legacy
# programs (.pdmodel; given a PIR .json it fails an isinstance assert), and its oneDNN INT8
# passes run in the legacy predictor only: the PIR predictor refuses a quantised program ("Type
# of attribute: fuse_activation is not pir::StrAttribute"). So the INT8 path saves, rewrites and
# calibrates under paddle.pir_utils.OldIrGuard (the switch to the legacy IR and back, in this
# process) and its predictor runs with enable_new_ir(False).

#: Calibration rules of PostTrainingQuantization for the activation ranges: a 99.999 % quantile
#: of the histogram of |x| ("hist"), the mean over the batches of max |x| ("avg"), the overall
#: max, the threshold of least squared error, of least KL divergence. Weights are always
#: quantised per channel. On the digits models (256 calibration images) "hist" was the closest
#: to fp32 (logits within 2-8 % of their range, top-1 within 0.3 point) and among the fastest
#: (3-13 s); "KL" took 1-4 minutes and lost 3-14 points of top-1.
INT8_ALGOS: Tuple[str, ...] = ("hist", "avg", "abs_max", "mse", "KL")
_QUANTIZED_OPS = ("conv2d", "depthwise_conv2d", "matmul_v2")


class Int8Check(NamedTuple):
    """Where the INT8 model went and how close its predictor is to the dygraph network."""

    path: Path
    max_abs_diff: float
    relative_error: float  # max |INT8 - dygraph| / max |dygraph| over the check batch's logits
    top1_agreement: float  # fraction of the check images with the same top-1 class


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to a discarded file: the calibration's progress bars and the INT8
    predictor's pass report (~40 coloured lines per model) come from Python and C++ alike."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def load_predictor(directory: str, int8: bool = True,
                   threads: int = 1) -> Callable[[np.ndarray], np.ndarray]:
    """The oneDNN predictor of a legacy-IR model folder, as a function images -> logits.

    Args:
        directory: a folder holding ``model.pdmodel`` + ``model.pdiparams``: what
            :func:`export_int8` wrote, or its ``fp32/`` sub-folder (the float graph).
        int8: run the quantised ops with oneDNN INT8 kernels (``enable_onednn_int8``); on a
            quantised model, False runs them in float32 instead (simulated quantisation).
        threads: CPU threads of the predictor.

    Returns:
        A function taking float32 (N, C, H, W) images, any N, and returning (N, classes) logits.
    """
    from paddle import inference

    folder = Path(directory)
    graph, weights = folder / "model.pdmodel", folder / "model.pdiparams"
    if not graph.is_file() or not weights.is_file():
        raise ExportError(f"{folder}: no model.pdmodel and model.pdiparams there; write them "
                          "with export_int8 (eval.py --int8 DIR)")
    config = inference.Config(str(graph), str(weights))
    config.enable_new_ir(False)
    config.enable_onednn()
    if int8:
        config.enable_onednn_int8()
    config.set_cpu_math_library_num_threads(threads)
    config.disable_glog_info()
    with _stderr_silenced():
        predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    output = predictor.get_output_handle(predictor.get_output_names()[0])

    def run(images: np.ndarray) -> np.ndarray:
        handle.reshape(list(images.shape))
        handle.copy_from_cpu(np.ascontiguousarray(images, dtype=np.float32))
        predictor.run()
        return output.copy_to_cpu()

    return run


def _single_consumer_vars(block) -> set:
    counts: dict = {}
    for op in block.ops:
        for name in op.input_arg_names:
            counts[name] = counts.get(name, 0) + 1
    return {name for name, count in counts.items() if count == 1}


def _conv_bias_as_vector(block, scope) -> None:
    """conv + a (1, C, 1, 1) constant (how the legacy ``F.conv2d`` adds a bias) -> conv + a (C,)
    constant on axis 1, the form the predictor's conv_bias_mkldnn_fuse_pass matches; after it,
    the bias, the ReLU and residual adds fuse into the (INT8) conv."""
    producers = {name: op for op in block.ops for name in op.output_arg_names}
    single_use = _single_consumer_vars(block)
    for op in block.ops:
        conv = producers.get(op.input("X")[0]) if op.type == "elementwise_add" else None
        if conv is None or conv.type not in ("conv2d", "depthwise_conv2d") or \
                conv.attr("data_format") not in ("NCHW", "AnyLayout"):
            continue
        bias = block.var(op.input("Y")[0])
        shape = tuple(bias.shape)
        if not bias.persistable or bias.name not in single_use or len(shape) != 4 or \
                shape[0] != 1 or shape[2:] != (1, 1):
            continue
        tensor = scope.find_var(bias.name).get_tensor()
        tensor.set(np.array(tensor).reshape(-1), paddle.CPUPlace())
        bias.desc.set_shape([shape[1]])
        op._set_attr("axis", 1)


def _upsample_as_nearest(block, scope) -> None:
    """A depthwise 2x2 stride-2 transposed conv with an all-ones kernel (the legacy graph's 2x
    upsample of OctaveConv's low part) -> nearest_interp_v2 x2, the same function: in the
    predictor of Oct-ResNet-26 x0.25 the transposed conv took 21 % of the time, nearest 4 %."""
    for index in reversed(range(len(block.ops))):
        op = block.ops[index]
        if op.type != "depthwise_conv2d_transpose" or op.input("Bias") or \
                list(op.attr("strides")) != [2, 2] or any(op.attr("paddings")) or \
                list(op.attr("dilations")) != [1, 1] or op.attr("output_padding") or \
                op.attr("output_size") or op.attr("data_format") not in ("NCHW", "AnyLayout") or \
                op.attr("padding_algorithm") != "EXPLICIT":
            continue
        kernel = block.var(op.input("Filter")[0])
        if not kernel.persistable:
            continue
        values = np.array(scope.find_var(kernel.name).get_tensor())
        if values.shape != (op.attr("groups"), 1, 2, 2) or not np.all(values == 1):
            continue
        block._insert_op(index, type="nearest_interp_v2",
                         inputs={"X": [block.var(op.input("Input")[0])]},
                         outputs={"Out": [block.var(op.output("Output")[0])]},
                         attrs=dict(data_layout="NCHW", out_d=-1, out_h=-1, out_w=-1,
                                    scale=[2.0, 2.0], interp_method="nearest",
                                    align_corners=False, align_mode=1))
        block._remove_op(index + 1)


def _save_simplified_legacy(network: nn.Layer, prefix: Path, sample: np.ndarray) -> None:
    """``paddle.jit.save`` in the legacy IR, then rewrite the program in place (same function)
    so that quantisation and the oneDNN passes find their patterns: constant folding turns the
    BN folding OctConvBN writes into exported graphs (weight * gamma / sqrt(var + eps), ...) into
    plain weights, which PTQ quantises per channel; then :func:`_conv_bias_as_vector` and
    :func:`_upsample_as_nearest`. Oct-ResNet-26 x0.25 at 64x64, batch 8: 121 ms -> 74 ms (fp32)."""
    from paddle.base import core
    from paddle.base.framework import IrGraph

    scope = paddle.static.Scope()
    with paddle.pir_utils.OldIrGuard(), paddle.static.scope_guard(scope):
        paddle.jit.save(network, str(prefix), input_spec=_input_spec(sample))
        executor = paddle.static.Executor(paddle.CPUPlace())
        program, feeds, fetches = paddle.static.load_inference_model(str(prefix), executor)
        graph = IrGraph(core.Graph(program.desc), for_test=True)
        graph.graph.set_not_owned("__param_scope__", scope)
        core.get_pass("constant_folding_pass").apply(graph.graph)
        program = graph.to_program()
        block = program.global_block()
        _conv_bias_as_vector(block, scope)
        _upsample_as_nearest(block, scope)
        paddle.static.save_inference_model(str(prefix), [block.var(name) for name in feeds],
                                           [block.var(var.name) for var in fetches], executor,
                                           program=program)
    Path(f"{prefix}.pdiparams.info").unlink(missing_ok=True)  # jit.save's, of the old program


def _calibrate(float_dir: Path, directory: Path, batches: Sequence[np.ndarray], algo: str) -> None:
    """Post-training quantisation of ``float_dir/model.*`` to ``directory/model.*``: activation
    ranges from ``batches``, per-channel weights, quantize_linear / dequantize_linear ops (the
    ONNX-style format; on the digits model it was also closer to fp32 than the older fake ops)."""
    from paddle.static.quantization import PostTrainingQuantization

    scope = paddle.static.Scope()
    with paddle.pir_utils.OldIrGuard(), paddle.static.scope_guard(scope):
        quantizer = PostTrainingQuantization(
            executor=paddle.static.Executor(paddle.CPUPlace()), scope=scope,
            model_dir=str(float_dir), model_filename="model.pdmodel",
            params_filename="model.pdiparams",
            data_loader=lambda: ({_FEED: batch} for batch in batches), batch_nums=len(batches),
            algo=algo, quantizable_op_type=list(_QUANTIZED_OPS), onnx_format=True)
        quantizer.quantize()
        quantizer.save_quantized_model(str(directory), model_filename="model")


def calibration_batches(dataset: Dataset, samples: int, batch_size: int,
                        seed: int = 0) -> List[np.ndarray]:
    """``samples`` images of ``dataset`` (a fixed random subset; all when it holds fewer) as
    (N, C, H, W) batches of ``batch_size``, for :func:`export_int8`. Items are (image, label)."""
    order = np.random.RandomState(seed).permutation(len(dataset))[:samples]
    images = [dataset[int(i)][0] for i in order]
    return [np.stack(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]


def predictor_top1(predict: Callable[[np.ndarray], np.ndarray], dataset: Dataset,
                   batch_size: int) -> float:
    """Top-1 accuracy over ``dataset`` ((image, int64 [1] label) items) of ``predict``, images
    -> logits (e.g. :func:`load_predictor`'s)."""
    correct = 0
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        logits = predict(np.stack([image for image, _ in items]))
        correct += int(np.sum(logits.argmax(1) == np.array([int(label[0]) for _, label in items])))
    return correct / max(1, len(dataset))


def _images(array: np.ndarray, what: str) -> np.ndarray:
    images = np.ascontiguousarray(array, dtype=np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"{what} has shape {images.shape}; expected a non-empty float32 "
                         "(N, C, H, W) batch of images")
    return images


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def export_int8(network: nn.Layer, directory: str, calibration_batches: Sequence[np.ndarray],
                sample: Optional[np.ndarray] = None, algo: str = "hist", threads: int = 1,
                min_agreement: float = 0.9, max_relative_error: float = 0.3) -> Int8Check:
    """Quantise ``network`` to INT8 (post-training calibration) and check its oneDNN predictor.

    Writes ``directory/model.pdmodel`` + ``model.pdiparams`` (legacy IR, quantize_linear /
    dequantize_linear ops; run it with :func:`load_predictor`) and ``directory/fp32/model.*``,
    the simplified float graph it was calibrated from, which must first match dygraph to 1e-4.

    Args:
        network: the dygraph model (put in eval mode), taking (N, C, H, W) float32 images.
        directory: output folder (created).
        calibration_batches: (N, C, H, W) batches of images like those the network will see
            (a few hundred in all); the activation ranges are measured on them.
        sample: (N, C, H, W) images to check with, best held out (default: the first
            calibration batch).
        algo: activation-range rule, one of :data:`INT8_ALGOS`.
        threads: CPU threads of the checking predictors.
        min_agreement: least fraction of the check images on whose top-1 class the INT8
            predictor and dygraph must agree.
        max_relative_error: largest allowed max |INT8 - dygraph| / max |dygraph| of the logits.

    Raises:
        ValueError: no batches, a batch or sample not (N, C, H, W) of one image shape, images
            the network does not accept, or an unknown ``algo``.
        ExportError: saving, calibrating or running failed, or the INT8 model misses a bound.
    """
    if algo not in INT8_ALGOS:
        raise ValueError(f"algo {algo!r} is not one of {', '.join(INT8_ALGOS)}")
    batches = [_images(batch, f"calibration batch {i}")
               for i, batch in enumerate(calibration_batches)]
    if not batches:
        raise ValueError("calibration_batches is empty; give (N, C, H, W) batches of "
                         "representative images (a few hundred in all)")
    sample = batches[0] if sample is None else _images(sample, "sample")
    for what, images in [*((f"calibration batch {i}", b) for i, b in enumerate(batches)),
                         ("sample", sample)]:
        if images.shape[1:] != batches[0].shape[1:]:
            raise ValueError(f"{what} holds {images.shape[1:]} (C, H, W) images but calibration "
                             f"batch 0 holds {batches[0].shape[1:]}; all must be of one shape")
    try:
        expected = _reference(network, sample)
    except Exception as error:  # a wrong channel count or size first fails here
        raise ValueError(f"the network does not accept (C, H, W) = {sample.shape[1:]} images: "
                         f"{_first_line(error)}") from error

    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise ExportError(f"{path} is a file; give a folder (new or existing) for the INT8 model")
    float_dir = path / "fp32"
    try:
        float_dir.mkdir(parents=True, exist_ok=True)
        with _stderr_silenced():
            _save_simplified_legacy(network, float_dir / "model", sample)
        float_run = load_predictor(str(float_dir), int8=False, threads=threads)
        _compare(float_dir, expected, float_run(sample), 1e-4)
        with _stderr_silenced():
            _calibrate(float_dir, path, batches, algo)
        got = load_predictor(str(path), int8=True, threads=threads)(sample)
    except ExportError:
        raise
    except Exception as error:
        raise ExportError(f"INT8 export to {path} failed: {_first_line(error)}") from error
    diff = float(np.max(np.abs(expected - got)))
    relative = diff / max(float(np.max(np.abs(expected))), 1e-12)
    agreement = float(np.mean(expected.argmax(1) == got.argmax(1)))
    if not (agreement >= min_agreement and relative <= max_relative_error):
        raise ExportError(
            f"{path}: the INT8 predictor agrees with dygraph on the top-1 class of "
            f"{agreement:.0%} of {len(sample)} check images (needs {min_agreement:.0%}) and its "
            f"logits differ by up to {relative:.1%} of their largest magnitude (allowed "
            f"{max_relative_error:.0%}); calibrate on more or more representative images, or "
            f"try another algo ({', '.join(INT8_ALGOS)})")
    return Int8Check(path, diff, relative, agreement)
