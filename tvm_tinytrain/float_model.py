"""An fp32 PyTorch copy of an int8 Graph: the "fp32 SGD on the dequantized weights" baseline.

Weights are dequantized (w_int8 * w_scale, bias_int32 * s_in * w_scale); conv / add / pool /
linear become torch modules, a `lut` layer the float function its table was built from (its `fn`
and `alpha`, as torch defines it: reference_train.TORCH_FUNCTIONS) and a `mul` layer the float
product x * gate (the gate broadcast over H x W).  Where a layer's int8 output range
[s(act_min - z), s(act_max - z)] starts at 0 its output is clamped to that range (ReLU6 for the
paper's backbones), otherwise left as identity, so the float network computes what the int8 one
approximates.
`sparse_parameters` marks exactly a scheme's trainable tensors (leading input channels only,
through a gradient mask), so fp32 and int8 training update the same values.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import conv_geometry, pooling
from .graph import INPUT, Graph
from .reference_train import TORCH_FUNCTIONS
from .scheme import Scheme


def _key(name: str) -> str:
    return name.replace(".", "_")


class FloatNet(nn.Module):
    def __init__(self, graph: Graph):
        super().__init__()
        self.graph = graph
        self.mods = nn.ModuleDict()
        self.spec = []
        for layer in graph.layers:
            clamp = None
            if layer.out_q is not None and "act_min" in layer.attrs and layer.name != graph.output:
                s, z = layer.out_q.scale, layer.out_q.zero
                lo, hi = s * (layer.attrs["act_min"] - z), s * (layer.attrs["act_max"] - z)
                clamp = (0.0, hi) if abs(lo) < 1e-6 else None
            pad = None
            if layer.op in ("conv2d", "linear"):
                s_in = graph.q_of(layer.inputs[0]).scale
                w_scale = layer.params["w_scale"].astype(np.float64)
                weight = layer.params["weight"]
                w = weight.astype(np.float64) * w_scale.reshape(-1, *[1] * (weight.ndim - 1))
                b = layer.params["bias"].astype(np.float64) * s_in * w_scale
                if layer.op == "conv2d":
                    o, ipg, kh, kw = w.shape
                    t, l, bo, r = layer.attrs["padding"]
                    m = nn.Conv2d(ipg * layer.attrs["groups"], o, (kh, kw), conv_geometry.strides(layer.attrs), 0,
                                  conv_geometry.dilations(layer.attrs), groups=layer.attrs["groups"])
                    pad = (l, r, t, bo)
                else:
                    m = nn.Linear(w.shape[1], w.shape[0])
                m.weight.data = torch.tensor(w, dtype=torch.float32)
                m.bias.data = torch.tensor(b, dtype=torch.float32)
                self.mods[_key(layer.name)] = m
            self.spec.append((layer, pad, clamp))

    def module(self, layer_name: str) -> nn.Module:
        return self.mods[_key(layer_name)]

    def input_tensor(self, x_q) -> torch.Tensor:
        """int8 input(s) (C, H, W) or (N, C, H, W) -> the real values the int8 graph represents."""
        q = self.graph.input_q
        x = q.scale * (np.asarray(x_q, np.float32) - q.zero)
        return torch.tensor(x[None] if x.ndim == 3 else x, dtype=torch.float32)

    def forward(self, x):
        env = {INPUT: x}
        for step in self.spec:
            env[step[0].name] = self.apply(step, [env[src] for src in step[0].inputs])
        return env[self.graph.output]

    def apply(self, step, args: list) -> torch.Tensor:
        """One layer of the copy (`step` an entry of `spec`) on its input tensors: how a test holds a
        layer against the int8 one fed the same (dequantized) inputs."""
        layer, pad, clamp = step
        a = args[0]
        if layer.op == "conv2d":
            y = self.mods[_key(layer.name)](F.pad(a, pad) if any(pad) else a)
        elif layer.op == "linear":
            y = self.mods[_key(layer.name)](a)
        elif layer.op == "add":
            y = a + args[1]
        elif layer.op == "mul":
            y = a * args[1]
        elif layer.op == "lut":
            y = TORCH_FUNCTIONS[layer.attrs["fn"]](a, float(layer.attrs.get("alpha", 0.0)))
        elif layer.op == "concat":
            y = torch.cat(args, 1)
        elif layer.op == "avgpool" and pooling.is_global(layer.attrs):
            y = F.adaptive_avg_pool2d(a, 1)
        elif layer.op == "avgpool":  # zero padding, then the window sums over pooling.divisors
            kernel, stride, (top, left, bottom, right) = pooling.window(layer.attrs)
            n = torch.from_numpy(pooling.divisors(layer.attrs, tuple(a.shape[2:])).astype(np.float32))
            y = F.avg_pool2d(F.pad(a, (left, right, top, bottom)), kernel, stride) * (kernel[0] * kernel[1]) / n
        elif layer.op == "maxpool":
            kernel, stride, (top, left, bottom, right) = pooling.window(layer.attrs)
            y = F.max_pool2d(F.pad(a, (left, right, top, bottom), value=-float("inf")), kernel, stride)
        elif layer.op == "flatten":
            y = a.flatten(1)
        else:
            raise ValueError(f"FloatNet: layer {layer.name!r} has op {layer.op!r}, which has no fp32 copy")
        return y.clamp(*clamp) if clamp else y


def sparse_parameters(net: FloatNet, scheme: Scheme) -> list[torch.Tensor]:
    """requires_grad on exactly the scheme's biases and weights (a gradient hook keeps only
    the updated leading input channels); returns those tensors."""
    for p in net.parameters():
        p.requires_grad_(False)
    params = []
    for name in scheme.bias:
        b = net.module(name).bias
        b.requires_grad_(True)
        params.append(b)
    for name, k in scheme.weights.items():
        w = net.module(name).weight
        w.requires_grad_(True)
        mask = torch.zeros_like(w)
        _updated(net.graph.layer(name), mask, k).fill_(1)
        w.register_hook(lambda g, m=mask: g * m)
        params.append(w)
    return params


def trained_values(net: FloatNet, scheme: Scheme) -> int:
    """How many scalars one step of `scheme` updates."""
    n = sum(net.module(name).bias.numel() for name in scheme.bias)
    for name, k in scheme.weights.items():
        n += _updated(net.graph.layer(name), net.module(name).weight, k).numel()
    return int(n)


def _updated(layer, weight: torch.Tensor, k: int) -> torch.Tensor:
    """The view of `weight` a scheme's `k` updates (updated_slice)."""
    axis, n = updated_slice(layer, tuple(weight.shape), k)
    return weight.narrow(axis, 0, n)


def updated_slice(layer, shape: tuple, k: int) -> tuple[int, int]:
    """(axis, length) of the leading block of a weight of `shape` a scheme's `k` updates (schemes.py):
    for a depthwise conv (one input channel per row) the rows the first k channels feed (k * m with a
    channel multiplier m, shape (m * groups, 1, kh, kw)), else the first k input channels of every row,
    also when a conv has only one input channel (a 1-channel stem) or its rows read groups of them."""
    if layer.op == "conv2d" and layer.attrs["groups"] > 1 and shape[1] == 1:
        return 0, k * (shape[0] // layer.attrs["groups"])
    return 1, k
