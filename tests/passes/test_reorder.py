"""reorder: a dependency-respecting schedule of the same ops and outputs, updates after every
other reader of their parameter, never a higher peak; bit-identical results when built."""
from collections import Counter

import numpy as np
import pytest

from tvm_tinytrain import _tvm
from tvm_tinytrain.backbones import BACKBONES, load_backbone
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import to_float_input
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models.tiny_resnet import build
from tvm_tinytrain.passes.memory_analysis import analyze
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.reorder import reorder
from tvm_tinytrain.passes.training_graph import main_attr, op_bindings, result_fields
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.schemes import resolve_scheme

SCHEMES = ["bias-only", "last-2", "paper-100kb", "full"]
SGD = ("sgd_s8", "sgd_s32", "sgd_f32", "grad_update")


@pytest.fixture(scope="module")
def graphs():
    return {name: load_backbone(name, num_classes=10) for name in BACKBONES}


def _names(mod):
    """Binding names of main; the passes keep them unique, so they identify the ops."""
    names = [b.var.name for b in op_bindings(mod)]
    assert len(set(names)) == len(names)
    return names


def _dataflow(mod):
    """op name -> (op, layer, argument names): the graph the order must respect."""
    return {b.var.name: (b.op, b.layer, tuple(getattr(a, "name", "<const>") for a in b.args))
            for b in op_bindings(mod)}


def check_schedule(before, after):
    bindings = op_bindings(after)
    params = set(after["main"].params)
    assert list(after["main"].params) == list(before["main"].params)
    # the same ops with the same arguments, only the order may differ
    assert _dataflow(after) == _dataflow(before)
    assert Counter(_names(after)) == Counter(_names(before))
    # a topological order: every argument is an input, a constant or bound earlier
    defined = set()
    for b in bindings:
        for a in b.args:
            if a in params or not hasattr(a, "name"):
                continue
            assert a.name in defined, f"{b.var.name} reads {a.name} before it is computed"
        defined.add(b.var.name)
    # in-place updates come after every other reader of their parameter
    readers = {}
    for j, b in enumerate(bindings):
        for a in b.args:
            if a in params:
                readers.setdefault(a, []).append(j)
    for i, b in enumerate(bindings):
        if b.op in SGD:
            others = [j for j in readers[b.args[0]] if j != i]
            assert others and max(others) < i, f"{b.var.name} overwrites {b.args[0].name} before a read"
    # the same outputs in the same order
    assert [v.name for v in result_fields(after)] == [v.name for v in result_fields(before)]
    for key in ("tt.grads", "tt.updates", "tt.grad_info", "num_input", "tt.qas"):
        assert main_attr(after, key) == main_attr(before, key), key


@pytest.mark.parametrize("spec", SCHEMES)
@pytest.mark.parametrize("name", BACKBONES)
def test_reorder_is_valid_and_never_raises_the_peak(name, spec, graphs):
    graph = graphs[name]
    before = build_training(graph, resolve_scheme(spec, graph), stop_after="sgd_update").mod
    after = reorder(before)
    check_schedule(before, after)
    peak_before, peak_after = analyze(before).peak_bytes, analyze(after).peak_bytes
    assert peak_after <= peak_before
    if spec == "paper-100kb" and name in ("mcunet-5fps", "proxyless-w0.3"):
        assert peak_after < peak_before
        assert _names(after) != _names(before)


def test_reorder_before_sgd_update(graphs):
    graph = graphs["mcunet-5fps"]
    before = build_training(graph, resolve_scheme("paper-100kb", graph), stop_after="qas").mod
    after = reorder(before)
    check_schedule(before, after)
    assert analyze(after).peak_bytes <= analyze(before).peak_bytes


def test_reorder_is_idempotent_in_peak(graphs):
    graph = graphs["proxyless-w0.3"]
    once = build_training(graph, resolve_scheme("paper-100kb", graph)).mod
    twice = reorder(once)
    check_schedule(once, twice)
    assert analyze(twice).peak_bytes <= analyze(once).peak_bytes


@pytest.fixture(scope="module")
def tiny():
    pixels, labels = load_cifar10("test", per_class=1)
    model, example = build()
    graph = quantize(to_graph(from_torch(model, example)), list(to_float_input(pixels[:8])), progress=False)
    return graph, quantize_input(graph, to_float_input(pixels[8])), int(labels[8])


def test_reordered_step_is_bit_identical(tiny):
    graph, x_q, label = tiny
    # a sliced 3x3 weight, the classifier, three biases (small: each TVM build takes seconds)
    spec = {"name": "mixed", "n_bias_update": 2, "weight_layers": ["layer2.conv2"], "weight_ratios": [0.25]}
    program = build_training(graph, resolve_scheme(spec, graph), stop_after="sgd_update")
    after = reorder(program.mod)
    check_schedule(program.mod, after)
    assert _names(after) != _names(program.mod)  # the schedule really changed
    assert analyze(after).peak_bytes < analyze(program.mod).peak_bytes
    names = [p.name for p in program.mod["main"].params[5:]]
    inputs = (x_q, np.array(label, np.int32), np.float32(0.05), np.float32(0.1), np.uint32(7),
              *(program.params[n] for n in names))
    out_before = _tvm.build(program.mod)(*inputs)
    out_after = _tvm.build(after)(*inputs)
    assert len(out_before) == len(out_after) == 1 + len(main_attr(after, "tt.updates"))
    for name, a, b in zip(["loss", *main_attr(after, "tt.updates")], out_before, out_after):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    # the step did update something (the comparison is not of untouched inputs)
    updated = dict(zip(main_attr(after, "tt.updates"), out_after[1:]))
    assert any(not np.array_equal(v, program.params[n]) for n, v in updated.items())
