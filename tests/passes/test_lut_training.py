"""The lut layer (Hardswish, Hardsigmoid, Sigmoid, SiLU, Tanh, LeakyReLU) end to end, per function:
torch import, PTQ, TVM int8 forward == numpy reference bit for bit, the quantized forward close to
the float torch model, and a training step three ways: the PyTorch oracle, the TVM Relax step and
the generated C on the host (gradients through two activations, `full` scheme)."""
import numpy as np
import pytest
import torch

from three_way import c_matches_relax, relax_matches_oracle
from tvm_tinytrain import _tvm
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize_input
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.schemes import resolve_scheme

from lut_models import ACTIVATIONS, quantized, samples


@pytest.mark.parametrize("fn", ACTIVATIONS)
def test_forward_tvm_equals_reference_and_follows_torch(fn):
    model, graph = quantized(fn)
    if fn == "leaky_relu":
        assert [l.attrs["alpha"] for l in graph.layers if l.op == "lut"] == pytest.approx([0.1, 0.1])
    forward = _tvm.build(to_relax(graph, outputs="all"))
    for x in samples(4, seed=1):
        x_q = quantize_input(graph, x)
        ref = run_int8(graph, x_q, return_all=True)
        for value, layer in zip(forward(x_q), graph.layers):
            np.testing.assert_array_equal(value.reshape(layer.out_shape), ref[layer.name], err_msg=layer.name)
        with torch.no_grad():
            want = model(torch.from_numpy(x[None])).numpy().reshape(-1)
        q = graph.layer(graph.output).out_q
        got = q.scale * (ref[graph.output].astype(np.float32) - q.zero)
        # loose: two int8 activations and three int8 weight layers of rounding on a random net
        assert np.abs(got - want).max() <= 0.1 * np.abs(want).max() + 4 * q.scale, (got, want)


@pytest.mark.parametrize("fn", ACTIVATIONS)
def test_training_step_oracle_relax_and_c_agree(fn, tmp_path):
    _, graph = quantized(fn)
    scheme = resolve_scheme("full", graph)
    data = [(quantize_input(graph, x)[0], label) for label, x in enumerate(samples(3, seed=2))]
    relax_matches_oracle(graph, scheme, data)
    c_matches_relax(graph, scheme, data, tmp_path)


@pytest.mark.parametrize("fn, kept", [("hardswish", "lut_grad"), ("leaky_relu", "interval_mask"),
                                      ("hardsigmoid", "interval_mask"), ("sigmoid", "lut_grad")])
def test_memory_analysis_counts_what_the_backward_keeps(fn, kept):
    """A two-valued f' keeps 1 bit per element from the forward into the backward, and the lookup
    then writes over its dying int8 input; a varying f' keeps the int8 input, 1 byte per element,
    until its lut_grad, beside the lookup's own output."""
    _, graph = quantized(fn)
    memory = build_training(graph, resolve_scheme("full", graph)).memory
    backward_starts = next(i for i, (op, _) in enumerate(memory.ops) if op == "cross_entropy_grad")
    for layer in (l for l in graph.layers if l.op == "lut"):
        n = int(np.prod(layer.out_shape))
        x = next(t for t in memory.tensors if t.layer == layer.inputs[0] and t.op == "conv2d_s8")
        own = [t for t in memory.tensors if t.layer == layer.name]
        users = [i for i, (op, name) in enumerate(memory.ops) if name == layer.name and op == kept]
        assert len(users) == 1
        if kept == "interval_mask":
            assert [(t.op, t.bytes) for t in own] == [("interval_mask", (n + 7) // 8)]
            assert own[0].birth < backward_starts <= own[0].death
        else:
            assert x.bytes == n and x.death >= users[0] > backward_starts
            assert [t.op for t in own] == ["lut_s8"]
