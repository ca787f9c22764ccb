"""Importing the lut layer's activations: from ONNX (torch's dynamo export: HardSwish, HardSigmoid,
Sigmoid, Tanh, LeakyRelu nodes and SiLU's Sigmoid + Mul) to the same layer graph as from torch, whose
int8 forward in TVM equals the numpy reference bit for bit; an ONNX HardSigmoid with other than
torch's alpha / beta and GELU are reported, all at once (a Mul of two different tensors is the mul
layer, not SiLU); the graph
file stores a lut layer's function and slope, and rebuilds the same tables when loaded."""
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from tvm_tinytrain import _tvm, graph_file
from tvm_tinytrain.errors import UnsupportedOpError
from tvm_tinytrain.frontend.onnx import from_onnx
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize_input
from tvm_tinytrain.reference import run_int8

from lut_models import ACTIVATIONS, act_cnn, quantized, samples


@pytest.mark.parametrize("fn", ACTIVATIONS)
def test_onnx_import_gives_the_torch_graph(fn, tmp_path):
    model = act_cnn(ACTIVATIONS[fn])
    path = tmp_path / f"{fn}.onnx"
    torch.onnx.export(model, (torch.from_numpy(samples(1)),), str(path), dynamo=True)
    from_onnx_graph = to_graph(from_onnx(path))
    from_torch_graph = to_graph(from_torch(model, torch.from_numpy(samples(1))))
    assert [(l.op, l.attrs.get("fn")) for l in from_onnx_graph.layers] == \
        [(l.op, l.attrs.get("fn")) for l in from_torch_graph.layers]
    _, graph = quantized(fn, from_onnx_graph)
    forward = _tvm.build(to_relax(graph))
    for x in samples(3, seed=4):
        x_q = quantize_input(graph, x)
        np.testing.assert_array_equal(forward(x_q).reshape(-1), run_int8(graph, x_q).reshape(-1))


def _onnx_model(nodes):
    """x (1, 3, 8, 8) -> Conv 3x3 (c) -> nodes -> y."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32), "conv.weight")
    conv = helper.make_node("Conv", ["x", "conv.weight"], ["c"], name="conv0", pads=[1] * 4)
    graph = helper.make_graph([conv, *nodes], "acts", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def test_onnx_hardsigmoid_takes_torch_alpha_and_beta_only():
    torch_form = helper.make_node("HardSigmoid", ["c"], ["y"], name="hs", alpha=1 / 6, beta=0.5)
    assert [l.attrs.get("fn") for l in to_graph(from_onnx(_onnx_model([torch_form]))).layers] == [None, "hardsigmoid"]
    onnx_default = helper.make_node("HardSigmoid", ["c"], ["y"], name="hs")  # alpha 0.2: another function
    with pytest.raises(UnsupportedOpError, match="unsupported"):
        to_graph(from_onnx(_onnx_model([onnx_default])))


def test_a_product_of_two_tensors_is_not_silu():
    """Sigmoid(conv0(x)) * conv1(x) (a gate, as in squeeze-and-excitation): the sigmoid imports as a lut
    layer, the product of two tensors as a mul layer (not as SiLU)."""
    nodes = [helper.make_node("Sigmoid", ["c"], ["s"], name="sig"),
             helper.make_node("Conv", ["x", "conv.weight"], ["c2"], name="conv1", pads=[1] * 4),
             helper.make_node("Mul", ["c2", "s"], ["y"], name="mul")]
    graph = to_graph(from_onnx(_onnx_model(nodes)))
    assert [(l.op, l.attrs.get("fn")) for l in graph.layers] == [("conv2d", None), ("conv2d", None),
                                                                  ("lut", "sigmoid"), ("mul", None)]
    assert graph.layers[-1].inputs[1] == graph.layers[2].name


def test_still_unsupported_activations_are_listed_together():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.Conv2d(4, 4, 1), nn.Hardswish(), nn.Conv2d(4, 4, 1),
                          nn.Softplus(), nn.Conv2d(4, 4, 1), nn.Mish()).eval()
    with pytest.raises(UnsupportedOpError) as err:
        from_torch(model, torch.randn(1, 3, 8, 8))
    text = str(err.value)
    assert "3 kind(s)" in text and all(op in text for op in ("aten.gelu", "aten.softplus", "aten.mish"))
    problems, supported = text.split("\nsupported: ")
    assert "hardswish" not in problems and "Hardswish" in supported


def test_graph_file_round_trip_rebuilds_the_tables(tmp_path):
    _, graph = quantized("leaky_relu")
    graph_file.save(graph, tmp_path / "net")
    spec = (tmp_path / "net.json").read_text()
    assert '"fn": "leaky_relu"' in spec and "table" not in spec
    loaded = graph_file.load(tmp_path / "net.json")
    for a, b in zip(graph.layers, loaded.layers):
        assert a.attrs == b.attrs or a.op != "lut"
        for key, value in a.params.items():
            np.testing.assert_array_equal(b.params[key], value, err_msg=f"{a.name}.{key}")
    assert graph_file.quantization_hash(loaded) == graph_file.quantization_hash(graph)
