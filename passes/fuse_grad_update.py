"""fuse_grad_update: each weight gradient and its SGD update become one op (the paper's in-place
update fused right after the gradient).

A weight gradient is float32, four bytes per weight (MCUNet blocks.10.pointwise1: 240 x 48 -> 45 KB),
and after `sgd_update` it exists whole until its update.  Fused, the C computes a few output rows'
gradient (update_block of codegen/templates_memory.py: 4 rows, more in 2 KB; a 1x1 conv's in blocks of
UPDATE_COLS input channels, so up to 64 rows a call share one conversion of their input to float), scales
and applies them, then the next block: only that block of the gradient is ever alive.

Needs:      a training `main` after `sgd_update` (`qas` optional).
Guarantees: every chain  `r = G(x, d)` [-> `g = scale_channels(r, s)`] -> `w' = sgd_s8|sgd_f32(w, g|r, lr
            [, step])`, G one of conv2d_grad_weight, linear_grad_weight, linear_f32_grad_weight, whose
            intermediates have no other reader, becomes `w' = grad_update(w, x, d, [s], lr, [step])`
            (attrs grad, grad_attrs, scaled, update, update_attrs), bit for bit the same values.  With
            `return_grads` the gradients are outputs, so nothing is fused.  Bias gradients (one float
            per channel) stay as they are.  One exception: when the layer also passes a gradient
            down, the fused update must wait for that input gradient (it reads the weights), which
            keeps the layer input x alive that long; if x is larger than the float gradient (a
            depthwise conv at 64x64 in a full update: 192 KB vs 1.7 KB) the chain is left alone, so
            the gradient can be taken early and x freed.

    before: r = conv2d_grad_weight(x, d);  g = scale_channels(r, s);  w' = sgd_s8(w, g, lr, step)
    after:  w' = grad_update(w, x, d, s, lr, step)
"""
from __future__ import annotations

from tvm_tinytrain import ops
from tvm_tinytrain.scheme import is_state

from .memory_analysis import tensor_bytes
from .relax_utils import use_counts
from .training_graph import fuse_chains, op_bindings, tt_attrs

GRAD_OPS = {"conv2d_grad_weight", "linear_grad_weight", "linear_f32_grad_weight"}
INPUT_GRAD_OPS = {"conv2d_grad_input", "linear_grad_input", "linear_f32_grad_input"}


def fuse_grad_update(mod):
    def fused(bb, b, chain, vmap):
        grad, *scale = chain
        w, _, lr, *step = b.args
        args = [w, *grad.args, *(s.args[1] for s in scale), lr, *step]
        attrs = {"grad": grad.op, "grad_attrs": tt_attrs(grad), "scaled": int(bool(scale)), "update": b.op,
                 "update_attrs": tt_attrs(b)}
        return ops.call(bb, "grad_update", [vmap.get(a, a) for a in args], attrs, label=b.layer, role="weight_new")

    return fuse_chains(mod, _plan(mod, op_bindings(mod)), fused)


def _plan(mod, bindings) -> dict:
    """update var -> [gradient binding, (scale binding)] fused into it."""
    uses = use_counts(mod["main"])
    producer = {b.var: b for b in bindings}
    passes_down = {b.args[1] for b in bindings if b.op in INPUT_GRAD_OPS}  # weights an input gradient reads
    plan = {}
    for b in bindings:
        if b.op not in ("sgd_s8", "sgd_f32") or is_state(b.args[0].name):
            continue  # a float copy's update (sgd_f32 of a conv's slice) keeps its gradient whole
        chain = [producer.get(b.args[1])]
        if chain[0] is not None and chain[0].op == "scale_channels":
            chain.insert(0, producer.get(chain[0].args[0]))
        grad = chain[0]
        if grad is None or grad.op not in GRAD_OPS or any(uses.get(c.var) != 1 for c in chain):
            continue
        if grad.attrs.get("groups", 1) > 1:
            continue  # a grouped conv's rows need their own group's input channels: its gradient stays whole
        if b.args[0] in passes_down and tensor_bytes(grad.var.ty) < tensor_bytes(grad.args[0].ty):
            continue  # waiting for the input gradient would keep a larger layer input alive
        plan[b.var] = chain
    return plan


