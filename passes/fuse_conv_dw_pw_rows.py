"""fuse_conv_dw_pw_rows: a frozen conv -> depthwise conv -> 1x1 conv chain becomes one op computed
one output row at a time (MCUNetV2's patch-based inference, by rows).

The forward's largest live sets are at the input resolution: the first conv's 48 KB input with its
64 KB output (16 x 64 x 64), then that output with the depthwise's (in place: 64 + 4 KB) and the
1x1's.  Streamed by rows, the depthwise needs only a window of kernel-height rows of the first conv's
output, and the 1x1 one row of the depthwise's: the chain's live set is its input, its output and
about 7 KB of rows (MCUNet's stem: 112 -> 87 KB).  It also takes whole frozen inverted bottlenecks
(1x1 expansion -> depthwise -> 1x1 projection), before `fuse_expand_depthwise` sees them.

Needs:      `main` of tt ops: a forward (`lower`) or a training step (after `sgd_update`).
Guarantees: every `m = conv2d_s8(x, ...)` (groups 1, any kernel) read only by a depthwise
            `d = conv2d_s8(m, ...)` (groups == channels of m and d) read only by a 1x1
            `y = conv2d_s8(d, ...)` (groups 1, stride 1, no padding), with no parameter of the three
            in `tt.trainable`, becomes `y = conv_dw_pw_rows_s8(x, <4 args of each conv>)`, attrs `conv`,
            `depthwise`, `pointwise`, layer "<conv>+<depthwise>+<1x1>", the same int8 values.  Single
            readers also mean no gradient passes through m or d.  `memory_analysis` counts the rows
            the kernel keeps (`tt_conv_dw_pw_rows_s8_get_buffer_size`).  Then a stride-1 block and the
            residual add of its input and output are one op writing the sum over the input
            (`fuse_rows_residual`).

    before: m = conv2d_s8(x, wa, ...);  d = conv2d_s8(m, wb, ...);  y = conv2d_s8(d, wc, ...)
    after:  y = conv_dw_pw_rows_s8(x, wa, ..., wb, ..., wc, ...)
"""
from __future__ import annotations

from tvm_tinytrain import conv_geometry, ops

from .fuse_rows_residual import fuse_rows_residual
from .relax_utils import use_counts
from .training_graph import fuse_chains, main_attr, op_bindings, tt_attrs


def fuse_conv_dw_pw_rows(mod):
    def fused(bb, b, chain, vmap):
        conv, dw = chain
        args = [vmap.get(a, a) for a in [*conv.args, *dw.args[1:], *b.args[1:]]]
        attrs = {"conv": tt_attrs(conv), "depthwise": tt_attrs(dw), "pointwise": tt_attrs(b)}
        return ops.call(bb, "conv_dw_pw_rows_s8", args, attrs, label=f"{conv.layer}+{dw.layer}+{b.layer}", role="out")

    return fuse_rows_residual(fuse_chains(mod, _plan(mod, op_bindings(mod)), fused))


def _plan(mod, bindings) -> dict:
    """1x1 var -> [conv binding, depthwise binding] fused into it."""
    uses = use_counts(mod["main"])
    trained = set(main_attr(mod, "tt.trainable", {}) or {})
    producer = {b.var: b for b in bindings}

    def conv_reading(b):  # the conv2d_s8 producing b's input, if b is its only reader
        p = producer.get(b.args[0])
        return p if p is not None and p.op == "conv2d_s8" and uses.get(p.var) == 1 else None

    plan, taken = {}, set()
    for b in bindings:
        if b.op != "conv2d_s8" or not _pointwise(b):
            continue
        dw = conv_reading(b)
        conv = conv_reading(dw) if dw is not None and _depthwise(dw) else None
        if conv is None or conv.attrs["groups"] != 1 or not conv_geometry.is_plain(conv.attrs) or conv.var in taken:
            continue  # a 1x1 ending one chain cannot also start the next (depthwise-separable nets)
        names = {getattr(a, "name", None) for c in (conv, dw, b) for a in c.args[1:3]}
        if not trained & names:
            plan[b.var] = [conv, dw]
            taken |= {conv.var, dw.var, b.var}
    return plan


def _pointwise(b) -> bool:
    return ([int(s) for s in b.args[1].ty.shape][2:] == [1, 1] and b.attrs["groups"] == 1 and b.attrs["stride"] == 1
            and list(b.attrs["padding"]) == [0, 0, 0, 0] and conv_geometry.is_plain(b.attrs))


def _depthwise(b) -> bool:
    return (b.attrs["groups"] == int(b.args[0].ty.shape[1]) == int(b.var.ty.shape[1]) > 1
            and conv_geometry.is_plain(b.attrs))
