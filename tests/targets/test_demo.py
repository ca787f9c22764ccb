"""`./dev demo` (tvm_tinytrain.demo): the Cortex-M7 training demo in a tiny configuration."""
import re

import pytest

from tvm_tinytrain import demo
from tvm_tinytrain.targets.qemu import toolchain_missing


@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_training_demo_tiny(capsys):
    status = demo.main(["--steps", "4", "--epochs", "2", "--classes", "airplane,frog", "--held-out", "1"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert re.search(r"epoch 1: loss \d+\.\d+", out) and re.search(r"epoch 2: loss \d+\.\d+", out), out
    assert "the host build of the same C gives the same losses" in out
    assert re.search(r"peak SRAM [\d.]+ KB of 320\.0 KB", out) and re.search(r"flash +[\d.]+ KB of 1024\.0 KB", out)
    assert re.search(r"training step [\d.]+ M instructions", out) and re.search(r"inference +[\d.]+ M instructions", out)
    assert "216 MHz" in out and "held-out accuracy" in out


def test_demo_rejects_bad_arguments(capsys):
    assert demo.main(["--classes", "airplane,dragon"]) == 2
    assert "unknown CIFAR-10 class 'dragon'" in capsys.readouterr().err
    assert demo.main(["--steps", "1", "--classes", "airplane,frog"]) == 2
    assert "too few" in capsys.readouterr().err
