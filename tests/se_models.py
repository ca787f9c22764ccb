"""Shared by the mul layer's tests: a small CNN with a squeeze-and-excitation block (the gate from
avgpool -> 1x1 conv -> ReLU -> 1x1 conv -> Hardsigmoid, multiplied into the block's Hardswish
features), seeded inputs, and its torch-imported int8 graph."""
import numpy as np
import torch
from torch import nn

from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models.mobilenetv3_small import SqueezeExcite
from tvm_tinytrain.quantization.ptq import quantize

SHAPE = (3, 12, 12)


class SECNN(nn.Module):
    """conv -> Hardswish -> SE (x * gate) -> conv, then global pooling and a classifier; with
    `gate_first` the product is written gate * x."""

    def __init__(self, gate_first=False):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.Hardswish())
        self.se = SqueezeExcite(16)
        self.head = nn.Sequential(nn.Conv2d(16, 8, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(8, 5))
        self.gate_first = gate_first

    def forward(self, x):
        x = self.stem(x)
        if self.gate_first:
            s = self.se
            x = s.gate(s.fc2(s.relu(s.fc1(s.pool(x))))) * x
        else:
            x = self.se(x)
        return self.head(x)


def samples(n, seed=0):
    return np.random.default_rng(seed).normal(0, 1.5, (n, *SHAPE)).astype(np.float32)


def se_graph(gate_first=False):
    model = SECNN(gate_first).eval()
    return model, to_graph(from_torch(model, torch.from_numpy(samples(1))))


def quantized(graph=None):
    """(torch model, int8 graph) of SECNN; `graph` a float graph imported otherwise (ONNX)."""
    model, torch_graph = se_graph()
    return model, quantize(graph or torch_graph, samples(16), progress=False)
