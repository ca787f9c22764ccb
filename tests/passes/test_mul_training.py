"""The mul layer (squeeze-and-excitation's x * gate) in training: a step three ways, the PyTorch
oracle, the TVM Relax step and the generated C on the host, with the `full` scheme and with a sparse
scheme that trains only the SE branch's two convs (and the classifier), so the gradient reaches the
gate through the product and stops there; the memory analysis keeps both int8 inputs of the product
from the forward until its backward."""
import numpy as np
import pytest

from three_way import c_matches_relax, relax_matches_oracle
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.ptq import quantize_input
from tvm_tinytrain.schemes import resolve_scheme

from se_models import quantized, samples

SE_ONLY = {"weight_layers": ["se.fc1", "se.fc2"], "bias_layers": ["se.fc1", "se.fc2"], "train_classifier": True}


@pytest.fixture(scope="module")
def graph():
    return quantized()[1]


@pytest.mark.parametrize("spec", ["full", SE_ONLY], ids=["full", "se-only"])
def test_training_step_oracle_relax_and_c_agree(graph, spec, tmp_path):
    scheme = resolve_scheme(spec, graph)
    data = [(quantize_input(graph, x)[0], label) for label, x in enumerate(samples(3, seed=2))]
    expected = {f"{n}.{k}" for n in (["stem.0", "se.fc1", "se.fc2", "head.0", "head.4"] if spec == "full"
                                     else ["se.fc1", "se.fc2", "head.4"]) for k in ("weight", "bias")}
    for grads, ref in relax_matches_oracle(graph, scheme, data):
        assert set(grads) == expected
        assert all(np.abs(grad).max() > 0 for grad in grads.values())  # the gate's gradient is not lost
    assert set(c_matches_relax(graph, scheme, data, tmp_path)) == expected


def test_memory_analysis_keeps_both_int8_inputs_until_the_backward(graph):
    memory = build_training(graph, resolve_scheme("full", graph)).memory
    backward_starts = next(i for i, (op, _) in enumerate(memory.ops) if op == "cross_entropy_grad")
    users = {op: i for i, (op, name) in enumerate(memory.ops) if name == "mul"}
    assert {"mul_s8", "mul_grad_input", "mul_grad_gate"} <= set(users)
    features = next(t for t in memory.tensors if t.layer == "lut" and t.op == "lut_s8")
    # the gate's lookup writes over the conv output it reads (lut_s8 reuses a dying input): one buffer
    gate = next(t for t in memory.tensors if (t.layer, t.op) in (("lut2", "lut_s8"), ("se.fc2", "conv2d_s8")))
    assert features.bytes == 16 * 6 * 6 and gate.bytes == 16
    assert features.birth < users["mul_s8"] < backward_starts < users["mul_grad_gate"] <= features.death
    assert gate.birth < users["mul_s8"] < backward_starts < users["mul_grad_input"] <= gate.death
