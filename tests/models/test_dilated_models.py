"""Dilated and unequally strided convs end to end on models/dilated_cnn.py (a dilated 3x3, a depthwise
3x3 with dilation (2, 1) and stride (1, 2), a (2, 1)-strided conv; and a Conv1d TCN with dilations 2
and 4, depthwise and strided): torch and ONNX import to the same int8 graph, TVM's int8 forward
equals the numpy reference bit for bit, a full training step (weights, and through each layer the
input gradient) agrees three ways (PyTorch oracle, Relax, C on the host: the tt_conv2d_geom_* kernels),
and the graph file keeps the geometry."""
import functools

import numpy as np
import pytest
import torch

from three_way import c_matches_relax, relax_matches_oracle
from tvm_tinytrain import _tvm, graph_file
from tvm_tinytrain.codegen.emit import generate
from tvm_tinytrain.frontend.onnx import from_onnx
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.layer_table import layer_rows
from tvm_tinytrain.models import dilated_cnn
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import op_bindings
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.scheme import Scheme
from tvm_tinytrain.schemes import resolve_scheme

STEPS = 3
GEOMETRY = {  # conv layer -> (stride, dilation, padding, groups) as the graph keeps them
    "2d": [(1, (2, 2), (2, 2, 2, 2), 1), ((1, 2), (2, 1), (2, 1, 2, 1), 8), ((2, 1), None, (1, 0, 1, 0), 1)],
    "1d": [(1, (1, 2), (0, 2, 0, 2), 1), (1, (1, 4), (0, 4, 0, 4), 12), (2, (1, 4), (0, 4, 0, 4), 1)],
}
BUILD = {"2d": dilated_cnn.build, "1d": dilated_cnn.build_1d}


def _geometry(graph):
    return [(l.attrs["stride"], l.attrs.get("dilation"), tuple(l.attrs["padding"]), l.attrs["groups"])
            for l in graph.layers if l.op == "conv2d"]


def _calibrate(graph, seed):
    rng = np.random.default_rng(seed)
    inputs = list(rng.standard_normal((12, *graph.input_shape)).astype(np.float32))
    qgraph = quantize(graph, inputs[:8], progress=False)
    return qgraph, [(quantize_input(qgraph, x)[0], i % 3) for i, x in enumerate(inputs[8:])]


@functools.cache
def _case(kind):
    """(kind, torch model, example input, float graph, int8 graph, int8 samples with labels)."""
    model, x = BUILD[kind]()
    graph = to_graph(from_torch(model, x, name=f"dilated_{kind}"))
    return (kind, model, x, graph, *_calibrate(graph, 3))


@pytest.fixture(scope="module", params=["2d", "1d"])
def case(request):
    return _case(request.param)


def test_torch_import_keeps_strides_and_dilations(case):
    kind, _, _, graph, _, _ = case
    assert _geometry(graph) == GEOMETRY[kind]


def test_inspect_names_the_geometry(case):
    kind, _, _, graph, _, _ = case
    ops = [row["op"] for row in layer_rows(graph) if row["op"].startswith("conv2d")]
    assert ops == {"2d": ["conv2d/d2x2", "conv2d/dw3x3/s1x2/d2x1", "conv2d/s2x1"],
                   "1d": ["conv2d/d1x2", "conv2d/dw1x3/d1x4", "conv2d/d1x4"]}[kind]


def test_onnx_import_gives_the_same_int8_graph(case, tmp_path):
    """ONNX Conv's `strides` / `dilations` give the layers torch gives; quantized from the same
    calibration inputs, the two int8 graphs compute the same integers."""
    kind, model, x, graph, qgraph, samples = case
    path = tmp_path / "dilated.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=False)
    onnx_graph = to_graph(from_onnx(path))
    assert _geometry(onnx_graph) == GEOMETRY[kind]
    assert [l.out_shape for l in onnx_graph.layers] == [l.out_shape for l in graph.layers]
    onnx_q, _ = _calibrate(onnx_graph, 3)
    for x_q, _ in samples:
        np.testing.assert_array_equal(run_int8(onnx_q, x_q), run_int8(qgraph, x_q))


