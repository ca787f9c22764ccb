"""sgd_update's optimizer state with a float copy (scheme float_copy, the paper's float32 copy of the trained
integers): the step's structure and start values, the three ways (PyTorch oracle, TVM-built Relax, the C on the
host) on the small inverted-bottleneck CNN of block_cnn.py with a split weight, a depthwise and an int8
classifier trained, and QEMU Cortex-M7 equal to the host bit for bit there and on MCUNet (those slow)."""
from dataclasses import replace

import numpy as np
import pytest

from block_cnn import EXPAND_SPLIT, quantized_block_cnn
from device_equals_host import device_equals_host
from three_way import c_matches_relax, relax_matches_oracle
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import resize_to, to_int8_input
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import main_attr, op_bindings
from tvm_tinytrain.quantization.requant import bias_limit
from tvm_tinytrain.scheme import FLOAT_COPY, VELOCITY, is_state, state_name
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.qemu import toolchain_missing

COPY = replace(EXPAND_SPLIT, name="float-copy", float_copy=True, lr_weight=0.02, lr_bias=0.02)
COPY_MOMENTUM = replace(COPY, name="float-copy-momentum", momentum=0.9)


@pytest.fixture(scope="module")
def net():
    return quantized_block_cnn()


def _copies(params) -> dict:
    return {name: value for name, value in params.items() if name.endswith(f".{FLOAT_COPY}")}


def _integers_are_their_copies_rounded(params, graph):
    """Every trained int8 / int32 tensor equals its copy rounded half to even and clamped, bit for bit."""
    copies = _copies(params)
    assert copies
    for name, copy in copies.items():
        param = name.rsplit(".", 1)[0]
        value = params[param][tuple(slice(0, n) for n in copy.shape)]  # the trained slice
        if param.endswith(".weight"):
            expected = np.clip(np.round(copy), -128, 127).astype(np.int8)
        else:
            fan_in = int(np.prod(graph.layer(param.rsplit(".", 1)[0]).params["weight"].shape[1:]))
            limit = bias_limit(fan_in)
            expected = np.clip(np.clip(np.round(copy), -2.0**31, 2.0**31).astype(np.int64), -limit, limit)
        np.testing.assert_array_equal(value, expected, err_msg=name)


def test_each_trained_integer_tensor_gets_a_copy_starting_at_its_values(net):
    graph, _ = net
    program = build_training(graph, COPY_MOMENTUM)
    trained = [n for n in main_attr(program.mod, "tt.updates") if not is_state(n)]
    assert set(program.updated) == {*trained, *(state_name(n, k) for n in trained for k in (VELOCITY, FLOAT_COPY))}
    for name in trained:
        copy = program.params[state_name(name, FLOAT_COPY)]
        assert copy.dtype == np.float32
        whole = graph.layer(name.rsplit(".", 1)[0]).params[name.rsplit(".", 1)[1]]
        np.testing.assert_array_equal(copy, whole[tuple(slice(0, n) for n in copy.shape)].astype(np.float32))
        assert not np.any(program.params[state_name(name, VELOCITY)])
    assert program.params["block.0.0.weight.float_copy"].shape[1] == 2  # a split weight: its trained slice only
    ops = [b.op for b in op_bindings(program.mod)]
    assert "sgd_s8" not in ops and "sgd_s32" not in ops
    assert ops.count("round_copy_s8") == len(COPY.weights) and ops.count("round_copy_s32") == len(COPY.bias)
    # the memory figures count 4 bytes per trained value and state, in SRAM beside the trained values (what
    # the board's budget checks: arena + updated_param_bytes)
    values = sum(program.params[state_name(n, FLOAT_COPY)].size for n in trained)
    assert program.memory.state_bytes == 2 * 4 * values
    memory = generate(program).memory
    assert memory["optimizer_state_bytes"] == program.memory.state_bytes
    assert memory["updated_param_bytes"] == program.memory.updated_param_bytes + program.memory.state_bytes


@pytest.mark.slow  # 15-22 s each
@pytest.mark.parametrize("scheme", [COPY, COPY_MOMENTUM], ids=lambda s: s.name)
def test_three_ways_agree(net, scheme, tmp_path):
    """Oracle vs Relax (each step from the same state, copies included) and the C vs Relax, with three_way's
    tolerances (their gradients sum in other orders); within each, every integer is its copy rounded: no
    stochastic rounding is left."""
    graph, samples = net
    steps = relax_matches_oracle(graph, scheme, samples)
    _integers_are_their_copies_rounded(steps[-1][1].params, graph)
    c_params = c_matches_relax(graph, scheme, samples, tmp_path)
    _integers_are_their_copies_rounded(c_params, graph)
    start = build_training(graph, scheme).params
    assert all(np.any(c_params[n] != start[n]) for n in _copies(c_params))  # every copy moved


@pytest.mark.slow
@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_cortex_m7_equals_host(net, tmp_path):
    graph, samples = net
    write_project(generate(build_training(graph, COPY_MOMENTUM)), tmp_path)
    requests = [(TRAIN, label, x) for x, label in samples] + [(PREDICT, 0, samples[0][0])]
    device_equals_host(tmp_path, requests, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_mcunet_on_cortex_m7_equals_host(tmp_path):
    """A paper backbone with the paper's QAS recipe and its float copy (paper-49kb: 214 KB of static SRAM with
    the copies and velocities, inside the board's 320 KB), two CIFAR-10 steps and a prediction."""
    graph = load_backbone("mcunet-5fps", num_classes=10)
    scheme = resolve_scheme("paper-49kb", graph, fp32_classifier=True, momentum=0.9, float_copy=True)
    write_project(generate(build_training(graph, scheme)), tmp_path)
    pixels, labels = load_cifar10("test", per_class=1)
    images = [(to_int8_input(resize_to(p, 128)), int(label)) for p, label in zip(pixels[:3], labels)]
    requests = [(TRAIN, label, x) for x, label in images[:2]] + [(PREDICT, 0, images[2][0])]
    device_equals_host(tmp_path, requests, timeout=300)
