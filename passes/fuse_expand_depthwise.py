"""fuse_expand_depthwise: a frozen 1x1 expansion and the depthwise conv that is its only reader
become one op, computed a few channels at a time (MCUNetV2 / TinyEngine).

The expansion of an inverted bottleneck is the largest tensor of the forward (MCUNet block 1:
32 x 64 x 64 int8, 128 KB), yet the depthwise conv after it reads each channel alone.  Expansion
channels c .. c + 3 into a scratch (fewer on large inputs: templates_memory.expand_channels), then the
depthwise of those channels into output channels c .. c + 3: the expanded tensor never exists.

Needs:      `main` of tt ops: a forward (`lower`) or a training step (after `sgd_update`).
Guarantees: every `h = conv2d_s8(x, w1, b1, m1, s1)` (1x1, groups 1) read only by
            `y = conv2d_s8(h, w2, b2, m2, s2)` (depthwise: groups == channels of h and y), where no
            parameter of either layer is in `tt.trainable`, becomes
            `y = expand_depthwise_s8(x, w1, b1, m1, s1, w2, b2, m2, s2)`, attrs `expand` and
            `depthwise` (each conv's), layer "<expansion>+<depthwise>", the same int8 values.  "Read
            only by" also rules out any gradient through h: its clamp mask would be a second reader.
            `memory_analysis` counts the scratch of a call's channels.

    before: h = conv2d_s8(x, w1, ...);  y = conv2d_s8(h, w2, ...)
    after:  y = expand_depthwise_s8(x, w1, ..., w2, ...)
"""
from __future__ import annotations

from tvm_tinytrain import conv_geometry, ops

from .relax_utils import use_counts
from .training_graph import fuse_chains, main_attr, op_bindings, tt_attrs


def fuse_expand_depthwise(mod):
    def fused(bb, b, chain, vmap):
        (e,) = chain
        args = [vmap.get(a, a) for a in [*e.args, *b.args[1:]]]
        attrs = {"expand": tt_attrs(e), "depthwise": tt_attrs(b)}
        return ops.call(bb, "expand_depthwise_s8", args, attrs, label=f"{e.layer}+{b.layer}", role="out")

    return fuse_chains(mod, _plan(mod, op_bindings(mod)), fused)


def _plan(mod, bindings) -> dict:
    """depthwise var -> [the expansion binding fused into it]."""
    uses = use_counts(mod["main"])
    trained = set(main_attr(mod, "tt.trainable", {}) or {})
    producer = {b.var: b for b in bindings}
    plan = {}
    for b in bindings:
        e = producer.get(b.args[0]) if b.op == "conv2d_s8" else None
        if e is None or e.op != "conv2d_s8" or uses.get(e.var) != 1 or not (_pointwise(e) and _depthwise(b)):
            continue
        if not trained & {getattr(a, "name", None) for a in [*e.args[1:3], *b.args[1:3]]}:
            plan[b.var] = [e]
    return plan


def _pointwise(b) -> bool:
    return ([int(s) for s in b.args[1].ty.shape][2:] == [1, 1] and b.attrs["groups"] == 1
            and conv_geometry.is_plain(b.attrs))


def _depthwise(b) -> bool:
    return (b.attrs["groups"] == int(b.args[0].ty.shape[1]) == int(b.var.ty.shape[1]) > 1
            and conv_geometry.is_plain(b.attrs))
