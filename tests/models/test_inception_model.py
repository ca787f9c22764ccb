"""Channel concatenation end to end on models/inception.py (1x1, 3x3 and pooled branches joined by
torch.cat): torch and ONNX import to the same layers and values, PTQ's output quantization of the
join, TVM's int8 forward equals the numpy reference bit for bit, a training step agrees three ways
(the PyTorch oracle, the Relax step, the generated C on the host), the backward keeps nothing of the
join, and a graph file round trip gives the same int8 values."""
import json

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
from tvm_tinytrain.models import inception
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference import run_float, run_int8
from tvm_tinytrain.schemes import resolve_scheme

STEPS = 3
BRANCHES = ("branch1.0", "branch3.1.0", "branch_pool.1.0")


@pytest.fixture(scope="module")
def case():
    """(float graph, int8 graph, int8 inputs with labels) on 16x16 CIFAR-10 images."""
    model, x = inception.build()
    graph = to_graph(from_torch(model, x, name="inception"))
    pixels, labels = load_cifar10("test", per_class=2)
    inputs = [to_float_input(resize_to(p, 16)) for p in pixels]
    qgraph = quantize(graph, inputs[:12], progress=False)
    samples = [(quantize_input(qgraph, x)[0], int(y)) for x, y in zip(inputs[12:], labels[12:])]
    return graph, qgraph, samples


def test_torch_import_joins_the_three_branches(case):
    graph, _, _ = case
    join = graph.layer("concat")
    assert join.op == "concat" and join.inputs == BRANCHES and join.out_shape == (16, 8, 8)
    assert graph.layer("mix.0").inputs == ("concat",)
    model, x = inception.build()
    with torch.no_grad():
        np.testing.assert_allclose(run_float(graph, x.numpy()[0]), model(x).numpy()[0], atol=1e-5, rtol=1e-5)


def test_onnx_import_gives_the_same_layers_and_values(case, tmp_path):
    graph, _, _ = case
    model, x = inception.build()
    path = tmp_path / "inception.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=False)
    onnx_graph = to_graph(from_onnx(path))
    assert [(l.op, l.out_shape) for l in onnx_graph.layers] == [(l.op, l.out_shape) for l in graph.layers]
    join = next(l for l in onnx_graph.layers if l.op == "concat")
    assert [onnx_graph.layer(s).out_shape for s in join.inputs] == [graph.layer(s).out_shape for s in BRANCHES]
    with torch.no_grad():
        np.testing.assert_allclose(run_float(onnx_graph, x.numpy()[0]), model(x).numpy()[0], atol=1e-4, rtol=1e-4)


def test_the_join_covers_every_branch_and_copies_the_widest(case):
    """PTQ: the output's range is the union of what the branches represent; the branches are ReLU
    outputs (all from 0), so the widest keeps its quantization (its part is a copy) and the others are
    requantized to it."""
    _, qgraph, _ = case
    join = qgraph.layer("concat")
    qs = [qgraph.q_of(s) for s in join.inputs]
    lo = min(q.scale * (-128 - q.zero) for q in qs)
    hi = max(q.scale * (127 - q.zero) for q in qs)
    out = join.out_q
    assert out.scale * (-128 - out.zero) <= lo + out.scale / 2 and out.scale * (127 - out.zero) >= hi - out.scale / 2
    copies = [q == out for q in qs]
    assert copies[max(range(len(qs)), key=lambda i: qs[i].scale)]
    for q, copy, mult, shift in zip(qs, copies, join.attrs["multipliers"], join.attrs["shifts"]):
        assert ((mult, shift) == (1 << 30, 30)) == copy
        assert mult * 2.0**-shift == pytest.approx(q.scale / out.scale, rel=2**-30)


def test_tvm_int8_forward_equals_the_reference(case):
    _, qgraph, samples = case
    built = _tvm.build(to_relax(qgraph, outputs="all"))
    for x_q, _ in samples[:4]:
        ref = run_int8(qgraph, x_q, return_all=True)
        for out, layer in zip(built(x_q[None]), qgraph.layers):
            np.testing.assert_array_equal(out.reshape(ref[layer.name].shape), ref[layer.name], err_msg=layer.name)


def test_full_training_step_relax_equals_oracle_and_c(case, tmp_path):
    """Every layer trained, so the gradient flows through the join into all three branches and the stem
    (whose gradient sums three paths): Relax vs the PyTorch oracle (int8 activations exact, gradients
    1e-5, updates within one unit), then the C on the host vs Relax."""
    _, qgraph, samples = case
    scheme = resolve_scheme("full", qgraph)
    for _, ref in relax_matches_oracle(qgraph, scheme, samples[:STEPS]):
        assert {f"{b}.weight" for b in BRANCHES} <= set(ref.grads)
    c_matches_relax(qgraph, scheme, samples[:STEPS], tmp_path)


def test_the_backward_keeps_nothing_of_the_join(case):
    """The join's tensors are its int8 output and one float gradient slice per branch; no mask, and no
    branch output is read by the join's backward."""
    _, qgraph, _ = case
    memory = build_training(qgraph, resolve_scheme("full", qgraph)).memory
    own = sorted((t.op, t.bytes) for t in memory.tensors if t.layer == "concat")
    slices = sorted(("concat_grad", 4 * int(np.prod(qgraph.layer(b).out_shape))) for b in BRANCHES)
    assert own == sorted([*slices, ("concat_s8", 16 * 8 * 8)])


def test_graph_file_round_trip_rebuilds_the_join(case, tmp_path):
    """quantize --out stores the join without its multipliers and shifts; loading recomputes them from
    the scales, and the loaded graph computes the same int8 values."""
    from tvm_tinytrain import graph_file

    _, qgraph, samples = case
    json_path, _ = graph_file.save(qgraph, tmp_path / "inception")
    row = next(r for r in json.loads(json_path.read_text())["layers"] if r["op"] == "concat")
    assert row["inputs"] == list(BRANCHES) and row["attrs"] == {}
    loaded = graph_file.load(json_path)
    assert loaded.layer("concat").attrs == qgraph.layer("concat").attrs
    for x_q, _ in samples[:2]:
        np.testing.assert_array_equal(run_int8(loaded, x_q), run_int8(qgraph, x_q))
