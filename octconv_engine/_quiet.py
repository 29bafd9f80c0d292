"""Silence Paddle warnings that are harmless here and would bury the scripts' output.

Imported first by ``octconv_engine/__init__.py``, before Paddle itself.
"""
import os
import warnings

os.environ.setdefault("GLOG_minloglevel", "2")  # Paddle's C++ INFO / WARNING lines

for _message in (
    r".*No ccache found.*",  # printed by `import paddle` when building C++ extensions is not set up
    r"To copy construct from a tensor",  # hapi re-wraps the DataLoader's tensors
    r"When training, we now always track global mean and variance",  # BatchNorm, every run
    r"There are some unused values in state_dict",  # LinearWarmup restores its inner schedule itself
):
    warnings.filterwarnings("ignore", message=_message)
