"""Inference latency of several networks side by side: the oneDNN predictor, interleaved runs.

    latencies = predictor_latency({"a0": plain, "a0.5": octave}, (1, 28, 28), workdir,
                                  batches=(1, 8), threads=1)
    latencies["a0.5"]["bs1"]   # median milliseconds of one batch-1 run

Each network is saved with ``paddle.jit.save`` (``jit.to_static``, full graph, dynamic batch and
sides) and run by a ``paddle.inference`` predictor with oneDNN; all networks of one batch size
are timed round-robin by :func:`timing.interleaved`, so they share the machine's load.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import paddle
import paddle.nn as nn
from paddle.static import InputSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved  # noqa: E402

__all__ = ["input_specs", "save_for_inference", "make_predictor", "predictor_runner",
           "predictor_latency"]


def input_specs(channels: Union[int, Sequence[int]],
                sides: Optional[Sequence[Tuple[int, int]]] = None) -> List[InputSpec]:
    """Input specs of a dynamic batch: one image ``[None, C, None, None]`` for an int ``channels``,
    else one spec per entry of ``channels``; ``sides`` fixes each input's (H, W)."""
    several = not isinstance(channels, int)
    counts = list(channels) if several else [channels]
    if not counts or any(not isinstance(c, int) or isinstance(c, bool) or c < 1 for c in counts):
        raise ValueError(f"channels must be a positive int or a non-empty sequence of them, "
                         f"got {channels!r}")
    if sides is not None and len(sides) != len(counts):
        raise ValueError(f"sides gives {len(sides)} (H, W) for {len(counts)} input(s); "
                         "give one per input or None for any side")
    hw = list(sides) if sides is not None else [(None, None)] * len(counts)
    names = [f"input{i}" for i in range(len(counts))] if several else ["image"]
    return [InputSpec([None, c, *side], "float32", name)
            for c, side, name in zip(counts, hw, names)]


def save_for_inference(network: nn.Layer, prefix: Path, channels: Union[int, Sequence[int]],
                       sides: Optional[Sequence[Tuple[int, int]]] = None) -> Tuple[Path, Path]:
    """``paddle.jit.save`` ``network`` (eval mode) to ``prefix``; returns (graph, weights) files.

    Args:
        network: called as ``network(*inputs)``.
        prefix: path prefix of the saved files.
        channels: C of the one (N, C, H, W) input, or of each input in order.
        sides: each input's fixed (H, W); None: any side.

    The graph file is ``.json`` under PIR (the 3.3 default), ``.pdmodel`` under the legacy IR
    (``FLAGS_enable_pir_api=0``).
    """
    network.eval()
    spec = input_specs(channels, sides)
    prefix = Path(prefix)
    paddle.jit.save(paddle.jit.to_static(network, input_spec=spec, full_graph=True), str(prefix),
                    input_spec=spec)
    graph = prefix.with_suffix(".json")
    return (graph if graph.is_file() else prefix.with_suffix(".pdmodel"),
            prefix.with_suffix(".pdiparams"))


def make_predictor(graph: Path, weights: Path, inputs: Sequence[np.ndarray], threads: int, *,
                   bf16: bool = False) -> Callable[[], List[np.ndarray]]:
    """A zero-argument callable running the oneDNN predictor on ``inputs`` (one array per graph
    input, in order); it returns every output.

    Args:
        graph, weights: files from :func:`save_for_inference` (the IR follows the graph's suffix).
        inputs: (N, C, H, W) float32 arrays.
        threads: CPU math-library threads.
        bf16: oneDNN bfloat16 kernels (CPUs with avx512_bf16 / AMX).
    """
    from paddle import inference

    config = inference.Config(str(graph), str(weights))
    config.enable_mkldnn()
    if bf16:
        config.enable_mkldnn_bfloat16()
    config.enable_new_ir(Path(graph).suffix == ".json")
    config.set_cpu_math_library_num_threads(threads)
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    names = predictor.get_input_names()
    if len(names) != len(inputs):
        raise ValueError(f"the graph {graph} takes {len(names)} input(s), got {len(inputs)} arrays")
    handles = [predictor.get_input_handle(name) for name in names]
    for handle, array in zip(handles, inputs):
        handle.reshape(array.shape)
    outputs = [predictor.get_output_handle(name) for name in predictor.get_output_names()]

    def run() -> List[np.ndarray]:
        for handle, array in zip(handles, inputs):
            handle.copy_from_cpu(array)
        predictor.run()
        return [output.copy_to_cpu() for output in outputs]

    return run


def predictor_runner(graph: Path, weights: Path, batch: np.ndarray, threads: int) -> Callable[[], np.ndarray]:
    """A zero-argument callable running the oneDNN fp32 predictor on ``batch`` (N, C, H, W)."""
    run = make_predictor(graph, weights, [batch], threads)
    return lambda: run()[0]


def predictor_latency(networks: Mapping[str, nn.Layer], image_shape: Sequence[int], workdir: Path,
                      batches: Sequence[int] = (1, 8), threads: int = 1, repeats: int = 10,
                      min_seconds: float = 2.0) -> Dict[str, Dict[str, float]]:
    """Median predictor milliseconds per batch of every network, timed interleaved.

    Args:
        networks: name -> network taking (N, C, H, W) images.
        image_shape: (C, H, W) of one image.
        workdir: where the saved inference models go (``<workdir>/<name>/model.*``).
        batches: batch sizes to time; result keys are ``bs<N>``.
        threads: CPU threads of each predictor.
        repeats, min_seconds: at least this many rounds and seconds per batch size.

    Returns:
        name -> {"bs1": ms, "bs8": ms, ...}
    """
    saved = {name: save_for_inference(net, Path(workdir) / name / "model", image_shape[0])
             for name, net in networks.items()}
    rng = np.random.RandomState(0)
    result: Dict[str, Dict[str, float]] = {name: {} for name in networks}
    for batch in batches:
        images = rng.standard_normal((batch, *image_shape)).astype(np.float32)
        runners = {name: predictor_runner(*files, images, threads) for name, files in saved.items()}
        timings = interleaved(runners, repeats=repeats, warmup=3, min_seconds=min_seconds)
        for name, timing in timings.items():
            result[name][f"bs{batch}"] = timing.median * 1000.0
    return result
