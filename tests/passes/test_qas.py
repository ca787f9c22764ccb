"""qas: every int8/int32 parameter gradient is divided by its quantization step squared,
per output channel, and nothing else changes (TVM-built, on a real CIFAR-10 image)."""
import numpy as np
import pytest

from tvm_tinytrain import _tvm
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import to_float_input
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models.tiny_resnet import build
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import main_attr, op_bindings
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.schemes import resolve_scheme

# every layer's bias, whole and sliced weights (a 3x3 conv slice, a 1x1 shortcut slice)
SPEC = {"name": "qas-check", "n_bias_update": "all",
        "weight_layers": ["stem.0", "layer1.conv2", "layer2.conv1", "layer2.conv2", "layer2.downsample.0"],
        "weight_ratios": [1, 1, 0.5, 0.25, 0.5]}


@pytest.fixture(scope="module")
def tiny():
    """The tiny ResNet quantized on 8 CIFAR-10 test images; a 9th image and its label."""
    pixels, labels = load_cifar10("test", per_class=1)
    model, example = build()
    graph = quantize(to_graph(from_torch(model, example)), list(to_float_input(pixels[:8])), progress=False)
    return graph, quantize_input(graph, to_float_input(pixels[8])), int(labels[8])


def _run(program, x_q, label):
    mod = program.mod
    n_input = int(main_attr(mod, "num_input"))
    names = [p.name for p in mod["main"].params[n_input:]]
    outs = _tvm.build(mod)(x_q, np.array(label, np.int32), *(program.params[n] for n in names))
    return float(outs[0]), dict(zip(main_attr(mod, "tt.grads"), outs[1:]))


# a float classifier (weight and bias) and one conv bias: kept small, each build takes seconds
FP32_SPEC = {"name": "qas-fp32", "n_bias_update": 1, "fp32_classifier": True}


@pytest.fixture(scope="module")
def pairs(tiny):
    """spec name -> (program before QAS, program after QAS)."""
    graph = tiny[0]
    out = {}
    for spec in (SPEC, FP32_SPEC):
        scheme = resolve_scheme(spec, graph)
        out[spec["name"]] = (build_training(graph, scheme, stop_after="quantized_autodiff"),
                             build_training(graph, scheme, stop_after="qas"))
    return out


def test_qas_divides_int_gradients_by_step_squared(tiny, pairs):
    graph, x_q, label = tiny
    before, after = pairs[SPEC["name"]]
    info = main_attr(after.mod, "tt.grad_info")
    assert main_attr(after.mod, "tt.qas") == 1 and main_attr(before.mod, "tt.qas") is None
    assert main_attr(after.mod, "tt.grads") == main_attr(before.mod, "tt.grads")
    loss_before, g_before = _run(before, x_q, label)
    loss_after, g_after = _run(after, x_q, label)
    assert loss_after == loss_before
    assert {info[n]["kind"] for n in g_after} == {"s8", "s32"}
    assert len(g_after) == 2 * 7 - 1  # every bias, every weight but layer1.conv1's
    nonzero = 0
    for name, grad in g_after.items():
        step = np.asarray(info[name]["step"], np.float64)
        assert grad.shape == g_before[name].shape and grad.shape[0] == step.size, name
        shape = (-1,) + (1,) * (grad.ndim - 1)
        expected = g_before[name].astype(np.float64) / step.reshape(shape) ** 2
        np.testing.assert_allclose(grad.astype(np.float64), expected, rtol=1e-6, atol=0, err_msg=name)
        nonzero += int(np.count_nonzero(grad))
        # not a no-op: the steps are far from 1
        assert np.abs(step - 1).min() > 0.1, name
    assert nonzero > 0


def test_qas_leaves_float_gradients_alone(tiny, pairs):
    graph, x_q, label = tiny
    before, after = pairs[FP32_SPEC["name"]]
    info = main_attr(after.mod, "tt.grad_info")
    floats = [n for n in info if info[n]["kind"] == "f32"]
    assert sorted(floats) == ["classifier.bias", "classifier.weight"]
    assert len(info) == 3
    loss_before, g_before = _run(before, x_q, label)
    loss_after, g_after = _run(after, x_q, label)
    assert loss_after == loss_before
    for name in floats:
        np.testing.assert_array_equal(g_after[name], g_before[name], err_msg=name)
        assert np.abs(g_after[name]).max() > 0
    for name in set(info) - set(floats):  # the conv bias is still scaled
        step = np.asarray(info[name]["step"], np.float64).reshape((-1,) + (1,) * (g_after[name].ndim - 1))
        np.testing.assert_allclose(g_after[name], g_before[name] / step**2, rtol=1e-6, atol=0, err_msg=name)


@pytest.mark.parametrize("spec", [SPEC["name"], FP32_SPEC["name"]])
def test_qas_adds_no_op(pairs, spec):
    before, after = pairs[spec]
    ops_before = [(b.op, b.layer) for b in op_bindings(before.mod)]
    ops_after = [(b.op, b.layer) for b in op_bindings(after.mod)]
    assert ops_after == ops_before
    blocks = lambda m: sum(len(block.bindings) for block in m["main"].body.blocks)  # noqa: E731
    assert blocks(after.mod) == blocks(before.mod)
    assert after.memory.peak_bytes == before.memory.peak_bytes
