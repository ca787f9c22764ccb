"""add_loss: turn the int8 forward into a function that returns the loss (cross-entropy or MSE).

Needs:      `main(x, *params)` from `to_relax(graph, params_as_inputs=True)`, returning the
            int8 logits of the classifier (a `linear_s8` call).
Guarantees: `main(x, label: int32 (), *params) -> loss: float32 ()`, or with `loss="mse"`
            `main(x, target: float32 (1, N), *params)`: the target replaces the label (LOSSES:
            each loss's op and step input).  The logits enter the loss as real values: `dequantize` of the int8 logits, or, with
            `fp32_classifier=True`, the classifier call becomes `linear_f32` on float32
            parameters `classifier.weight` (O, I) / `classifier.bias` (O,) initialised to
            `s_w * w` and `s_w * s_x * b` (the paper found +2.3 % accuracy keeping it fp32).
            Binding names: `<classifier>_logits`, `loss`.

    before: y = tt_linear_s8_classifier(f, w, b, m, s)       after: y = tt_linear_s8_classifier(...)
            return y                                               l = tt_dequantize(y)
                                                                   loss = tt_cross_entropy(l, label)
"""
from __future__ import annotations

import numpy as np

from tvm_tinytrain import ops
from tvm_tinytrain._tvm import relax, tensor_type
from tvm_tinytrain.errors import TinyTrainError

from .step_inputs import LABEL, TARGET, scalar_var
from .training_graph import copy_binding, op_bindings, result_fields, rewrite_main

LOSSES = {"cross_entropy": ("cross_entropy", LABEL), "mse": ("mse", TARGET)}  # loss -> (tt op, step input)


def add_loss(mod, params: dict, fp32_classifier: bool = False, loss: str = "cross_entropy"):
    bindings = op_bindings(mod)
    results = result_fields(mod)
    if len(results) != 1 or not bindings or bindings[-1].var != results[0] or bindings[-1].op != "linear_s8":
        raise TinyTrainError("add_loss: main must return the int8 logits of a linear_s8 classifier "
                             "(the output of to_relax(graph, params_as_inputs=True))")
    head = bindings[-1]
    a = head.attrs
    params = dict(params)
    old_params = list(mod["main"].params)
    if loss not in LOSSES:
        raise TinyTrainError(f"add_loss: unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
    loss_op, step_input = LOSSES[loss]
    label = scalar_var(step_input, () if step_input is LABEL else tuple(int(d) for d in head.var.ty.shape))
    new_params = [old_params[0], label]
    vmap = {}
    w_var, b_var = head.args[1], head.args[2]
    for p in old_params[1:]:
        if fp32_classifier and p in (w_var, b_var):
            new = _float_param(p, params, a)
            vmap[p] = new
            new_params.append(new)
        else:
            new_params.append(p)

    def emit(bb):
        for binding in bindings[:-1]:
            copy_binding(bb, binding, vmap)
        features = vmap.get(head.args[0], head.args[0])
        if fp32_classifier:
            logits = ops.call(bb, "linear_f32", [features, vmap[w_var], vmap[b_var]],
                              {"x_scale": a["x_scale"], "x_zero": a["x_zero"], "conv_index": a["conv_index"]},
                              label=head.layer, role="logits")
        else:
            y = copy_binding(bb, head, vmap)
            logits = ops.call(bb, "dequantize", [y], {"scale": a["y_scale"], "zero": a["y_zero"]},
                              label=head.layer, role="logits")
        return ops.call(bb, loss_op, [logits, label], {}, label="loss", role="value")

    return rewrite_main(mod, new_params, emit, {"num_input": 2}), params


def _float_param(var, params: dict, a: dict):
    """Dequantized copy of a classifier parameter, replacing the int8/int32 one in `params`."""
    w_scale = np.asarray(a["w_scale"], np.float64)
    value = params.pop(var.name).astype(np.float64)
    if value.ndim == 2:
        real = value * w_scale[:, None]
    else:
        real = value * w_scale * a["x_scale"]
    params[var.name] = real.astype(np.float32)
    return relax.Var(var.name, tensor_type(value.shape, "float32"))
