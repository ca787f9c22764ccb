"""The mul layer (squeeze-and-excitation's x * gate) in training: a step three ways, the PyTorch
oracle, the TVM Relax step and the generated C on the host, with the `full` scheme and with a sparse
scheme that trains only the SE branch's two convs (and the classifier), so the gradient reaches the
gate through the product and stops there; the memory analysis keeps both int8 inputs of the product
from the forward until its backward."""
import numpy as np
import pytest

from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.protocol import TRAIN
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.ptq import quantize_input
from tvm_tinytrain.reference_train import TorchTrainer
from tvm_tinytrain.relax_trainer import RelaxTrainer
from tvm_tinytrain.schemes import resolve_scheme

from se_models import quantized, samples

SE_ONLY = {"weight_layers": ["se.fc1", "se.fc2"], "bias_layers": ["se.fc1", "se.fc2"], "train_classifier": True}


@pytest.fixture(scope="module")
def graph():
    return quantized()[1]


@pytest.mark.parametrize("spec", ["full", SE_ONLY], ids=["full", "se-only"])
def test_training_step_oracle_relax_and_c_agree(graph, spec, tmp_path):
    scheme = resolve_scheme(spec, graph)
    program = build_training(graph, scheme, return_grads=True)
    relax_side, oracle = RelaxTrainer(program), TorchTrainer(graph, scheme)
    data = [(quantize_input(graph, x)[0], label) for label, x in enumerate(samples(3, seed=2))]
    expected = {f"{n}.{k}" for n in (["stem.0", "se.fc1", "se.fc2", "head.0", "head.4"] if spec == "full"
                                     else ["se.fc1", "se.fc2", "head.4"]) for k in ("weight", "bias")}
    for step, (x, label) in enumerate(data):
        loss = relax_side.step(x, label, step)
        ref = oracle.step(x, label, step)
        assert abs(loss - ref.loss) <= 1e-5 * abs(ref.loss) + 1e-6
        assert set(relax_side.grads) == set(ref.grads) == expected
        for name, grad in relax_side.grads.items():
            assert np.abs(grad).max() > 0, name  # the gate's gradient is not lost on the way
            err = np.abs(grad - ref.grads[name]).max() / np.abs(ref.grads[name]).max()
            assert err <= 1e-5, (name, err)
        for name in relax_side.updated:
            diff = np.abs(relax_side.params[name].astype(np.int64) - ref.params[name].astype(np.int64))
            assert diff.max() <= 1, name
        oracle.load_params(relax_side.params)
    c_side = RelaxTrainer(build_training(graph, scheme))
    write_project(generate(c_side.program), tmp_path)
    answers, c_params, error = HostProgram(tmp_path, sanitize=True).run([(TRAIN, y, x) for x, y in data])
    assert error == 0
    for step, (x, label) in enumerate(data):
        loss = c_side.step(x, label, step)
        assert abs(answers[step] - loss) <= 1e-5 * abs(loss) + 1e-6, (step, answers[step], loss)
    assert set(c_params) == expected
    for name, value in c_params.items():
        assert np.abs(value.astype(np.int64) - c_side.params[name].astype(np.int64)).max() <= 1, name


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
