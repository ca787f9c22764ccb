"""sgd_update: apply plain SGD to each parameter right after its gradient is produced.

Needs:      `main` after `quantized_autodiff` (and `qas` if wanted): outputs (loss, *grads)
            with `tt.grads` / `tt.grad_info`.
Guarantees: `main(x, label, lr_weight: f32 (), lr_bias: f32 (), step: uint32 (), *params)
            -> (loss, *updated params)`, `tt.updates` naming them.  Each update is emitted
            immediately after its gradient, so the gradient dies at once; the update ops are
            in place in spirit (`sgd_s8` / `sgd_s32` / `sgd_f32` write the parameter they
            read, which `reorder` and the memory plan respect): int32 bias
            `b - round(lr_bias * G)`, float `p - lr * G`, int8 weight slice with stochastic
            rounding (docs/training-semantics.md).  With momentum or a float copy, main also takes
            and returns each trained tensor's optimizer state after the parameters (the contract
            in tvm_tinytrain/scheme.py): the velocity `momentum_f32` updates, then (float copy)
            `sgd_f32` moves the copy and `round_copy_s8` / `round_copy_s32` set the int8 / int32
            tensor to it rounded, instead of `sgd_s8` / `sgd_s32`.
"""
from __future__ import annotations

from tvm_tinytrain import ops
from tvm_tinytrain._tvm import relax, tensor_type
from tvm_tinytrain.errors import TinyTrainError

from tvm_tinytrain.scheme import FLOAT_COPY, VELOCITY, state_name, state_start

from .step_inputs import OPTIMIZER, scalar_var
from .training_graph import copy_binding, main_attr, op_bindings, params_by_name, result_fields, rewrite_main

UPDATE_OP = {"s8": "sgd_s8", "s32": "sgd_s32", "f32": "sgd_f32"}
FROM_COPY_OP = {"s8": "round_copy_s8", "s32": "round_copy_s32"}  # with a float copy


def sgd_update(mod, return_grads: bool = False, momentum: float = 0.0, params: dict | None = None,
               float_copy: bool = False):
    """`return_grads` also returns the gradients after the updated parameters (for checks
    against an oracle; it keeps every gradient alive to the end).  With `momentum` > 0 each
    trained tensor gets a velocity, with `float_copy` each trained int8 / int32 tensor a float
    copy (optimizer state, added to `params` at its start value), updated right after the
    gradient; returns (mod, params) then."""
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
    states = {}  # (param, kind) -> its state's Var
    for name, g in zip(names, results[1:]):
        copied = float_copy and info[name]["kind"] in FROM_COPY_OP  # a float tensor needs no float copy
        for kind in [VELOCITY] * bool(momentum) + [FLOAT_COPY] * copied:
            shape = [int(s) for s in g.ty.shape]
            states[name, kind] = relax.Var(state_name(name, kind), tensor_type(shape, "float32"))
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
            if (name, VELOCITY) in states:  # the update applies the new velocity instead of the gradient
                velocity = states[name, VELOCITY]
                grad = updated[velocity.name] = ops.call(bb, "momentum_f32", [velocity, grad],
                                                         {"momentum": float(momentum)}, label=layer,
                                                         role=f"{kind}_{VELOCITY}")
            if (name, FLOAT_COPY) in states:  # the update moves the copy; the tensor is the copy rounded
                copy = states[name, FLOAT_COPY]
                moved = updated[copy.name] = ops.call(bb, "sgd_f32", [copy, grad, lr], {}, label=layer,
                                                      role=f"{kind}_{FLOAT_COPY}")
                attrs = {"limit": meta["limit"]} if meta["kind"] == "s32" else {}
                updated[name] = ops.call(bb, FROM_COPY_OP[meta["kind"]], [main_params[name], moved], attrs,
                                         label=layer, role=f"{kind}_new")
                continue
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
    if not states:
        return new
    params = params or {}
    missing = [name for name, kind in states if kind == FLOAT_COPY and name not in params]
    if missing:
        raise TinyTrainError(f"sgd_update: a float copy starts at its tensor's values, and params has no "
                             f"{missing[0]!r}")
    starts = {v.name: state_start(v.name, params.get(name), [int(s) for s in v.ty.shape])
              for (name, _), v in states.items()}
    return new, {**params, **starts}
