"""source_through_mask: an expansion's backward through a projection reads the projection's output gradient through
its clamp mask, where that gradient is live across its loop anyway, instead of the masked copy.

In a residual block the projection's output gradient r (the block output's) is read twice: by `d = mask_grad(r, m)`
(the projection's clamp, passes/gradients/forward.py) and, after the expansion's backward, by the `grad_add` of the
residual path.  d cannot be written over r, so both are live through the chunk loop of `expansion_backward_pw_chunks`
(passes/expansion_backward_chunks.py), which reads d on every turn (MbV2 blocks.12: 8 KB each).  Here that op, and the
`chunked_update`s that stand for its updates, take r and m instead (attr `source_mask`: the mask's arg, the last); their
Relax bodies compute mask_grad(r, m) first (TVM: the same values), and the C masks a block of output channels at a
time into the op's scratch (tt_conv2d_1x1_grad_input_masked_channels_f32: the same d values, the same sums).  d is
then made only for its other readers (the projection's bias gradient, before the loop) or not at all.  Where r dies
at the mask (no residual), d takes r's buffer and nothing would be gained: such ops are left as they are.

Needs:      expansion_backward_chunks' ops.
Guarantees: every `expansion_backward_pw_chunks` whose source gradient (arg `at`) is `mask_grad(r, m)` where a reader
            of r other than that mask_grad follows the op (reads its value, at any remove) reads (r, m), as does each
            `chunked_update` of its value; the mask_grad is dropped if nothing else reads it.  The same values.
"""
from __future__ import annotations

from tvm_tinytrain import ops

from .training_graph import copy_binding, op_bindings, result_expr, rewrite_main, tt_attrs

THROUGH = "expansion_backward_pw_chunks"


def source_through_mask(mod):
    bindings = op_bindings(mod)
    taking = _taking(bindings)
    if not taking:
        return mod
    readers: dict = {}
    for b in bindings:
        for arg in b.args:
            readers.setdefault(arg, set()).add(b.var)
    rewritten = {b.var for b in bindings if b.var in taking or (b.op == "chunked_update" and b.args[1] in taking)}
    dropped = {masked.var for masked in taking.values() if readers[masked.var] <= rewritten}

    def emit(bb):
        vmap = {}
        for b in bindings:
            if b.var in dropped:
                continue
            if b.var not in rewritten:
                copy_binding(bb, b, vmap)
                continue
            masked = taking[b.var if b.op == THROUGH else b.args[1]]
            at = b.attrs["at"] + (0 if b.op == THROUGH else 2)  # a chunked_update: (param, value, *reader's args)
            args = [*b.args[:at], masked.args[0], *b.args[at + 1:], masked.args[1]]
            vmap[b.var] = ops.call(bb, b.op, [vmap.get(a, a) for a in args],
                                   {**tt_attrs(b), "source_mask": len(args) - 1}, label=b.layer,
                                   role=b.var.name.removeprefix(b.layer.replace(".", "_") + "_"))
        return result_expr(mod, vmap)

    return rewrite_main(mod, list(mod["main"].params), emit)


def _taking(bindings) -> dict:
    """{an expansion backward's var: the mask_grad of its source} where the mask_grad's input is read after it."""
    made = {b.var: b for b in bindings}
    taking = {}
    for i, b in enumerate(bindings):
        masked = made.get(b.args[b.attrs["at"]]) if b.op == THROUGH else None
        if masked is None or masked.op != "mask_grad":
            continue
        after = {b.var}
        for later in bindings[i + 1:]:
            if any(a in after for a in later.args):
                after.add(later.var)
        r = masked.args[0]
        if any(r in later.args for later in bindings[i + 1:] if later.var in after):
            taking[b.var] = masked
    return taking
