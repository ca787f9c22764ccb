"""float_model.FloatNet, the fp32 baseline, on every layer kind of a MobileNetV3-small-style model
(Hardswish / Hardsigmoid lut layers, squeeze-and-excitation mul layers, residual adds) and on each of
the six lut functions: every layer, fed the int8 reference's dequantized inputs, is the int8 layer within
half a step of its output quantization; the whole copy is nearer the torch model it was quantized from
than the int8 network is; `sparse_parameters` and `trained_values` cover exactly what the int8 step
trains (the SE branch's 1x1 convs, a 1-channel stem, a depthwise conv, grouped convs' per-group
slices); `train --engine fp32` on a graph with lut and mul layers lowers the loss."""
import json

import numpy as np
import pytest
import torch
from torch import nn

import lut_models
from lut_models import one_torch_thread  # noqa: F401  (autouse fixture)
import se_models
from tvm_tinytrain.cli import main
from tvm_tinytrain.float_model import FloatNet, sparse_parameters, trained_values
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.graph import INPUT
from tvm_tinytrain.models import grouped_cnn
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.reference_train import TorchTrainer
from tvm_tinytrain.schemes import resolve_scheme

MODELS = ["mobilenetv3_small", *lut_models.ACTIVATIONS]
pytestmark = pytest.mark.filterwarnings("ignore:.*dead output channels")  # random weights: said at quantization


@pytest.fixture(scope="module", params=MODELS)
def case(request):
    """(name, torch model, int8 graph, float samples (C, H, W)) of mobilenetv3_small or a lut_models CNN."""
    if request.param != "mobilenetv3_small":
        model, graph = lut_models.quantized(request.param)
        return request.param, model, graph, lut_models.samples(4, seed=5)
    model, graph, images = lut_models.quantized_mobilenetv3(2)
    assert {l.op for l in graph.layers} >= {"lut", "mul", "add"}
    return request.param, model, graph, images


def _real(graph, name, v) -> torch.Tensor:
    """An int8 tensor (C, H, W) of the graph -> its real values, batched, as FloatNet takes them."""
    q = graph.input_q if name == INPUT else graph.q_of(name)
    return torch.from_numpy(np.float32(q.scale) * (v.astype(np.float32) - np.float32(q.zero)))[None]


def test_each_layer_is_the_int8_layer_within_half_an_output_step(case):
    """The copy's weights and biases are the int8 ones dequantized, so a layer fed the int8 layer's own
    (dequantized) inputs computes the real value the int8 layer rounds: they differ by that rounding, at
    most half a step s_y of the output quantization (the lut table rounds f(x) once; conv, linear, add,
    mul and the pools requantize once), plus float32 summation and the fixed-point multiplier's relative
    error (2^-30), far below 1e-3 of a step.  Where the int8 layer saturates at its int8 range, the
    copy's value is compared clamped to that range."""
    name, _, graph, samples = case
    net = FloatNet(graph).eval()
    for x in samples:
        x_q = quantize_input(graph, x).reshape(graph.input_shape)
        ints = {INPUT: x_q, **run_int8(graph, x_q, return_all=True)}
        for step in net.spec:
            layer = step[0]
            with torch.no_grad():
                y = net.apply(step, [_real(graph, src, ints[src]) for src in layer.inputs]).numpy()[0]
            q = graph.q_of(layer.name)
            y = np.clip(y.reshape(ints[layer.name].shape), q.scale * (-128 - q.zero), q.scale * (127 - q.zero))
            steps_apart = np.abs(y - _real(graph, layer.name, ints[layer.name]).numpy()[0]).max() / q.scale
            assert steps_apart <= 0.5 + 1e-3, (name, layer.name, layer.op, steps_apart)


def test_the_copy_is_nearer_the_torch_model_than_the_int8_network(case):
    """On the same (dequantized) input, the copy carries the int8 network's weight quantization and none
    of its activation rounding, so its logits are nearer the fp32 torch model's than the int8 ones."""
    name, model, graph, samples = case
    net = FloatNet(graph).eval()
    q = graph.q_of(graph.output)
    copy, int8, fp32 = [], [], []
    for x in samples:
        x_q = quantize_input(graph, x).reshape(graph.input_shape)
        with torch.no_grad():
            copy.append(net(net.input_tensor(x_q)).numpy().reshape(-1))
            fp32.append(model(net.input_tensor(x_q)).numpy().reshape(-1))
        int8.append(q.scale * (run_int8(graph, x_q).astype(np.float32).reshape(-1) - q.zero))
    copy, int8, fp32 = map(np.array, (copy, int8, fp32))
    rms = lambda v: float(np.sqrt(np.mean(np.square(v))))  # noqa: E731
    assert rms(copy - fp32) < rms(int8 - fp32), name
    assert rms(copy - fp32) > 0  # the weights are the quantized ones, not torch's


