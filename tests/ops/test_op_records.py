"""The op records are the one declaration of each tt op: every consumer reads them, each record's
kernel files exist and hold what its C calls, and every planned scratch equals the C
`*_get_buffer_size` companion on the real shapes of the three paper backbones.  The layer kinds
name only declared tt ops and give the graph's op set, the unsupported-op text and the docs table."""
import re

import pytest

from tvm_tinytrain import graph, ops
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.codegen import emit, kernel_abi
from tvm_tinytrain.codegen.host_build import KERNEL_DIR
from tvm_tinytrain.frontend.torch import SUPPORTED_TEXT
from tvm_tinytrain.layer_kinds import LAYER_KINDS, LOSS_OPS, TABLE_PATH, supported_table, supported_text
from tvm_tinytrain.ops.registry import OVER_INPUT, PARAM, RECORDS, REUSES_INPUT, OpRecord, declare
from tvm_tinytrain.passes.chunk_depthwise_grad import chunk_depthwise_grad
from tvm_tinytrain.passes.memory_analysis import analyze
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import op_bindings
from tvm_tinytrain.quantization import lower
from tvm_tinytrain.schemes import resolve_scheme

BACKBONES = ("mcunet-5fps", "mbv2-w0.35", "proxyless-w0.3")
SCHEMES = ("paper-100kb", "full", "bias-only")


@pytest.fixture(scope="module")
def programs():
    """(name, module) of the training step and the prediction forward of each backbone and scheme."""
    out = []
    for backbone in BACKBONES:
        graph = load_backbone(backbone)
        for scheme in SCHEMES:
            program = build_training(graph, resolve_scheme(scheme, graph), chunked=None)  # every memory pass
            out.append((f"{backbone}/{scheme}", program.mod))
            if scheme == "paper-100kb":
                out.append((f"{backbone}/predict", program.predict))
            if scheme == "paper-100kb" and backbone == BACKBONES[0]:  # the strided depthwise chunks alone (a
                depthwise = [layer for layer in program.chunkable if layer.endswith("depthwise")]  # projection
                out.append((f"{backbone}/{scheme}/depthwise chunks",  # taken subsumes them)
                            build_training(graph, resolve_scheme(scheme, graph), chunked=depthwise,
                                           stop_after="reorder").mod))
                unchunked = build_training(graph, resolve_scheme(scheme, graph), stop_after="fuse_grad_update").mod
                # each reader of a chunk its own loop (where they cannot merge into one expansion backward)
                for layers in (None, depthwise):  # through the projections, and the strided depthwise layers alone
                    out.append((f"{backbone}/{scheme}/separate chunk readers of {layers or 'every layer'}",
                                chunk_depthwise_grad(unchunked, layers, merge=False)))
            if scheme == "paper-100kb" and backbone == BACKBONES[1]:  # narrowed chunks (8 x 8 maps: 8 channels, not 16)
                out.append((f"{backbone}/{scheme}/narrowed chunks",
                            build_training(graph, resolve_scheme(scheme, graph), chunked=None,
                                           narrow=program.chunkable, stop_after="reorder").mod))
    return out


def test_every_consumer_reads_the_records():
    assert ops.OPS == {name: r.builder for name, r in RECORDS.items()}
    assert emit.CALLS == {name: r.call for name, r in RECORDS.items()}
    stored = {name: r.writes for name, r in RECORDS.items() if r.writes != "new"}
    assert stored == {"sgd_s8": PARAM, "sgd_s32": PARAM, "sgd_f32": PARAM, "momentum_f32": PARAM,
                      "round_copy_s8": PARAM, "round_copy_s32": PARAM,
                      "grad_update": PARAM, "grad_update_dw_chunks": PARAM, "grad_update_pw_chunks": PARAM,
                      "chunked_update": PARAM,
                      "scale_channels": REUSES_INPUT, "mask_grad": REUSES_INPUT, "grad_add": REUSES_INPUT,
                      "depthwise_inplace_s8": OVER_INPUT, "depthwise_grad_input_inplace": OVER_INPUT,
                      "lut_s8": REUSES_INPUT, "lut_grad": REUSES_INPUT, "select_grad": REUSES_INPUT,
                      "mul_s8": REUSES_INPUT, "mul_grad_input": REUSES_INPUT, "add_s8": REUSES_INPUT,
                      "conv_dw_pw_rows_add_s8": REUSES_INPUT}


