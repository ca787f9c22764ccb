"""Grouped convs (1 < groups < channels) end to end on models/grouped_cnn.py (a grouped 3x3, groups 2,
stride 2; a grouped 1x1, groups 4): torch and ONNX import to the same int8 graph, TVM's int8 forward
equals the numpy reference bit for bit, a full training step and a channel-slice step (weight[:, :k]:
the leading k input channels of every group) agree three ways (PyTorch oracle, Relax, C on the host),
the fp32 baseline masks the same slices, and the backward keeps for a grouped conv what it keeps for any conv: the input channels its weight
slice reads."""
import functools
import warnings

import numpy as np
import pytest
import torch

from three_way import c_matches_relax, relax_matches_oracle
from tvm_tinytrain import _tvm, graph_file
from tvm_tinytrain.float_model import FloatNet, sparse_parameters, trained_values
from tvm_tinytrain.frontend.onnx import from_onnx
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.layer_table import layer_rows
from tvm_tinytrain.models import grouped_cnn
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import op_bindings
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.reference_train import TorchTrainer
from tvm_tinytrain.scheme import Scheme
from tvm_tinytrain.schemes import resolve_scheme

STEPS = 3
GROUPS = [("features.0", 1, (8, 3, 3, 3)), ("features.3", 2, (8, 4, 3, 3)), ("features.6", 4, (16, 2, 1, 1))]
SLICES = Scheme("grouped-slices", bias=("features.3", "features.6"), weights={"features.3": 2, "features.6": 1})


def _groups(graph):
    return [(l.name, l.attrs["groups"], l.params["weight"].shape) for l in graph.layers if l.op == "conv2d"]


def _calibrate(graph, seed=3):
    rng = np.random.default_rng(seed)
    inputs = list(rng.standard_normal((24, *graph.input_shape)).astype(np.float32))
    qgraph = quantize(graph, inputs[:20], progress=False)
    return qgraph, [(quantize_input(qgraph, x)[0], i % 3) for i, x in enumerate(inputs[20:])]


@functools.cache
def _case():
    """(torch model, example input, float graph, int8 graph, int8 samples with labels)."""
    model, x = grouped_cnn.build()
    graph = to_graph(from_torch(model, x, name="grouped"))
    return (model, x, graph, *_calibrate(graph))


def _fused(qgraph, scheme) -> set:
    return {b.layer for b in op_bindings(build_training(qgraph, scheme).mod)
            if b.op == "grad_update" and b.attrs["grad"] == "conv2d_grad_weight"}


def test_torch_import_keeps_the_groups():
    assert _groups(_case()[2]) == GROUPS


def test_inspect_names_the_groups():
    ops = [row["op"] for row in layer_rows(_case()[2]) if row["op"].startswith("conv2d")]
    assert ops == ["conv2d", "conv2d/g2", "conv2d/g4"]


def test_onnx_import_gives_the_same_int8_graph(tmp_path):
    model, x, graph, qgraph, samples = _case()
    path = tmp_path / "grouped.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=False)
    onnx_graph = to_graph(from_onnx(path))
    assert [row[1:] for row in _groups(onnx_graph)] == [row[1:] for row in GROUPS]  # ONNX names its own layers
    onnx_q, _ = _calibrate(onnx_graph)
    for x_q, _ in samples:
        np.testing.assert_array_equal(run_int8(onnx_q, x_q), run_int8(qgraph, x_q))


def test_tvm_int8_forward_equals_the_reference():
    *_, qgraph, samples = _case()
    built = _tvm.build(to_relax(qgraph, outputs="all"))
    for x_q, _ in samples:
        ref = run_int8(qgraph, x_q, return_all=True)
        for out, layer in zip(built(x_q[None]), qgraph.layers):
            np.testing.assert_array_equal(out.reshape(ref[layer.name].shape), ref[layer.name], err_msg=layer.name)


def test_full_training_step_relax_equals_oracle_and_c(tmp_path):
    """Every layer trained, each grouped conv's whole weight and its input gradient: the forward and input
    gradient take the plain kernels (whose generic loops have groups), the grouped weight gradients the
    geometry kernel with groups, outside grad_update's rows loop (a block of rows may span two groups)."""
    *_, qgraph, samples = _case()
    scheme = resolve_scheme("full", qgraph)
    relax_matches_oracle(qgraph, scheme, samples[:STEPS])
    c_matches_relax(qgraph, scheme, samples[:STEPS], tmp_path)
    model_c = (tmp_path / "model.c").read_text()
    for kernel in ("tt_conv2d_s8", "tt_conv2d_grad_input_f32", "tt_conv2d_geom_grad_weight_f32"):
        assert kernel + "(" in model_c, kernel
    assert "tt_conv2d_geom_s8(" not in model_c and "tt_channel_slice_s8(" not in model_c
    assert _fused(qgraph, scheme) == {"features.0"}


def test_channel_slices_of_grouped_convs_three_ways(tmp_path):
    """2 of the 4 inputs per group of the grouped 3x3 and 1 of the 2 per group of the grouped 1x1, with
    both biases: oracle == Relax == C; the C copies each group's leading channels (one copy per group)."""
    *_, qgraph, samples = _case()
    relax_matches_oracle(qgraph, SLICES, samples[:STEPS])
    c_params = c_matches_relax(qgraph, SLICES, samples[:STEPS], tmp_path)
    assert c_params["features.3.weight"].shape == (8, 4, 3, 3)  # trained in place, not split
    assert (tmp_path / "model.c").read_text().count("tt_channel_slice_s8(") == 2 + 4


def test_graph_file_round_trip_keeps_the_groups(tmp_path):
    *_, qgraph, samples = _case()
    loaded = graph_file.load(graph_file.save(qgraph, tmp_path / "grouped")[0])
    assert _groups(loaded) == GROUPS
    np.testing.assert_array_equal(run_int8(loaded, samples[0][0]), run_int8(qgraph, samples[0][0]))


def test_the_fp32_baseline_trains_the_same_slices():
    """float_model's gradient masks of a grouped conv are weight[:, :k] (every output channel, each group's
    leading k inputs), as many values as the int8 step's (PyTorch oracle) gradients."""
    *_, qgraph, samples = _case()
    net = FloatNet(qgraph)
    for p in sparse_parameters(net, SLICES):
        p.sum().backward()  # a gradient of ones, through the mask hook
    for name, k in SLICES.weights.items():
        grad = net.module(name).weight.grad
        assert grad[:, :k].eq(1).all() and not grad[:, k:].any(), name
    grads = TorchTrainer(qgraph, SLICES).step(samples[0][0], 0, 0).grads
    assert trained_values(net, SLICES) == sum(g.size for g in grads.values())


def test_the_backward_keeps_each_groups_sliced_input():
    """The backward keeps of a grouped conv's input what its weight slice reads (groups x k channels,
    int8) and updates weight[:, :k] (O x k x kh x kw bytes) and the biases."""
    *_, qgraph, _ = _case()
    report = build_training(qgraph, SLICES).memory
    kept = sorted(t.bytes for t in report.tensors if t.op == "channel_slice")
    assert kept == sorted([2 * 2 * 16 * 16, 4 * 1 * 8 * 8])
    assert report.updated_param_bytes == 8 * 2 * 3 * 3 + 16 * 1 + 4 * (8 + 16)
