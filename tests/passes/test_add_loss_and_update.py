"""add_loss (the cross-entropy of the real-valued logits, optionally an fp32 classifier) and
sgd_update (the step's inputs, one in-place update right after each gradient)."""
import numpy as np
import pytest

from tvm_tinytrain import _tvm
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import to_float_input
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models.tiny_resnet import build
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.passes.step_inputs import parameters, scalar_values
from tvm_tinytrain.passes.training_graph import main_attr, op_bindings, result_fields
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.quantization.requant import bias_limit
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.schemes import resolve_scheme


@pytest.fixture(scope="module")
def tiny():
    """The tiny ResNet quantized on 8 CIFAR-10 test images; two held-out images and labels."""
    pixels, labels = load_cifar10("test", per_class=1)
    model, example = build()
    graph = quantize(to_graph(from_torch(model, example)), list(to_float_input(pixels[:8])), progress=False)
    samples = [(quantize_input(graph, to_float_input(pixels[i])), int(labels[i])) for i in (8, 9)]
    return graph, samples


def _type(var):
    return tuple(int(s) for s in var.ty.shape), str(var.ty.dtype)


def _cross_entropy(logits, label):
    logits = np.asarray(logits, np.float64).reshape(-1)
    m = logits.max()
    return float(m + np.log(np.exp(logits - m).sum()) - logits[label])


@pytest.mark.parametrize("fp32_classifier", [False, True])
def test_add_loss_signature(tiny, fp32_classifier):
    graph = tiny[0]
    program = build_training(graph, resolve_scheme("bias-only", graph, fp32_classifier=fp32_classifier),
                             stop_after="add_loss")
    main = program.mod["main"]
    names = [p.name for p in main.params]
    expected = [f"{layer.name}.{k}" for layer in graph.weight_layers() for k in ("weight", "bias")]
    assert names == ["x", "label", *expected]
    assert _type(main.params[0]) == ((1, *graph.input_shape), "int8")
    assert _type(main.params[1]) == ((), "int32")
    assert main_attr(program.mod, "num_input") == 2
    assert tuple(int(s) for s in main.ret_ty.shape) == () and str(main.ret_ty.dtype) == "float32"
    ops = [b.op for b in op_bindings(program.mod)]
    assert ops[-1] == "cross_entropy" and result_fields(program.mod)[0].name == "loss_value"
    head = "linear_f32" if fp32_classifier else "dequantize"
    assert ops[-2] == head and op_bindings(program.mod)[-2].var.name == "classifier_logits"
    assert ("linear_s8" in ops) != fp32_classifier
    assert program.memory is None
    # the parameter types follow the classifier's form
    types = {p.name: _type(p) for p in main.params}
    w = graph.layer("classifier").params["weight"]
    assert types["classifier.weight"] == (w.shape, "float32" if fp32_classifier else "int8")
    assert types["classifier.bias"] == ((w.shape[0],), "float32" if fp32_classifier else "int32")
    for n in expected:
        assert program.params[n].dtype == np.dtype(types[n][1]) and program.params[n].shape == types[n][0]


def test_fp32_classifier_initial_values(tiny):
    graph = tiny[0]
    program = build_training(graph, resolve_scheme("bias-only", graph, fp32_classifier=True), stop_after="add_loss")
    head = graph.layer("classifier")
    s_w = np.asarray(head.params["w_scale"], np.float64)
    s_x = graph.q_of(head.inputs[0]).scale
    w_f = program.params["classifier.weight"]
    b_f = program.params["classifier.bias"]
    assert w_f.dtype == np.float32 and b_f.dtype == np.float32
    np.testing.assert_allclose(w_f, s_w[:, None] * head.params["weight"], rtol=1e-7)
    np.testing.assert_allclose(b_f, s_w * s_x * head.params["bias"], rtol=1e-7)
    assert np.abs(b_f).max() > 0
    # the graph's int8 classifier is left as it was
    assert head.params["weight"].dtype == np.int8 and head.params["bias"].dtype == np.int32


@pytest.fixture(scope="module")
def loss_programs(tiny):
    graph = tiny[0]
    built = {}
    for fp32 in (False, True):
        program = build_training(graph, resolve_scheme("bias-only", graph, fp32_classifier=fp32),
                                 stop_after="add_loss")
        built[fp32] = program, _tvm.build(program.mod)
    return built


@pytest.mark.parametrize("sample", [0, 1])
def test_loss_matches_numpy_on_int8_logits(tiny, loss_programs, sample):
    graph, samples = tiny
    x_q, label = samples[sample]
    program, run = loss_programs[False]
    names = [p.name for p in program.mod["main"].params[2:]]
    loss = float(run(x_q, np.array(label, np.int32), *(program.params[n] for n in names)))
    q = graph.layer("classifier").out_q
    logits = q.scale * (run_int8(graph, x_q).astype(np.float64) - q.zero)
    expected = _cross_entropy(logits, label)
    assert expected > 0
    assert abs(loss - expected) <= 1e-5 * abs(expected), (loss, expected)


