"""tvm-tinytrain: compile pretrained CNNs into C programs that fine-tune them on Cortex-M.

`passes/` and `codegen/` are top-level folders in the repository but install as
`tvm_tinytrain.passes` and `tvm_tinytrain.codegen` (never as top-level `passes`/`codegen`).
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

# The version is written once, in tvm_tinytrain/__init__.py; read as text (importing it needs the dependencies).
VERSION = re.search(r'^__version__ = "([^"]+)"', (Path(__file__).parent / "tvm_tinytrain" / "__init__.py").read_text(),
                    re.M).group(1)


def _packages(folder: str, name: str) -> list[str]:
    """`name` and every subpackage below `folder` (a listed package list missed passes.gradients)."""
    return [name] + [f"{name}.{sub}" for sub in find_packages(folder)]


PACKAGES = (_packages("tvm_tinytrain", "tvm_tinytrain") + _packages("passes", "tvm_tinytrain.passes")
            + _packages("codegen", "tvm_tinytrain.codegen"))

setup(
    name="tvm-tinytrain",
    version=VERSION,
    description="On-device training compiler for microcontrollers, built on Apache TVM Relax",
    python_requires=">=3.11,<3.12",
    packages=PACKAGES,
    package_dir={
        "tvm_tinytrain": "tvm_tinytrain",
        "tvm_tinytrain.passes": "passes",
        "tvm_tinytrain.codegen": "codegen",
    },
    package_data={
        "tvm_tinytrain": ["paper_schemes.json"],
        "tvm_tinytrain.codegen": ["kernels/*.c", "kernels/*.h", "host_main.c"],
        "tvm_tinytrain.targets": ["boards/*.json", "firmware/*"],
    },
    install_requires=[
        "apache-tvm==0.27.0.post1",
        "torch==2.13.0",  # exactly: the CPU wheel on disk; a newer torch pulls GBs of CUDA
        "numpy==2.4.6",
        "onnx==1.23.2",
        "onnxscript==0.7.2",
        "tqdm==4.70.1",
        "pillow==13.0.0",
        "matplotlib==3.11.2",
        "soundfile==0.14.0",  # Speech Commands FLAC (the wheel bundles libsndfile)
        "pyserial==3.5",      # the serial transport to a real board
    ],
    extras_require={
        "test": ["pytest==9.2.0", "hypothesis==6.170.15",
                 "pytest-xdist==3.8.0", "execnet==2.1.2",  # ./dev test runs the suite on every core (up to 4)
                 "setuptools==84.2.1"],  # builds the wheel in tests/test_wheel.py (bdist_wheel built in)
        "ray": ["ray==2.60.0"],  # optional: contribution analysis on a Ray cluster
    },
    entry_points={"console_scripts": ["tvm-tinytrain=tvm_tinytrain.cli:main"]},
)
