"""quantized_autodiff and its neighbours, on the module (no TVM build): the backward is
pruned to exactly what the scheme trains.

Per backbone and scheme: one gradient op per trainable parameter and one update per
gradient; nothing for a frozen parameter; nothing but the forward below the earliest
trainable layer and no input gradient for that layer; sliced weight gradients read only
the `k` leading input channels.  Then the precondition errors of the training passes, and what
a grouped conv's `k` counts (its inputs per group) and a depthwise conv's with a channel
multiplier (its input channels, the rows they feed trained).
"""
from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from tvm_tinytrain.backbones import BACKBONES, load_backbone
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models import grouped_cnn
from tvm_tinytrain.passes.add_loss import add_loss
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.qas import qas
from tvm_tinytrain.passes.quantized_autodiff import quantized_autodiff
from tvm_tinytrain.passes.sgd_update import sgd_update
from tvm_tinytrain.passes.sparse_update import sparse_update
from tvm_tinytrain.passes.training_graph import main_attr, op_bindings, result_fields
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize
from tvm_tinytrain.scheme import Scheme
from tvm_tinytrain.schemes import resolve_scheme

SCHEMES = ["bias-only", "last-2", "paper-100kb", "full"]
FORWARD_OPS = {"conv2d_s8", "add_s8", "avgpool_s8", "maxpool_s8", "flatten"}
WEIGHT_GRADS = {"conv2d_grad_weight", "linear_grad_weight"}
INPUT_GRADS = {"conv2d_grad_input", "linear_grad_input"}
SGD_OPS = {"sgd_s8", "sgd_s32", "sgd_f32"}


@pytest.fixture(scope="module")
def graphs():
    return {name: load_backbone(name, num_classes=10) for name in BACKBONES}


@pytest.fixture(scope="module")
def programs(graphs):
    """(backbone, scheme preset) -> (graph, resolved scheme, module after sgd_update), built once."""
    cache = {}

    def get(name, spec):
        if (name, spec) not in cache:
            graph = graphs[name]
            scheme = resolve_scheme(spec, graph)
            cache[name, spec] = graph, scheme, build_training(graph, scheme, stop_after="sgd_update").mod
        return cache[name, spec]

    return get


def _trainable_names(scheme):
    return {f"{n}.bias" for n in scheme.bias} | {f"{n}.weight" for n in scheme.weights}


def _shape(expr):
    return tuple(int(s) for s in expr.ty.shape)


@pytest.mark.parametrize("spec", SCHEMES)
@pytest.mark.parametrize("name", BACKBONES)
def test_one_gradient_and_one_update_per_trainable_parameter(name, spec, programs):
    graph, scheme, mod = programs(name, spec)
    counts = Counter(b.op for b in op_bindings(mod))
    assert scheme.bias and scheme.weights  # every preset trains something of both kinds
    assert counts["bias_grad"] == len(scheme.bias)
    assert counts["conv2d_grad_weight"] + counts["linear_grad_weight"] == len(scheme.weights)
    assert sum(counts[op] for op in SGD_OPS) == len(scheme.bias) + len(scheme.weights)
    assert counts["sgd_s32"] == len(scheme.bias) and counts["sgd_s8"] == len(scheme.weights)
    # one scaled gradient per parameter (QAS folded in, no extra op)
    assert counts["scale_channels"] == len(scheme.bias) + len(scheme.weights)
    # the attributes name the same parameters
    names = _trainable_names(scheme)
    assert set(main_attr(mod, "tt.trainable")) == names
    assert set(main_attr(mod, "tt.grads")) == names
    assert list(main_attr(mod, "tt.updates")) == list(main_attr(mod, "tt.grads"))
    assert len(result_fields(mod)) == 1 + len(names)