def test_a_record_is_declared_once_and_whole():
    record = RECORDS["avgpool_s8"]
    with pytest.raises(ValueError, match="declared twice"):
        declare(record)
    with pytest.raises(ValueError, match="buffer_size companion"):
        OpRecord("x", record.builder, record.call, (), scratch=lambda b: 1)
    with pytest.raises(ValueError, match="writes="):
        OpRecord("x", record.builder, record.call, (), writes="somewhere")


def test_every_kernel_file_belongs_to_a_record():
    named = {k for r in RECORDS.values() for k in r.kernels}
    assert named <= {p.name for p in KERNEL_DIR.glob("*.c")}
    assert {p.name for p in KERNEL_DIR.glob("*.c")} <= named  # no kernel without its op


def test_every_companion_is_declared_in_the_header():
    declared = kernel_abi.signatures()
    for record in RECORDS.values():
        if record.buffer_size:
            assert record.buffer_size in declared, record.name


def _defined_in(files) -> set:
    text = "".join((KERNEL_DIR / f).read_text() for f in files)
    return set(re.findall(r"^(?:int|int32_t|float|void)\s+(tt_\w+)\(", text, re.M))


def test_planned_scratch_equals_the_c_companion_on_the_backbones(programs):
    seen = set()
    for where, mod in programs:
        report = analyze(mod)
        for b in op_bindings(mod):
            record = RECORDS[b.op]
            if not record.scratch:
                assert b.var not in report.scratch_of
                continue
            planned = report.scratch_of[b.var].bytes  # what memory_analysis gives the planner
            c_bytes = kernel_abi.call(record.buffer_size, *record.buffer_size_args(b))
            assert planned == c_bytes, f"{where}: {b.op} of {b.layer}"
            seen.add(b.op)
    assert seen == {n for n, r in RECORDS.items() if r.scratch}  # every op with scratch was checked


def test_the_c_of_every_op_calls_only_its_kernels(programs):
    """Each call template, on real bindings, calls kernels defined in its record's files."""
    for where, mod in programs:
        for b in op_bindings(mod):
            record = RECORDS[b.op]
            args = [f"a{i}" for i in range(len(b.args))] + (["scratch"] if record.scratch else [])
            called = set(re.findall(r"\b(tt_[a-z0-9_]+)\(", record.call(b, args, "out")))
            assert called <= _defined_in(record.kernels), f"{where}: {b.op} calls {called}"


def test_layer_kinds_name_only_declared_tt_ops_and_cover_all():
    used = {t for kind in LAYER_KINDS for t in kind.tt_ops} | set(LOSS_OPS)
    assert used == set(RECORDS)  # every tt op belongs to a layer kind (or the loss), and exists
    assert all(kind.forward in kind.tt_ops for kind in LAYER_KINDS)
    assert graph.OPS == tuple(k.op for k in LAYER_KINDS)
    assert lower.OP_OF == {k.op: k.forward for k in LAYER_KINDS}


def test_the_unsupported_op_message_lists_the_layer_kinds():
    assert SUPPORTED_TEXT == supported_text()
    for kind in LAYER_KINDS:
        assert kind.layers in SUPPORTED_TEXT


def test_the_supported_layers_table_is_up_to_date():
    assert TABLE_PATH.read_text() == supported_table(), "run: python -m tvm_tinytrain.layer_kinds"
