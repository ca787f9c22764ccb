"""Shared by the lut layer's tests: a small CNN with one of the six activations after each of its
two convs, seeded inputs, and its torch-imported int8 graph; MobileNetV3-small w0.25 quantized the
same way; a module fixture keeping torch on one thread."""
import numpy as np
import pytest
import torch
from torch import nn

from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models import mobilenetv3_small
from tvm_tinytrain.quantization.ptq import quantize

ACTIVATIONS = {"hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid, "sigmoid": nn.Sigmoid, "silu": nn.SiLU,
               "tanh": nn.Tanh, "leaky_relu": lambda: nn.LeakyReLU(0.1)}
SHAPE = (3, 12, 12)


def act_cnn(act) -> nn.Module:
    """Two convs, each followed by the activation, then global pooling and a classifier."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), act(),
                         nn.Conv2d(8, 8, 3, padding=1), act(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 5)).eval()


def samples(n, seed=0):
    return np.random.default_rng(seed).normal(0, 1.5, (n, *SHAPE)).astype(np.float32)


def quantized(fn, graph=None):
    """(torch model, int8 graph) of act_cnn with `fn`; `graph` a float graph imported otherwise (ONNX)."""
    model = act_cnn(ACTIVATIONS[fn])
    graph = graph or to_graph(from_torch(model, torch.from_numpy(samples(1))))
    assert [l.attrs["fn"] for l in graph.layers if l.op == "lut"] == [fn, fn]
    return model, quantize(graph, samples(16), progress=False)


def quantized_mobilenetv3(n_test):
    """(torch model, int8 graph, n_test float samples) of MobileNetV3-small w0.25, calibrated on 8
    seeded samples; the test samples follow them in the same draw."""
    model, x = mobilenetv3_small.build()
    images = np.random.default_rng(0).normal(0, 1, (8 + n_test, *mobilenetv3_small.INPUT_SHAPE)).astype(np.float32)
    graph = quantize(to_graph(from_torch(model, x, name="mobilenetv3_small")), images[:8], progress=False)
    return model, graph, images[8:]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small nets, single samples: torch's OpenMP threads spinning on a busy 2-core machine cost seconds.
    Imported by a test module, it applies to all of that module's tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
