"""chunk_depthwise_grad: a strided depthwise conv's input gradient taken a chunk of channels at a time by each
reader (the expansion's bias gradient, input gradient, weight gradient + update).  On a small net whose
expansion trains and passes its gradient down (tests/block_cnn.py): the C the same floats and integers bit for
bit as the unchunked C, TVM the same values, the C == TVM, QEMU's M7 == the host; the chunk rule equals its C;
on MCUNet paper-100kb the plan's peak falls.  Through the projection (its weight frozen, the depthwise conv at
stride 2 or 1): the same oracles, and MCUNet paper-100kb under a 150 KB budget fits it."""
import numpy as np
import pytest
import torch
from torch import nn

from tests.block_cnn import EXPAND_SPLIT, EXPAND_TRAINED, PROJECTION_FROZEN, quantized_block_cnn
from tests.device_equals_host import device_equals_host
from tests.three_way import c_matches_relax
from tvm_tinytrain import _tvm
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.codegen import templates_expansion_backward
from tvm_tinytrain.codegen import kernel_abi
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.codegen.templates_memory import (DW_GRAD_CHUNK_BYTES, NARROW_CHUNK_BYTES, _chunk_floats,
                                                    dw_chunk_channels)
from tvm_tinytrain.compiler import DEVICE_RESERVE, memory_passes, static_sram
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models._random import randomize_
from tvm_tinytrain.models.mobilenetv2 import conv_bn
from tvm_tinytrain.passes import chunk_depthwise_grad as chunk_pass
from tvm_tinytrain.passes.chunk_depthwise_grad import candidates
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import main_attr, op_bindings
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.scheme import Scheme
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.qemu import toolchain_missing

# every reader of a chunk in one loop (passes/expansion_backward_chunks.py): none of the separate reader ops is left
CHUNKED = {"expansion_backward_dw_chunks", "chunked_update"}
THROUGH = {"expansion_backward_pw_chunks", "chunked_update"}
SEPARATE = {f"{reader}_{via}_chunks" for reader in ("bias_grad", "conv2d_grad_input", "grad_update") for via in ("dw", "pw")}


@pytest.fixture(scope="module")
def net():
    return quantized_block_cnn()


@pytest.fixture(scope="module")
def net_stride_1():
    return quantized_block_cnn(stride=1)


def _ops(program):
    return {b.op for b in op_bindings(program.mod)}


def _host_run(program, samples, folder):
    write_project(generate(program), folder)
    return HostProgram(folder).run([(TRAIN, label, x) for x, label in samples])


def _same_runs(runs):
    """Two host runs' losses and parameters, bit for bit."""
    (losses, params, error), (losses_c, params_c, error_c) = runs
    assert error == error_c == 0
    assert np.array_equal(np.asarray(losses, np.float32), np.asarray(losses_c, np.float32))
    assert params.keys() == params_c.keys() and all(np.array_equal(params[n], params_c[n]) for n in params)


def _same_tvm_step(whole, chunked, sample):
    """TVM's step of both programs on `sample`: the loss and every update, bit for bit."""
    (x, label), params = sample, whole.params

    def step(program):
        names = [p.name for p in program.mod["main"].params[5:]]
        return _tvm.build(program.mod)(x[None], np.array(label, np.int32), np.float32(0.05), np.float32(0.1),
                                       np.uint32(3), *(params[n] for n in names))

    for name, a, b in zip(["loss", *main_attr(whole.mod, "tt.updates")], step(whole), step(chunked)):
        assert np.array_equal(np.asarray(a), np.asarray(b)), name


@pytest.mark.slow
@pytest.mark.parametrize("scheme", [EXPAND_TRAINED, EXPAND_SPLIT], ids=lambda s: s.name)
def test_the_chunked_c_equals_the_whole_c_bit_for_bit(net, tmp_path, scheme):
    graph, samples = net
    runs = []
    for chunked in ([], None):
        program = build_training(graph, scheme, chunked=chunked)
        assert program.chunked == ([] if chunked == [] else ["block.1.0"])
        assert bool(CHUNKED & _ops(program)) == (chunked is None) and (CHUNKED <= _ops(program)) == (chunked is None)
        assert not SEPARATE & _ops(program)
        runs.append(_host_run(program, samples, tmp_path / f"chunked_{chunked is None}"))
    _same_runs(runs)


