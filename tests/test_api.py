"""The lazy public API: names resolve to functions, not to same-named subpackages."""
import sys

import tvm_tinytrain as tt


def test_quantize_is_the_function_even_after_its_package_is_imported():
    import tvm_tinytrain.quantization.ptq  # noqa: F401

    assert callable(tt.quantize) and tt.quantize.__module__ == "tvm_tinytrain.quantization.ptq"
    assert callable(tt.to_relax) and callable(tt.load_backbone)


def test_import_is_light():
    """`import tvm_tinytrain` and loading a backbone need neither TVM nor torch."""
    code = ("import sys, tvm_tinytrain as tt; tt.load_backbone('mbv2-w0.35'); "
            "print('tvm' in sys.modules, 'torch' in sys.modules)")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
