"""models/mobilenetv1.py (MLPerf Tiny's visual-wake-words MobileNetV1-0.25 at 96x96): its size and
shapes, the layer graph torch.export gives (27 convs, half of them depthwise, BN folded) computing
torch's values, and its int8 forward through TVM equal to the numpy reference bit for bit."""
import numpy as np
import pytest
import torch

from tvm_tinytrain import _tvm
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models import mobilenetv1
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference import run_float, run_int8


def images(n, seed=0):
    return np.random.default_rng(seed).normal(0, 1, (n, *mobilenetv1.INPUT_SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def case():
    """(torch model, float graph, int8 graph)."""
    model, x = mobilenetv1.build()
    graph = to_graph(from_torch(model, x, name="mobilenetv1"))
    return model, graph, quantize(graph, images(8), progress=False)


def test_size_and_shapes():
    model, x = mobilenetv1.build(num_classes=4, seed=1)
    assert x.shape == (1, 3, 96, 96) and not model.training
    assert 200_000 <= sum(p.numel() for p in model.parameters()) <= 230_000  # 0.25 of MobileNetV1's 4.2M, + head
    with torch.no_grad():
        assert model.first_conv(x).shape == (1, 8, 48, 48)
        assert model.blocks(model.first_conv(x)).shape == (1, 256, 3, 3)
        assert model(x).shape == (1, 4)
    assert len(model.blocks) == 13 and sum(b.depthwise[0].stride == (2, 2) for b in model.blocks) == 4


def test_layer_graph_is_torchs(case):
    model, graph, _ = case
    assert [l.op for l in graph.layers] == ["conv2d"] * 27 + ["avgpool", "flatten", "linear"]
    convs = [l for l in graph.layers if l.op == "conv2d"]
    assert sum(l.attrs["groups"] > 1 for l in convs) == 13 and convs[0].out_shape == (8, 48, 48)
    assert max(int(np.prod(l.out_shape)) for l in graph.layers) == 16 * 48 * 48  # the largest activation
    assert graph.num_classes == 10 and tuple(graph.input_shape) == mobilenetv1.INPUT_SHAPE
    x = images(1, seed=3)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy().reshape(-1)
    np.testing.assert_allclose(run_float(graph, x[0]).reshape(-1), want, rtol=1e-4, atol=1e-4)


def test_int8_forward_tvm_equals_reference(case):
    _, _, qgraph = case
    assert all(l.out_q is not None for l in qgraph.layers)
    forward = _tvm.build(to_relax(qgraph, outputs="all"))
    x_q = quantize_input(qgraph, images(1, seed=5)[0])
    ref = run_int8(qgraph, x_q, return_all=True)
    for value, layer in zip(forward(x_q), qgraph.layers):
        np.testing.assert_array_equal(value.reshape(layer.out_shape), ref[layer.name], err_msg=layer.name)
