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
from typing import Callable, Dict, Mapping, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn
from paddle.static import InputSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved  # noqa: E402

__all__ = ["save_for_inference", "predictor_runner", "predictor_latency"]


def save_for_inference(network: nn.Layer, prefix: Path, channels: int) -> Tuple[Path, Path]:
    """``paddle.jit.save`` ``network`` (eval mode) to ``prefix``; returns (graph, weights) files."""
    network.eval()
    spec = [InputSpec([None, channels, None, None], "float32", "image")]
    paddle.jit.save(paddle.jit.to_static(network, input_spec=spec, full_graph=True), str(prefix),
                    input_spec=spec)
    graph = prefix.with_suffix(".json")  # PIR, the 3.3 default; the legacy IR writes .pdmodel
    return (graph if graph.is_file() else prefix.with_suffix(".pdmodel"),
            prefix.with_suffix(".pdiparams"))


def predictor_runner(graph: Path, weights: Path, batch: np.ndarray, threads: int) -> Callable[[], np.ndarray]:
    """A zero-argument callable running the oneDNN fp32 predictor on ``batch`` (N, C, H, W)."""
    from paddle import inference

    config = inference.Config(str(graph), str(weights))
    config.enable_mkldnn()
    config.set_cpu_math_library_num_threads(threads)
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.reshape(batch.shape)
    output = predictor.get_output_handle(predictor.get_output_names()[0])

    def run() -> np.ndarray:
        handle.copy_from_cpu(batch)
        predictor.run()
        return output.copy_to_cpu()

    return run


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
