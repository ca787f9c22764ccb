"""The PyTorch oracle of one int8 training step (docs/training-semantics.md).

It is the project's independent implementation of the training step, written from the
spec: the Relax training graph (`passes/`) and the generated C are compared with it, so it
shares no code with them (and none with the Relax int8 lowering).  It imports neither TVM
nor the numpy reference; the tests cross-check its forward against `reference.run_int8`.

Arithmetic:

* forward: exact int8 (docs/int8-semantics.md).  Convolutions run on integer values in
  float64 (every product and partial sum is an integer far below 2**53, so the result is
  exact whatever the summation order), or in float32 for layers whose partial sums are
  provably below 2**24 (depthwise convs: float64 depthwise convolution is very slow in
  torch); requantization is int64 integer arithmetic.
* backward: float32, layer by layer from the output with explicit formulas (im2col for
  dW_r, conv_transpose for dx_r, a first-maximum scatter for maxpool); no autograd, except for the
  lut layer's f', taken from torch's own definition of the function (TORCH_FUNCTIONS).
* updates: the spec's rounding, in float32 (torch.round is half to even) and, for the
  stochastic rounding hash, uint32 arithmetic emulated on int64 tensors.

Usage::

    trainer = TorchTrainer(graph, scheme)
    result = trainer.step(x_q, label, step_index)       # one SGD step on one sample
    result.loss, result.grads["classifier.weight"], result.params["classifier.bias"]
    trainer.graph_with_params()                           # Graph with the updated int8 params
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from . import conv_geometry, pooling
from .errors import ShapeError, TinyTrainError, UnsupportedOpError
from .graph import INPUT, Graph, Layer
from .scheme import FLOAT_COPY, Scheme, is_state, state_name

U32 = 0xFFFFFFFF
HASH_STEP = 0x9E3779B9
HASH_CONV = 0x85EBCA6B
HASH_MUL1 = 0x7FEB352D
HASH_MUL2 = 0x846CA68B


# The lut layer's functions as torch defines them (its backward's f'); quantization/lut.py has the
# numpy definitions the tables are built from.
TORCH_FUNCTIONS = {
    "hardswish": lambda x, a: F.hardswish(x), "hardsigmoid": lambda x, a: F.hardsigmoid(x),
    "sigmoid": lambda x, a: torch.sigmoid(x), "silu": lambda x, a: F.silu(x), "tanh": lambda x, a: torch.tanh(x),
    "leaky_relu": lambda x, a: F.leaky_relu(x, a),
}


# ------------------------------------------------------------ stochastic rounding

def _mul_u32(n: torch.Tensor, c: int) -> torch.Tensor:
    """(n * c) mod 2**32 for int64 tensors holding uint32 values, without int64 overflow."""
    lo, hi = c & 0xFFFF, c >> 16
    return ((((n * hi) & 0xFFFF) << 16) + n * lo) & U32


def hash_u32(n: torch.Tensor) -> torch.Tensor:
    """The spec's counter hash on an int64 tensor of uint32 values (result in [0, 2**32))."""
    n = n & U32
    n = n ^ (n >> 16)
    n = _mul_u32(n, HASH_MUL1)
    n = n ^ (n >> 15)
    n = _mul_u32(n, HASH_MUL2)
    return n ^ (n >> 16)


def hash_counter(step: int, conv_index: int, n: int) -> torch.Tensor:
    """The counters `i + 0x9E3779B9 * step + 0x85EBCA6B * conv_index` (mod 2**32), i < n."""
    base = (HASH_STEP * (int(step) & U32) + HASH_CONV * (int(conv_index) & U32)) & U32
    return (torch.arange(int(n), dtype=torch.int64) + base) & U32


def stochastic_uniform(step: int, conv_index: int, n: int) -> torch.Tensor:
    """float32 tensor of the n uniforms u_i = (hash(n_i) >> 8) * 2**-24 in [0, 1), i < n."""
    h = hash_u32(hash_counter(step, conv_index, n))
    return (h >> 8).to(torch.float32) * (2.0 ** -24)


# ------------------------------------------------------------------- small helpers

def bias_limit(fan_in: int) -> int:
    """|bias| bound that keeps the int32 accumulator from overflowing for any int8 weights
    (docs/training-semantics.md, "Updates")."""
    return 2**31 - 1 - 255 * 128 * fan_in


def _pair(v) -> tuple[int, int]:
    if np.ndim(v) == 0:
        return int(v), int(v)
    a, b = (int(t) for t in v)
    return a, b


