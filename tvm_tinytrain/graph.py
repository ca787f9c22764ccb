"""The layer graph: the model as a short list of layers, float or int8.

Every import path ends here (the paper's int8 backbones directly; torch and ONNX models
through their fp32 Relax module), and every consumer starts here: the Relax int8
lowering, the numpy reference, `inspect`, and later the training passes.  It is plain
data (numpy arrays and ints), so the numpy reference and the Relax lowering read the
same specification without sharing any arithmetic.

Layers, in execution order (batch size 1, NCHW):

    conv2d   inputs (x,)      params weight (O, I/groups, kh, kw), bias (O,)
             attrs stride, dilation (conv_geometry.py), padding (top, left, bottom, right), groups, act
    linear   inputs (x,)      params weight (O, I), bias (O,)           attrs act
    add      inputs (a, b)    attrs act
    concat   inputs (x1, x2, ...) along channels, same H x W; quantized: attrs multipliers, shifts
                              (one per input, quantization/concat.py)
    avgpool  inputs (x,)      global average pool to (C, 1, 1); with attrs kernel, stride, padding,
                              count_include_pad a windowed one (tvm_tinytrain/pooling.py)
    maxpool  inputs (x,)      attrs kernel, stride, padding (tvm_tinytrain/pooling.py)
    flatten  inputs (x,)      (C, H, W) -> (C*H*W,)
    lut      inputs (x,)      attrs fn (quantization/lut.py FUNCTIONS), alpha (LeakyReLU's slope);
                              quantized: params table int8 (256,), derived from the quantization
    mul      inputs (x, gate) gate (C, 1, 1) broadcast over x's H x W, or x's shape; attrs act;
                              quantized: attrs multiplier, shift (x_scale * g_scale / y_scale)

`act` is None, "relu" or "relu6".  In a quantized graph each layer also has `out_q`
(scale, zero) for its output tensor, conv/linear carry int8 weights, int32 bias,
float32 per-channel `w_scale` and the fixed-point requantize constants (see
quantization/fixed_point.py), and the activation is folded into `act_min`/`act_max`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import TinyTrainError
from .layer_kinds import KIND_OF

INPUT = "input"
WEIGHT_OPS = ("conv2d", "linear")
OPS = tuple(KIND_OF)  # the layer kinds (layer_kinds.py)


@dataclass(frozen=True)
class QParams:
    """Affine int8 quantization of one tensor: real = scale * (q - zero)."""

    scale: float
    zero: int


@dataclass
class Layer:
    name: str
    op: str
    inputs: tuple[str, ...]
    out_shape: tuple[int, ...]
    attrs: dict = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    out_q: QParams | None = None
    conv_index: int | None = None  # position among conv2d/linear layers, first conv = 0

    @property
    def has_weights(self) -> bool:
        return self.op in WEIGHT_OPS

    def macs(self, in_shape) -> int:
        if self.op == "conv2d":
            o, i_per_group, kh, kw = self.params["weight"].shape
            return int(o * i_per_group * kh * kw * self.out_shape[1] * self.out_shape[2])
        if self.op == "linear":
            return int(np.prod(self.params["weight"].shape))
        return 0


@dataclass
class Graph:
    """A CNN as layers in execution order; `output` names the layer giving the logits."""

    name: str
    input_shape: tuple[int, ...]  # (C, H, W)
    layers: list[Layer]
    input_q: QParams | None = None
    output: str = ""

    def __post_init__(self):
        if not self.output and self.layers:
            self.output = self.layers[-1].name
        self.renumber()

    @property
    def quantized(self) -> bool:
        return self.input_q is not None

    def renumber(self):
        """Give conv2d/linear layers their scheme index (first conv from the input = 0)."""
        index = 0
        for layer in self.layers:
            layer.conv_index = index if layer.has_weights else None
            index += layer.has_weights

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise TinyTrainError(f"graph {self.name!r} has no layer {name!r}")

    def weight_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.has_weights]

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.input_shape if name == INPUT else self.layer(name).out_shape

    def q_of(self, name: str) -> QParams:
        q = self.input_q if name == INPUT else self.layer(name).out_q
        if q is None:
            raise TinyTrainError(f"graph {self.name!r}: tensor {name!r} has no quantization parameters")
        return q

    @property
    def num_classes(self) -> int:
        return int(np.prod(self.layer(self.output).out_shape))

    def check(self):
        """Every input is defined before use and every op is known."""
        seen = {INPUT}
        for layer in self.layers:
            if layer.op not in OPS:
                raise TinyTrainError(f"graph {self.name!r}: layer {layer.name!r} has unknown op {layer.op!r}")
            for src in layer.inputs:
                if src not in seen:
                    raise TinyTrainError(f"graph {self.name!r}: layer {layer.name!r} reads {src!r} "
                                         f"before it is computed")
            if not layer.out_shape or min(int(d) for d in layer.out_shape) < 1:
                what = "the output layer (the head)" if layer.name == self.output else "layer"
                raise TinyTrainError(f"graph {self.name!r}: {what} {layer.name!r} ({layer.op}) has output shape "
                                     f"{tuple(layer.out_shape)}, an empty tensor; every layer needs at least one "
                                     f"output (a classifier one per class)")
            seen.add(layer.name)
        if self.output not in seen:
            raise TinyTrainError(f"graph {self.name!r}: output {self.output!r} is not a layer")
        return self