def _one_channel_stem():
    """A 1-channel input (a spectrogram), a depthwise conv, a classifier: int8 graph."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1, groups=4),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    x = np.random.default_rng(0).normal(0, 1, (8, 1, 6, 6)).astype(np.float32)
    return quantize(to_graph(from_torch(model, torch.from_numpy(x[:1]))), x, progress=False), x[0]


def _grouped():
    """models/grouped_cnn.py (a grouped 3x3, groups 2; a grouped 1x1, groups 4): int8 graph."""
    model, _ = grouped_cnn.build()
    x = np.random.default_rng(0).normal(0, 1, (8, *grouped_cnn.INPUT_SHAPE)).astype(np.float32)
    return quantize(to_graph(from_torch(model, torch.from_numpy(x[:1]))), x, progress=False), x[0]


SCHEMES = {  # graph, scheme
    "se_branch": (lambda: (se_models.quantized()[1], se_models.samples(1)[0]),
                  {"name": "se", "n_bias_update": 3, "weight_layers": ["se.fc1", "se.fc2"], "weight_ratios": [0.5, 1]}),
    "one_channel_stem": (_one_channel_stem, "full"),
    "grouped": (_grouped, {"name": "grouped", "n_bias_update": 1, "weight_layers": ["features.3", "features.6"],
                           "weight_ratios": [0.5, 0.5]}),
}


@pytest.mark.parametrize("which", sorted(SCHEMES))
def test_trained_values_are_what_the_int8_step_trains(which):
    """The values `sparse_parameters` leaves a gradient (its masks) number `trained_values`, and the int8
    step of the same scheme (the PyTorch oracle) has a gradient of that many values too: the SE branch's
    fc1 on its leading half of input channels, a 1-channel stem conv whole, a depthwise conv by rows."""
    build, spec = SCHEMES[which]
    graph, x = build()
    scheme = resolve_scheme(spec, graph)
    net = FloatNet(graph)
    masked = 0
    for p in sparse_parameters(net, scheme):
        p.sum().backward()  # a gradient of ones, through the mask hook
        masked += int(torch.count_nonzero(p.grad))
    grads = TorchTrainer(graph, scheme).step(quantize_input(graph, x).reshape(graph.input_shape), 0, 0).grads
    assert trained_values(net, scheme) == masked == sum(g.size for g in grads.values())
    if which == "se_branch":
        fc1 = net.module("se.fc1").weight
        assert torch.count_nonzero(fc1.grad[:, :8]) == fc1[:, :8].numel() and not fc1.grad[:, 8:].any()
    if which == "grouped":  # weight[:, :k]: the leading k inputs of every group, every output channel
        w = net.module("features.3").weight
        assert torch.count_nonzero(w.grad[:, :2]) == w[:, :2].numel() and not w.grad[:, 2:].any()


SE_MODULE = '''
import torch

from se_models import SECNN, SHAPE


def build():
    return SECNN().eval(), torch.zeros(1, *SHAPE)
'''


def test_train_fp32_engine_lowers_the_loss_of_a_graph_with_lut_and_mul_layers(tmp_path, monkeypatch):
    """`train --engine fp32` on SECNN (Hardswish, an SE gate through Hardsigmoid, x * gate), every layer
    trained, on 5 classes of their own colour: the last epoch's mean loss is well below the first's and
    the held-out accuracy rises."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "se_net.py").write_text(SE_MODULE)
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1.5, (5, se_models.SHAPE[0], 1, 1))  # each class its own colour
    y = np.repeat(np.arange(5), 8)
    x = (centres[y] + 0.5 * rng.normal(0, 1, (len(y), *se_models.SHAPE))).astype(np.float32)
    np.savez(tmp_path / "blobs.npz", x=x, y=y, x_test=x[::4], y_test=y[::4])
    argv = ["train", "se_net:build", "--scheme", "full", "--data", "npz:blobs.npz", "--engine", "fp32",
            "--epochs", "6", "--lr", "0.2", "--out", str(tmp_path / "run")]
    assert main(argv) in (0, None)
    summary = json.loads((tmp_path / "run" / "history.json").read_text())
    losses = np.array(summary["history"]["losses"])
    assert losses.shape == (6 * 40,) and np.isfinite(losses).all()
    first, last = losses[:40].mean(), losses[-40:].mean()
    assert last < 0.7 * first, (first, last)  # measured: 1.56 -> 0.94
    assert summary["test_accuracy"] > summary["initial_accuracy"]
