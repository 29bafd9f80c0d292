"""``python train.py``: train a zoo model (``pip install .`` installs it as ``octconv-train``).

The command lives in :mod:`octconv_engine.train_command`; ``python train.py --help`` lists its flags.
"""
from octconv_engine.cli import run_script
from octconv_engine.train_command import PROG, main

__all__ = ["main"]

if __name__ == "__main__":
    run_script(main, PROG)
