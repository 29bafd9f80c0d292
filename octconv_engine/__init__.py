"""The shared engine of train.py and eval.py: settings, data, recipes, callbacks, checkpoints.

Data flows one way: :mod:`octconv_engine.config` (settings) -> :mod:`octconv_engine.data` (data sets) ->
:mod:`octconv_engine.modeling` (zoo models, weights) -> :mod:`octconv_engine.training` / :mod:`octconv_engine.evaluation`
(hapi ``paddle.Model`` with :mod:`octconv_engine.callbacks`, :mod:`octconv_engine.checkpoint`) ->
:mod:`octconv_engine.report` / :mod:`octconv_engine.export`. The scripts read top to bottom over these modules.
"""
from . import _quiet  # noqa: F401  (first: before Paddle is imported)
from .checkpoint import (BEST, LAST, Progress, atomic_save, find_checkpoint, load_checkpoint,
                         saved_settings)
from .cli import FLAGS, build_parser, run_script, user_settings
from .config import ARCHITECTURE_KEYS, DATA_PRESETS, RECIPES, RunConfig, resolve_config
from .data import DATASETS, DataSpec, LoadedData, load_data
from .errors import NonFiniteLossError, TrainingInterrupted, UsageError
from .evaluation import EvalResult, evaluate
from .export import ExportError, export_inference, export_onnx
from .int8 import (INT8_ALGOS, Int8Check, calibration_batches, export_int8, load_predictor,
                   predictor_top1)
from .modeling import build_model, check_model_name, load_into, model_cost, read_weights
from .recipes import describe_recipe
from .report import evaluation_summary, training_header, training_summary
from .runtime import Runtime, setup_runtime
from .training import Trainer, choose_run_dir

__all__ = [
    "ARCHITECTURE_KEYS", "BEST", "DATASETS", "DATA_PRESETS", "FLAGS", "INT8_ALGOS", "LAST",
    "RECIPES", "DataSpec", "EvalResult", "ExportError", "Int8Check", "LoadedData",
    "NonFiniteLossError", "Progress", "RunConfig", "Runtime", "Trainer", "TrainingInterrupted",
    "UsageError",
    "atomic_save", "build_model", "build_parser", "calibration_batches", "check_model_name",
    "choose_run_dir",
    "describe_recipe", "evaluate", "evaluation_summary", "export_inference", "export_int8",
    "export_onnx", "find_checkpoint", "load_checkpoint", "load_data", "load_into", "load_predictor",
    "model_cost", "predictor_top1", "read_weights",
    "resolve_config", "run_script", "saved_settings", "setup_runtime", "training_header", "training_summary",
    "user_settings",
]
