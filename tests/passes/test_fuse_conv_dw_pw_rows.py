"""fuse_conv_dw_pw_rows: a frozen conv -> depthwise -> 1x1 chain, each intermediate read only by the
next, becomes one conv_dw_pw_rows_s8 op with the same int8 values (TVM build == numpy reference, bit
for bit, with the other forward memory passes after it as tt_predict has them); trained layers and
gradients through keep the chain apart; the memory analysis holds rows, not the intermediates."""
import numpy as np
import pytest

from tvm_tinytrain import _tvm
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import resize_to, to_int8_input
from tvm_tinytrain.passes.fuse_conv_dw_pw_rows import fuse_conv_dw_pw_rows
from tvm_tinytrain.passes.fuse_expand_depthwise import fuse_expand_depthwise
from tvm_tinytrain.passes.inplace_depthwise import inplace_depthwise
from tvm_tinytrain.passes.memory_analysis import analyze
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import op_bindings
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.scheme import Scheme

STEM = "first_conv+blocks.0.depthwise+blocks.0.pointwise2"


@pytest.fixture(scope="module")
def mcunet():
    return load_backbone("mcunet-5fps", num_classes=10)


def _chains(mod):
    """The fused blocks by their three layers, with their residual add (fuse_rows_residual) or not."""
    return {"+".join(b.layer.split("+")[:3]): b for b in op_bindings(mod)
            if b.op in ("conv_dw_pw_rows_s8", "conv_dw_pw_rows_add_s8")}


def test_forward_is_bit_identical(mcunet):
    mod, params = to_relax(mcunet, params_as_inputs=True)
    fused = fuse_conv_dw_pw_rows(mod)
    chains = _chains(fused)
    depthwise = [b for b in op_bindings(mod) if b.op == "conv2d_s8" and b.attrs["groups"] > 1]
    assert STEM in chains and len(chains) == len(depthwise)  # the stem and every block
    stem = chains[STEM]
    assert stem.attrs["conv"]["stride"] == 2 and stem.attrs["depthwise"]["groups"] == 16
    assert [int(s) for s in stem.var.ty.shape] == [1, 8, 64, 64]
    assert fuse_expand_depthwise(fused) is fused and inplace_depthwise(fused) is fused  # nothing left to them
    run = _tvm.build(fused)
    pixels, _ = load_cifar10("test", per_class=1)
    for p in pixels[:2]:
        x = to_int8_input(resize_to(p, 128))
        np.testing.assert_array_equal(run(x[None], *params.values()).reshape(-1), run_int8(mcunet, x).reshape(-1))


def test_trained_layers_and_gradients_through_stay_apart(mcunet):
    scheme = Scheme("t", bias=("blocks.3.pointwise2",))
    layers = _chains(fuse_conv_dw_pw_rows(build_training(mcunet, scheme, stop_after="sgd_update").mod))
    # blocks.3 is trained, and a gradient flows through every layer above it
    assert set(layers) == {STEM, *(f"blocks.{i}.pointwise1+blocks.{i}.depthwise+blocks.{i}.pointwise2"
                                   for i in (1, 2))}


def test_memory_holds_rows(mcunet):
    mod, _ = to_relax(mcunet, params_as_inputs=True)
    before = analyze(mod)
    assert before.live[0] == 48 * 1024 + 64 * 1024  # the first conv: input and output
    fused = fuse_conv_dw_pw_rows(mod)
    report = analyze(fused)
    stem = _chains(fused)[STEM]
    rows = 3 * 3 * 128 + 16 * 64 + 16 * 3 * 64 + 16 * 64 + 8 * 64  # x band, mid row and window, dw and out rows
    assert report.scratch_of[stem.var].bytes == rows
    assert report.live[0] == 48 * 1024 + 32 * 1024 + rows
    assert report.peak_bytes < before.peak_bytes


def test_chains_of_a_depthwise_separable_net_do_not_share_a_layer():
    # KWSNet: conv -> dw -> pw -> dw -> pw ...: a 1x1 that ends one chain must not start the next
    from tvm_tinytrain.frontend.to_graph import to_graph
    from tvm_tinytrain.frontend.torch import from_torch
    from tvm_tinytrain.models.kws_cnn import build
    from tvm_tinytrain.quantization.ptq import quantize

    model, example = build()
    fp32 = to_graph(from_torch(model, example))
    rng = np.random.default_rng(0)
    graph = quantize(fp32, [rng.standard_normal(fp32.input_shape).astype(np.float32) for _ in range(4)],
                     progress=False)
    mod, params = to_relax(graph, params_as_inputs=True)
    fused = fuse_conv_dw_pw_rows(mod)
    chains = [b.layer.split("+") for b in op_bindings(fused) if b.op == "conv_dw_pw_rows_s8"]
    layers = [name for chain in chains for name in chain]
    assert len(chains) >= 2 and len(layers) == len(set(layers))
    x = np.clip(np.round(rng.standard_normal(graph.input_shape) * 20), -128, 127).astype(np.int8)
    np.testing.assert_array_equal(_tvm.build(fused)(x[None], *params.values()).reshape(-1),
                                  run_int8(graph, x).reshape(-1))