@pytest.mark.parametrize("spec", SCHEMES)
@pytest.mark.parametrize("name", BACKBONES)
def test_no_gradient_for_a_frozen_parameter(name, spec, programs):
    graph, scheme, mod = programs(name, spec)
    params = set(mod["main"].params)
    for b in op_bindings(mod):
        if b.op in WEIGHT_GRADS:
            assert b.layer in scheme.weights, f"weight gradient of frozen {b.layer}"
        elif b.op == "bias_grad":
            assert b.layer in scheme.bias, f"bias gradient of frozen {b.layer}"
        elif b.op == "sgd_s8":
            assert b.layer in scheme.weights and b.args[0].name == f"{b.layer}.weight"
        elif b.op == "sgd_s32":
            assert b.layer in scheme.bias and b.args[0].name == f"{b.layer}.bias"
        elif b.op == "sgd_f32":
            pytest.fail("no fp32 parameter in an int8 scheme")
    # every frozen parameter is still an input, read only by the forward
    readers = Counter(a.name for b in op_bindings(mod) for a in b.args if a in params)
    for layer in graph.weight_layers():
        for kind, trained in (("weight", layer.name in scheme.weights), ("bias", layer.name in scheme.bias)):
            pname = f"{layer.name}.{kind}"
            if not trained:
                # forward conv (+ the input gradient for a weight)
                assert readers[pname] <= (2 if kind == "weight" else 1), pname


@pytest.mark.parametrize("spec", SCHEMES)
@pytest.mark.parametrize("name", BACKBONES)
def test_backward_stops_at_the_earliest_trainable_layer(name, spec, programs):
    graph, scheme, mod = programs(name, spec)
    position = {layer.name: i for i, layer in enumerate(graph.layers)}
    trained = set(scheme.bias) | set(scheme.weights)
    earliest = min(trained, key=position.__getitem__)
    below = [b for b in op_bindings(mod) if b.layer in position and position[b.layer] < position[earliest]]
    assert len(below) == position[earliest], "exactly one (forward) op per layer below the earliest"
    for b in below:
        assert b.op in FORWARD_OPS, f"{b.op} of {b.layer} below the earliest trainable layer {earliest}"
    at = [b.op for b in op_bindings(mod) if b.layer == earliest]
    assert not INPUT_GRADS & set(at), f"input gradient of the earliest trainable layer {earliest}: {at}"
    # the layer just above it does need the input gradient (the pruning is not overdone)
    if position[earliest] + 1 < len(graph.layers):
        consumers = [layer for layer in graph.layers if earliest in layer.inputs and layer.has_weights]
        for layer in consumers:
            ops_of = [b.op for b in op_bindings(mod) if b.layer == layer.name]
            assert INPUT_GRADS & set(ops_of), f"{layer.name} reads {earliest} but passes it no gradient"


def _depthwise(graph, layer_name):
    layer = graph.layer(layer_name)
    return layer.op == "conv2d" and layer.attrs["groups"] > 1


def _check_weight_grad_shapes(graph, scheme, mod):
    producers = {b.var: b for b in op_bindings(mod)}
    seen = set()
    for b in op_bindings(mod):
        if b.op not in WEIGHT_GRADS:
            continue
        seen.add(b.layer)
        layer = graph.layer(b.layer)
        k = scheme.weights[b.layer]
        w_shape = layer.params["weight"].shape
        x, d = b.args
        if b.op == "linear_grad_weight":
            assert _shape(b.var) == (w_shape[0], k)
            c_in = w_shape[1]
        elif _depthwise(graph, b.layer):
            assert _shape(b.var) == (k, 1, *w_shape[2:])
            c_in = w_shape[0]
        else:
            assert _shape(b.var) == (w_shape[0], k, *w_shape[2:])
            c_in = w_shape[1]
        source = producers.get(x)
        if k < c_in:
            assert source is not None and source.op == "channel_slice", b.layer
            assert source.attrs["k"] == k
            full = _shape(source.args[0])
            assert _shape(x) == (1, k, *full[2:]) and full[1] == c_in
        else:
            assert source is None or source.op != "channel_slice", b.layer
            assert _shape(x)[1] == c_in
    assert seen == set(scheme.weights)