@pytest.mark.slow
def test_tvm_gives_the_same_values(net):
    graph, samples = net
    whole, chunked = (build_training(graph, EXPAND_TRAINED, chunked=c, stop_after="reorder") for c in ([], None))
    assert candidates(whole.mod) == ["block.1.0"]
    assert not [b for b in op_bindings(chunked.mod) if b.op == "conv2d_grad_input" and b.layer == "block.1.0"]
    _same_tvm_step(whole, chunked, samples[0])


@pytest.mark.slow
@pytest.mark.parametrize("scheme", [EXPAND_TRAINED, EXPAND_SPLIT], ids=lambda s: s.name)
def test_the_chunked_c_matches_tvm(net, tmp_path, scheme):
    graph, samples = net
    program = build_training(graph, scheme, chunked=None)
    assert program.chunked == ["block.1.0"]
    write_project(generate(program), tmp_path)
    c_matches_relax(graph, scheme, samples, tmp_path)  # that C against TVM's step (the same values either way)


@pytest.mark.slow
@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("scheme", [EXPAND_TRAINED, EXPAND_SPLIT], ids=lambda s: s.name)
def test_the_chunked_c_on_cortex_m7_equals_host(net, tmp_path, scheme):
    graph, samples = net
    write_project(generate(build_training(graph, scheme, chunked=None)), tmp_path)
    requests = [(TRAIN, label, x) for x, label in samples[:3]] + [(PREDICT, 0, samples[3][0])]
    device_equals_host(tmp_path, requests, timeout=120)


def _through(stride, net, net_stride_1):
    return net if stride == 2 else net_stride_1


@pytest.mark.slow
@pytest.mark.parametrize("stride", [2, 1])
def test_through_the_projection_the_c_equals_the_whole_c_bit_for_bit(net, net_stride_1, tmp_path, stride):
    """The projection's input gradient, the depthwise gradient and the depthwise bias gradient a chunk at a time:
    the same losses and parameters bit for bit as the unchunked C."""
    graph, samples = _through(stride, net, net_stride_1)
    whole = build_training(graph, PROJECTION_FROZEN, chunked=[])
    chunked = build_training(graph, PROJECTION_FROZEN, chunked=["block.2.0"])
    assert chunked.chunkable == (["block.2.0", "block.1.0"] if stride == 2 else ["block.2.0"])  # projections first
    assert chunked.chunked == ["block.2.0"] and THROUGH <= _ops(chunked)
    assert not SEPARATE & _ops(chunked) and "expansion_backward_dw_chunks" not in _ops(chunked)
    assert not [b for b in op_bindings(chunked.mod) if b.op.startswith("conv2d_grad_input") and b.layer == "block.2.0"]
    _same_runs([_host_run(p, samples, tmp_path / name) for p, name in ((whole, "whole"), (chunked, "chunked"))])


def _widths(program) -> set:
    """The channels a chunk of each `*_chunks` op takes (1 x 1 depthwise bias readers aside)."""
    return {_chunk_floats(b)[0] for b in op_bindings(program.mod) if b.op.endswith("_chunks")}


@pytest.mark.slow
@pytest.mark.parametrize("stride", [2, 1])
@pytest.mark.parametrize("scheme, layer", [(EXPAND_TRAINED, "block.1.0"), (PROJECTION_FROZEN, "block.2.0")],
                         ids=["depthwise", "projection"])
