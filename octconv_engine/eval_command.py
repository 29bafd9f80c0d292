"""Evaluate an OctConv zoo model: loss, top-1, top-5, per-class accuracy, params, MACs, images/s.

--weights takes a train.py checkpoint (which records the model, its options and the data set, so
nothing else is needed), a .pdparams state dict or a PyTorch .pth of the public octconv.pytorch
layout (converted on the fly; needs torch). --export and --onnx write inference models and check
them against dygraph on a batch before reporting success. --int8 quantises the model for the
oneDNN INT8 predictor (post-training calibration on training images) and reports its top-1 on
the evaluation set next to the float model's.

examples:
  python eval.py --weights runs/digits-oct_mobilenet-a0.5/best.pdparams
  python eval.py --weights runs/digits-oct_mobilenet-a0.5/best.pdparams --export out/ --onnx out/model.onnx
  python eval.py --weights runs/digits-oct_mobilenet-a0.5/best.pdparams --int8 out/int8
  python eval.py --model oct_resnet50 --weights oct_resnet50.pth --data imagefolder --data-path /data/imagenet

Installed with pip, the same command is `octconv-eval`.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Optional, Sequence

import numpy as np

from octconv_engine import (INT8_ALGOS, ExportError, UsageError, build_model, build_parser,
                            calibration_batches, check_model_name, evaluate, evaluation_summary,
                            export_inference, export_int8, export_onnx, load_data, load_into,
                            load_predictor, model_cost, predictor_top1, read_weights,
                            resolve_config, run_script, saved_settings, setup_runtime,
                            user_settings)

PROG = "eval.py"  # the name in messages when run as `python eval.py`
COMMAND = "octconv-eval"  # the console command `pip install` creates
FLAG_GROUPS = {
    "model (read from a train.py checkpoint; give them for a bare state dict)": (
        "model", "alpha", "width_mult", "width", "small_input"),
    "data (default: the checkpoint's data set, else digits)": (
        "data", "data_path", "image_size", "num_classes", "in_channels", "eval_samples",
        "num_workers", "batch_size"),
    "run": ("threads", "seed", "device"),
}
# Options the weights depend on: a checkpoint's values may not be overridden.
WEIGHT_KEYS = ("model", "alpha", "width_mult", "width", "small_input", "num_classes", "in_channels")
CALIBRATION_SAMPLES = 256  # --calibration-samples default
INT8_CHECK_SAMPLES = 64  # evaluation images export_int8 checks the INT8 predictor on


def add_eval_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, metavar="PATH", help=(
        "train.py checkpoint (last.pdparams / best.pdparams), .pdparams state dict, or "
        "PyTorch .pth (public octconv.pytorch layout; needs torch)"))
    parser.add_argument("--export", metavar="DIR", default=None, help=(
        "write a paddle.jit.save inference model to DIR/model.* and check it against dygraph"))
    parser.add_argument("--onnx", metavar="FILE", default=None, help=(
        "write an ONNX model (paddle2onnx) and check it with onnxruntime against dygraph"))
    parser.add_argument("--int8", metavar="DIR", default=None, help=(
        "quantise for the oneDNN INT8 predictor (post-training calibration), write DIR/model.* "
        "(and DIR/fp32/, the float graph it was calibrated from), check it against dygraph and "
        "report its top-1 on the evaluation set"))
    parser.add_argument("--calibration-samples", type=int, metavar="N", help=(
        f"--int8: calibrate on N training images, a fixed subset, augmented as train.py feeds "
        f"them (default {CALIBRATION_SAMPLES})"))
    parser.add_argument("--calibration-algo", choices=INT8_ALGOS, help=(
        f"--int8: how activation ranges are set from the calibration images (default "
        f"{INT8_ALGOS[0]}: a 99.999%% quantile of each histogram)"))


def _int8_options(args: argparse.Namespace) -> None:
    """Refuse calibration flags without --int8, and a non-positive sample count."""
    given = [flag for flag in ("calibration_samples", "calibration_algo") if flag in args]
    if args.int8 is None and given:
        raise UsageError(f"--{given[0].replace('_', '-')} needs --int8 DIR")
    samples = getattr(args, "calibration_samples", CALIBRATION_SAMPLES)
    if samples < 1:
        raise UsageError(f"--calibration-samples must be >= 1, got {samples}")


def main(argv: Optional[Sequence[str]] = None, prog: str = PROG) -> int:
    parser = build_parser(prog, __doc__, FLAG_GROUPS, extra=add_eval_flags)
    args = parser.parse_args(argv)

    # Settings: command line > the checkpoint's > data-set preset; never reload --pretrained.
    weights = read_weights(args.weights)
    saved = saved_settings(weights.checkpoint) if weights.checkpoint else None
    if saved is None and "model" not in args:
        raise UsageError(f"--model is needed: {args.weights} is a bare state dict, not a train.py "
                         "checkpoint")
    cfg = resolve_config(user_settings(args), saved=saved, locked=WEIGHT_KEYS, model_preset=False)
    cfg = dataclasses.replace(cfg.validate(), pretrained=None)
    check_model_name(cfg.model)
    _int8_options(args)
    runtime = setup_runtime(cfg.threads, cfg.seed, device=cfg.device)

    data = load_data(cfg.data_settings(), train=args.int8 is not None)  # --int8 calibrates on train
    network = build_model(cfg, data.spec)
    load_into(network, weights, args.weights)
    cost = model_cost(network, data.spec)
    result = evaluate(network, data.eval, data.spec, cfg.batch_size, cfg.num_workers)
    print(evaluation_summary(cfg.model, cfg.alpha, cost, result, data.spec.class_names))

    sample = np.stack([data.eval[i][0] for i in range(min(8, len(data.eval)))])
    exports = [(args.export, export_inference, "inference model"), (args.onnx, export_onnx, "ONNX")]
    for target, export, kind in exports:
        if target is None:
            continue
        try:
            check = export(network, target, sample)
        except ExportError as error:
            print(f"{prog}: {kind} export failed: {error}")
            return 1
        print(f"{kind} written to {check.path}; reloaded and checked on {len(sample)} images: "
              f"max |logit difference| {check.max_abs_diff:.2e}, "
              f"same top-1: {'yes' if check.same_top1 else 'no'}")
    if args.int8 is not None:
        return _int8(args, network, data, cfg.batch_size, cfg.seed, runtime.threads, result.top1,
                     prog)
    return 0


def _int8(args: argparse.Namespace, network, data, batch_size: int, seed: int, threads: int,
          float_top1: float, prog: str) -> int:
    """--int8: calibrate, export and check, then the INT8 predictor's top-1 on the eval set."""
    samples = getattr(args, "calibration_samples", CALIBRATION_SAMPLES)
    algo = getattr(args, "calibration_algo", INT8_ALGOS[0])
    batches = calibration_batches(data.train, samples, batch_size, seed)
    check_images = np.stack([data.eval[i][0]
                             for i in range(min(INT8_CHECK_SAMPLES, len(data.eval)))])
    try:
        check = export_int8(network, args.int8, batches, check_images, algo=algo, threads=threads)
    except ExportError as error:
        print(f"{prog}: INT8 export failed: {error}")
        return 1
    calibrated = sum(len(batch) for batch in batches)
    print(f"INT8 model written to {check.path} (calibrated on {calibrated} training images, "
          f"{algo}); checked on {len(check_images)} images: same top-1 on "
          f"{100 * check.top1_agreement:.1f}%, max |logit difference| "
          f"{100 * check.relative_error:.1f}% of the largest logit")
    top1 = predictor_top1(load_predictor(str(check.path), int8=True, threads=threads), data.eval,
                          batch_size)
    print(f"top-1 on {len(data.eval)} images: INT8 {100 * top1:.2f}%, fp32 {100 * float_top1:.2f}% "
          f"({100 * (top1 - float_top1):+.2f} points)")
    return 0


def console() -> None:
    """Entry point of the ``octconv-eval`` console command."""
    run_script(lambda: main(prog=COMMAND), COMMAND)
