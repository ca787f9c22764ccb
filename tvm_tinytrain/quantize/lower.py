"""Lower a quantized layer graph to a Relax IRModule of real int8 arithmetic.

The module has tensors that really are int8 / int16 / int32 / int64 (no fake-quantized
float): TVM builds it for llvm and it runs.  Each layer becomes a few primitive Relax
ops, exactly as docs/int8-semantics.md specifies:

    conv2d   x_c  = astype(x, int16) - x_zero          (padding 0 here = x_zero in int8)
             acc  = conv2d(x_c, w_int8, out_dtype=int32) + bias
             out  = astype(clip(((acc * mult + round) >> shift) + y_zero, lo, hi), int8)
    add      ((a - za) * mult_a + (b - zb) * mult_b + round) >> shift, + y_zero, clip
    avgpool  round_half_even(sum(x) / (H*W)) in integer ops
    maxpool  nn.max_pool2d on int8;  flatten: reshape

Bound variables are named after their layer (`blocks_3_depthwise_acc`), so the printed
module can be read against `tvm-tinytrain inspect`.
"""
from __future__ import annotations

import numpy as np

from .._tvm import relax, tensor_type
from ..errors import TinyTrainError
from ..graph import INPUT, Graph, Layer


def to_relax(graph: Graph, outputs: str = "logits", params_as_inputs: bool = False):
    """`main(x: int8[1, C, H, W])` -> int8 logits `[1, classes]`.

    outputs="all" returns the tuple of every layer's output instead, in layer order (for
    layer-by-layer comparison with the numpy reference).  With params_as_inputs the conv
    and linear weights and biases become function parameters named `<layer>.weight` /
    `<layer>.bias`, and the function returns `(mod, {name: array})`.
    """
    if not graph.quantized:
        raise TinyTrainError(f"to_relax: graph {graph.name!r} is not quantized; run tvm_tinytrain.quantize first")
    if outputs not in ("logits", "all"):
        raise TinyTrainError(f"to_relax: outputs must be 'logits' or 'all', got {outputs!r}")
    lowering = _Lowering(graph, params_as_inputs)
    mod = lowering.run(outputs)
    return (mod, lowering.param_values) if params_as_inputs else mod


