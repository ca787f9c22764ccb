"""Lower a quantized layer graph to a Relax IRModule of real int8 arithmetic.

`main(x: int8[1, C, H, W])` is a straight sequence of tt-op calls, one per layer
(`tvm_tinytrain/ops/forward.py` has their bodies: int8 / int16 / int32 / int64 tensors, no
fake-quantized float).  Bound variables are named after their layer
(`blocks_3_depthwise_out`), so the printed module can be read against
`tvm-tinytrain inspect`.
"""
from __future__ import annotations

import numpy as np

from .. import conv_geometry, ops, pooling
from .._tvm import relax, tensor_type
from ..errors import TinyTrainError
from ..graph import INPUT, Graph, Layer
from ..layer_kinds import LAYER_KINDS


def to_relax(graph: Graph, outputs: str = "logits", params_as_inputs: bool = False):
    """`main(x: int8[1, C, H, W])` -> int8 logits `[1, classes]`.

    outputs="all" returns the tuple of every layer's output instead, in layer order (for
    layer-by-layer comparison with the numpy reference).  With params_as_inputs the conv
    and linear weights and biases become function parameters named `<layer>.weight` /
    `<layer>.bias` (after the input), and the function returns `(mod, {name: array})`.
    """
    if not graph.quantized:
        raise TinyTrainError(f"to_relax: graph {graph.name!r} is not quantized; run tvm_tinytrain.quantization first")
    if outputs not in ("logits", "all"):
        raise TinyTrainError(f"to_relax: outputs must be 'logits' or 'all', got {outputs!r}")
    param_vars, param_values = {}, {}
    for layer in graph.weight_layers():
        for key in ("weight", "bias"):
            value = layer.params[key]
            name = f"{layer.name}.{key}"
            param_values[name] = value
            param_vars[name] = (relax.Var(name, tensor_type(value.shape, str(value.dtype))) if params_as_inputs
                                else relax.const(value, str(value.dtype)))
    bb = relax.BlockBuilder()
    x = relax.Var("x", tensor_type((1, *graph.input_shape), "int8"))
    signature = [x, *(v for v in param_vars.values())] if params_as_inputs else [x]
    with bb.function("main", signature):
        with bb.dataflow():
            values = {INPUT: x}
            for layer in graph.layers:
                args, attrs = layer_call(graph, layer, [values[s] for s in layer.inputs], param_vars)
                values[layer.name] = ops.call(bb, OP_OF[layer.op], args, attrs, label=layer.name, role="out")
            if outputs == "all":
                result = bb.emit_output(relax.Tuple([values[layer.name] for layer in graph.layers]))
            else:
                result = bb.emit_output(values[graph.output])
        bb.emit_func_output(result)
    mod = bb.get()
    if params_as_inputs:
        mod["main"] = mod["main"].with_attr("num_input", 1)
        return mod, param_values
    return mod


OP_OF = {kind.op: kind.forward for kind in LAYER_KINDS}  # layer-graph op -> its tt op


def layer_call(graph: Graph, layer: Layer, inputs: list, param_vars: dict):
    """(args, attrs) of the tt op computing `layer` from its input values."""
    a = layer.attrs
    if layer.has_weights:
        x_q = graph.q_of(layer.inputs[0])
        # The scales are not needed by the forward arithmetic (multiplier/shift encode them);
        # they are what the backward, QAS and the fp32 classifier work with.
        clamp = {"x_zero": x_q.zero, "y_zero": layer.out_q.zero, "act_min": a["act_min"], "act_max": a["act_max"],
                 "x_scale": x_q.scale, "y_scale": layer.out_q.scale, "conv_index": layer.conv_index,
                 "w_scale": [float(v) for v in layer.params["w_scale"]]}
        args = [*inputs, param_vars[f"{layer.name}.weight"], param_vars[f"{layer.name}.bias"],
                relax.const(np.asarray(layer.params["multiplier"], np.int64), "int64"),
                relax.const(np.asarray(layer.params["shift"], np.int64), "int64")]
        if layer.op == "conv2d":
            geometry = conv_geometry.compact(a["stride"], a.get("dilation", 1))
            clamp.update({k: list(v) if isinstance(v, tuple) else v for k, v in geometry.items()},
                         padding=list(a["padding"]), groups=a["groups"])
        return args, clamp
    if layer.op == "add":
        qa, qb = (graph.q_of(s) for s in layer.inputs)
        attrs = {"a_zero": qa.zero, "b_zero": qb.zero, "y_zero": layer.out_q.zero,
                 **{k: a[k] for k in ("multiplier_a", "multiplier_b", "shift", "act_min", "act_max")}}
        return inputs, attrs
    if layer.op == "concat":
        return inputs, {"x_zeros": [graph.q_of(s).zero for s in layer.inputs], "y_zero": layer.out_q.zero,
                        "multipliers": list(a["multipliers"]), "shifts": list(a["shifts"])}
    if layer.op == "maxpool":
        return inputs, {k: list(v) for k, v in pooling.normalized(a).items()}
    if layer.op == "avgpool" and not pooling.is_global(a):
        window = {k: list(v) for k, v in pooling.normalized(a).items() if k != "count_include_pad"}
        return inputs, {**window, "count_include_pad": bool(a.get("count_include_pad", True)),
                        "x_zero": graph.q_of(layer.inputs[0]).zero}
    if layer.op == "lut":  # the scales and zero points are what the gradient rule builds f' from
        x_q = graph.q_of(layer.inputs[0])
        attrs = {"fn": a["fn"], "alpha": float(a["alpha"]), "x_scale": x_q.scale, "x_zero": x_q.zero,
                 "y_scale": layer.out_q.scale, "y_zero": layer.out_q.zero}
        return [*inputs, relax.const(np.asarray(layer.params["table"], np.int8), "int8")], attrs
    if layer.op == "mul":  # the scales are what the gradient rule dequantizes each factor with
        qx, qg = (graph.q_of(s) for s in layer.inputs)
        return inputs, {"x_zero": qx.zero, "g_zero": qg.zero, "y_zero": layer.out_q.zero, "x_scale": qx.scale,
                        "g_scale": qg.scale, **{k: a[k] for k in ("multiplier", "shift", "act_min", "act_max")}}
    return inputs, {}
