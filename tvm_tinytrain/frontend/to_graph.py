"""Read an fp32 Relax module (detached params, batch norms folded) as a float layer graph.

Patterns, in the order the frontends produce them:

    conv2d(x, W) [+ bias] [relu | clip(0, 6)]          -> conv2d layer (act None/relu/relu6)
    matmul(x, permute_dims(W)) [+ bias] [relu]          -> linear layer
    add(a, b) of two layer outputs [relu]               -> add layer
    concat((a, b, ...), axis=1) of layer outputs         -> concat layer
    max_pool2d / avg_pool2d / mean over H, W / reshape  -> maxpool / avgpool / flatten
    a chain of elementwise ops that is one activation   -> lut layer (frontend/elementwise.py)
    multiply(x, gate) of two layer outputs, any other   -> mul layer (the (C, 1, 1) factor is the gate)

The 1-D family (N x C x L) is the 2-D one with H = 1: a (1, C, L) tensor is the layer shape
(C, 1, L), conv1d a conv2d with a 1 x k kernel, and the importer's expand_dims / squeeze of the
H axis around a 1-D pool are no-ops on that layout.

A bias add or activation is absorbed into the layer that produces its input only when
that layer's output has no other use.  Every other op is collected, naming it and the layer
after which it appears, and all are reported in one UnsupportedOpError.
"""
from __future__ import annotations

import math

import numpy as np

from .._tvm import op_name, relax, shape_of
from .. import conv_geometry, pooling
from ..graph import INPUT, Graph, Layer
from ..passes.relax_utils import bindings_of, constant_value, use_counts
from .elementwise import find_activations
from .torch import SUPPORTED_TEXT, RelaxModel
from .unsupported import Problems


def to_graph(model: RelaxModel) -> Graph:
    return _Extractor(model).run()


