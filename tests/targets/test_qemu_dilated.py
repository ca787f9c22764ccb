"""Dilated and unequally strided convs on the device: models/dilated_cnn.py (a dilated 3x3, a depthwise
3x3 with dilation (2, 1) and stride (1, 2), a (2, 1)-strided conv; all on the tt_conv2d_geom_*
kernels) trained for two steps and asked one prediction in firmware on QEMU's Cortex-M7 gives the host
build's losses, trained parameters and logits bit for bit."""
import numpy as np
import pytest

from device_equals_host import device_equals_host
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models import dilated_cnn
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.qemu import toolchain_missing

pytestmark = pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")


def test_dilated_model_on_cortex_m7_equals_host(tmp_path):
    model, x = dilated_cnn.build()
    rng = np.random.default_rng(5)
    samples = list(rng.normal(0, 1, (11, *dilated_cnn.INPUT_SHAPE_2D)).astype(np.float32))
    graph = quantize(to_graph(from_torch(model, x)), samples[:8], progress=False)
    write_project(generate(build_training(graph, resolve_scheme("full", graph))), tmp_path)
    assert "tt_conv2d_geom_grad_weight_f32(" in (tmp_path / "model.c").read_text()
    xs = [quantize_input(graph, s)[0] for s in samples[8:]]
    requests = [(TRAIN, 1, xs[0]), (TRAIN, 3, xs[1]), (PREDICT, 0, xs[2])]
    device_equals_host(tmp_path, requests, timeout=180)
