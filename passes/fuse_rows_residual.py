"""fuse_rows_residual: a stride-1 row block (`conv_dw_pw_rows_s8`) and the residual add of its input and output
become one op that writes each output row's sum over the input, so the block's output never exists whole.

The row block of an inverted bottleneck makes output row r from rows of its 1x1 expansion, each made once, when the
depthwise window first reaches it; after row r it reads no row of x up to r again (tt_conv_dw_pw_rows_add_s8.c), so
the sum's row r can be stored over x's row r at once.  Where x dies at the add (its buffer, then, is the sum's:
memory_analysis, REUSES_INPUT), the live bytes at the block go from x + y + the rows' scratch to x + the scratch and
one output row (Proxyless blocks.2: 16 + 16 + 8.5 KB -> 16 + 9 KB).

Needs:      `main` after fuse_conv_dw_pw_rows (the forward, or a training step).
Guarantees: every `y = conv_dw_pw_rows_s8(x, ...)` read only by `z = add_s8(x, y)` or `add_s8(y, x)`, where x is
            produced by an op of main and read by nothing else (so by no gradient and by no later layer), y has x's
            shape, all three convs have stride 1 and the depthwise window reads no row of x after its sum is
            written (kh of the depthwise > the two convs' top paddings), becomes
            `z = conv_dw_pw_rows_add_s8(x, <the block's 12 args>)`, attrs the block's and `add` (the add's),
            `x_is_a` (1 where x is the add's first operand), layer "<block>+<add>", the same int8 values.

    before: y = conv_dw_pw_rows_s8(x, ...);  z = add_s8(x, y)
    after:  z = conv_dw_pw_rows_add_s8(x, ...)
"""
from __future__ import annotations

from tvm_tinytrain import ops

from .relax_utils import use_counts
from .training_graph import fuse_chains, op_bindings, tt_attrs


def fuse_rows_residual(mod):
    bindings = op_bindings(mod)
    plan, x_is_a = _plan(mod, bindings)

    def fused(bb, add, chain, vmap):
        (rows,) = chain
        args = [vmap.get(a, a) for a in rows.args]
        attrs = {**tt_attrs(rows), "add": tt_attrs(add), "x_is_a": x_is_a[add.var]}
        return ops.call(bb, "conv_dw_pw_rows_add_s8", args, attrs, label=f"{rows.layer}+{add.layer}", role="out")

    return fuse_chains(mod, plan, fused)


def _plan(mod, bindings) -> tuple[dict, dict]:
    """(add var -> [the row block fused into it], add var -> x_is_a)."""
    uses = use_counts(mod["main"])
    producer = {b.var: b for b in bindings}
    plan, x_is_a = {}, {}
    for add in bindings:
        if add.op != "add_s8":
            continue
        for x, y, first in ((add.args[0], add.args[1], 1), (add.args[1], add.args[0], 0)):
            rows = producer.get(y)
            if (rows is not None and rows.op == "conv_dw_pw_rows_s8" and rows.args[0].same_as(x) and x in producer
                    and uses.get(y) == 1 and uses.get(x) == 2 and _shape(x) == _shape(y) and _in_place(rows)):
                plan[add.var], x_is_a[add.var] = [rows], first
                break
    return plan, x_is_a


def _in_place(rows) -> bool:
    """Stride 1 throughout, and no row of x read after its sum is written (tt_conv_dw_pw_rows_add_s8's check)."""
    a, b = rows.attrs["conv"], rows.attrs["depthwise"]
    kh = _shape(rows.args[5])[2]
    return a["stride"] == b["stride"] == 1 and kh > a["padding"][0] + b["padding"][0]


def _shape(expr) -> list[int]:
    return [int(s) for s in expr.ty.shape]