@pytest.mark.parametrize("sample", [0, 1])
def test_loss_matches_numpy_with_fp32_classifier(tiny, loss_programs, sample):
    graph, samples = tiny
    x_q, label = samples[sample]
    program, run = loss_programs[True]
    names = [p.name for p in program.mod["main"].params[2:]]
    loss = float(run(x_q, np.array(label, np.int32), *(program.params[n] for n in names)))
    head = graph.layer("classifier")
    q_x = graph.q_of(head.inputs[0])
    features = run_int8(graph, x_q, return_all=True)[head.inputs[0]].astype(np.float64).reshape(-1)
    x_r = q_x.scale * (features - q_x.zero)
    logits = program.params["classifier.weight"].astype(np.float64) @ x_r + program.params["classifier.bias"]
    expected = _cross_entropy(logits, label)
    assert abs(loss - expected) <= 1e-5 * abs(expected), (loss, expected)
    # not requantized: differs from the int8 classifier's loss
    q = head.out_q
    int8_loss = _cross_entropy(q.scale * (run_int8(graph, x_q).astype(np.float64) - q.zero), label)
    assert loss != int8_loss


# ------------------------------------------------------------------------------ sgd_update

@pytest.mark.parametrize("spec, fp32", [
    ("full", False),
    ({"name": "sliced", "n_bias_update": 3, "weight_layers": ["layer2.conv1", "layer2.conv2"],
      "weight_ratios": [0.5, 0.125]}, True),
])
def test_sgd_update_structure(tiny, spec, fp32):
    graph = tiny[0]
    scheme = resolve_scheme(spec, graph, fp32_classifier=fp32)
    grads = build_training(graph, scheme, stop_after="qas").mod
    mod = build_training(graph, scheme, stop_after="sgd_update").mod
    main = mod["main"]
    # the step's inputs
    assert [p.name for p in main.params[:5]] == ["x", "label", "lr_weight", "lr_bias", "step"]
    assert [_type(p) for p in main.params[2:5]] == [((), "float32"), ((), "float32"), ((), "uint32")]
    assert [p.name for p in main.params[5:]] == [p.name for p in grads["main"].params[2:]]
    assert main_attr(mod, "num_input") == 5
    # the same, by name: what codegen and the Relax oracle read
    assert parameters(mod) == list(main.params[5:])
    values = scalar_values(mod, label=3, lr_weight=0.5, lr_bias=0.25, step=7)
    assert [(v.dtype, v.item()) for v in values] == [(np.int32, 3), (np.float32, 0.5), (np.float32, 0.25),
                                                     (np.uint32, 7)]
    with pytest.raises(TinyTrainError, match=r"step scalars: main takes \['label', 'lr_weight', 'lr_bias', 'step'\]"):
        scalar_values(mod, label=3, lr=0.5, step=7)
    names = main_attr(mod, "tt.updates")
    assert names == main_attr(mod, "tt.grads") == main_attr(grads, "tt.grads")
    info = main_attr(mod, "tt.grad_info")
    params = {p.name: p for p in main.params}
    bindings = op_bindings(mod)
    producer = {b.var: i for i, b in enumerate(bindings)}
    results = result_fields(mod)
    assert len(results) == 1 + len(names) and results[0].name == "loss_value"
    lr_weight, lr_bias, step = main.params[2:5]
    for name, out in zip(names, results[1:]):
        i = producer[out]
        b = bindings[i]
        kind = info[name]["kind"]
        assert b.op == {"s8": "sgd_s8", "s32": "sgd_s32", "f32": "sgd_f32"}[kind], name
        assert b.args[0].same_as(params[name]) and _type(out) == _type(params[name]), name
        # right after its gradient: the previous binding produces the gradient it reads
        assert bindings[i - 1].var.same_as(b.args[1]), (name, bindings[i - 1].var.name)
        assert b.args[2].same_as(lr_bias if name.endswith(".bias") else lr_weight), name
        if kind == "s8":
            assert b.args[3].same_as(step)
            assert b.attrs["k"] == info[name]["k"] == scheme.weights[name.rsplit(".", 1)[0]]
            assert b.attrs["conv_index"] == graph.layer(name.rsplit(".", 1)[0]).conv_index
        elif kind == "s32":
            fan_in = int(np.prod(graph.layer(name.rsplit(".", 1)[0]).params["weight"].shape[1:]))
            assert b.attrs["limit"] == bias_limit(fan_in)
        else:
            assert fp32 and name.startswith("classifier.")
    # nothing but the updates was added
    before = [b.op for b in op_bindings(grads)]
    assert [b.op for b in bindings if not b.op.startswith("sgd_")] == before
    assert len(bindings) == len(before) + len(names)
    if fp32:
        assert {info[n]["kind"] for n in names} == {"s8", "s32", "f32"}
