"""inplace_depthwise: a depthwise conv whose input has no other reader becomes depthwise_inplace_s8,
same values (TVM build == numpy reference, bit for bit); its output takes its input's buffer in the
memory analysis (also when smaller, stride 2), plus a one-channel scratch; an input read twice (a
trained depthwise weight) keeps the conv as it is."""
import numpy as np
import pytest

from tvm_tinytrain import _tvm
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import resize_to, to_int8_input
from tvm_tinytrain.passes.inplace_depthwise import inplace_depthwise
from tvm_tinytrain.passes.memory_analysis import analyze
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import op_bindings
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.scheme import Scheme


@pytest.fixture(scope="module")
def mcunet():
    return load_backbone("mcunet-5fps", num_classes=10)


def _inplace(mod):
    return {b.layer for b in op_bindings(mod) if b.op == "depthwise_inplace_s8"}


def test_forward_is_bit_identical(mcunet):
    mod, params = to_relax(mcunet, params_as_inputs=True)
    after = inplace_depthwise(mod)
    assert _inplace(after) == {b.layer for b in op_bindings(mod) if b.op == "conv2d_s8" and b.attrs["groups"] > 1}
    run = _tvm.build(after)
    pixels, _ = load_cifar10("test", per_class=1)
    x = to_int8_input(resize_to(pixels[0], 128))
    np.testing.assert_array_equal(run(x[None], *params.values()).reshape(-1), run_int8(mcunet, x).reshape(-1))


def test_output_takes_the_input_buffer(mcunet):
    mod, _ = to_relax(mcunet, params_as_inputs=True)
    after = inplace_depthwise(mod)
    report = analyze(after)
    by_var = {b.var.name: b.var for b in op_bindings(after)}
    first, strided = by_var["blocks_0_depthwise_out"], by_var["blocks_1_depthwise_out"]  # stride 1, stride 2
    assert report.record_of[first].name == "first_conv_out"
    assert report.record_of[strided].name == "blocks_1_pointwise1_out"
    assert report.record_of[strided].bytes == 32 * 64 * 64  # the buffer keeps the input's size
    assert report.scratch_of[first].bytes == 64 * 64 and report.scratch_of[strided].bytes == 32 * 32
    at = [layer for _, layer in report.ops].index("blocks.0.depthwise")
    assert analyze(mod).live[at] - report.live[at] == 64 * 64 * 16 - 64 * 64  # the output less the scratch


def test_input_read_twice_stays(mcunet):
    scheme = Scheme("dw", weights={"blocks.3.depthwise": 48})  # its weight gradient reads its input
    mod = build_training(mcunet, scheme, stop_after="sgd_update").mod
    layers = _inplace(inplace_depthwise(mod))
    assert "blocks.3.depthwise" not in layers and "blocks.2.depthwise" in layers
