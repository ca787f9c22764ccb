"""inplace_depthwise: a depthwise conv, or the input gradient of one, writes its output over its
input when that input dies at it.

Output channel c of a depthwise conv reads input channel c only (and so does channel c of its
input gradient), so computed a channel at a time through a one-channel scratch it can overwrite
its input (TinyEngine's in-place depthwise): output channel c lands on bytes of input channels
<= c, all already read.  MCUNet's first depthwise goes from 64 + 64 KB live to 64 + 4 KB, the
float gradient through a 192 x 8 x 8 depthwise from 48 + 48 KB to 48 KB + 256 bytes.  (The
gradient's kernel takes all channels in one call: it reads channel c of d into its stack buffer
before it writes channel c of dx, and uses the scratch only for maps too large for that buffer.)

Needs:      `main` of tt ops (a forward, or a training step after `sgd_update`).
Guarantees: - every depthwise `y = conv2d_s8(x, w, b, m, s)` (groups == channels of x and y) where x
              is produced by an op of main and read by nothing else (so by no gradient either: a
              weight-trained depthwise stays as it is), and y is not larger than x, becomes
              `y = depthwise_inplace_s8(x, w, b, m, s)`;
            - every `dx = conv2d_grad_input(d, w, w_scale)` of a depthwise conv with stride 1
              (dx has d's shape) becomes `dx = depthwise_grad_input_inplace(d, w, w_scale)`;
            same attrs, same values.  `memory_analysis` gives the output its input's buffer when
            the input dies at the op in the final order (always for the forward, whose input has
            one reader; for the gradient, when `reorder` puts the bias gradient that also reads d
            first) and counts the one-channel scratch; the C is correct either way.
"""
from __future__ import annotations

import numpy as np

from tvm_tinytrain import conv_geometry, ops

from .relax_utils import use_counts
from .training_graph import copy_binding, op_bindings, result_expr, rewrite_main

INPLACE_OF = {"conv2d_s8": "depthwise_inplace_s8", "conv2d_grad_input": "depthwise_grad_input_inplace"}


def inplace_depthwise(mod):
    bindings = op_bindings(mod)
    uses = use_counts(mod["main"])
    produced = {b.var for b in bindings}
    chosen = {b.var for b in bindings if _forward(b, produced, uses) or _gradient(b)}

    def emit(bb):
        vmap = {}
        for b in bindings:
            if b.var not in chosen:
                copy_binding(bb, b, vmap)
                continue
            attrs = {k: v for k, v in b.attrs.items() if k != "layer"}
            vmap[b.var] = ops.call(bb, INPLACE_OF[b.op], [vmap.get(a, a) for a in b.args], attrs, label=b.layer,
                                   role=b.var.name.rsplit("_", 1)[-1])
        return result_expr(mod, vmap)

    return rewrite_main(mod, list(mod["main"].params), emit) if chosen else mod


def _forward(b, produced, uses) -> bool:
    x = b.args[0]
    return (b.op == "conv2d_s8" and x in produced and uses.get(x) == 1 and _depthwise(b.attrs, x, b.var)
            and _n(b.var) <= _n(x))


def _gradient(b) -> bool:
    d = b.args[0]
    return (b.op == "conv2d_grad_input" and _depthwise(b.attrs, b.var, d) and b.attrs["stride"] == 1
            and _shape(d) == _shape(b.var))


def _depthwise(attrs, x, y) -> bool:
    return attrs["groups"] == _shape(x)[1] == _shape(y)[1] > 1 and conv_geometry.is_plain(attrs)


def _shape(var) -> list[int]:
    return [int(s) for s in var.ty.shape]


def _n(var) -> int:
    return int(np.prod(_shape(var)))
