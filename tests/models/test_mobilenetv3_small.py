"""models/mobilenetv3_small.py end to end: torch and ONNX import it to the same layer graph (Hardswish
and ReLU blocks, nine squeeze-and-excitation blocks each a Hardsigmoid gate of shape (C, 1, 1) times the
block's features, residual adds) computing torch's values; TVM's int8 forward equals the numpy
reference bit for bit; `inspect` reports its layers; a full training program at 64x64 fits the
Cortex-M7 budget, and two steps and a prediction on QEMU's Cortex-M7 equal the host build bit for bit."""
import numpy as np
import pytest
import torch

from device_equals_host import device_equals_host
from tvm_tinytrain import _tvm
from tvm_tinytrain.cli import main
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.frontend.onnx import from_onnx
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models import mobilenetv3_small
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference import run_float, run_int8
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.fit import check_fit
from tvm_tinytrain.targets.qemu import toolchain_missing


def images(n, seed=0):
    return np.random.default_rng(seed).normal(0, 1, (n, *mobilenetv3_small.INPUT_SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def case():
    """(torch model, float graph from torch, int8 graph)."""
    model, x = mobilenetv3_small.build()
    graph = to_graph(from_torch(model, x, name="mobilenetv3_small"))
    with pytest.warns(UserWarning, match="dead output channels"):  # random SE squeeze convs under ReLU
        qgraph = quantize(graph, images(8), progress=False)
    return model, graph, qgraph


def _summary(graph):
    return [(l.op, l.out_shape, l.attrs.get("fn"), l.attrs.get("act")) for l in graph.layers]


def test_torch_and_onnx_import_the_same_graph_with_torchs_values(case, tmp_path):
    model, graph, _ = case
    muls = [l for l in graph.layers if l.op == "mul"]
    assert len(muls) == 9
    for mul in muls:
        gate = graph.layer(mul.inputs[1])
        assert gate.op == "lut" and gate.attrs["fn"] == "hardsigmoid" and gate.out_shape == (mul.out_shape[0], 1, 1)
        assert graph.shape_of(mul.inputs[0]) == mul.out_shape
    assert sum(l.op == "add" for l in graph.layers) == 7  # at width 0.25 blocks 6 (40 -> 48) keeps 16 channels too
    assert {l.attrs["fn"] for l in graph.layers if l.op == "lut"} == {"hardswish", "hardsigmoid"}
    path = tmp_path / "mbv3.onnx"
    x = torch.from_numpy(images(1, seed=3))
    torch.onnx.export(model, (x,), str(path), dynamo=True)
    assert _summary(to_graph(from_onnx(path))) == _summary(graph)
    with torch.no_grad():
        want = model(x).numpy().reshape(-1)
    np.testing.assert_allclose(run_float(graph, x.numpy()[0]).reshape(-1), want, rtol=1e-4, atol=1e-5)


def test_int8_forward_tvm_equals_reference(case):
    _, _, qgraph = case
    forward = _tvm.build(to_relax(qgraph, outputs="all"))
    for x in images(2, seed=5):
        x_q = quantize_input(qgraph, x)
        ref = run_int8(qgraph, x_q, return_all=True)
        for value, layer in zip(forward(x_q), qgraph.layers):
            np.testing.assert_array_equal(value.reshape(layer.out_shape), ref[layer.name], err_msg=layer.name)


def test_inspect_reports_its_layers(capsys):
    assert main(["inspect", "tvm_tinytrain.models.mobilenetv3_small:build"]) == 0
    out = capsys.readouterr().out
    ops = [line.split()[2] for line in out.splitlines() if len(line.split()) > 3 and line.split()[0] in "-0123456789"]
    assert ops.count("mul") == 9 and ops.count("lut") == 28 and "features.1.block.1.fc1" in out and "conv2d/dw5x5" in out
    assert "classifier.3" in out and "total" in out


@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_full_training_fits_the_cortex_m7_and_equals_the_host(case, tmp_path):
    _, _, qgraph = case
    project = generate(build_training(qgraph, resolve_scheme("full", qgraph)))
    fit = check_fit(project, "cortex-m7")
    assert fit["ram_bytes"] <= 320 * 1024 and fit["flash_bytes"] <= 1024 * 1024, fit
    write_project(project, tmp_path)
    xs = [quantize_input(qgraph, x)[0] for x in images(3, seed=6)]
    requests = [(TRAIN, 1, xs[0]), (TRAIN, 7, xs[1]), (PREDICT, 0, xs[2])]
    device_equals_host(tmp_path, requests, timeout=300)
