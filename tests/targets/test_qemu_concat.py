"""The concat layer on the device: the inception model (1x1, 3x3 and pooled branches joined along
channels, each requantized or copied into its channel range; the backward a slice per branch) trained
for two steps and asked one prediction in firmware on QEMU's Cortex-M7, gives the host build's losses,
trained parameters and logits bit for bit."""
import numpy as np
import pytest

from device_equals_host import device_equals_host
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models import inception
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.qemu import toolchain_missing

pytestmark = pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")


def test_inception_model_on_cortex_m7_equals_host(tmp_path):
    model, x = inception.build()
    rng = np.random.default_rng(5)
    samples = list(rng.normal(0, 1, (11, *inception.INPUT_SHAPE)).astype(np.float32))
    graph = quantize(to_graph(from_torch(model, x)), samples[:8], progress=False)
    assert any(layer.op == "concat" for layer in graph.layers)
    write_project(generate(build_training(graph, resolve_scheme("full", graph))), tmp_path)
    xs = [quantize_input(graph, s)[0] for s in samples[8:]]
    requests = [(TRAIN, 1, xs[0]), (TRAIN, 3, xs[1]), (PREDICT, 0, xs[2])]
    device_equals_host(tmp_path, requests, timeout=180)
