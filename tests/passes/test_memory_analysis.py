"""memory_analysis: the live bytes of every op, checked by hand on a small module and by an
independent event simulation (allocate at the producer, free after the last use) on real
training graphs; masks are bits, updates are in place, sliced weights count their slice."""
import json

import numpy as np
import pytest

from tvm_tinytrain import ops
from tvm_tinytrain._tvm import relax, tensor_type
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import to_float_input
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models.tiny_resnet import build
from tvm_tinytrain.passes.memory_analysis import analyze, format_report, scratch_bytes
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.training_graph import op_bindings, result_fields
from tvm_tinytrain.quantization.ptq import quantize
from tvm_tinytrain.scheme import Scheme
from tvm_tinytrain.schemes import resolve_scheme

ITEM = {"int8": 1, "uint8": 1, "int32": 4, "uint32": 4, "float32": 4, "int64": 8}


@pytest.fixture(scope="module")
def tiny():
    pixels, _ = load_cifar10("test", per_class=1)
    model, example = build()
    return quantize(to_graph(from_torch(model, example)), list(to_float_input(pixels[:8])), progress=False)


def _bytes(ty) -> int:
    n = 1
    for s in ty.shape:
        n *= int(s)
    return -(-n // 8) if str(ty.dtype) == "bool" else n * ITEM[str(ty.dtype)]


def _simulate(mod) -> list[int]:
    """Live bytes at each op: buffers allocated at their producer (the sample before op 0),
    freed after the last use of the value that owns them (what main returns is used by the
    end of the step); updates allocate nothing; an element-wise op whose first input dies at
    it takes that input's buffer if the sizes match, an in-place depthwise op if not larger;
    an op's scratch is live at that op only."""
    bindings = op_bindings(mod)
    last = {}
    for i, b in enumerate(bindings):
        for a in b.args:
            last[a] = i
    for out in result_fields(mod):
        last[out] = len(bindings) - 1
    sample = mod["main"].params[0]
    born = {sample: 0}
    buffers = {0: _bytes(sample.ty)}  # buffer id -> bytes
    owner_of = {0: sample}              # buffer id -> the value it holds now
    buffer_of = {sample: 0}
    live = []
    for i, b in enumerate(bindings):
        born[b.var] = i
        if b.op not in ("sgd_s8", "sgd_s32", "sgd_f32", "grad_update"):
            size = _bytes(b.var.ty)
            first = b.args[0]
            in_place = b.op in ("depthwise_inplace_s8", "depthwise_grad_input_inplace")
            if (b.op in ("scale_channels", "mask_grad", "grad_add", "add_s8", "conv_dw_pw_rows_add_s8") or in_place) \
                    and first in buffer_of \
                    and last.get(first) == i and (buffers[buffer_of[first]] == size
                                                  or in_place and size <= buffers[buffer_of[first]]):
                owner_of[buffer_of[first]] = b.var
                buffer_of[b.var] = buffer_of[first]
            else:
                buffers[i + 1], owner_of[i + 1], buffer_of[b.var] = size, b.var, i + 1
        live.append(sum(buffers.values()) + scratch_bytes(b))
        for buf in [k for k, v in owner_of.items() if last.get(v, born[v]) == i]:
            del buffers[buf], owner_of[buf]
    return live


def _hand_module():
    """main(y int8 (1,3,3,3), g f32, lr f32 | conv.bias int32 (3,)):

        0  m = clamp_mask(y)         m 4 B (27 bits); y (27 B) dies here          31
        1  d = mask_grad(g, m)       d 108 B (g is an input, not in the arena)   112
        2  e = mask_grad(d, m)       d dies here: e takes d's buffer; m dies     112
        3  r = bias_grad(e)          r 12 B; e dies                               120  peak
        4  s = scale_channels(r, c)  r is used again: s gets its own 12 B          24
        5  t = grad_add(r, s)        r dies here: t takes r's buffer; s dies       24
        6  sgd_s32(conv.bias, t, lr) in place: allocates nothing; t dies          12
    """
    y = relax.Var("y", tensor_type((1, 3, 3, 3), "int8"))
    g = relax.Var("g", tensor_type((1, 3, 3, 3), "float32"))
    lr = relax.Var("lr", tensor_type((), "float32"))
    bias = relax.Var("conv.bias", tensor_type((3,), "int32"))
    bb = relax.BlockBuilder()
    with bb.function("main", [y, g, lr, bias], attrs={"num_input": 3}):
        with bb.dataflow():
            m = ops.call(bb, "clamp_mask", [y], {"act_min": -100, "act_max": 100}, label="conv", role="mask")
            d = ops.call(bb, "mask_grad", [g, m], {}, label="conv", role="d")
            e = ops.call(bb, "mask_grad", [d, m], {}, label="conv", role="e")
            r = ops.call(bb, "bias_grad", [e], {}, label="conv", role="r")
            s = ops.call(bb, "scale_channels", [r, relax.const(np.ones(3, np.float32), "float32")], {},
                         label="conv", role="s")
            t = ops.call(bb, "grad_add", [r, s], {}, label="conv", role="t")
            new = ops.call(bb, "sgd_s32", [bias, t, lr], {"limit": 1000}, label="conv", role="bias_new")
            out = bb.emit_output(relax.Tuple([new]))
        bb.emit_func_output(out)
    return bb.get()


def test_hand_checked_module():
    report = analyze(_hand_module())
    assert report.live == [31, 112, 112, 120, 24, 24, 12]
    assert report.peak_bytes == 120 and report.peak_op == 3
    sizes = {t.name: (t.bytes, t.birth, t.death) for t in report.tensors}
    assert sizes == {"y": (27, 0, 0), "conv_mask": (4, 0, 2), "conv_d": (108, 1, 3), "conv_r": (12, 3, 6),
                     "conv_s": (12, 4, 5)}
    assert report.param_bytes == 12 and report.updated_param_bytes == 0
    assert _simulate(_hand_module()) == report.live
    assert "peak live bytes 120 at op 3" in format_report(report)


@pytest.mark.parametrize("spec", ["bias-only", "last-2", "full",
                                  {"name": "sliced", "n_bias_update": 3, "weight_layers": ["layer2.conv2"],
                                   "weight_ratios": [0.25]}])
@pytest.mark.parametrize("stop_after", ["quantized_autodiff", "sgd_update", "reorder"])
def test_tiny_training_graph_matches_independent_simulation(tiny, spec, stop_after):
    program = build_training(tiny, resolve_scheme(spec, tiny), stop_after=stop_after)
    report = program.memory
    live = _simulate(program.mod)
    assert report.live == live
    assert report.peak_bytes == max(live) and report.peak_op == live.index(max(live))
    # the peak is at least the sample plus the largest single tensor of any op
    bindings = op_bindings(program.mod)
    assert report.peak_bytes >= max(_bytes(b.var.ty) for b in bindings if not b.op.startswith("sgd_"))
    assert len(report.ops) == len(bindings)


@pytest.mark.parametrize("return_grads", [False, True])
def test_backbone_matches_independent_simulation(return_grads):
    graph = load_backbone("mcunet-5fps", num_classes=10)
    program = build_training(graph, resolve_scheme("paper-100kb", graph), return_grads=return_grads)
    live = _simulate(program.mod)
    assert program.memory.live == live and program.memory.peak_bytes == max(live)


def test_masks_are_bits_and_updates_allocate_nothing(tiny):
    program = build_training(tiny, resolve_scheme("full", tiny))
    report = program.memory
    by_name = {b.var.name: b for b in op_bindings(program.mod)}
    masks = [t for t in report.tensors if t.op == "clamp_mask"]
    assert masks
    for t in masks:
        n = int(np.prod([int(s) for s in by_name[t.name].var.ty.shape]))
        assert str(by_name[t.name].var.ty.dtype) == "bool"
        assert t.bytes == -(-n // 8)
    assert not [t for t in report.tensors if t.op.startswith("sgd_")]
    assert not [t for t in report.tensors if t.op == "grad_update" and not t.name.endswith("_scratch")]
    updates = [i for i, (op, _) in enumerate(report.ops) if op.startswith("sgd_") or op == "grad_update"]
    assert len(updates) == len(program.updated)


def test_updated_param_bytes(tiny):
    # a sliced dense 3x3 conv: O * k * kh * kw int8, plus its int32 bias
    scheme = Scheme("slice", bias=("layer2.conv2",), weights={"layer2.conv2": 8})
    report = build_training(tiny, scheme, stop_after="sgd_update").memory
    assert report.updated_param_bytes == 32 * 8 * 3 * 3 + 32 * 4
    whole = sum(v.nbytes for layer in tiny.weight_layers() for k, v in layer.params.items() if k in ("weight", "bias"))
    assert report.param_bytes == whole
    # an fp32 classifier: float32 weight and bias
    scheme = Scheme("fp32-head", bias=("classifier",), weights={"classifier": 32}, fp32_classifier=True)
    report = build_training(tiny, scheme).memory
    assert report.updated_param_bytes == 4 * 10 * 32 + 4 * 10
    assert report.param_bytes == whole + (4 - 1) * 10 * 32  # int8 weight -> f32 (int32 bias -> f32: same size)


def test_updated_param_bytes_depthwise_slice():
    graph = load_backbone("mcunet-5fps", num_classes=10)
    dw = [layer for layer in graph.weight_layers() if layer.op == "conv2d" and layer.attrs["groups"] > 1][-1]
    c, _, kh, kw = dw.params["weight"].shape
    k = c // 4
    report = build_training(graph, Scheme("dw", weights={dw.name: k}), stop_after="sgd_update").memory
    assert report.updated_param_bytes == k * 1 * kh * kw


def test_to_json(tiny):
    report = build_training(tiny, resolve_scheme("last-2", tiny)).memory
    data = json.loads(json.dumps(report.to_json()))
    assert data["peak_bytes"] == report.peak_bytes == max(op["live_bytes"] for op in data["ops"])
    assert data["ops"][data["peak_op"]]["live_bytes"] == data["peak_bytes"]
    assert data["updated_param_bytes"] == report.updated_param_bytes
    assert sum(t["bytes"] for t in data["tensors"] if t["birth"] <= data["peak_op"] <= t["death"]) \
        == data["peak_bytes"]


def test_a_residual_add_writes_over_its_dying_first_input(tiny, monkeypatch):
    """tt_add_s8 reads a[i] and b[i] before it writes y[i] (its one loop, no other index): where its first input
    has no later reader (frozen blocks: nothing in the backward keeps it) the sum takes that input's buffer."""
    import dataclasses

    from tvm_tinytrain.ops.registry import NEW, RECORDS

    program = build_training(tiny, resolve_scheme("last-1", tiny))
    for mod in (program.mod, program.predict):
        report, bindings, last = analyze(mod), op_bindings(mod), {}
        for i, b in enumerate(bindings):
            last.update({a: i for a in b.args})
        dying = [b for i, b in enumerate(bindings) if b.op == "add_s8" and last[b.args[0]] == i]
        assert dying and all(report.record_of[b.var] is report.record_of[b.args[0]] for b in dying)
        monkeypatch.setitem(RECORDS, "add_s8", dataclasses.replace(RECORDS["add_s8"], writes=NEW))
        apart = analyze(mod)
        monkeypatch.undo()
        for b in dying:  # one buffer the less live at the add (here not at the peak: the arena is the same)
            i = bindings.index(b)
            assert report.live[i] == apart.live[i] - report.record_of[b.var].bytes


@pytest.mark.slow
def test_the_in_place_add_lowers_proxyless_prediction_arena(monkeypatch):
    """Proxyless's forward floor was blocks.2's residual add (blocks.1's output, blocks.2's and the sum, 16 KB
    each): with the sum over blocks.1's output (add_s8, and the row block with its add, conv_dw_pw_rows_add_s8,
    which the frozen residual blocks now are) the prediction's arena falls."""
    import dataclasses

    from tvm_tinytrain.codegen.emit import plan_arena
    from tvm_tinytrain.codegen.input_stream import input_path
    from tvm_tinytrain.ops.registry import NEW, RECORDS

    graph = load_backbone("proxyless-w0.3", num_classes=10)
    program = build_training(graph, resolve_scheme("paper-100kb", graph))
    path = input_path(program.predict)  # the sample in rows, the stem's output pulled by blocks.1
    assert path.chained is not None
    merged = plan_arena(program.predict, path)[1].arena_bytes
    for op in ("add_s8", "conv_dw_pw_rows_add_s8"):
        monkeypatch.setitem(RECORDS, op, dataclasses.replace(RECORDS[op], writes=NEW))
    assert merged < plan_arena(program.predict, path)[1].arena_bytes
