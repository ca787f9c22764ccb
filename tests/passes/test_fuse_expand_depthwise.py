"""fuse_expand_depthwise: a frozen 1x1 expansion read only by a depthwise conv becomes one
expand_depthwise_s8 op with the same int8 values (TVM build == numpy reference, bit for bit); a
trained layer or a second reader of the expansion keeps the pair apart; the memory analysis no
longer holds the expanded tensor, only a one-channel scratch."""
import numpy as np
import pytest

from tvm_tinytrain import _tvm
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import resize_to, to_int8_input
from tvm_tinytrain.passes.fuse_expand_depthwise import fuse_expand_depthwise
from tvm_tinytrain.passes.memory_analysis import analyze
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import op_bindings
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.scheme import Scheme
from tvm_tinytrain.schemes import resolve_scheme


@pytest.fixture(scope="module")
def mcunet():
    return load_backbone("mcunet-5fps", num_classes=10)


def _fused(mod):
    return {b.layer: b for b in op_bindings(mod) if b.op == "expand_depthwise_s8"}


def test_forward_is_bit_identical(mcunet):
    mod, params = to_relax(mcunet, params_as_inputs=True)
    fused = fuse_expand_depthwise(mod)
    layers = _fused(fused)
    depthwise = [b for b in op_bindings(mod) if b.op == "conv2d_s8" and b.attrs["groups"] > 1]
    assert len(layers) == len(depthwise) - 1  # all but blocks.0, which has no expansion
    b = layers["blocks.1.pointwise1+blocks.1.depthwise"]
    assert b.attrs["expand"]["conv_index"] == 3 and b.attrs["depthwise"]["groups"] == 32
    assert [int(s) for s in b.var.ty.shape] == [1, 32, 32, 32]
    run = _tvm.build(fused)
    pixels, _ = load_cifar10("test", per_class=1)
    for p in pixels[:2]:
        x = to_int8_input(resize_to(p, 128))
        np.testing.assert_array_equal(run(x[None], *params.values()).reshape(-1), run_int8(mcunet, x).reshape(-1))


def test_trained_layers_and_gradients_through_stay_apart(mcunet):
    scheme = Scheme("t", bias=("blocks.2.depthwise",), weights={"blocks.4.pointwise1": 24})
    mod = build_training(mcunet, scheme, stop_after="sgd_update").mod
    layers = _fused(fuse_expand_depthwise(mod))
    # blocks.2 and blocks.4 are trained, and a gradient flows through every block above blocks.2
    assert set(layers) == {"blocks.1.pointwise1+blocks.1.depthwise"}
    # nothing to fuse: the module comes back as it is
    full = build_training(mcunet, resolve_scheme("full", mcunet), stop_after="sgd_update").mod
    assert fuse_expand_depthwise(full) is full


def test_memory_sees_the_scratch_not_the_expansion(mcunet):
    mod = build_training(mcunet, resolve_scheme("paper-100kb", mcunet), stop_after="sgd_update").mod
    before, after = analyze(mod), analyze(fuse_expand_depthwise(mod))
    assert any(t.name == "blocks_1_pointwise1_out" and t.bytes == 32 * 64 * 64 for t in before.tensors)
    assert not any(t.op == "conv2d_s8" and t.layer == "blocks.1.pointwise1" for t in after.tensors)
    scratch = [t for t in after.tensors if t.name.endswith("_scratch") and t.layer.startswith("blocks.1.")]
    assert [(t.bytes, t.birth == t.death) for t in scratch] == [(64 * 64, True)]
    at = {layer: i for i, (_, layer) in enumerate(before.ops)}["blocks.1.pointwise1"]
    fused_at = {layer: i for i, (_, layer) in enumerate(after.ops)}["blocks.1.pointwise1+blocks.1.depthwise"]
    assert before.live[at] - after.live[fused_at] == 32 * 64 * 64 - 32 * 32 * 32 - 64 * 64  # expanded - out - scratch
