"""The exceptions the scripts turn into exit codes (see :func:`octconv_engine.cli.run_script`)."""
from __future__ import annotations

__all__ = ["UsageError", "TrainingInterrupted", "NonFiniteLossError"]


class UsageError(Exception):
    """Bad user input (a flag, a config file, a data path): one line, exit code 2, no traceback."""


class TrainingInterrupted(Exception):
    """Ctrl-C during training; raised between two batches so the state is consistent."""


class NonFiniteLossError(Exception):
    """The training loss became NaN or infinite."""