class _Lowering:
    def __init__(self, graph: Graph, params_as_inputs: bool):
        self.graph = graph
        self.params_as_inputs = params_as_inputs
        self.param_vars: list = []
        self.param_values: dict[str, np.ndarray] = {}
        self.bb = relax.BlockBuilder()

    def run(self, outputs: str):
        graph, bb = self.graph, self.bb
        x = relax.Var("x", tensor_type((1, *graph.input_shape), "int8"))
        # Parameters are discovered while lowering, so the body is built first, then the signature.
        with bb.function("main"):
            with bb.dataflow():
                values = {INPUT: x}
                for layer in graph.layers:
                    values[layer.name] = _LOWER[layer.op](self, layer, [values[s] for s in layer.inputs])
                if outputs == "all":
                    result = bb.emit_output(relax.Tuple([values[layer.name] for layer in graph.layers]))
                else:
                    result = bb.emit_output(values[graph.output])
            bb.emit_func_output(result, params=[x, *self.param_vars])
        mod = bb.get()
        if self.params_as_inputs:
            mod["main"] = mod["main"].with_attr("num_input", 1)
        return mod

    # -- helpers ------------------------------------------------------------------
    def emit(self, expr, layer: Layer, role: str):
        return self.bb.emit(expr, name_hint=f"{layer.name.replace('.', '_')}_{role}")

    def param(self, layer: Layer, key: str):
        value = layer.params[key]
        if not self.params_as_inputs:
            return relax.const(value, str(value.dtype))
        name = f"{layer.name}.{key}"
        var = relax.Var(name, tensor_type(value.shape, str(value.dtype)))
        self.param_vars.append(var)
        self.param_values[name] = value
        return var

    def centered(self, x, zero: int, layer: Layer):
        """x - zero in int16: exact for int8 x and any int8 zero point."""
        return self.emit(relax.op.subtract(relax.op.astype(x, "int16"), relax.const(zero, "int16")),
                         layer, "centered")

    def requantize(self, acc, layer: Layer, mult, shift, add_zero: bool = True):
        """int8 out = clip(((acc * mult + 2**(shift-1)) >> shift) + y_zero, act_min, act_max)."""
        mult, shift = np.asarray(mult, np.int64), np.asarray(shift, np.int64)
        shape = (1, -1) + (1,) * (len(layer.out_shape) - 1) if mult.size > 1 else ()
        scaled = relax.op.multiply(relax.op.astype(acc, "int64"), _i64(mult, shape))
        return self.to_int8(self.rshift_round(scaled, shift, shape, layer), layer, add_zero)

    def rshift_round(self, v, shift, shape, layer: Layer):
        rounded = relax.op.add(v, _i64(np.int64(1) << (shift - 1), shape))
        return self.emit(relax.op.right_shift(rounded, _i64(shift, shape)), layer, "scaled")

    def to_int8(self, v, layer: Layer, add_zero: bool = True):
        if add_zero:
            v = relax.op.add(v, relax.const(layer.out_q.zero, "int64"))
        lo, hi = layer.attrs.get("act_min", -128), layer.attrs.get("act_max", 127)
        return self.emit(relax.op.astype(relax.op.clip(v, lo, hi), "int8"), layer, "out")

    # -- one method per op ------------------------------------------------------------
    def conv2d(self, layer: Layer, inputs):
        (x,) = inputs
        x_c = self.centered(x, self.graph.q_of(layer.inputs[0]).zero, layer)
        top, left, bottom, right = layer.attrs["padding"]
        conv = relax.op.nn.conv2d(x_c, self.param(layer, "weight"), strides=layer.attrs["stride"],
                                  padding=(top, left, bottom, right), groups=layer.attrs["groups"],
                                  out_dtype="int32")
        bias = relax.op.reshape(self.param(layer, "bias"), (1, -1, 1, 1))
        acc = self.emit(relax.op.add(conv, bias), layer, "acc")
        return self.requantize(acc, layer, layer.params["multiplier"], layer.params["shift"])

    def linear(self, layer: Layer, inputs):
        (x,) = inputs
        x_c = self.centered(x, self.graph.q_of(layer.inputs[0]).zero, layer)
        weight_t = relax.op.permute_dims(self.param(layer, "weight"), (1, 0))
        acc = self.emit(relax.op.add(relax.op.matmul(x_c, weight_t, out_dtype="int32"), self.param(layer, "bias")),
                        layer, "acc")
        return self.requantize(acc, layer, layer.params["multiplier"], layer.params["shift"])

    def add(self, layer: Layer, inputs):
        a, b = inputs
        qa, qb = (self.graph.q_of(s) for s in layer.inputs)
        attrs = layer.attrs

        def term(v, zero, mult):
            centered = relax.op.subtract(relax.op.astype(v, "int64"), relax.const(zero, "int64"))
            return relax.op.multiply(centered, relax.const(mult, "int64"))

        acc = self.emit(relax.op.add(term(a, qa.zero, attrs["multiplier_a"]), term(b, qb.zero, attrs["multiplier_b"])),
                        layer, "acc")
        return self.to_int8(self.rshift_round(acc, np.int64(attrs["shift"]), (), layer), layer)

    def avgpool(self, layer: Layer, inputs):
        """round_half_even(sum / n) in integers: floor quotient, then round up on r > n/2 or an odd tie."""
        (x,) = inputs
        n = int(np.prod(self.graph.shape_of(layer.inputs[0])[1:]))
        total = self.emit(relax.op.sum(relax.op.astype(x, "int32"), axis=[2, 3], keepdims=True), layer, "sum")
        quotient = self.emit(relax.op.floor_divide(total, relax.const(n, "int32")), layer, "quotient")
        twice_rem = relax.op.multiply(relax.op.subtract(total, relax.op.multiply(quotient, relax.const(n, "int32"))),
                                      relax.const(2, "int32"))
        odd = relax.op.equal(relax.op.bitwise_and(quotient, relax.const(1, "int32")), relax.const(1, "int32"))
        tie_to_odd = relax.op.logical_and(relax.op.equal(twice_rem, relax.const(n, "int32")), odd)
        round_up = relax.op.logical_or(relax.op.greater(twice_rem, relax.const(n, "int32")), tie_to_odd)
        rounded = relax.op.add(quotient, relax.op.astype(round_up, "int32"))
        return self.emit(relax.op.astype(relax.op.clip(rounded, -128, 127), "int8"), layer, "out")

    def maxpool(self, layer: Layer, inputs):
        (x,) = inputs
        a = layer.attrs
        return self.emit(relax.op.nn.max_pool2d(x, pool_size=a["kernel"], strides=a["stride"],
                                                padding=a["padding"]), layer, "out")

    def flatten(self, layer: Layer, inputs):
        (x,) = inputs
        return self.emit(relax.op.reshape(x, (1, -1)), layer, "out")


_LOWER = {op: getattr(_Lowering, op) for op in ("conv2d", "linear", "add", "avgpool", "maxpool", "flatten")}


def _i64(value, shape):
    value = np.asarray(value, np.int64)
    return relax.const(value.reshape(shape) if shape else value.reshape(()), "int64")