@pytest.mark.parametrize("name", BACKBONES)
def test_paper_scheme_weight_gradients_read_only_k_channels(name, programs):
    graph, scheme, mod = programs(name, "paper-100kb")
    assert any(k < graph.layer(n).params["weight"].shape[1] for n, k in scheme.weights.items())
    _check_weight_grad_shapes(graph, scheme, mod)
    slices = [b for b in op_bindings(mod) if b.op == "channel_slice"]
    sliced = [n for n, k in scheme.weights.items() if k < graph.layer(n).params["weight"].shape[1]]
    assert sorted(b.layer for b in slices) == sorted(sliced)
    # the update writes exactly the slice
    for b in op_bindings(mod):
        if b.op == "sgd_s8":
            assert b.attrs["k"] == scheme.weights[b.layer]


@pytest.mark.parametrize("name", BACKBONES)
def test_depthwise_slice_gradient_shape(name, graphs):
    """Slices of a depthwise conv are leading channels (rows of (C, 1, kh, kw))."""
    graph = graphs[name]
    dws = [layer for layer in graph.weight_layers() if _depthwise(graph, layer.name)]
    dense = [layer for layer in graph.weight_layers() if layer.op == "conv2d" and layer.attrs["groups"] == 1
             and layer.params["weight"].shape[2] == 1]
    dw, pw = dws[-1], dense[-1]
    channels = dw.params["weight"].shape[0]
    scheme = Scheme("dw-slice", bias=(dw.name,), weights={dw.name: channels // 4,
                                                          pw.name: pw.params["weight"].shape[1] // 2})
    mod = build_training(graph, scheme, stop_after="sgd_update").mod
    _check_weight_grad_shapes(graph, scheme, mod)
    info = main_attr(mod, "tt.grad_info")
    assert info[f"{dw.name}.weight"]["depthwise"] == 1 and info[f"{dw.name}.weight"]["k"] == channels // 4
    assert len(info[f"{dw.name}.weight"]["step"]) == channels // 4
    w_scale = np.asarray(dw.params["w_scale"], np.float32)
    np.testing.assert_array_equal(np.float32(info[f"{dw.name}.weight"]["step"]), w_scale[:channels // 4])


# ----------------------------------------------------------------------- preconditions


@pytest.fixture(scope="module")
def stages(graphs):
    """The mcunet modules after each stage (passes only)."""
    graph = graphs["mcunet-5fps"]
    scheme = resolve_scheme("last-2", graph)
    lowered, params = to_relax(graph, params_as_inputs=True)
    loss, _ = add_loss(lowered, params)
    marked = sparse_update(loss, scheme)
    grads = quantized_autodiff(marked)
    return {"graph": graph, "scheme": scheme, "params": params, "lower": lowered, "add_loss": loss,
            "sparse_update": marked, "quantized_autodiff": grads, "qas": qas(grads)}


def _raises(pass_name, fn, *args, match=""):
    with pytest.raises(TinyTrainError) as info:
        fn(*args)
    message = str(info.value)
    assert message.startswith(f"{pass_name}: "), message
    assert match in message, message
    return message


def test_quantized_autodiff_needs_sparse_update(stages):
    _raises("quantized_autodiff", quantized_autodiff, stages["add_loss"], match="sparse_update")


def test_quantized_autodiff_twice(stages):
    _raises("quantized_autodiff", quantized_autodiff, stages["quantized_autodiff"], match="already")


def test_sparse_update_unknown_layer(stages):
    scheme = Scheme("bad", bias=("blocks.99.conv",))
    _raises("sparse_update", sparse_update, stages["add_loss"], scheme, match="blocks.99.conv")
    scheme = Scheme("bad", weights={"no_such_layer": 1})
    _raises("sparse_update", sparse_update, stages["add_loss"], scheme, match="no_such_layer")


def test_sparse_update_k_too_large(stages):
    graph = stages["graph"]
    layer = graph.weight_layers()[-2]
    c_in = layer.params["weight"].shape[1]
    _raises("sparse_update", sparse_update, stages["add_loss"], Scheme("bad", weights={layer.name: c_in + 1}),
            match=str(c_in))
    _raises("sparse_update", sparse_update, stages["add_loss"], Scheme("bad", weights={layer.name: 0}))
    _raises("sparse_update", sparse_update, stages["add_loss"], Scheme("empty"), match="nothing")


def test_add_loss_needs_linear_classifier_output(stages):
    graph, params = stages["graph"], stages["params"]
    _raises("add_loss", add_loss, stages["add_loss"], params, match="linear_s8")  # ends in cross_entropy
    every, every_params = to_relax(graph, outputs="all", params_as_inputs=True)
    _raises("add_loss", add_loss, every, every_params, match="linear_s8")


def test_qas_before_autodiff_and_twice(stages):
    _raises("qas", qas, stages["sparse_update"], match="quantized_autodiff")
    _raises("qas", qas, stages["qas"], match="already")


def test_sgd_update_before_autodiff_and_twice(stages):
    _raises("sgd_update", sgd_update, stages["sparse_update"], match="quantized_autodiff")
    _raises("sgd_update", sgd_update, sgd_update(stages["qas"]), match="already")


def test_passes_do_not_modify_their_input(stages):
    before = stages["sparse_update"].script()
    quantized_autodiff(stages["sparse_update"])
    assert stages["sparse_update"].script() == before
    assert main_attr(stages["add_loss"], "tt.trainable") is None


def test_sparse_update_rejects_a_sliced_fp32_classifier(graphs):
    """linear_f32's weight gradient and sgd_f32 cover the whole weight: a slice of a float
    classifier would be silently trained whole (and counted whole in the memory plan)."""
    graph = graphs["mcunet-5fps"]
    lowered, params = to_relax(graph, params_as_inputs=True)
    loss, _ = add_loss(lowered, params, fp32_classifier=True)
    c_in = graph.layer("classifier").params["weight"].shape[1]
    _raises("sparse_update", sparse_update, loss, Scheme("half-head", weights={"classifier": c_in // 2},
                                                         fp32_classifier=True), match="fp32 classifier")
    whole = sparse_update(loss, Scheme("head", weights={"classifier": c_in}, fp32_classifier=True))
    assert main_attr(whole, "tt.trainable") == {"classifier.weight": c_in}


# ----------------------------------------------------------------------- grouped convs


def _quantized(model, shape):
    x = np.random.default_rng(0).normal(0, 1, (8, *shape)).astype(np.float32)
    return quantize(to_graph(from_torch(model, torch.from_numpy(x[:1]))), x, progress=False)


def test_sparse_update_counts_a_grouped_convs_inputs_per_group():
    """A grouped conv's k counts weight.shape[1] (one group's inputs): 4 of the grouped 3x3's is all of
    them, 5 is refused naming the 4."""
    graph = _quantized(grouped_cnn.build()[0], grouped_cnn.INPUT_SHAPE)
    loss, _ = add_loss(*to_relax(graph, params_as_inputs=True))
    assert main_attr(sparse_update(loss, Scheme("all", weights={"features.3": 4})), "tt.trainable") \
        == {"features.3.weight": 4}
    _raises("sparse_update", sparse_update, loss, Scheme("bad", weights={"features.3": 5}), match="which has 4")


@pytest.mark.filterwarnings("ignore:.*dead output channels")
def test_weight_gradient_of_a_depthwise_conv_with_a_channel_multiplier():
    """groups == C_in with two outputs per channel: k counts its 4 input channels and its gradient covers
    the k * 2 rows they feed (grad_info's k counts rows, as the update ops slice them); 5 is refused
    naming the 4 (three-way on a model: tests/models/test_multiplier_models.py)."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1, groups=4),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)).eval()
    graph = _quantized(model, (3, 6, 6))
    for k in (1, 4):
        program = build_training(graph, Scheme("dw", weights={"2": k}), return_grads=True)
        info = main_attr(program.mod, "tt.grad_info")["2.weight"]
        assert (info["k"], info["depthwise"]) == (2 * k, 1)
        (grad,) = [b for b in op_bindings(program.mod) if b.op == "conv2d_grad_weight"]
        assert grad.attrs["groups"] == 4 and [int(s) for s in grad.var.ty.shape] == [2 * k, 1, 3, 3]
    _raises("sparse_update", build_training, graph, Scheme("dw", weights={"2": 5}), match="which has 4")
