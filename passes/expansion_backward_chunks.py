"""expansion_backward_chunks: the chunk ops of one chunked gradient merged into one loop that computes each chunk once.

chunk_depthwise_grad gives each reader of a chunked gradient (the expansion's input gradient, its weight gradient +
update, its bias gradient, and through a projection the depthwise bias gradient) a loop of its own, each computing
the chunk's gradient again (one output per op): through a projection four 1x1 input gradients of the chunk where the
unchunked step has one.  Here the readers of the same chunks become one op, `expansion_backward_{pw,dw}_chunks`
(tvm_tinytrain/ops/expansion_backward.py), whose output is the expansion's input gradient and whose C also updates,
chunk by chunk, the expansion's weight and bias and the depthwise bias; each parameter it updates stays a value of the
module, a `chunked_update` op after it (TVM computes it from the same inputs; its C is nothing).  Every float is the
same sum in the same order: each reader's part of a chunk is what its own loop did with the same chunk.

Needs:      chunk_depthwise_grad's ops.
Guarantees: each `conv2d_grad_input_{via}_chunks` op (the expansion's input gradient) whose chunks (source gradient,
            stages, width) are also read by a `grad_update_{via}_chunks` of the same weight, a `bias_grad_{via}_chunks`
            of the same chunks and, through a projection, a `bias_grad_pw_chunks` of the projection's stage alone
            (the depthwise bias), each bias gradient read only by `scale_channels` and that only by `sgd_s32`, whose
            value main returns: those become one `expansion_backward_{via}_chunks` at the input gradient's place,
            with a `chunked_update` per parameter after it.  Any reader not so stays as it was.  Then, where the
            projection's masked output gradient is a residual path's (its input live past the loop anyway), the
            merged op reads that gradient and the mask instead (passes/source_through_mask.py).  The same values.
"""
from __future__ import annotations

from tvm_tinytrain import ops
from tvm_tinytrain.codegen.templates_memory import CHUNK_ATTRS, _stage_args

from .relax_utils import use_counts
from .source_through_mask import source_through_mask
from .training_graph import copy_binding, op_bindings, result_expr, result_fields, rewrite_main, tt_attrs


def expansion_backward_chunks(mod):
    bindings = op_bindings(mod)
    groups = _groups(mod, bindings)
    if not groups:
        return mod
    absorbed = {m.var for parts in groups.values() for chain in parts.values() for m in chain}
    produced = {b.var for b in bindings}

    def emit(bb):
        """Each op in the order of `main` as soon as its args are there: a merged op at the input gradient's
        place, or later where an arg of an absorbed op (a layer input's channel slice) comes later."""
        vmap, waiting = {}, [b for b in bindings if b.var not in absorbed]
        while waiting:
            for i, b in enumerate(waiting):
                needs = [*b.args, *(a for chain in groups.get(b.var, {}).values() for m in chain for a in m.args)]
                if all(a in vmap or a not in produced or a in absorbed for a in needs):
                    break
            else:
                raise ValueError("expansion_backward_chunks: an absorbed op's input depends on the merged op")
            b = waiting.pop(i)
            if b.var in groups:
                _merged(bb, b, groups[b.var], vmap)
            else:
                copy_binding(bb, b, vmap)
        return result_expr(mod, vmap)

    return source_through_mask(rewrite_main(mod, list(mod["main"].params), emit))


def _source(b) -> list:
    """The args of a chunk op that name its chunks: the source gradient and each stage's (weight, scale, mask)."""
    at = b.attrs["at"]
    return b.args[at:at + _stage_args(b.attrs)]


def _same(xs, ys) -> bool:
    return len(xs) == len(ys) and all(x.same_as(y) for x, y in zip(xs, ys))


def _groups(mod, bindings) -> dict:
    """{the input gradient's chunk op's var: {part: [the ops it absorbs, the one whose value main returns last]}}."""
    uses = use_counts(mod["main"])
    results = set(result_fields(mod))
    readers: dict = {}
    for b in bindings:
        for arg in b.args:
            readers.setdefault(arg, []).append(b)

    def only_reader(var, op, at):
        found = readers.get(var, [])
        if uses.get(var) == 1 and len(found) == 1 and found[0].op == op and found[0].args[at].same_as(var):
            return found[0]
        return None

    def bias_chain(r):
        """[bias_grad, scale_channels, sgd_s32] of a chunked bias gradient, or None."""
        scale = only_reader(r.var, "scale_channels", 0)
        update = scale and only_reader(scale.var, "sgd_s32", 1)
        if update is None or update.var not in results or uses.get(update.var) != 1:
            return None
        return [r, scale, update]

    groups = {}
    for b in bindings:
        via = b.op[len("conv2d_grad_input_"):] if b.op.startswith("conv2d_grad_input_") else ""
        if via not in ("pw_chunks", "dw_chunks"):
            continue
        source, width = _source(b), b.attrs.get("chunk_bytes")
        w1 = b.args[len(source)]
        parts = {}
        for r in bindings:
            if r is b or not r.op.endswith(via) or r.attrs.get("chunk_bytes") != width:
                continue
            if r.op.startswith("grad_update_") and _same(_source(r), source) and r.args[0].same_as(w1):
                parts["weight"] = [r]
            elif r.op.startswith("bias_grad_") and _same(_source(r), source):
                parts["bias"] = bias_chain(r)
            elif r.op == "bias_grad_pw_chunks" and "dw" not in r.attrs and _same(_source(r), source[:4]):
                parts["dw_bias"] = bias_chain(r)
        parts = {part: chain for part, chain in parts.items() if chain}
        if parts:
            groups[b.var] = parts
    return groups


def _merged(bb, b, parts, vmap):
    """The expansion's backward at b's place (its value b's), then one chunked_update per parameter it writes."""
    args, attrs, starts = list(b.args), {**tt_attrs(b)}, {}
    for part, chain in parts.items():
        if part == "weight":
            (g,) = chain
            run = [g.args[0], g.args[1], *g.args[g.attrs["at"] + _stage_args(g.attrs):]]
            attrs.update({k: v for k, v in tt_attrs(g).items() if k not in CHUNK_ATTRS})
        else:
            _, scale, update = chain
            run = [update.args[0], scale.args[1], update.args[2]]
            attrs[part] = tt_attrs(update)
        starts[part] = [len(args), len(run)]
        args += run
    attrs["parts"] = starts
    out = ops.call(bb, f"expansion_backward_{b.op[len('conv2d_grad_input_'):]}", [vmap.get(a, a) for a in args],
                   attrs, label=b.layer, role="dx")
    vmap[b.var] = out
    for part, chain in parts.items():
        reader = chain[0]
        update_args = [reader.args[0] if part == "weight" else chain[2].args[0], out, *reader.args]
        update_attrs = tt_attrs(reader)
        if part != "weight":
            update_args += [chain[1].args[1], chain[2].args[2]]
            update_attrs["sgd"] = tt_attrs(chain[2])
        vmap[chain[-1].var] = ops.call(bb, "chunked_update", [vmap.get(a, a) for a in update_args], update_attrs,
                                       label=chain[-1].layer, role="weight_new" if part == "weight" else "bias_new")
