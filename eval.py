"""``python eval.py``: evaluate and export a model (``pip install .`` installs it as ``octconv-eval``).

The command lives in :mod:`octconv_engine.eval_command`; ``python eval.py --help`` lists its flags.
"""
from octconv_engine.cli import run_script
from octconv_engine.eval_command import PROG, main

__all__ = ["main"]

if __name__ == "__main__":
    run_script(main, PROG)
