"""paddle-octconv: Octave Convolution (OctConv) layers and model zoo for PaddlePaddle."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="paddle-octconv",
    version="0.1.0",
    description="Octave Convolution (Chen et al., ICCV 2019) layers and models for PaddlePaddle",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    # The layer library, the zoo and the training engine. train.py, eval.py and hubconf.py stay
    # repository files (python train.py, paddle.hub source="local"): installed, the scripts are
    # the console commands below, so no generic top-level module lands in site-packages.
    packages=find_packages(include=["paddle_octconv", "paddle_octconv.*", "models", "models.*",
                                    "octconv_engine", "octconv_engine.*"]),
    entry_points={"console_scripts": [
        "octconv-train = octconv_engine.train_command:console",
        "octconv-eval = octconv_engine.eval_command:console",
    ]},
    # Paddle itself is an extra: the CPU and GPU builds are different packages, and users pick one.
    install_requires=["numpy", "visualdl", "scikit-learn", "PyYAML"],
    extras_require={
        # The tested range: the code relies on Paddle 3.3 internals (the arguments of
        # paddle._C_ops.conv2d_transpose, the PIR .json model layout).
        "cpu": ["paddlepaddle>=3.3,<3.4"],
        "gpu": ["paddlepaddle-gpu>=3.3,<3.4"],
        # setuptools: the packaging test builds a wheel with its PEP 517 backend (bdist_wheel
        # is built in from 70.1).
        "test": ["pytest>=7", "scikit-learn", "setuptools>=70.1"],
        "export": ["paddle2onnx>=2.0", "onnxruntime"],
        # benchmarks/study.py draws its plots with matplotlib.
        "plot": ["matplotlib"],
        # Only `python -m models.convert` (PyTorch checkpoint conversion) needs torch.
        "convert": ["torch"],
    },
    license="Apache-2.0",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