def test_the_chunks_width_changes_no_value(net, net_stride_1, tmp_path, monkeypatch, stride, scheme, layer):
    """Every channel in one chunk, and narrowed chunks of 8 channels (the budget's smaller scratch): the same losses
    and parameters bit for bit as the unchunked C (the 1x1 input gradient adds each chunk's terms in order, whatever
    the width); the narrowed scratch is the smaller."""
    graph, samples = _through(stride, net, net_stride_1)
    if layer not in build_training(graph, scheme, stop_after="chunk_depthwise_grad").chunkable:
        pytest.skip(f"{layer} is no candidate at stride {stride}")
    monkeypatch.setattr(chunk_pass, "DW_GRAD_CHUNK_BYTES", 1 << 20)  # the default width: every channel at once
    whole, wide, narrow = (build_training(graph, scheme, chunked=c, narrow=n)
                           for c, n in (([], []), ([layer], []), ([layer], [layer])))
    assert narrow.narrow == [layer] and _widths(narrow) == {8} and 36 in _widths(wide)
    scratch = {p.mod: sum(t.bytes for t in p.memory.tensors if t.name.endswith("_scratch") and t.op.endswith("_chunks"))
               for p in (wide, narrow)}
    assert scratch[narrow.mod] < scratch[wide.mod]
    runs = {name: _host_run(p, samples, tmp_path / name) for p, name in ((whole, "whole"), (wide, "wide"),
                                                                        (narrow, "narrow"))}
    _same_runs([runs["whole"], runs["wide"]])
    _same_runs([runs["whole"], runs["narrow"]])


@pytest.mark.slow
@pytest.mark.parametrize("scheme, layer", [(EXPAND_TRAINED, "block.1.0"), (PROJECTION_FROZEN, "block.2.0")],
                         ids=["depthwise", "projection"])
def test_narrowed_chunks_of_two_channels_change_no_value(tmp_path, scheme, layer):
    """On an even map (the depthwise conv 8 x 8 -> 4 x 4) a narrowed chunk is 2 channels, fewer than 8 (their mask
    bits are whole bytes at both sizes): the same losses and parameters bit for bit as the unchunked C."""
    graph, samples = quantized_block_cnn(shape=(3, 16, 16))
    whole, narrow = (build_training(graph, scheme, chunked=c, narrow=c) for c in ([], [layer]))
    assert narrow.narrow == [layer] and _widths(narrow) == {2}
    _same_runs([_host_run(p, samples, tmp_path / name) for p, name in ((whole, "whole"), (narrow, "narrow"))])


