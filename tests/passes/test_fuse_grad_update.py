"""fuse_grad_update: weight gradient (+ QAS scale) + SGD update become one grad_update op where the
gradient has no other reader; the TVM-built step gives the same loss and updated parameters bit for
bit; return_grads keeps the chain; the memory analysis holds only a block of gradient rows."""
import numpy as np
import pytest

from tvm_tinytrain import _tvm
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import to_float_input
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models.tiny_resnet import build
from tvm_tinytrain.passes.fuse_grad_update import fuse_grad_update
from tvm_tinytrain.codegen.templates_memory import UPDATE_BYTES, UPDATE_COLS, update_block
from tvm_tinytrain.passes.memory_analysis import analyze
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.reorder import reorder
from tvm_tinytrain.passes.training_graph import main_attr, op_bindings
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.schemes import resolve_scheme

# a sliced 3x3 conv, a sliced 1x1 shortcut, the int8 classifier, two biases
SPEC = {"name": "fuse-check", "n_bias_update": 2,
        "weight_layers": ["layer2.conv2", "layer2.downsample.0", "classifier"], "weight_ratios": [0.25, 0.5, 1]}


@pytest.fixture(scope="module")
def tiny():
    pixels, labels = load_cifar10("test", per_class=1)
    model, example = build()
    graph = quantize(to_graph(from_torch(model, example)), list(to_float_input(pixels[:8])), progress=False)
    return graph, quantize_input(graph, to_float_input(pixels[8])), int(labels[8])


def _step(program, mod, x_q, label):
    names = [p.name for p in mod["main"].params[5:]]
    return _tvm.build(mod)(x_q, np.array(label, np.int32), np.float32(0.05), np.float32(0.1), np.uint32(3),
                           *(program.params[n] for n in names))


def _ops(mod):
    return [b.op for b in op_bindings(mod)]


@pytest.mark.parametrize("fp32_classifier", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fused_step_is_bit_identical(tiny, fp32_classifier):
    graph, x_q, label = tiny
    program = build_training(graph, resolve_scheme(SPEC, graph, fp32_classifier=fp32_classifier),
                             stop_after="sgd_update")
    fused = fuse_grad_update(program.mod)
    ops = _ops(fused)
    assert ops.count("grad_update") == 3
    assert not {"conv2d_grad_weight", "linear_grad_weight", "linear_f32_grad_weight"} & set(ops)
    biases = [n for n in main_attr(fused, "tt.updates") if n.endswith(".bias")]
    assert ops.count("sgd_s8") == 0 and ops.count("sgd_s32") + ops.count("sgd_f32") == len(biases)
    grads = {b.attrs["grad"] for b in op_bindings(fused) if b.op == "grad_update"}
    assert grads == {"conv2d_grad_weight", "linear_f32_grad_weight" if fp32_classifier else "linear_grad_weight"}
    before, after = _step(program, program.mod, x_q, label), _step(program, fused, x_q, label)
    for name, a, b in zip(["loss", *main_attr(fused, "tt.updates")], before, after):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert any(not np.array_equal(v, program.params[n]) for n, v in zip(main_attr(fused, "tt.updates"), after[1:]))
    for key in ("tt.grads", "tt.updates", "tt.grad_info", "num_input"):
        assert main_attr(fused, key) == main_attr(program.mod, key)


def test_return_grads_keeps_the_gradients(tiny):
    graph, _, _ = tiny
    program = build_training(graph, resolve_scheme(SPEC, graph), stop_after="sgd_update", return_grads=True)
    assert fuse_grad_update(program.mod) is program.mod


def test_only_a_block_of_gradient_rows_is_alive():
    """MCUNet's blocks.10.pointwise1 (240 x 48): 45 KB of float gradient before, 64 rows of 8 columns (a 1x1
    conv's UPDATE_COLS input channels, what fits 2 KB) after."""
    graph = load_backbone("mcunet-5fps", num_classes=10)
    program = build_training(graph, resolve_scheme("paper-100kb", graph), stop_after="sgd_update")
    before, after = analyze(program.mod), analyze(fuse_grad_update(program.mod))
    layer = "blocks.10.pointwise1"
    biggest_before = max(t.bytes for t in before.tensors if t.layer == layer and t.op == "conv2d_grad_weight")
    assert biggest_before == 240 * 48 * 4
    scratch = [t for t in after.tensors if t.layer == layer and t.op == "grad_update"]
    assert update_block(240, UPDATE_COLS) == 64 and UPDATE_BYTES == 2048 and UPDATE_COLS == 8
    assert [(t.bytes, t.birth == t.death) for t in scratch] == [(64 * 8 * 4, True)]
    assert after.peak_bytes < before.peak_bytes


def test_large_layer_input_keeps_the_chain():
    """MbV2 full update: blocks.1.depthwise also passes a gradient down, and its input (48 x 64 x 64
    int8, 192 KB) is far larger than its float weight gradient (48 x 9 floats): left unfused, so the
    gradient is taken early and the input freed; a 1x1 layer's large gradient is fused."""
    graph = load_backbone("mbv2-w0.35", num_classes=10)
    mod = build_training(graph, resolve_scheme("full", graph), stop_after="sgd_update").mod
    fused = {b.layer for b in op_bindings(fuse_grad_update(mod)) if b.op == "grad_update"}
    assert "blocks.1.depthwise" not in fused and "blocks.16.pointwise1" in fused
    assert analyze(reorder(fuse_grad_update(mod))).peak_bytes <= analyze(reorder(mod)).peak_bytes


def test_row_block_rule_equals_the_c_companion():
    """update_block (the generated loop's step and the planned scratch) and tt_grad_update_get_buffer_size
    agree: 4 rows at least, more in fours while they fit UPDATE_BYTES, never more than the weight has."""
    from tvm_tinytrain.codegen import kernel_abi

    assert [update_block(240, k) for k in (12, 24, 40, 48, 128, 129, 576)] == [40, 20, 12, 8, 4, 4, 4]
    assert update_block(3, 12) == 3 and update_block(10, 12) == 10
    for rows in (1, 3, 4, 8, 10, 96, 240, 576):
        for run in (1, 9, 12, 24, 40, 48, 128, 129, 576, 4000):
            assert kernel_abi.call("tt_grad_update_get_buffer_size", rows, run, run) == \
                update_block(rows, run) * run * 4, (rows, run)
            cols = min(run, UPDATE_COLS)  # a 1x1 conv's column blocks
            assert kernel_abi.call("tt_grad_update_get_buffer_size", rows, run, UPDATE_COLS) == \
                update_block(rows, cols) * cols * 4, (rows, run)