def test_tvm_int8_forward_equals_the_reference(case):
    _, _, _, _, qgraph, samples = case
    built = _tvm.build(to_relax(qgraph, outputs="all"))
    for x_q, _ in samples:
        ref = run_int8(qgraph, x_q, return_all=True)
        for out, layer in zip(built(x_q[None]), qgraph.layers):
            np.testing.assert_array_equal(out.reshape(ref[layer.name].shape), ref[layer.name], err_msg=layer.name)


def _fused(qgraph, scheme) -> set:
    """The conv layers whose weight gradient runs inside grad_update's rows loop."""
    return {b.layer for b in op_bindings(build_training(qgraph, scheme).mod)
            if b.op == "grad_update" and b.attrs["grad"] == "conv2d_grad_weight"}


@pytest.mark.parametrize("kind", ["2d", pytest.param("1d", marks=pytest.mark.slow)])  # 2d has every geometry
def test_full_training_step_relax_equals_oracle_and_c(kind, tmp_path):
    """Every layer trained: each conv's weight gradient, and the input gradient through the two upper
    ones; the C calls the geometry kernels for every conv (no fast path takes them), the groups-1
    weight gradients inside grad_update's rows loop (the depthwise one is left alone by that pass's
    memory rule: its input gradient is needed below)."""
    _, _, _, _, qgraph, samples = _case(kind)
    scheme = resolve_scheme("full", qgraph)
    relax_matches_oracle(qgraph, scheme, samples[:STEPS])
    c_matches_relax(qgraph, scheme, samples[:STEPS], tmp_path)
    model_c = (tmp_path / "model.c").read_text()
    for kernel in ("tt_conv2d_geom_s8", "tt_conv2d_geom_grad_input_f32", "tt_conv2d_geom_grad_weight_f32"):
        assert kernel + "(" in model_c, kernel
    assert _fused(qgraph, scheme) == {l.name for l in qgraph.layers if l.op == "conv2d" and l.attrs["groups"] == 1}
    assert not any(k + "(" in model_c for k in ("tt_conv2d_s8", "tt_conv2d_grad_input_f32", "tt_conv2d_grad_weight_f32"))


def test_graph_file_round_trip_keeps_the_geometry(case, tmp_path):
    _, _, _, _, qgraph, samples = case
    loaded = graph_file.load(graph_file.save(qgraph, tmp_path / "dilated")[0])
    as_lists = [tuple(list(v) if isinstance(v, tuple) else v for v in row) for row in _geometry(qgraph)]
    assert [tuple(list(v) if isinstance(v, tuple) else v for v in row) for row in _geometry(loaded)] == as_lists
    np.testing.assert_array_equal(run_int8(loaded, samples[0][0]), run_int8(qgraph, samples[0][0]))


def test_prediction_program_uses_no_fused_forward():
    """The forward memory passes (conv -> depthwise -> 1x1 rows, expand + depthwise, in-place
    depthwise) take only the plain geometry: the prediction's C calls the geometry kernel."""
    model, x = dilated_cnn.build()
    qgraph, _ = _calibrate(to_graph(from_torch(model, x)), 3)
    model_c = generate(build_training(qgraph, resolve_scheme("bias-only", qgraph))).files["model.c"]
    assert "tt_conv2d_geom_s8(" in model_c
    assert not any(k in model_c for k in ("tt_conv_dw_pw_rows_s8(", "tt_depthwise_inplace", "expand_depthwise"))


def test_channel_slices_of_the_geometry_layers_three_ways(tmp_path):
    """A sparse scheme on the 2-D net: 4 of the 8 channels of the dilated depthwise conv (its weight split
    into trained and frozen rows, one geometry kernel call per part) and 4 of the 8 input channels of the
    (2, 1)-strided conv, with both biases: oracle == Relax == C. Nothing below is trained, so both weight
    gradients run in grad_update's rows loop, the depthwise one a block of channels at a time."""
    model, x = dilated_cnn.build()
    qgraph, samples = _calibrate(to_graph(from_torch(model, x)), 4)
    scheme = Scheme("geometry-slices", bias=("features.3", "features.6"), weights={"features.3": 4, "features.6": 4})
    relax_matches_oracle(qgraph, scheme, samples[:STEPS])
    c_matches_relax(qgraph, scheme, samples[:STEPS], tmp_path)
    model_c = (tmp_path / "model.c").read_text()
    assert "_lead" in model_c and "_rest" in model_c and model_c.count("tt_conv2d_geom_s8(") >= 3
    assert _fused(qgraph, scheme) == {"features.3", "features.6"}
