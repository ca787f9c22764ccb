"""quantized_autodiff: the backward of the int8 training graph, pruned to what is trained.

Relax's `Gradient` has no rules for requantize, round, clamp or int8 convs with int32
accumulation, and cannot see into tt ops; this pass differentiates at the level of tt
ops with the rules in `passes/gradients/` (real-valued float32 gradients, the clamp's
gradient as a 1-bit mask, docs/training-semantics.md).

Needs:      the loss module (`add_loss`) annotated by `sparse_update` (`tt.trainable`).
Guarantees: `main(x, label, *params) -> (loss, *grads)`, one gradient per trainable
            parameter, in parameter order; `tt.grads` lists their parameter names and
            `tt.grad_info` maps each to {kind: s8 | s32 | f32, step: the parameter's
            quantization step per channel (s8/s32), k, depthwise, conv_index (s8)}.
            Gradients are of the quantized parameters: G_w = s_w dW_r, G_b = s_w s_x db_r.
            Only needed ops are emitted: nothing for a layer with no trainable parameter
            at or below it; no input gradient for the earliest trainable layer; weight
            gradients read only the `k` leading input channels (`channel_slice`; a grouped
            conv's: the leading `k` of each group).  A depthwise weight's grad_info `k` counts
            the rows updated: `k * m` with a channel multiplier `m`.
            The backward is emitted in plain reverse order; `reorder` schedules it.
"""
from __future__ import annotations

from tvm_tinytrain import ops
from tvm_tinytrain._tvm import relax
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.ops.registry import RECORDS

from .add_loss import LOSSES
from .training_graph import copy_binding, main_attr, op_bindings, result_fields, rewrite_main


def quantized_autodiff(mod):
    trainable_names = main_attr(mod, "tt.trainable")
    if not trainable_names:
        raise TinyTrainError("quantized_autodiff: main has no tt.trainable attribute; run sparse_update first")
    if main_attr(mod, "tt.grads") is not None:
        raise TinyTrainError("quantized_autodiff: the module already has a backward")
    bindings = op_bindings(mod)
    results = result_fields(mod)
    if len(results) != 1 or bindings[-1].op not in {op for op, _ in LOSSES.values()}:
        raise TinyTrainError("quantized_autodiff: main must return the loss of a loss op (run add_loss)")
    params = list(mod["main"].params)
    trainable = {p: int(trainable_names[p.name]) for p in params if p.name in trainable_names}
    missing = set(trainable_names) - {p.name for p in trainable}
    if missing:
        raise TinyTrainError(f"quantized_autodiff: tt.trainable names unknown parameters {sorted(missing)}")
    ctx = _Context(bindings, trainable)

    def emit(bb):
        ctx.bb = bb
        for binding in bindings:
            copy_binding(bb, binding, ctx.vmap)
        for binding in reversed(bindings):
            is_loss = binding is bindings[-1]
            g = ctx.grads.get(binding.var)
            if g is None and not is_loss:
                continue  # nothing trainable at or below this value
            rule = RECORDS[binding.op].gradient if binding.op in RECORDS else None
            if rule is None:
                raise TinyTrainError(f"quantized_autodiff: no gradient rule for tt op {binding.op!r} "
                                     f"(layer {binding.layer!r})")
            ctx.layer = binding.layer or "loss"
            rule(ctx, binding, g)
        order = [p for p in params if p in ctx.param_grads]
        ctx.order = order
        return relax.Tuple([ctx.vmap[bindings[-1].var], *(ctx.param_grads[p] for p in order)])

    new = rewrite_main(mod, params, emit)
    names = [p.name for p in ctx.order]
    untouched = sorted(set(trainable_names) - set(names))
    if untouched:
        raise TinyTrainError(f"quantized_autodiff: no gradient reaches {untouched}")
    info = {p.name: ctx.info[p] for p in ctx.order}
    new["main"] = new["main"].with_attr("tt.grads", names).with_attr("tt.grad_info", info)
    return new


class _Context:
    """What the gradient rules see: emission, needs, accumulation of gradients."""

    def __init__(self, bindings, trainable):
        self.trainable_params = trainable
        self.vmap: dict = {}
        self.grads: dict = {}
        self.param_grads: dict = {}
        self.info: dict = {}
        self.bb = None
        self.layer = ""
        self.need = self._propagate_needs(bindings)

    def _propagate_needs(self, bindings):
        """Forward: a value needs a gradient iff it depends on a trainable parameter."""
        need = set()
        for b in bindings:
            if any(a in self.trainable_params or a in need for a in b.args):
                need.add(b.var)
        return need

    def needs(self, arg) -> bool:
        return arg in self.need

    def trainable(self, arg) -> int:
        return self.trainable_params.get(arg, 0)

    def new(self, arg):
        return self.vmap.get(arg, arg)

    def emit(self, op_name, args, attrs, role):
        return ops.call(self.bb, op_name, args, attrs, label=self.layer, role=role)

    def accumulate(self, arg, grad):
        if arg not in self.need:
            return
        if arg in self.grads:
            grad = ops.call(self.bb, "grad_add", [self.grads[arg], grad], {}, label=self.layer, role="dsum")
        self.grads[arg] = grad

    def param_grad(self, param, grad, info):
        self.param_grads[param] = grad
        self.info[param] = info
