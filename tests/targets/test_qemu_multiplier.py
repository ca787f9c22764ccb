"""A depthwise conv with a channel multiplier on the device: models/multiplier_cnn.py (groups 4, 4 -> 8,
stride 2) trained for two steps with 2 of its 4 input channels (rows 0..3 of its (8, 1, 3, 3) weight,
the weight gradient on tt_conv2d_geom_grad_weight_f32 with groups) and asked one prediction in firmware
on QEMU's Cortex-M7 gives the host build's losses, trained parameters and logits bit for bit."""
import numpy as np
import pytest

from device_equals_host import device_equals_host
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models import multiplier_cnn
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.scheme import Scheme
from tvm_tinytrain.targets.qemu import toolchain_missing

pytestmark = [pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm"),
              pytest.mark.filterwarnings("ignore:.*dead output channels")]


def test_multiplier_model_on_cortex_m7_equals_host(tmp_path):
    model, x = multiplier_cnn.build()
    rng = np.random.default_rng(5)
    samples = list(rng.normal(0, 1, (23, *multiplier_cnn.INPUT_SHAPE)).astype(np.float32))
    graph = quantize(to_graph(from_torch(model, x)), samples[:20], progress=False)
    scheme = Scheme("multiplier", bias=("features.3", "classifier"), weights={"features.3": 2, "classifier": 8})
    write_project(generate(build_training(graph, scheme)), tmp_path)
    assert "tt_conv2d_geom_grad_weight_f32(" in (tmp_path / "model.c").read_text()
    xs = [quantize_input(graph, s)[0] for s in samples[20:]]
    requests = [(TRAIN, 1, xs[0]), (TRAIN, 3, xs[1]), (PREDICT, 0, xs[2])]
    device_equals_host(tmp_path, requests, timeout=180)
