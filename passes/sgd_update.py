"""sgd_update: apply plain SGD to each parameter right after its gradient is produced.

Needs:      `main` after `quantized_autodiff` (and `qas` if wanted): outputs (loss, *grads)
            with `tt.grads` / `tt.grad_info`.
Guarantees: `main(x, label, lr_weight: f32 (), lr_bias: f32 (), step: uint32 (), *params)
            -> (loss, *updated params)`, `tt.updates` naming them.  Each update is emitted
            immediately after its gradient, so the gradient dies at once; the update ops are
            in place in spirit (`sgd_s8` / `sgd_s32` / `sgd_f32` write the parameter they
            read, which `reorder` and the memory plan respect): int32 bias
            `b - round(lr_bias * G)`, float `p - lr * G`, int8 weight slice with stochastic
            rounding (docs/training-semantics.md).  With momentum, main also takes and returns
            each trained tensor's optimizer state after the parameters (step_inputs.OPTIMIZER_STATE).
"""
from __future__ import annotations

import numpy as np

from tvm_tinytrain import ops
from tvm_tinytrain._tvm import relax, tensor_type
from tvm_tinytrain.errors import TinyTrainError

from tvm_tinytrain.scheme import OPTIMIZER_STATE, state_name

from .step_inputs import OPTIMIZER, scalar_var
from .training_graph import copy_binding, main_attr, op_bindings, params_by_name, result_fields, rewrite_main

UPDATE_OP = {"s8": "sgd_s8", "s32": "sgd_s32", "f32": "sgd_f32"}


def sgd_update(mod, return_grads: bool = False, momentum: float = 0.0, params: dict | None = None):
    """`return_grads` also returns the gradients after the updated parameters (for checks
    against an oracle; it keeps every gradient alive to the end).  With `momentum` > 0 each
    trained tensor gets its optimizer state (OPTIMIZER_STATE, start value zero, added to
    `params`), updated right after the gradient and applied instead of it; returns
    (mod, params) then."""
    names, info = main_attr(mod, "tt.grads"), main_attr(mod, "tt.grad_info")
    if names is None:
        raise TinyTrainError("sgd_update: main has no gradients (tt.grads); run quantized_autodiff first")
    if main_attr(mod, "tt.updates") is not None:
        raise TinyTrainError("sgd_update: already applied to this module")
    bindings = op_bindings(mod)
    results = result_fields(mod)
    main_params = params_by_name(mod)
    grad_of = {g: n for n, g in zip(names, results[1:])}
    old = list(mod["main"].params)
    lr_weight, lr_bias, step = (scalar_var(s) for s in OPTIMIZER)
    states = {}
    if momentum:
        for name, g in zip(names, results[1:]):
            states[name] = relax.Var(state_name(name), tensor_type([int(s) for s in g.ty.shape], "float32"))
    updated = {}

    def emit(bb):
        vmap = {}
        for binding in bindings:
            grad = copy_binding(bb, binding, vmap)
            name = grad_of.get(binding.var)
            if name is None:
                continue
            meta = info[name]
            layer, kind = name.rsplit(".", 1)
            lr = lr_bias if kind == "bias" else lr_weight
            if name in states:  # the update applies the new state instead of the gradient
                grad = updated[states[name].name] = ops.call(bb, "momentum_f32", [states[name], grad],
                                                              {"momentum": float(momentum)}, label=layer,
                                                              role=f"{kind}_{OPTIMIZER_STATE}")
            args = [main_params[name], grad, lr]
            attrs = {}
            if meta["kind"] == "s8":
                args.append(step)
                attrs = {"k": meta["k"], "depthwise": meta["depthwise"], "conv_index": meta["conv_index"]}
            elif meta["kind"] == "s32":
                attrs = {"limit": meta["limit"]}
            updated[name] = ops.call(bb, UPDATE_OP[meta["kind"]], args, attrs, label=layer, role=f"{kind}_new")
        grads = [vmap[g] for g in results[1:]] if return_grads else []
        return relax.Tuple([vmap[results[0]], *(updated[n] for n in outputs), *grads])

    outputs = [*names, *(v.name for v in states.values())]
    n_in = int(main_attr(mod, "num_input"))
    new = rewrite_main(mod, [*old[:n_in], lr_weight, lr_bias, step, *old[n_in:], *states.values()], emit,
                       {"num_input": n_in + len(OPTIMIZER)})
    new["main"] = new["main"].with_attr("tt.updates", outputs)
    if not momentum:
        return new
    zeros = {v.name: np.zeros([int(s) for s in v.ty.shape], np.float32) for v in states.values()}
    return new, {**(params or {}), **zeros}