def _pad4(padding) -> tuple[int, int, int, int]:
    """(top, left, bottom, right); an int or (pad_h, pad_w) is symmetric."""
    if padding is None:
        return 0, 0, 0, 0
    if np.ndim(padding) == 0:
        return (int(padding),) * 4
    p = tuple(int(v) for v in padding)
    if len(p) == 2:
        return p[0], p[1], p[0], p[1]
    if len(p) != 4:
        raise TinyTrainError(f"padding must be (top, left, bottom, right), got {padding!r}")
    return p


def _torch_pad(x, padding, value=0.0):
    """Pad the last two dims of x with (top, left, bottom, right)."""
    top, left, bottom, right = padding
    if not (top or left or bottom or right):
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


def _act_range(layer: Layer) -> tuple[int, int]:
    return int(layer.attrs.get("act_min", -128)), int(layer.attrs.get("act_max", 127))


def _rshift_round(v, shift):
    """(v + 2**(shift-1)) >> shift on int64 tensors (arithmetic shift)."""
    return (v + (torch.ones_like(shift) << (shift - 1))) >> shift


def _requantize(acc, mult, shift, zero: int, lo: int, hi: int):
    return torch.clamp(_rshift_round(acc * mult, shift) + zero, lo, hi)


def _is_depthwise(layer: Layer) -> bool:
    if layer.op != "conv2d":
        return False
    groups = int(layer.attrs.get("groups", 1))
    w = layer.params["weight"]
    return groups > 1 and w.shape[1] == 1 and w.shape[0] % groups == 0


def _slice_rows(layer: Layer, k: int) -> tuple[slice, slice]:
    """Index of the updated slice of a weight: [:k*m] rows (depthwise) or [:, :k]."""
    if _is_depthwise(layer):
        mult = layer.params["weight"].shape[0] // int(layer.attrs["groups"])
        return slice(0, k * mult), slice(None)
    return slice(None), slice(0, k)


def _channels(layer: Layer) -> int:
    """The input channels k counts: groups for a depthwise conv, else weight.shape[1]."""
    return int(layer.attrs["groups"]) if _is_depthwise(layer) else int(layer.params["weight"].shape[1])


# ----------------------------------------------------------------------- results

@dataclass
class StepResult:
    loss: float
    activations: dict[str, np.ndarray]          # layer -> int8 output of the forward (before the update)
    logits: np.ndarray                          # float32 real logits
    grads: dict[str, np.ndarray] = field(default_factory=dict)   # "<layer>.weight"/"<layer>.bias" -> G~
    params: dict[str, np.ndarray] = field(default_factory=dict)  # updated params after the step
    visited: tuple[str, ...] = ()               # layers whose backward ran, in backward order


# ------------------------------------------------------------------------ trainer

class _WeightLayer:
    """Torch copies of one conv2d/linear layer's constants and (trainable) params."""

    def __init__(self, layer: Layer, graph: Graph):
        p = layer.params
        for key in ("weight", "bias", "w_scale", "multiplier", "shift"):
            if p.get(key) is None:
                raise TinyTrainError(f"reference_train: layer {layer.name!r} ({layer.op}) has no {key!r}; "
                                     f"the training oracle needs a quantized graph")
        if p["weight"].dtype != np.int8:
            raise TinyTrainError(f"reference_train: layer {layer.name!r} weight is {p['weight'].dtype}, expected int8")
        self.layer = layer
        self.w = torch.from_numpy(p["weight"].astype(np.int64))            # integer-valued, updated in place
        self.b = torch.from_numpy(np.asarray(p["bias"]).astype(np.int64).reshape(-1))
        self.s_w = torch.from_numpy(np.asarray(p["w_scale"], dtype=np.float32).reshape(-1))
        self.mult = torch.from_numpy(np.asarray(p["multiplier"]).astype(np.int64).reshape(-1))
        self.shift = torch.from_numpy(np.asarray(p["shift"]).astype(np.int64).reshape(-1))
        self.x_q = graph.q_of(layer.inputs[0])
        self.y_q = graph.q_of(layer.name)
        self.s_x = torch.tensor(self.x_q.scale, dtype=torch.float32)
        o = self.w.shape[0]
        for name, t in (("bias", self.b), ("w_scale", self.s_w), ("multiplier", self.mult), ("shift", self.shift)):
            if t.numel() != o:
                raise TinyTrainError(f"reference_train: layer {layer.name!r}: {name} has {t.numel()} values "
                                     f"for {o} output channels")
        self.refresh()

    def refresh(self):
        """The weights in the dtype of the exact integer convolution: float32 when every partial
        sum is provably below 2**24 (|x - x_zero| <= 255), else float64 (exact below 2**53)."""
        reach = 255 * int(self.w.reshape(self.w.shape[0], -1).abs().sum(dim=1).max())
        self.w_exact = self.w.to(torch.float32 if reach < 2**24 else torch.float64)

    def w_r(self) -> torch.Tensor:
        """Real weights s_w[o] * w (float32)."""
        shape = (-1,) + (1,) * (self.w.dim() - 1)
        return self.s_w.reshape(shape) * self.w.to(torch.float32)


