"""fuse_rows_residual (run by fuse_conv_dw_pw_rows): a stride-1 row block and the residual add of its input and
output become one conv_dw_pw_rows_add_s8 op whose sum takes the input's buffer: the same int8 values (TVM build ==
numpy reference, the C == TVM on the host, the QEMU M7 firmware == the host), an input with another reader left
apart, and the block's output no longer live beside its input (Proxyless blocks.2: 16 KB less)."""
import numpy as np
import pytest
import torch
from device_equals_host import device_equals_host
from three_way import c_matches_relax
from torch import nn

from tvm_tinytrain import _tvm
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models._random import randomize_
from tvm_tinytrain.models.mobilenetv2 import InvertedResidual, conv_bn
from tvm_tinytrain.passes.fuse_conv_dw_pw_rows import fuse_conv_dw_pw_rows
from tvm_tinytrain.passes.memory_analysis import analyze
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import op_bindings
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.scheme import Scheme
from tvm_tinytrain.targets.qemu import toolchain_missing

SHAPE = (3, 20, 18)
FUSED = "conv_dw_pw_rows_add_s8"
LAST = Scheme("last", bias=("classifier",), weights={"classifier": 8})


class ResidualCNN(nn.Module):
    """A stem, two stride-1 inverted residual blocks (5x5 and 3x3 depthwise, as the backbones' blocks), pooling, a
    classifier; `reread`: the first block's output is added again after the second block (another reader)."""

    def __init__(self, reread=False):
        super().__init__()
        self.stem = conv_bn(3, 8, 3, 2)
        self.blocks = nn.ModuleList([InvertedResidual(8, 24, 8, 5, 1, True), InvertedResidual(8, 16, 8, 3, 1, True)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(8, 5)
        self.reread = reread

    def forward(self, x):
        x1 = self.blocks[0](self.stem(x))
        x2 = self.blocks[1](x1)
        return self.classifier(self.pool(x2 + x1 if self.reread else x2).flatten(1))


def _graph(reread=False):
    samples = np.random.default_rng(3).normal(0, 1.2, (20, *SHAPE)).astype(np.float32)
    model = randomize_(ResidualCNN(reread), seed=4)
    graph = quantize(to_graph(from_torch(model, torch.from_numpy(samples[:1]))), list(samples[:16]), progress=False)
    return graph, [(quantize_input(graph, s)[0], i % 5) for i, s in enumerate(samples[16:])]


@pytest.fixture(scope="module")
def residual_cnn():
    return _graph()


def _fused(mod):
    return [b for b in op_bindings(mod) if b.op == FUSED]


@pytest.mark.slow  # calibration and a TVM build (~9 s); by default test_codegen_vs_relax (MCUNet) runs the op
def test_residual_blocks_become_one_op_with_the_same_values(residual_cnn):
    graph, samples = residual_cnn
    mod, params = to_relax(graph, params_as_inputs=True)
    fused = fuse_conv_dw_pw_rows(mod)
    ops = [b.op for b in op_bindings(fused)]
    assert ops.count(FUSED) == 2 and "add_s8" not in ops
    assert all(b.attrs["add"]["shift"] > 0 and b.attrs["x_is_a"] in (0, 1) for b in _fused(fused))
    run = _tvm.build(fused)
    for x, _ in samples:
        np.testing.assert_array_equal(run(x[None], *params.values()).reshape(-1), run_int8(graph, x).reshape(-1))


def test_an_input_with_another_reader_stays_apart():
    graph, _ = _graph(reread=True)
    fused = fuse_conv_dw_pw_rows(to_relax(graph, params_as_inputs=True)[0])
    assert [b.layer.split("+")[0] for b in _fused(fused)] == ["blocks.0.pointwise1.0"]  # blocks.1's input is read again
    assert [b.op for b in op_bindings(fused)].count("add_s8") == 2


def test_proxyless_forward_floor():
    """Every residual add of Proxyless-w0.3 follows a row block it can fuse with; each sum takes its input's buffer,
    so at blocks.2 the live bytes are its input and the rows' scratch (the prediction's floor was x + y + scratch,
    41,472 B)."""
    graph = load_backbone("proxyless-w0.3", num_classes=10)
    mod, _ = to_relax(graph, params_as_inputs=True)
    adds = sum(b.op == "add_s8" for b in op_bindings(mod))
    fused = fuse_conv_dw_pw_rows(mod)
    blocks = _fused(fused)
    assert len(blocks) == adds == 13 and "add_s8" not in {b.op for b in op_bindings(fused)}
    report = analyze(fused)
    for i, b in enumerate(op_bindings(fused)):
        if b.op == FUSED:
            x = report.record_of[b.args[0]]
            assert report.record_of[b.var] is x  # one buffer
            assert report.live[i] == x.bytes + report.scratch_of[b.var].bytes  # no output tensor beside x
    assert blocks[0].layer.startswith("blocks.2.") and report.scratch_of[blocks[0].var].bytes == 8704 + 16 * 32
    assert report.record_of[blocks[0].args[0]].bytes == 16 * 32 * 32


@pytest.mark.slow  # a sanitized host build and the Relax step (~30 s)
def test_c_equals_tvm_and_the_reference(residual_cnn, tmp_path):
    graph, samples = residual_cnn
    program = build_training(graph, LAST)
    assert len(_fused(program.mod)) == 2 and len(_fused(program.predict)) == 2
    write_project(generate(program), tmp_path)
    c_matches_relax(graph, LAST, samples[:3], tmp_path)  # the step (its forward through the fused blocks)
    answers, _, error = HostProgram(tmp_path).run([(PREDICT, 0, x) for x, _ in samples])
    assert error == 0
    for (x, _), logits in zip(samples, answers):
        np.testing.assert_array_equal(logits, run_int8(graph, x).reshape(-1))


@pytest.mark.slow  # one firmware (~40 s)
@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_cortex_m7_equals_host(residual_cnn, tmp_path):
    graph, samples = residual_cnn
    write_project(generate(build_training(graph, LAST)), tmp_path)
    requests = [(TRAIN, label, x) for x, label in samples[:3]] + [(PREDICT, 0, samples[3][0])]
    device_equals_host(tmp_path, requests, timeout=180)