class _Extractor:
    def __init__(self, model: RelaxModel):
        self.model = model
        self.func = model.mod["main"]
        self.binds = bindings_of(self.func)
        self.uses = use_counts(self.func)
        self.layers: list[Layer] = []
        self.produced = {self.func.params[0]: INPUT}  # Var -> layer name whose output it is
        self.counts: dict[str, int] = {}
        self.problems = Problems("import")
        self.activations = find_activations(self.func, model.params, self.binds, self.uses)
        self.in_activation = {v for _, _, _, chain in self.activations.values() for v in chain}

    def run(self) -> Graph:
        """All bindings, collecting what cannot be represented; a binding that reads the result of an
        unsupported one is skipped silently (its own problem, if any, is not knowable)."""
        for var, value in self.binds.items():
            if self._is_constant(var):
                continue
            if var in self.in_activation:
                self._activation_layer(var)
                continue
            handler = _HANDLERS.get(op_name(value)) if isinstance(value, relax.Call) else None
            try:
                if any(self.produced.get(arg) is _UNKNOWN for arg in _var_args(value)):
                    raise _Skip
                if handler is None:
                    self._unsupported(var, value)
                handler(self, var, value)
            except _Skip:
                self.produced[var] = _UNKNOWN
        self.problems.raise_if_any(SUPPORTED_TEXT)
        result = self.func.body.body
        graph = Graph(self.model.name, self.model.input_shape, self.layers, output=self.produced[result])
        return graph.check()

    # -- helpers ----------------------------------------------------------------------
    def _is_constant(self, var) -> bool:
        return constant_value(var, self.model.params, self.binds)[0] is not None

    def _source(self, expr, var) -> str:
        if expr not in self.produced:
            self._unsupported(var, self.binds[var])
        return self.produced[expr]

    def _new(self, var, op, base_name, inputs, attrs=None, params=None):
        name = base_name or self._auto_name(op)
        layer = Layer(name, op, tuple(inputs), _layer_shape(var), attrs or {}, params or {})
        self.layers.append(layer)
        self.produced[var] = name
        return layer

    def _auto_name(self, op):
        self.counts[op] = self.counts.get(op, 0) + 1
        return f"{op}{self.counts[op]}" if self.counts[op] > 1 else op

    def _fusable(self, expr):
        """The layer producing `expr`, if `expr` is used only once (by the op being absorbed).

        The layer need not be the latest one: TVM's ONNX importer emits a conv's bias add
        after the convs of a parallel branch (TinyResNet's downsample shortcut).  Single use
        means no other layer has read the value before the bias / activation.
        """
        name = self.produced.get(expr)
        if name is None or name == INPUT or self.uses.get(expr, 0) != 1:
            return None
        return next((layer for layer in reversed(self.layers) if layer.name == name), None)

    def _unsupported(self, var, value, reason: str = "is not supported"):
        """Record the problem (`reason` names the attribute and value when the op itself is supported)
        and abandon this binding."""
        op = op_name(value) or type(value).__name__
        after = self.layers[-1].name if self.layers else "the input"
        self.problems.add(f"operator {op} {reason}", f"Relax binding {var.name} after layer {after!r}")
        raise _Skip

    def _activation_layer(self, var):
        """The end of an elementwise chain (frontend/elementwise.py) becomes one lut layer."""
        if var not in self.activations:
            return
        root, fn, alpha, chain = self.activations[var]
        if self.produced.get(root) is _UNKNOWN:
            self.produced[var] = _UNKNOWN
            return
        try:
            self._new(var, "lut", None, [self._source(root, var)], {"fn": fn, "alpha": alpha})
        except _Skip:
            self.produced[var] = _UNKNOWN

    # -- one handler per Relax op ---------------------------------------------------------
    def conv2d(self, var, call):
        weight, base = constant_value(call.args[1], self.model.params, self.binds)
        attrs = call.attrs
        dilation = [int(d) for d in attrs.dilation]
        strides = [int(s) for s in attrs.strides]
        if weight is None:
            self._unsupported(var, call, "has a weight that is computed, not a parameter (not supported)")
        if attrs.data_layout != "NCHW":
            self._unsupported(var, call, f"has data layout {attrs.data_layout} (only NCHW is supported)")
        layer_attrs = {**conv_geometry.compact(strides, dilation), "padding": tuple(int(p) for p in attrs.padding),
                       "groups": int(attrs.groups), "act": None}
        params = {"weight": weight.astype(np.float32), "bias": np.zeros(weight.shape[0], np.float32)}
        self._new(var, "conv2d", _layer_name(base), [self._source(call.args[0], var)], layer_attrs, params)

    def conv1d(self, var, call):
        """conv1d(x (1, C, L), W (O, C/g, k)) is the conv2d of a (C, 1, L) map with a 1 x k kernel."""
        weight, base = constant_value(call.args[1], self.model.params, self.binds)
        attrs = call.attrs
        if weight is None:
            self._unsupported(var, call, "has a weight that is computed, not a parameter (not supported)")
        if attrs.data_layout != "NCW":
            self._unsupported(var, call, f"has data layout {attrs.data_layout} (only NCW is supported)")
        left, right = (int(p) for p in attrs.padding)
        # stride s along W and, harmlessly, along H: a 1-row kernel on a 1-row map gives 1 row for any s
        geometry = conv_geometry.compact(int(attrs.strides[0]), (1, int(attrs.dilation[0])))
        layer_attrs = {**geometry, "padding": (0, left, 0, right), "groups": int(attrs.groups), "act": None}
        params = {"weight": weight.astype(np.float32)[:, :, None, :],
                  "bias": np.zeros(weight.shape[0], np.float32)}
        self._new(var, "conv2d", _layer_name(base), [self._source(call.args[0], var)], layer_attrs, params)

    def height_axis(self, var, call):
        """expand_dims / squeeze of the H axis of a 1-D tensor: the layer shape (C, 1, L) already has it."""
        src, out = shape_of(call.args[0]), shape_of(var)
        if sorted((len(src), len(out))) != [3, 4] or _layer_shape(var) != _layer_shape(call.args[0]):
            self._unsupported(var, call)
        self.alias(var, call)

    def matmul(self, var, call):
        weight_t, base = constant_value(call.args[1], self.model.params, self.binds)
        if weight_t is None or weight_t.ndim != 2:
            self._unsupported(var, call)
        params = {"weight": np.ascontiguousarray(weight_t.T.astype(np.float32)),
                  "bias": np.zeros(weight_t.shape[1], np.float32)}
        self._new(var, "linear", _layer_name(base), [self._source(call.args[0], var)], {"act": None}, params)

    def add(self, var, call):
        a, b = call.args
        for tensor, other in ((a, b), (b, a)):
            bias, _ = constant_value(other, self.model.params, self.binds)
            if bias is not None:
                layer = self._fusable(tensor)
                if layer is None or layer.op not in ("conv2d", "linear") or layer.attrs["act"] is not None \
                        or bias.size != layer.params["bias"].size:
                    self._unsupported(var, call)
                layer.params["bias"] = layer.params["bias"] + bias.reshape(-1).astype(np.float32)
                self.produced[var] = layer.name
                return
        inputs = [self._source(a, var), self._source(b, var)]
        self._new(var, "add", None, inputs, {"act": None})

    def concat(self, var, call):
        """concat along channels (axis 1 of (1, C, H, W) or of a 1-D (1, C, L)) of 2 or more layer outputs."""
        fields = call.args[0]
        fields = self.binds.get(fields, fields) if isinstance(fields, relax.Var) else fields
        if not isinstance(fields, relax.Tuple):
            self._unsupported(var, call, "joins a tuple that is not written out (not supported)")
        if any(self.produced.get(f) is _UNKNOWN for f in fields.fields):
            raise _Skip
        rank = len(shape_of(var))
        axis = int(call.attrs.axis) % rank if call.attrs.axis is not None else None
        if rank not in (3, 4) or axis != 1:
            self._unsupported(var, call, f"joins along axis {call.attrs.axis} of a {rank}-D tensor (only along "
                                         f"channels, axis 1 of N x C x H x W or N x C x L, is supported)")
        if len(fields.fields) < 2:
            self._unsupported(var, call, "joins fewer than 2 tensors (not supported)")
        self._new(var, "concat", None, [self._source(f, var) for f in fields.fields])

    def relu(self, var, call):
        self._activation(var, call, "relu")

    def clip(self, var, call):
        lo, hi = (float(v.value) for v in call.args[1:3])
        if lo == 0 and hi == 6:
            self._activation(var, call, "relu6")
        elif lo == 0 and math.isinf(hi):
            self._activation(var, call, "relu")
        else:
            self._unsupported(var, call, f"clips to [{lo:g}, {hi:g}] (only ReLU [0, inf) and ReLU6 [0, 6] are "
                                         f"supported)")

    def _activation(self, var, call, act):
        layer = self._fusable(call.args[0])
        if layer is None or layer.op not in ("conv2d", "linear", "add", "mul") or layer.attrs["act"] is not None:
            self._unsupported(var, call)
        layer.attrs["act"] = act
        self.produced[var] = layer.name

    def _window(self, var, call, count_include_pad=None) -> dict:
        """A pool's window attrs (pooling.normalized), the unsupported ones named with their values."""
        a = call.attrs
        if a.ceil_mode:
            self._unsupported(var, call, "has ceil_mode=True (only ceil_mode=False is supported)")
        if any(int(d) != 1 for d in a.dilation):
            self._unsupported(var, call, f"has dilation={tuple(int(d) for d in a.dilation)} (only 1 is supported)")
        kernel, stride, pad = ([int(v) for v in values] for values in (a.pool_size, a.strides, a.padding))
        if len(kernel) == 1:  # a 1-D pool: along W of the (C, 1, L) layout
            kernel, stride, pad = [1, kernel[0]], [1, stride[0]], [0, pad[0], 0, pad[1]]
        attrs = pooling.normalized({"kernel": kernel, "stride": stride,
                                    "padding": pad if len(pad) != 2 else [pad[0], pad[1], pad[0], pad[1]]})
        if count_include_pad is not None:
            attrs["count_include_pad"] = count_include_pad
        reason = pooling.problem(attrs, _layer_shape(call.args[0])[1:])
        if reason:
            self._unsupported(var, call, f"has {reason}")
        return attrs

    def max_pool2d(self, var, call):
        self._new(var, "maxpool", None, [self._source(call.args[0], var)], self._window(var, call))

    def mean(self, var, call):
        src = self._source(call.args[0], var)
        rank = len(shape_of(call.args[0]))
        axes = sorted(int(ax) % rank for ax in call.attrs.axis)
        if (rank, axes) not in ((4, [2, 3]), (3, [2])):  # over H, W, or over L of a 1-D tensor
            self._unsupported(var, call)
        if call.attrs.keepdims:
            self._new(var, "avgpool", None, [src])
            return
        pooled = self._new(var, "avgpool", None, [src])
        pooled.out_shape = (shape_of(var)[1], 1, 1)
        self._new(var, "flatten", None, [pooled.name])

    def adaptive_avg_pool2d(self, var, call):
        """To (1, 1): global; to a size dividing the input: the plain average pool it equals."""
        in_hw, out_hw = tuple(shape_of(call.args[0])[2:]), tuple(shape_of(var)[2:])
        if out_hw == (1, 1):
            self._new(var, "avgpool", None, [self._source(call.args[0], var)])
            return
        if any(o < 1 or i % o for i, o in zip(in_hw, out_hw)):
            self._unsupported(var, call, f"pools a {in_hw} map to {out_hw} (only to sizes dividing the input are "
                                         f"supported)")
        step = [i // o for i, o in zip(in_hw, out_hw)]
        attrs = {"kernel": tuple(step), "stride": tuple(step), "padding": (0, 0, 0, 0), "count_include_pad": True}
        self._new(var, "avgpool", None, [self._source(call.args[0], var)], attrs)

    def avg_pool2d(self, var, call):
        """A window over the whole map without padding is global average pooling; any other window is a
        windowed average pool (count_include_pad as the op says)."""
        a = call.attrs
        pool = tuple(int(k) for k in a.pool_size)
        if pool == tuple(shape_of(call.args[0])[2:]) and not any(int(p) for p in a.padding) and not a.ceil_mode:
            # over the whole map (or the whole length of a 1-D tensor): global
            self._new(var, "avgpool", None, [self._source(call.args[0], var)])
            return
        attrs = self._window(var, call, bool(a.count_include_pad))
        self._new(var, "avgpool", None, [self._source(call.args[0], var)], attrs)

    def reshape(self, var, call):
        out = shape_of(var)
        if len(out) != 2 or out[0] != 1:
            self._unsupported(var, call)
        self._new(var, "flatten", None, [self._source(call.args[0], var)])

    def alias(self, var, call):
        self.produced[var] = self._source(call.args[0], var)

    def multiply(self, var, call):
        """A product of two layer outputs (one that is not an activation: elementwise.py took those), as
        squeeze-and-excitation's x * gate: a (N, C, H, W) tensor by a (N, C, 1, 1) gate or by its own shape."""
        factors = list(call.args)
        if any(constant_value(f, self.model.params, self.binds)[0] is not None for f in factors):
            self._unsupported(var, call, "multiplies by a constant (only a product of two tensors is supported)")
        out = tuple(shape_of(var))
        if tuple(shape_of(factors[0])) != out:
            factors.reverse()
        gate = tuple(shape_of(factors[1]))
        if len(out) != 4 or tuple(shape_of(factors[0])) != out or gate not in (out, (out[0], out[1], 1, 1)):
            self._unsupported(var, call, f"multiplies shapes {[list(shape_of(f)) for f in call.args]} (supported: "
                                         f"N x C x H x W by N x C x 1 x 1 or by the same shape)")
        self._new(var, "mul", None, [self._source(f, var) for f in factors], {"act": None})


_HANDLERS = {
    "relax.nn.conv2d": _Extractor.conv2d,
    "relax.nn.conv1d": _Extractor.conv1d,
    "relax.expand_dims": _Extractor.height_axis,
    "relax.squeeze": _Extractor.height_axis,
    "relax.matmul": _Extractor.matmul,
    "relax.add": _Extractor.add,
    "relax.concat": _Extractor.concat,
    "relax.nn.relu": _Extractor.relu,
    "relax.clip": _Extractor.clip,
    "relax.nn.max_pool2d": _Extractor.max_pool2d,
    "relax.nn.max_pool1d": _Extractor.max_pool2d,
    "relax.nn.avg_pool1d": _Extractor.avg_pool2d,
    "relax.mean": _Extractor.mean,
    "relax.nn.adaptive_avg_pool2d": _Extractor.adaptive_avg_pool2d,
    "relax.nn.avg_pool2d": _Extractor.avg_pool2d,
    "relax.reshape": _Extractor.reshape,
    "relax.flatten": _Extractor.reshape,
    "relax.nn.dropout": _Extractor.alias,
    "relax.multiply": _Extractor.multiply,
}


class _Skip(Exception):
    """This binding cannot become (part of) a layer; the problem, if any, is recorded."""


_UNKNOWN = object()  # what an abandoned binding produced


def _var_args(value) -> list:
    return [a for a in value.args if isinstance(a, relax.Var)] if isinstance(value, relax.Call) else []


def _layer_shape(var) -> tuple:
    """A value's shape without the batch axis; a 1-D (1, C, L) tensor as (C, 1, L)."""
    shape = tuple(shape_of(var)[1:])
    return (shape[0], 1, shape[1]) if len(shape) == 2 else shape


def _layer_name(param) -> str | None:
    """`features.3.conv.0.weight` -> `features.3.conv.0` (None for unnamed constants)."""
    if param is None:
        return None
    name = param.name
    return name[: -len(".weight")] if name.endswith(".weight") else name
