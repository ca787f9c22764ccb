"""Local pooling end to end on models/pooled_cnn.py (a non-square max pool with unequal strides, a
padded average pool, AdaptiveAvgPool2d to a dividing size): torch and ONNX import to the same layers,
TVM's int8 forward equals the numpy reference bit for bit, and a full training step agrees three
ways: the PyTorch oracle, the Relax step, and the generated C on the host."""
import numpy as np
import pytest
import torch

from three_way import c_matches_relax, relax_matches_oracle
from tvm_tinytrain import _tvm
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import resize_to, to_float_input
from tvm_tinytrain.frontend.onnx import from_onnx
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models import pooled_cnn
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.schemes import resolve_scheme

STEPS = 3
POOLS = {"pool1": ("maxpool", {"kernel": (2, 3), "stride": (2, 1), "padding": (1, 1, 1, 1)}),
         "pool2": ("avgpool", {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 1, 1), "count_include_pad": True}),
         "pool3": ("avgpool", {"kernel": (1, 2), "stride": (1, 2), "padding": (0, 0, 0, 0), "count_include_pad": True}),
         "pool4": ("avgpool", {})}


@pytest.fixture(scope="module")
def case():
    """(float graph, int8 graph, int8 inputs with labels) on 16x16 CIFAR-10 images."""
    model, x = pooled_cnn.build()
    graph = to_graph(from_torch(model, x, name="pooled_cnn"))
    pixels, labels = load_cifar10("test", per_class=2)
    inputs = [to_float_input(resize_to(p, 16)) for p in pixels]
    qgraph = quantize(graph, inputs[:12], progress=False)
    samples = [(quantize_input(qgraph, x)[0], int(y)) for x, y in zip(inputs[12:], labels[12:])]
    return graph, qgraph, samples


def _pools(graph):
    return {layer.name: (layer.op, layer.attrs) for layer in graph.layers if layer.op in ("maxpool", "avgpool")}


def test_torch_import_keeps_every_window(case):
    graph, _, _ = case
    pools = {name: (op, {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in attrs.items()})
             for name, (op, attrs) in _pools(graph).items()}
    assert list(pools.values()) == list(POOLS.values())
    assert [l.out_shape for l in graph.layers if l.op in ("maxpool", "avgpool")] == \
        [(8, 9, 16), (12, 5, 8), (16, 5, 4), (16, 1, 1)]


def test_onnx_import_gives_the_same_layers_and_values(case, tmp_path):
    """ONNX AveragePool exports count_include_pad=1 for torch's default; the graph computes the same."""
    graph, _, _ = case
    model, x = pooled_cnn.build()
    path = tmp_path / "pooled.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=False)
    onnx_graph = to_graph(from_onnx(path))
    assert [l.op for l in onnx_graph.layers] == [l.op for l in graph.layers]
    assert [l.out_shape for l in onnx_graph.layers] == [l.out_shape for l in graph.layers]
    from tvm_tinytrain.reference import run_float
    with torch.no_grad():
        expect = model(x).numpy()[0]
    np.testing.assert_allclose(run_float(onnx_graph, x.numpy()[0]), expect, atol=1e-4, rtol=1e-4)


def test_tvm_int8_forward_equals_the_reference(case):
    _, qgraph, samples = case
    built = _tvm.build(to_relax(qgraph, outputs="all"))
    for x_q, _ in samples[:4]:
        ref = run_int8(qgraph, x_q, return_all=True)
        for out, layer in zip(built(x_q[None]), qgraph.layers):
            np.testing.assert_array_equal(out.reshape(ref[layer.name].shape), ref[layer.name], err_msg=layer.name)


def test_full_training_step_relax_equals_oracle_and_c(case, tmp_path):
    """Every layer trained, so the backward runs through every pool: Relax vs the PyTorch oracle (int8
    activations exact, gradients 1e-5, updates within one unit), then the C on the host vs Relax."""
    _, qgraph, samples = case
    scheme = resolve_scheme("full", qgraph)
    relax_matches_oracle(qgraph, scheme, samples[:STEPS])
    c_matches_relax(qgraph, scheme, samples[:STEPS], tmp_path)


def test_graph_file_round_trip_keeps_every_window(case, tmp_path):
    """quantize --out writes the windows; loading checks them against the shapes and gives the same
    int8 values (the quantization hash covers the attrs as written)."""
    from tvm_tinytrain import graph_file

    _, qgraph, samples = case
    json_path, _ = graph_file.save(qgraph, tmp_path / "pooled")
    loaded = graph_file.load(json_path)
    assert _pools(loaded).keys() == _pools(qgraph).keys()
    for (op, attrs), (op2, attrs2) in zip(_pools(loaded).values(), _pools(qgraph).values()):
        assert op == op2 and {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items()} == \
            {k: list(v) if isinstance(v, tuple) else v for k, v in attrs2.items()}
    x_q = samples[0][0]
    np.testing.assert_array_equal(run_int8(loaded, x_q), run_int8(qgraph, x_q))


class _ExcludePad(torch.nn.Module):
    """A padded, non-square average pool that divides by the input elements only."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.pool = torch.nn.AvgPool2d((3, 2), (1, 2), (1, 0), count_include_pad=False)

    def forward(self, x):
        return self.pool(torch.relu(self.conv(x))).flatten(1)


def test_count_include_pad_false_through_torch_and_onnx(tmp_path):
    """torch's count_include_pad=False and ONNX's count_include_pad=0 both become the windowed avgpool
    without it; the float graph computes torch's values, and its int8 forward is TVM == reference."""
    model, x = _ExcludePad().eval(), torch.randn(1, 3, 6, 8)
    path = tmp_path / "exclude.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=False)
    with torch.no_grad():
        expect = model(x).numpy()[0]
    for graph in (to_graph(from_torch(model, x)), to_graph(from_onnx(path))):
        pool = graph.layers[1]
        assert pool.op == "avgpool" and pool.attrs["count_include_pad"] is False and pool.out_shape == (4, 6, 4)
        from tvm_tinytrain.reference import run_float
        np.testing.assert_allclose(run_float(graph, x.numpy()[0]), expect, atol=1e-5, rtol=1e-5)
    rng = np.random.default_rng(1)
    qgraph = quantize(graph, list(rng.standard_normal((8, 3, 6, 8)).astype(np.float32)), progress=False)
    built = _tvm.build(to_relax(qgraph, outputs="all"))
    x_q = quantize_input(qgraph, rng.standard_normal((3, 6, 8)).astype(np.float32))
    ref = run_int8(qgraph, x_q[0], return_all=True)
    for out, layer in zip(built(x_q), qgraph.layers):
        np.testing.assert_array_equal(out.reshape(ref[layer.name].shape), ref[layer.name], err_msg=layer.name)