@pytest.mark.slow
@pytest.mark.parametrize("stride", [2, 1])
def test_through_the_projection_tvm_gives_the_same_values_and_the_c_matches_it(net, net_stride_1, tmp_path, stride):
    graph, samples = _through(stride, net, net_stride_1)
    whole, chunked = (build_training(graph, PROJECTION_FROZEN, chunked=c, stop_after="reorder")
                      for c in ([], ["block.2.0"]))
    _same_tvm_step(whole, chunked, samples[0])
    write_project(generate(build_training(graph, PROJECTION_FROZEN, chunked=["block.2.0"])), tmp_path)
    c_matches_relax(graph, PROJECTION_FROZEN, samples, tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("stride", [2, 1])
def test_through_the_projection_the_c_on_cortex_m7_equals_host(net, net_stride_1, tmp_path, stride):
    graph, samples = _through(stride, net, net_stride_1)
    write_project(generate(build_training(graph, PROJECTION_FROZEN, chunked=None)), tmp_path)
    requests = [(TRAIN, label, x) for x, label in samples[:3]] + [(PREDICT, 0, samples[3][0])]
    device_equals_host(tmp_path, requests, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_a_budget_build_on_cortex_m7_equals_host(tmp_path):
    """MbV2 paper-100kb under a 120 KB budget (a strided depthwise layer and seven projections chunked, some
    narrowed, each one's chunk readers in one expansion backward): QEMU M7 == the host bit for bit."""
    graph = load_backbone("mbv2-w0.35", num_classes=10)
    program = memory_passes(graph, resolve_scheme("paper-100kb", graph), 120 * 1024)
    assert len(program.chunked) > 1 and program.narrow
    assert {"expansion_backward_dw_chunks", *THROUGH} <= _ops(program) and not SEPARATE & _ops(program)
    write_project(generate(program), tmp_path)
    images = np.random.default_rng(7).integers(-128, 128, (3, *graph.input_shape), dtype=np.int8)
    requests = [(TRAIN, label, x) for label, x in enumerate(images[:2])] + [(PREDICT, 0, images[2])]
    device_equals_host(tmp_path, requests, timeout=600)


def test_the_chunk_rule_equals_the_c_companion():
    for c, h, w in ((240, 8, 8), (36, 11, 9), (192, 16, 16), (5, 40, 40), (64, 1, 3), (36, 6, 5), (96, 6, 6)):
        for size in (DW_GRAD_CHUNK_BYTES, NARROW_CHUNK_BYTES):
            assert dw_chunk_channels(c, h * w, size) == kernel_abi.call("tt_depthwise_grad_chunk_channels", (c, h, w),
                                                                        size)
            for mid in (h * w, (h + 1) // 2 * ((w + 1) // 2)):  # a projection's stage at stride 1 or 2
                assert dw_chunk_channels(c, h * w, size, mid) == kernel_abi.call("tt_dw_chunk_channels", (c, h, w),
                                                                                 mid, size)
    assert dw_chunk_channels(240, 64) == 16 and dw_chunk_channels(240, 64, NARROW_CHUNK_BYTES) == 2
    # fewer than 8 channels only as many as keep each chunk's mask on a byte: 4 x 30 bits, 8 x 99, 4 x 9 at stride 2
    assert dw_chunk_channels(36, 30, NARROW_CHUNK_BYTES) == 4 and dw_chunk_channels(36, 99, NARROW_CHUNK_BYTES) == 8
    assert dw_chunk_channels(96, 36, NARROW_CHUNK_BYTES) == 2 and dw_chunk_channels(96, 36, NARROW_CHUNK_BYTES, 9) == 8


def test_mcunet_paper_100kb_fits_a_150k_budget_through_the_projection():
    """The budget takes blocks.10's projection input gradient (through it, its strided depthwise layer's too),
    then blocks.9's (a stride-1 block: the depthwise alone could not help), and the step fits 150 KB of static SRAM
    (the budget bounds the device's peak: the stack and the firmware's own RAM on top); the peak is elsewhere."""
    graph = load_backbone("mcunet-5fps", num_classes=10)  # as `plan` and the benchmarks load it
    program = memory_passes(graph, resolve_scheme("paper-100kb", graph), 150 * 1024 + DEVICE_RESERVE)
    assert program.chunked == ["blocks.10.pointwise2", "blocks.9.pointwise2"]
    assert static_sram(program) <= 150 * 1024
    peak = program.memory.ops[program.memory.peak_op][1]
    assert "blocks.9" not in peak and "blocks.10" not in peak


class ResidualCNN(nn.Module):
    """A stem, a stride-1 inverted bottleneck with a residual add (12 -> 36 -> 36 -> 12 channels on 8 x 8), pooling,
    a classifier."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 8, 3, 2), conv_bn(8, 12, 1, relu6=False))
        self.block = nn.Sequential(conv_bn(12, 36, 1), conv_bn(36, 36, 3, 1, groups=36),
                                   conv_bn(36, 12, 1, relu6=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(12, 5)

    def forward(self, x):
        h = self.stem(x)
        return self.classifier(self.pool(h + self.block(h)).flatten(1))


# the projection frozen, the expansion and every bias trained, the stem's too: the block's output gradient goes to
# the projection (through its clamp mask) and, past the expansion's backward, down the residual path (grad_add)
RESIDUAL = Scheme("residual", bias=("stem.1.0", "block.0.0", "block.1.0", "block.2.0", "classifier"),
                  weights={"block.0.0": 12, "classifier": 12})


@pytest.fixture(scope="module")
def residual_net():
    """(int8 graph, [(int8 sample, label)] x 4) of ResidualCNN, calibrated on samples a third as large as the ones
    it trains on, so the projection's output saturates (its clamp mask has zeros) on each of those."""
    samples = np.random.default_rng(5).normal(0, 1.2, (20, 3, 16, 16)).astype(np.float32)
    samples[:16] *= 0.3
    model = randomize_(ResidualCNN(), seed=2)
    graph = quantize(to_graph(from_torch(model, torch.from_numpy(samples[:1]))), list(samples[:16]), progress=False)
    return graph, [(quantize_input(graph, s)[0], i % 5) for i, s in enumerate(samples[16:])]


def test_a_residual_projection_reads_its_output_gradient_through_its_mask(residual_net):
    """The expansion's backward and its updates take the block's output gradient and the projection's clamp mask,
    not the masked copy, which only the projection's bias gradient reads; the clamp is active on the samples (so a
    masked gradient the C ignored would change the step: the slow tests below)."""
    graph, samples = residual_net
    program = build_training(graph, RESIDUAL, chunked=["block.2.0"], stop_after="reorder")
    made = {b.var: b for b in op_bindings(program.mod)}
    (op,) = [b for b in made.values() if b.op == "expansion_backward_pw_chunks"]
    source, mask = op.args[op.attrs["at"]], op.args[op.attrs["source_mask"]]
    assert {b.op for b in made.values() if source in b.args} == {"mask_grad", op.op, "chunked_update", "grad_add"}
    assert made[mask].op == "clamp_mask" and made[mask].layer == "block.2.0"
    updates = [b for b in made.values() if b.op == "chunked_update"]
    assert len(updates) == 3 and all(b.args[-1].same_as(mask) and "source_mask" in b.attrs for b in updates)
    (masked,) = [b for b in made.values() if b.op == "mask_grad" and b.layer == "block.2.0"]
    assert [b.op for b in made.values() if masked.var in b.args] == ["bias_grad"]
    (layer,) = [layer for layer in graph.layers if layer.name == "block.2.0"]
    lo, hi = layer.attrs.get("act_min", -128), layer.attrs.get("act_max", 127)
    for x, _ in samples:
        y = run_int8(graph, x, return_all=True)["block.2.0"]
        assert 0 < ((y <= lo) | (y >= hi)).sum() < y.size / 4
    # no residual path (BlockCNN): the masked gradient takes its input's buffer, the op reads it as before
    block_graph, _ = quantized_block_cnn(stride=1)
    plain = build_training(block_graph, PROJECTION_FROZEN, chunked=["block.2.0"], stop_after="reorder")
    assert not [b for b in op_bindings(plain.mod) if "source_mask" in b.attrs]


@pytest.mark.slow
def test_through_the_mask_the_c_equals_the_whole_c_and_tvm(residual_net, tmp_path):
    """Chunked through the projection, whole and narrowed (2-channel chunks; a block of masked gradient of the
    fewest whole mask bytes), the C == the unchunked C bit for bit; TVM chunked == unchunked, the C == TVM."""
    graph, samples = residual_net
    whole = build_training(graph, RESIDUAL, chunked=[])
    wide, narrow = (build_training(graph, RESIDUAL, chunked=["block.2.0"], narrow=n) for n in ([], ["block.2.0"]))
    for program in (wide, narrow):
        assert [b.attrs.get("source_mask") is not None for b in op_bindings(program.mod)
                if b.op == "expansion_backward_pw_chunks"] == [True]
    assert _widths(narrow) == {2}
    runs = {name: _host_run(p, samples, tmp_path / name) for p, name in ((whole, "whole"), (wide, "wide"),
                                                                        (narrow, "narrow"))}
    _same_runs([runs["whole"], runs["wide"]])
    _same_runs([runs["whole"], runs["narrow"]])
    _same_tvm_step(*(build_training(graph, RESIDUAL, chunked=c, stop_after="reorder") for c in ([], ["block.2.0"])),
                   samples[0])
    write_project(generate(wide), tmp_path / "c")
    c_matches_relax(graph, RESIDUAL, samples, tmp_path / "c")


@pytest.mark.slow
@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_through_the_mask_the_c_on_cortex_m7_equals_host(residual_net, tmp_path):
    graph, samples = residual_net
    write_project(generate(build_training(graph, RESIDUAL, chunked=["block.2.0"])), tmp_path)
    requests = [(TRAIN, label, x) for x, label in samples[:3]] + [(PREDICT, 0, samples[3][0])]
    device_equals_host(tmp_path, requests, timeout=120)
