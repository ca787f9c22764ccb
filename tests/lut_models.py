"""Shared by the lut layer's tests: a small CNN with one of the six activations after each of its
two convs, seeded inputs, and its torch-imported int8 graph."""
import numpy as np
import torch
from torch import nn

from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
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
