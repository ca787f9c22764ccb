"""No warning noise on a user's terminal: the commands run as a user runs them (a subprocess, Python's
default warning filters: pytest.ini's FutureWarning / DeprecationWarning filters do not reach it),
and our own warnings as `warning: ...` lines while a library's keep Python's form."""
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import tvm_tinytrain
from tvm_tinytrain.cli import _plain_warnings

TORCH_MODEL = "tvm_tinytrain.models.tiny_resnet:build"


def warning_lines(*argv) -> list[str]:
    result = subprocess.run([sys.executable, "-W", "default", "-m", "tvm_tinytrain.cli", *argv],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stderr.splitlines() if "Warning" in line or line.startswith("warning:")]


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    import torch

    from tvm_tinytrain.models import tiny_resnet

    model, x = tiny_resnet.build()  # TORCH_MODEL
    path = tmp_path_factory.mktemp("onnx") / "tiny_resnet.onnx"
    torch.onnx.export(model.eval(), (x,), str(path), dynamo=True, verbose=False)
    return path


def test_inspect_of_a_torch_model_prints_no_warning():
    # torch.export + TVM's importer: torch 2.13's own LeafSpec deprecation used to show here
    assert warning_lines("inspect", TORCH_MODEL) == []


def test_inspect_of_an_onnx_file_prints_no_warning(onnx_file):
    assert warning_lines("inspect", str(onnx_file)) == []


def test_our_warnings_are_plain_lines_and_a_librarys_keep_pythons_form(capsys):
    ours = Path(tvm_tinytrain.__file__).parent / "quantization" / "ptq.py"
    library = Path(pytest.__file__)
    with warnings.catch_warnings(), _plain_warnings():
        warnings.simplefilter("default")  # a user's terminal (pytest.ini ignores FutureWarning)
        warnings.warn_explicit("quantize m: dead output channels", UserWarning, str(ours), 97,
                               module="tvm_tinytrain.quantization.ptq")
        warnings.warn_explicit("something is deprecated", FutureWarning, str(library), 1, module="somelib")
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "warning: quantize m: dead output channels"
    assert err[1] == f"{library}:1: FutureWarning: something is deprecated"  # seen, so it is fixed where it arises

