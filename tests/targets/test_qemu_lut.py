"""The lut layer on the device: a CNN with Hardswish after both convs (its backward reads the
f' table by the kept int8 input), trained for two steps and asked one prediction in firmware on
QEMU's Cortex-M7, gives the host build's losses, trained parameters and logits bit for bit."""
import pytest

from device_equals_host import device_equals_host
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.ptq import quantize_input
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.qemu import toolchain_missing

from lut_models import quantized, samples

pytestmark = pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")


def test_hardswish_cnn_on_cortex_m7_equals_host(tmp_path):
    _, graph = quantized("hardswish")
    write_project(generate(build_training(graph, resolve_scheme("full", graph))), tmp_path)
    xs = [quantize_input(graph, x)[0] for x in samples(3, seed=5)]
    requests = [(TRAIN, 1, xs[0]), (TRAIN, 3, xs[1]), (PREDICT, 0, xs[2])]
    device_equals_host(tmp_path, requests, timeout=120)
