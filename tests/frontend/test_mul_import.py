"""Importing the mul layer: squeeze-and-excitation's x * gate (gate from avgpool -> 1x1 conv -> ReLU ->
1x1 conv -> Hardsigmoid) from torch, written either way round, and from ONNX (torch's dynamo export) to
the same layer graph, whose int8 forward in TVM equals the numpy reference bit for bit; a product by a
constant and a product of shapes that do not broadcast as a gate are named; the graph file keeps a mul
layer (its multiplier and shift recomputed, same hash)."""
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from tvm_tinytrain import _tvm, graph_file
from tvm_tinytrain.errors import UnsupportedOpError
from tvm_tinytrain.frontend.onnx import from_onnx
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize_input
from tvm_tinytrain.reference import run_int8

from se_models import quantized, samples, se_graph

SE_OPS = ["conv2d", "lut", "avgpool", "conv2d", "conv2d", "lut", "mul", "conv2d", "avgpool", "flatten", "linear"]


def _summary(graph):
    return [(l.op, l.inputs, l.out_shape, l.attrs.get("fn"), l.attrs.get("act")) for l in graph.layers]


def test_torch_se_block_imports_as_a_mul_of_the_features_and_the_gate():
    _, graph = se_graph()
    assert [l.op for l in graph.layers] == SE_OPS
    mul, gate = graph.layer("mul"), graph.layer("lut2")
    assert gate.attrs["fn"] == "hardsigmoid" and mul.inputs == ("lut", "lut2")
    assert graph.shape_of("lut") == mul.out_shape == (16, 6, 6) and gate.out_shape == (16, 1, 1)
    assert graph.layer("se.fc1").attrs["act"] == "relu"
    _, swapped = se_graph(gate_first=True)  # gate * x: the gate is still the second input
    assert _summary(swapped) == _summary(graph)


def test_onnx_import_gives_the_torch_graph_and_tvm_equals_reference(tmp_path):
    model, torch_graph = se_graph()
    path = tmp_path / "se.onnx"
    torch.onnx.export(model, (torch.from_numpy(samples(1)),), str(path), dynamo=True)
    onnx_graph = to_graph(from_onnx(path))
    assert [(op, fn, act) for op, _, _, fn, act in _summary(onnx_graph)] == \
        [(op, fn, act) for op, _, _, fn, act in _summary(torch_graph)]
    for graph in (quantized(onnx_graph)[1], quantized()[1]):
        forward = _tvm.build(to_relax(graph, outputs="all"))
        for x in samples(3, seed=4):
            x_q = quantize_input(graph, x)
            ref = run_int8(graph, x_q, return_all=True)
            for value, layer in zip(forward(x_q), graph.layers):
                np.testing.assert_array_equal(value.reshape(layer.out_shape), ref[layer.name], err_msg=layer.name)


def _onnx_model(nodes, inits=()):
    """x (1, 3, 8, 8) -> Conv 3x3 (c, 4 channels) -> nodes -> y (1, 4, 8, 8)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32), "conv.weight")
    conv = helper.make_node("Conv", ["x", "conv.weight"], ["c"], name="conv0", pads=[1] * 4)
    graph = helper.make_graph([conv, *nodes], "mul", [x], [y], [w, *inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def test_onnx_products_of_two_feature_maps_and_refusals():
    same_shape = [helper.make_node("Conv", ["x", "conv.weight"], ["c2"], name="conv1", pads=[1] * 4),
                  helper.make_node("Mul", ["c", "c2"], ["y"], name="mul")]
    graph = to_graph(from_onnx(_onnx_model(same_shape)))
    assert [(l.op, l.out_shape) for l in graph.layers][-1] == ("mul", (4, 8, 8))
    by_constant = [helper.make_node("Mul", ["c", "k"], ["y"], name="scale")]
    k = numpy_helper.from_array(np.full((1, 4, 1, 1), 0.5, np.float32), "k")
    with pytest.raises(UnsupportedOpError, match="multiplies by a constant"):
        to_graph(from_onnx(_onnx_model(by_constant, [k])))
    row = [helper.make_node("MaxPool", ["c"], ["r"], name="row", kernel_shape=[8, 1]),
           helper.make_node("Mul", ["c", "r"], ["y"], name="mul")]  # (1, 4, 1, 8): not a per-channel gate
    with pytest.raises(UnsupportedOpError, match=r"multiplies shapes \[\[1, 4, 8, 8\], \[1, 4, 1, 8\]\]"):
        to_graph(from_onnx(_onnx_model(row)))


def test_graph_file_round_trip_keeps_the_mul_layer(tmp_path):
    _, graph = quantized()
    graph_file.save(graph, tmp_path / "se")
    spec = (tmp_path / "se.json").read_text()
    assert '"op": "mul"' in spec and "multiplier" not in spec
    loaded = graph_file.load(tmp_path / "se.json")
    mul = graph.layer("mul")
    assert loaded.layer("mul").attrs == mul.attrs and loaded.layer("mul").inputs == mul.inputs
    assert graph_file.quantization_hash(loaded) == graph_file.quantization_hash(graph)
    x_q = quantize_input(graph, samples(1, seed=7)[0])
    np.testing.assert_array_equal(run_int8(loaded, x_q), run_int8(graph, x_q))