class TorchTrainer:
    """One int8 training step of `graph` under a resolved `scheme`, in PyTorch (a test oracle)."""

    def __init__(self, graph: Graph, scheme: Scheme):
        if not graph.quantized:
            raise TinyTrainError(f"reference_train: graph {graph.name!r} is not quantized (no input_q)")
        graph.check()
        self.graph = copy.deepcopy(graph)
        self.scheme = scheme
        self._layers = {layer.name: layer for layer in self.graph.layers}
        self._validate_scheme()
        self.weights = {layer.name: _WeightLayer(layer, self.graph) for layer in self.graph.weight_layers()}
        self.head = self._layers[self.graph.output]
        self.W = self.B = None
        self.velocity: dict[str, torch.Tensor] = {}  # optimizer state with momentum, by state name
        self.copies: dict[str, torch.Tensor] = {}    # optimizer state with float_copy, by state name
        if scheme.fp32_classifier:
            if self.head.op != "linear":
                raise TinyTrainError(f"reference_train: fp32_classifier needs a linear output layer, "
                                     f"{self.head.name!r} is a {self.head.op}")
            wl = self.weights[self.head.name]
            self.W = wl.w_r().clone()                                   # W = s_w w
            self.B = (wl.s_w * wl.s_x) * wl.b.to(torch.float32)         # B = s_w s_x b
        # below[L]: L or a layer it (transitively) reads from updates something
        self._below: dict[str, bool] = {}
        for layer in self.graph.layers:
            self._below[layer.name] = scheme.updates(layer.name) or any(
                self._below.get(src, False) for src in layer.inputs if src != INPUT)

    # ---------------------------------------------------------------- validation

    def _validate_scheme(self):
        s = self.scheme
        for what, names in (("bias", s.bias), ("weights", tuple(s.weights))):
            for name in names:
                layer = self._layers.get(name)
                if layer is None:
                    known = [l.name for l in self.graph.weight_layers()]
                    raise TinyTrainError(f"scheme {s.name!r}: {what} names layer {name!r}, which graph "
                                         f"{self.graph.name!r} does not have (weight layers: "
                                         f"{', '.join(known[:6])}{', ...' if len(known) > 6 else ''})")
                if not layer.has_weights:
                    raise TinyTrainError(f"scheme {s.name!r}: {what} names layer {name!r}, a {layer.op} "
                                         f"without parameters (only conv2d/linear layers can be trained)")
        for name, k in s.weights.items():
            layer = self._layers[name]
            c = _channels(layer)
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= c:
                raise TinyTrainError(f"scheme {s.name!r}: layer {name!r} updates k={k!r} input channels, but it "
                                     f"has {c}; k must be an integer in 1..{c}")
        for lr_name in ("lr_weight", "lr_bias"):
            lr = getattr(s, lr_name)
            if not np.isfinite(lr):
                raise TinyTrainError(f"scheme {s.name!r}: {lr_name}={lr!r} is not a finite number")

    def _check_input(self, x_q) -> torch.Tensor:
        expected = tuple(int(v) for v in self.graph.input_shape)
        x = np.asarray(x_q)
        if x.ndim == len(expected) + 1 and x.shape[0] == 1:
            x = x[0]
        if x.shape != expected or x.dtype != np.int8:
            raise ShapeError(f"reference_train ({self.graph.name!r}): expected an int8 input of shape {expected} "
                             f"(or (1, *{expected})), found {x.dtype} {tuple(x.shape)}")
        return torch.from_numpy(x.astype(np.int64))

    # ------------------------------------------------------------------- forward

    def _conv_int8(self, layer: Layer, x):
        wl = self.weights[layer.name]
        xf = (x - wl.x_q.zero).to(wl.w_exact.dtype)
        xp = _torch_pad(xf[None], _pad4(layer.attrs.get("padding")))
        acc = F.conv2d(xp, wl.w_exact, stride=conv_geometry.strides(layer.attrs),
                       dilation=conv_geometry.dilations(layer.attrs), groups=int(layer.attrs.get("groups", 1)))[0]
        acc = torch.round(acc).to(torch.int64) + wl.b.reshape(-1, 1, 1)
        return _requantize(acc, wl.mult.reshape(-1, 1, 1), wl.shift.reshape(-1, 1, 1), wl.y_q.zero,
                           *_act_range(layer))

    def _linear_int8(self, layer: Layer, x):
        wl = self.weights[layer.name]
        xf = (x.reshape(-1) - wl.x_q.zero).to(wl.w_exact.dtype)
        acc = torch.round(wl.w_exact @ xf).to(torch.int64) + wl.b
        return _requantize(acc, wl.mult, wl.shift, wl.y_q.zero, *_act_range(layer))

    def _add_int8(self, layer: Layer, a, b):
        if a.shape != b.shape:
            raise TinyTrainError(f"reference_train: add {layer.name!r} inputs have shapes {tuple(a.shape)}, "
                                 f"{tuple(b.shape)}")
        za, zb = (self.graph.q_of(src).zero for src in layer.inputs)
        v = (a - za) * int(layer.attrs["multiplier_a"]) + (b - zb) * int(layer.attrs["multiplier_b"])
        shift = torch.tensor(int(layer.attrs["shift"]), dtype=torch.int64)
        return _requantize(v, torch.tensor(1, dtype=torch.int64), shift, self.graph.q_of(layer.name).zero,
                           *_act_range(layer))

    def _concat_int8(self, layer: Layer, *xs):
        """Each input requantized to the output's quantization (quantization/concat.py), joined on channels."""
        y_zero = self.graph.q_of(layer.name).zero
        parts = [_requantize(x - self.graph.q_of(src).zero, torch.tensor(int(m), dtype=torch.int64),
                             torch.tensor(int(s), dtype=torch.int64), y_zero, -128, 127)
                 for x, src, m, s in zip(xs, layer.inputs, layer.attrs["multipliers"], layer.attrs["shifts"])]
        return torch.cat(parts, 0)

    def _avgpool_int8(self, layer: Layer, x):
        if pooling.is_global(layer.attrs):
            n = x.shape[1] * x.shape[2]
            s = x.sum(dim=(1, 2), keepdim=True)
        else:  # window sums of x - zero (padding: 0, the zero point) by a ones depthwise conv, exact in f64
            zero = self.graph.q_of(layer.inputs[0]).zero
            (kh, kw), stride, padding = pooling.window(layer.attrs)
            xp = _torch_pad((x - zero).to(torch.float64)[None], padding)
            ones = torch.ones(x.shape[0], 1, kh, kw, dtype=torch.float64)
            n = torch.from_numpy(pooling.divisors(layer.attrs, tuple(x.shape[1:])))
            s = torch.round(F.conv2d(xp, ones, stride=stride, groups=x.shape[0])[0]).to(torch.int64) + n * zero
        q = torch.div(s, n, rounding_mode="floor")
        r = s - q * n
        q = q + ((2 * r > n) | ((2 * r == n) & (q % 2 == 1))).to(torch.int64)
        return torch.clamp(q, -128, 127)

    @staticmethod
    def _maxpool_geometry(layer: Layer):
        kh, kw = _pair(layer.attrs["kernel"])
        sh, sw = _pair(layer.attrs.get("stride", layer.attrs["kernel"]))
        return (kh, kw), (sh, sw), _pad4(layer.attrs.get("padding"))

    def _maxpool_int8(self, layer: Layer, x):
        kernel, stride, padding = self._maxpool_geometry(layer)
        xp = _torch_pad(x.to(torch.float64)[None], padding, value=-float("inf"))
        return torch.round(F.max_pool2d(xp, kernel, stride)[0]).to(torch.int64)

    def _mul_int8(self, layer: Layer, x, gate):
        """(x - zx) * (g - zg), the gate (C, 1, 1) broadcast over H x W, requantized as the layer says."""
        zx, zg = (self.graph.q_of(src).zero for src in layer.inputs)
        mult, shift = (torch.tensor(int(layer.attrs[k]), dtype=torch.int64) for k in ("multiplier", "shift"))
        return _requantize((x - zx) * (gate - zg), mult, shift, self.graph.q_of(layer.name).zero, *_act_range(layer))

    def _forward(self, x) -> dict[str, torch.Tensor]:
        """int64 tensors of every tensor's int8 values ("input" included), plus the fp32 logits."""
        values = {INPUT: x}
        for layer in self.graph.layers:
            args = [values[src] for src in layer.inputs]
            if layer.op == "conv2d":
                y = self._conv_int8(layer, args[0])
            elif layer.op == "linear":
                if self.W is not None and layer is self.head:
                    continue  # the float classifier runs in _logits
                y = self._linear_int8(layer, args[0])
            elif layer.op == "add":
                y = self._add_int8(layer, *args)
            elif layer.op == "concat":
                y = self._concat_int8(layer, *args)
            elif layer.op == "avgpool":
                y = self._avgpool_int8(layer, args[0])
            elif layer.op == "maxpool":
                y = self._maxpool_int8(layer, args[0])
            elif layer.op == "flatten":
                y = args[0].reshape(-1)
            elif layer.op == "lut":
                y = torch.as_tensor(layer.params["table"]).to(torch.int64)[args[0] + 128]
            elif layer.op == "mul":
                y = self._mul_int8(layer, *args)
            else:
                raise UnsupportedOpError(f"reference_train: layer {layer.name!r} has unknown op {layer.op!r}")
            if tuple(y.shape) != tuple(layer.out_shape):
                raise TinyTrainError(f"reference_train: layer {layer.name!r} ({layer.op}) computed shape "
                                     f"{tuple(y.shape)} but the graph declares {tuple(layer.out_shape)}")
            values[layer.name] = y
        return values

    def _real(self, name: str, values) -> torch.Tensor:
        q = self.graph.q_of(name)
        return torch.tensor(q.scale, dtype=torch.float32) * (values[name] - q.zero).to(torch.float32)

    def _logits(self, values) -> torch.Tensor:
        head = self.head
        if self.W is not None:
            x_r = self._real(head.inputs[0], values).reshape(-1)
            return self.W @ x_r + self.B
        return self._real(head.name, values).reshape(-1)

    def forward(self, x_q) -> dict[str, np.ndarray]:
        """int8 outputs {layer: array} of the forward with the current params (fp32 head excluded)."""
        values = self._forward(self._check_input(x_q))
        return {name: v.numpy().astype(np.int8) for name, v in values.items() if name != INPUT}

    # ------------------------------------------------------------------ backward

    @staticmethod
    def _mask(y, layer: Layer) -> torch.Tensor:
        lo, hi = _act_range(layer)
        return ((y > lo) & (y < hi)).to(torch.float32)

    def _conv_backward(self, layer: Layer, d, x_r, need_dx: bool, k: int | None, need_db: bool):
        """dx_r (or None), dW_r[slice] (or None), db_r (or None) of a conv2d, all float32."""
        wl = self.weights[layer.name]
        stride, dilation = conv_geometry.strides(layer.attrs), conv_geometry.dilations(layer.attrs)
        padding = _pad4(layer.attrs.get("padding"))
        groups = int(layer.attrs.get("groups", 1))
        o, cg, kh, kw = wl.w.shape
        c, h, w = x_r.shape
        top, left, bottom, right = padding
        hp, wp = h + top + bottom, w + left + right
        dx = dw = db = None
        if need_db:
            db = d.sum(dim=(1, 2))
        if k is not None:
            # im2col of the padded real input: rows (c, ky, kx), columns output positions
            cols = F.unfold(_torch_pad(x_r[None], padding), (kh, kw), dilation=dilation, stride=stride)[0]
            cols = cols.reshape(groups, cg * kh * kw, -1)
            dg = d.reshape(groups, o // groups, -1)
            dw = torch.bmm(dg, cols.transpose(1, 2)).reshape(o, cg, kh, kw)
            rows, cols_ = _slice_rows(layer, k)
            dw = dw[rows, cols_]
        if need_dx:
            full = F.conv_transpose2d(d[None], wl.w_r(), stride=stride, groups=groups, dilation=dilation)[0]
            full = F.pad(full, (0, wp - full.shape[2], 0, hp - full.shape[1]))  # rows/cols no window reached
            dx = full[:, top:top + h, left:left + w]
        return dx, dw, db

    def _linear_backward(self, layer: Layer, d, x_r, need_dx: bool, k: int | None, need_db: bool):
        wl = self.weights[layer.name]
        x_r = x_r.reshape(-1)
        dx = wl.w_r().t() @ d if need_dx else None
        dw = torch.outer(d, x_r[:k]) if k is not None else None
        return dx, dw, (d.clone() if need_db else None)

    @staticmethod
    def _avgpool_backward(layer: Layer, g, in_hw):
        """g / n spread evenly over each window (a transposed ones conv), the padding cut off."""
        (kh, kw), stride, (top, left, bottom, right) = pooling.window(layer.attrs)
        c, h, w = g.shape[0], *in_hw
        n = torch.from_numpy(pooling.divisors(layer.attrs, in_hw).astype(np.float32))
        spread = F.conv_transpose2d((g / n)[None], torch.ones(c, 1, kh, kw), stride=stride, groups=c)[0]
        dxp = torch.zeros(c, h + top + bottom, w + left + right)
        dxp[:, :spread.shape[1], :spread.shape[2]] = spread
        return dxp[:, top:top + h, left:left + w]

    @staticmethod
    def _maxpool_backward(layer: Layer, g, x, kernel, stride, padding):
        """g to the first (row-major) maximum of each window, summed where windows overlap."""
        c, h, w = x.shape
        top, left, bottom, right = padding
        hp, wp = h + top + bottom, w + left + right
        xp = _torch_pad(x.to(torch.float64)[None], padding, value=-float("inf"))
        win = F.unfold(xp, kernel, stride=stride)[0].reshape(c, kernel[0] * kernel[1], -1)
        arg = torch.argmax(win, dim=1)                      # first maximum, row-major in the window
        oh, ow = g.shape[1], g.shape[2]
        oy = torch.arange(oh).repeat_interleave(ow)
        ox = torch.arange(ow).repeat(oh)
        ky, kx = arg // kernel[1], arg % kernel[1]
        pos = (oy * stride[0] + ky) * wp + (ox * stride[1] + kx)         # (c, L) flat index in padded input
        dxp = torch.zeros(c, hp * wp, dtype=torch.float32)
        dxp.scatter_add_(1, pos, g.reshape(c, -1))
        return dxp.reshape(c, hp, wp)[:, top:top + h, left:left + w]

    def _weight_grads(self, layer: Layer, dw, db, result: StepResult):
        """QAS scaling, the update of the layer's int8 weight slice and int32 bias."""
        wl = self.weights[layer.name]
        s = self.scheme
        lr_w, lr_b = self._lr_w, self._lr_b
        if dw is not None:
            s_w = wl.s_w[: dw.shape[0]].reshape((-1,) + (1,) * (dw.dim() - 1))
            g_w = dw / s_w if s.qas else s_w * dw
            result.grads[f"{layer.name}.weight"] = g_w.numpy().copy()
            g_w = self._with_momentum(f"{layer.name}.weight", g_w, result)
            rows, cols = _slice_rows(layer, s.weights[layer.name])
            old = wl.w[rows, cols]
            if s.float_copy:
                copy = self._moved_copy(f"{layer.name}.weight", old, lr_w * g_w, result)
                new = torch.clamp(torch.round(copy), -128, 127).to(torch.int64)
            else:
                u = stochastic_uniform(self._step, layer.conv_index, old.numel()).reshape(old.shape)
                v = old.to(torch.float32) - lr_w * g_w
                new = torch.clamp(torch.floor(v + u), -127, 127).to(torch.int64)
            wl.w[rows, cols] = new
            wl.refresh()
            result.params[f"{layer.name}.weight"] = wl.w.numpy().astype(np.int8)
        if db is not None:
            s_wx = wl.s_w * wl.s_x
            g_b = db / s_wx if s.qas else s_wx * db
            result.grads[f"{layer.name}.bias"] = g_b.numpy().copy()
            g_b = self._with_momentum(f"{layer.name}.bias", g_b, result)
            limit = bias_limit(wl.w[0].numel())
            if s.float_copy:
                copy = self._moved_copy(f"{layer.name}.bias", wl.b, lr_b * g_b, result)
                wl.b = torch.clamp(torch.clamp(torch.round(copy), -2.0**31, 2.0**31).to(torch.int64), -limit, limit)
            else:
                delta = torch.round(lr_b * g_b)
                delta = torch.clamp(delta, -2.0**31, 2.0**31).to(torch.int64)
                wl.b = torch.clamp(wl.b - delta, -limit, limit)
            result.params[f"{layer.name}.bias"] = wl.b.numpy().astype(np.int32)

    def _with_momentum(self, param: str, g, result: StepResult):
        """SGD momentum: v <- m v + g (float32, product and sum rounded separately), applied instead of g."""
        if not self.scheme.momentum:
            return g
        name = state_name(param)
        v = self.velocity.get(name, torch.zeros_like(g))
        v = torch.tensor(self.scheme.momentum, dtype=torch.float32) * v + g
        self.velocity[name] = v
        result.params[name] = v.numpy().copy()
        return v

    def _moved_copy(self, param: str, integers, step, result: StepResult):
        """The float copy of `param`'s trained slice (starting at `integers` as float32) minus `step`."""
        name = state_name(param, FLOAT_COPY)
        copy = self.copies.get(name, integers.to(torch.float32)) - step
        self.copies[name] = copy
        result.params[name] = copy.numpy().copy()
        return copy

    def _fp32_head_backward(self, g_l, x_r, need_dx: bool, result: StepResult):
        head, s = self.head, self.scheme
        x_r = x_r.reshape(-1)
        dx = self.W.t() @ g_l if need_dx else None     # before the update
        lr_w, lr_b = self._lr_w, self._lr_b
        if head.name in s.weights:
            k = s.weights[head.name]
            dW = torch.outer(g_l, x_r[:k])
            result.grads[f"{head.name}.weight"] = dW.numpy().copy()
            dW = self._with_momentum(f"{head.name}.weight", dW, result)
            self.W[:, :k] = self.W[:, :k] - lr_w * dW
            result.params[f"{head.name}.weight"] = self.W.numpy().copy()
        if head.name in s.bias:
            result.grads[f"{head.name}.bias"] = g_l.numpy().copy()
            self.B = self.B - lr_b * self._with_momentum(f"{head.name}.bias", g_l, result)
            result.params[f"{head.name}.bias"] = self.B.numpy().copy()
        return dx

    # ---------------------------------------------------------------------- step

    def step(self, x_q, label, step_index: int, lr_weight: float | None = None,
             lr_bias: float | None = None) -> StepResult:
        """Forward, loss, backward and SGD update on one sample (`label`: a class index, or with the
        MSE loss the float32 target, shaped like the output); returns what the step computed."""
        if self.scheme.loss == "mse":
            label = self._check_target(label)
        elif isinstance(label, bool) or not isinstance(label, (int, np.integer)) or \
                not 0 <= int(label) < self.graph.num_classes:
            raise TinyTrainError(f"reference_train: label {label!r} is not a class index of "
                                 f"{self.graph.name!r} (0..{self.graph.num_classes - 1})")
        if isinstance(step_index, bool) or not isinstance(step_index, (int, np.integer)) or step_index < 0:
            raise TinyTrainError(f"reference_train: step_index must be a non-negative integer, got {step_index!r}")
        lr_w = self.scheme.lr_weight if lr_weight is None else lr_weight
        lr_b = self.scheme.lr_bias if lr_bias is None else lr_bias
        for name, lr in (("lr_weight", lr_w), ("lr_bias", lr_b)):
            if not np.isfinite(lr):
                raise TinyTrainError(f"reference_train: {name}={lr!r} is not a finite number")
        self._lr_w = torch.tensor(float(lr_w), dtype=torch.float32)   # the step's float32 inputs
        self._lr_b = torch.tensor(float(lr_b), dtype=torch.float32)
        self._step = int(step_index) & U32
        return self._step_impl(self._check_input(x_q), label if self.scheme.loss == "mse" else int(label))

    def _check_target(self, target) -> torch.Tensor:
        t = np.asarray(target)
        n = self.graph.num_classes
        if t.dtype != np.float32 or t.size != n or not np.isfinite(t).all():
            raise TinyTrainError(f"reference_train: the MSE target must be {n} finite float32 values (the output's "
                                 f"size), got {t.dtype} {tuple(t.shape)}")
        return torch.from_numpy(t.reshape(-1).copy())

    @staticmethod
    def _loss_and_grad(logits, label):
        """(loss, gradient of the real output): cross-entropy on a class index, or the MSE on a
        float32 target: sum((y - t)^2) / n and ((y - t) * 2) / n."""
        if isinstance(label, torch.Tensor):
            d = logits - label
            n = torch.tensor(float(d.numel()), dtype=torch.float32)
            return (d * d).sum() / n, (d * 2.0) / n
        m = logits.max()
        lse = m + torch.log(torch.exp(logits - m).sum())
        onehot = torch.zeros_like(logits)
        onehot[label] = 1.0
        return lse - logits[label], torch.exp(logits - lse) - onehot

    def _step_impl(self, x, label) -> StepResult:
        values = self._forward(x)
        logits = self._logits(values)
        loss, g_l = self._loss_and_grad(logits, label)

        result = StepResult(loss=float(loss), logits=logits.numpy().copy(),
                            activations={n: v.numpy().astype(np.int8) for n, v in values.items() if n != INPUT})
        grads: dict[str, torch.Tensor] = {self.head.name: g_l}
        visited = []
        for layer in reversed(self.graph.layers):
            if not self._below[layer.name]:
                continue
            g = grads.pop(layer.name, None)
            if g is None:  # not on a path to the output: its output gradient is zero
                g = torch.zeros(tuple(layer.out_shape), dtype=torch.float32)
            visited.append(layer.name)
            needs = [src != INPUT and self._below[src] for src in layer.inputs]
            dxs = self._layer_backward(layer, g.reshape(tuple(layer.out_shape)), values, needs[0] if needs else False,
                                       result)
            for src, need, dx in zip(layer.inputs, needs, dxs):
                if need:
                    grads[src] = grads[src] + dx if src in grads else dx
        result.visited = tuple(visited)
        return result

    def _layer_backward(self, layer: Layer, g, values, need_dx: bool, result: StepResult):
        """Gradients of the layer's inputs (one per input, None where not needed); updates params."""
        s = self.scheme
        if layer.op in ("conv2d", "linear"):
            src = layer.inputs[0]
            x_r = self._real(src, values)
            if layer is self.head and self.W is not None:
                return (self._fp32_head_backward(g, x_r, need_dx, result),)
            d = g * self._mask(values[layer.name], layer)
            k = s.weights.get(layer.name)
            back = self._conv_backward if layer.op == "conv2d" else self._linear_backward
            dx, dw, db = back(layer, d, x_r, need_dx, k, layer.name in s.bias)
            self._weight_grads(layer, dw, db, result)   # dx above used the weights of the forward
            return (dx,)
        if layer.op == "add":
            d = g * self._mask(values[layer.name], layer)
            return (d, d)
        if layer.op == "concat":  # straight through: each input's channels of g (docs/training-semantics.md)
            return tuple(torch.split(g, [int(values[src].shape[0]) for src in layer.inputs], 0))
        if layer.op == "avgpool":
            c, h, w = values[layer.inputs[0]].shape
            if pooling.is_global(layer.attrs):
                return ((g.reshape(c, 1, 1) / float(h * w)).expand(c, h, w).clone(),)
            return (self._avgpool_backward(layer, g, (h, w)),)
        if layer.op == "flatten":
            return (g.reshape(values[layer.inputs[0]].shape),)
        if layer.op == "lut":
            with torch.enable_grad():
                x_r = self._real(layer.inputs[0], values).detach().requires_grad_(True)
                y_r = TORCH_FUNCTIONS[layer.attrs["fn"]](x_r, float(layer.attrs.get("alpha", 0.0)))
                return (torch.autograd.grad(y_r, x_r, g)[0],)
        if layer.op == "mul":  # y_r = x_r * g_r: each factor's gradient is d times the other's real value
            d = g * self._mask(values[layer.name], layer)
            x_r, g_r = (self._real(src, values) for src in layer.inputs)
            d_gate = d * x_r
            return (d * g_r, d_gate if g_r.shape == x_r.shape else d_gate.sum((1, 2), keepdim=True))
        if layer.op == "maxpool":
            kernel, stride, padding = self._maxpool_geometry(layer)
            return (self._maxpool_backward(layer, g, values[layer.inputs[0]], kernel, stride, padding),)
        raise UnsupportedOpError(f"reference_train: no backward for op {layer.op!r} ({layer.name!r})")

    # -------------------------------------------------------------------- params

    def params(self) -> dict[str, np.ndarray]:
        """Current trainable params: "<layer>.weight" int8 (full), "<layer>.bias" int32; float32 W/B
        of the fp32 classifier."""
        out = {}
        for layer in self.graph.weight_layers():
            name = layer.name
            fp32 = self.W is not None and layer is self.head
            if name in self.scheme.weights:
                out[f"{name}.weight"] = self.W.numpy().copy() if fp32 else \
                    self.weights[name].w.numpy().astype(np.int8)
            if name in self.scheme.bias:
                out[f"{name}.bias"] = self.B.numpy().copy() if fp32 else \
                    self.weights[name].b.numpy().astype(np.int32)
        return out

    def load_params(self, params: dict[str, np.ndarray]):
        """Set trainable params (as returned by `params()`), e.g. to start the next step from
        another implementation's state so that each step is compared on its own."""
        for name, value in params.items():
            if is_state(name):
                states = self.copies if name.endswith(f".{FLOAT_COPY}") else self.velocity
                states[name] = torch.from_numpy(np.asarray(value, np.float32).copy())
                continue
            layer, key = name.rsplit(".", 1)
            if self.W is not None and layer == self.head.name:
                target = self.W if key == "weight" else self.B
                target.copy_(torch.from_numpy(np.asarray(value, np.float32)).reshape(target.shape))
                continue
            wl = self.weights[layer]
            tensor = wl.w if key == "weight" else wl.b
            tensor.copy_(torch.from_numpy(np.asarray(value).astype(np.int64)).reshape(tensor.shape))
            wl.refresh()

    def fp32_classifier(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(W, B) float32 of the fp32 classifier, or None without one."""
        return None if self.W is None else (self.W.numpy().copy(), self.B.numpy().copy())

    def graph_with_params(self) -> Graph:
        """A copy of the graph carrying the current int8 weights and int32 biases (the fp32
        classifier, having no int8 form, keeps the graph's original int8 classifier)."""
        graph = copy.deepcopy(self.graph)
        for layer in graph.weight_layers():
            if self.W is not None and layer.name == self.head.name:
                continue
            wl = self.weights[layer.name]
            layer.params["weight"] = wl.w.numpy().astype(np.int8)
            layer.params["bias"] = wl.b.numpy().astype(np.int32)
        return graph
