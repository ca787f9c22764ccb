"""chunk_depthwise_grad: the input gradient of a strided depthwise conv is never whole; each op that reads it
takes it a chunk of channels at a time.

A stride-2 depthwise conv's float input gradient is four times its output gradient (MCUNet blocks.10: 240 x
8 x 8, 60 KB, from 15 KB): the peak of the paper's ~100 KB schemes on all three backbones.  It exists only for
the backward of the 1x1 expansion below (through that layer's clamp mask): the expansion's bias gradient, its
input gradient and its weight gradient + update.  Channel c of it depends on channel c of the output gradient
only, and each of those readers takes the expansion's output channel c from channel c alone, so each reader
becomes a loop over chunks of channels (`*_dw_chunks`, ops/fused.py): the depthwise gradient of the chunk's
channels into a scratch (tt_depthwise_grad_chunk_channels: 4 KB), the mask, then the reader's part: the bias
gradient of those channels, their terms of the input gradient added in the same order (the same floats), or
their rows of the weight gradient and their update (which follows the input gradient, as before: it reads
the weights).  A reader op has one output, so each recomputes the chunk's depthwise gradient: an instruction
cost, which is why the compiler applies it only where the board needs it (`layers`, chosen by
`compiler.compile`'s SRAM budget).

Needs:      a training `main` after `fuse_grad_update`.
Guarantees: every `dx = conv2d_grad_input(d, w, s)` of a depthwise conv (groups == channels > 1, plain
            geometry, a window larger than 1x1) whose dx is larger than d (a stride), whose weight is not
            trained, read only by `g = mask_grad(dx, mask)`, where every reader of g is a `bias_grad(g)`, a
            `conv2d_grad_input(g, w1, s1)` of a stride-1 unpadded 1x1 conv (split weight or not), or a
            `grad_update(w1, x, g, ...)` of such a conv's weight: each reader `r(..., g, ...)` becomes
            `r_dw_chunks(..., d, w, s, mask, ...)` (attrs: r's, `dw` the depthwise gradient's, `at` g's index),
            dx and g gone; with `layers`, only for depthwise layers named there.  The same values.

Through the projection (issue 13: the peak of MCUNet / MbV2 paper-100kb is a stride-1 bottleneck's 48 KB
projection input gradient, the depthwise conv's output gradient): channel c of `p = conv2d_grad_input(dy, wp, sp)`
of a stride-1 unpadded 1x1 projection is a sum over dy's channels that tt_conv2d_1x1_grad_input_channels_f32
computes for a block of channels alone (the same floats), so the chain dy -> p -> mask -> depthwise gradient
(any stride) -> mask is taken a chunk of channels at a time too, and neither p nor the depthwise gradient
exists whole.  Each reader recomputes the chunk's projection gradient (it costs instructions: taken per layer).
Guarantees: every `p` as above whose weight is not trained (its readers use the weight the step began with),
            read only by `g1 = mask_grad(p, m)`, where g1's readers are one `dx = conv2d_grad_input(g1, w, s)` of a
            depthwise conv as above (any stride) whose `g = mask_grad(dx, mask)` has only the readers above, and
            at most a `bias_grad(g1)` (the depthwise bias): each reader `r(..., g, ...)` becomes
            `r_pw_chunks(..., dy, wp, sp, m, w, s, mask, ...)` (attrs: r's, `pw` p's, `dw` dx's, `at`), the
            depthwise bias gradient `bias_grad_pw_chunks(dy, wp, sp, m)` (no `dw`); p, g1, dx and g gone; with
            `layers`, only for projection layers named there (it subsumes its depthwise layer's chunking).

Then the readers of the same chunks become one loop that computes each chunk once for all of them
(passes/expansion_backward_chunks.py: the expansion's input gradient, its weight and bias updates and the depthwise
bias's), so a chunked layer costs the loop's calls, not three more computations of its chunks.

A chunk's channels (templates_memory.dw_chunk_channels) only set how many turns the loop takes: each value is the
same sum in the same order whatever the chunk, so where a chunked op's scratch is at the step's peak the budget can
narrow it (`narrow`: down to 512 B of float a stage, fewer than 8 channels where each chunk's mask bits stay whole
bytes, against 4 KB) for a few more calls.
"""
from __future__ import annotations

from tvm_tinytrain import conv_geometry, ops
from tvm_tinytrain.codegen.templates_memory import DW_GRAD_CHUNK_BYTES

from .expansion_backward_chunks import expansion_backward_chunks
from .memory_analysis import tensor_bytes
from .relax_utils import use_counts
from .training_graph import fuse_chains, main_attr, op_bindings, tt_attrs

AT = {"bias_grad": 0, "conv2d_grad_input": 0, "grad_update": 2}  # where each reader takes the gradient
ROLE = {"bias_grad": "bias_grad", "conv2d_grad_input": "dx", "grad_update": "weight_new"}


def chunk_depthwise_grad(mod, layers=None, narrow=(), merge=True):
    """`layers`: names of the depthwise layers and projections to take so (None: every one the pass can); `narrow`:
    a mapping of those of them whose chunks are narrowed to their chunks' bytes of float (a smaller scratch, more
    turns of the loop, the same values; compiler.narrow_chunks), the others DW_GRAD_CHUNK_BYTES (the op's attr
    `chunk_bytes`); `merge`: the readers of the same chunks in one loop (False: each its own, as where they cannot
    merge: tests/ops/test_op_records.py)."""
    def fused(bb, b, chain, vmap):
        """chain: [dx, g] (the depthwise stage), [p, g1] (the projection's) or [p, g1, dx, g] (both)."""
        at, through = AT[b.op], _pointwise(chain[0].attrs, chain[0].args[1])
        args = [*chain[0].args, chain[1].args[1]]
        for dx, g in zip(chain[2::2], chain[3::2]):
            args += [*dx.args[1:], g.args[1]]
        stages = {k: tt_attrs(v) for k, v in zip(["pw", "dw"] if through else ["dw"], chain[::2])}
        return ops.call(bb, f"{b.op}_{'pw' if through else 'dw'}_chunks",
                        [vmap.get(a, a) for a in [*b.args[:at], *args, *b.args[at + 1:]]],
                        {**tt_attrs(b), **stages, "at": at,
                         "chunk_bytes": dict(narrow).get(chain[0].layer, DW_GRAD_CHUNK_BYTES)},
                        label=b.layer, role=ROLE[b.op])

    bindings = op_bindings(mod)
    plan = {var: chain for var, chain in _plan(mod, bindings).items() if layers is None or chain[0].layer in layers}
    plan.update({var: chain for var, chain in _through_projection(mod, bindings).items()
                 if layers is None or chain[0].layer in layers})
    chunked = fuse_chains(mod, plan, fused)
    return expansion_backward_chunks(chunked) if merge else chunked


def candidates(mod) -> list[str]:
    """The layers whose input gradient the pass can take a chunk at a time: the projections, then the strided
    depthwise layers, each in order.  A projection taken subsumes its depthwise layer and also leaves that layer's
    output gradient unmade; with one computation of a chunk for all its readers (expansion_backward_chunks) it
    costs about what the depthwise layer's chunks do, so the budget loop tries it first."""
    bindings = op_bindings(mod)
    chains = [*_through_projection(mod, bindings).values(), *_plan(mod, bindings).values()]
    return list(dict.fromkeys(chain[0].layer for chain in chains))


def _readers(bindings) -> dict:
    readers: dict = {}
    for b in bindings:
        for arg in b.args:
            readers.setdefault(arg, []).append(b)
    return readers


def _plan(mod, bindings, strided=True) -> dict:
    """reader var -> [the depthwise input gradient, its mask_grad] (`strided`: only where dx is larger than d)."""
    uses = use_counts(mod["main"])
    trained = set(main_attr(mod, "tt.trainable", {}) or {})
    readers = _readers(bindings)
    plan = {}
    for b in bindings:
        if (not _depthwise_grad(b, strided) or getattr(b.args[1], "name", None) in trained
                or uses.get(b.var) != 1):
            continue
        (g,) = readers.get(b.var, [None])
        if g is None or g.op != "mask_grad" or not g.args[0].same_as(b.var):
            continue
        taking = readers.get(g.var, [])
        if taking and uses.get(g.var) == len(taking) and all(_chunkable(r, g.var) for r in taking):
            plan.update({r.var: [b, g] for r in taking})
    return plan


def _through_projection(mod, bindings) -> dict:
    """reader var -> [the projection's input gradient p, its mask_grad g1, (the depthwise input gradient, its
    mask_grad)]: the readers of the depthwise chain below p (_plan, any stride) and a bias_grad of g1."""
    uses = use_counts(mod["main"])
    trained = set(main_attr(mod, "tt.trainable", {}) or {})
    readers = _readers(bindings)
    inner = _plan(mod, bindings, strided=False)
    below = {chain[0].var: chain for chain in inner.values()}
    plan = {}
    for p in bindings:
        if (p.op != "conv2d_grad_input" or not _pointwise(p.attrs, p.args[1]) or uses.get(p.var) != 1
                or getattr(p.args[1], "name", None) in trained):
            continue
        (g1,) = readers.get(p.var, [None])
        if g1 is None or g1.op != "mask_grad" or not g1.args[0].same_as(p.var):
            continue
        taking = readers.get(g1.var, [])
        dws = [r for r in taking if r.var in below]
        bias = [r for r in taking if r.op == "bias_grad" and len(r.args) == 1]
        if uses.get(g1.var) != len(taking) or len(dws) != 1 or len(dws) + len(bias) != len(taking):
            continue
        dx = below[dws[0].var][0]
        plan.update({var: [p, g1, *chain] for var, chain in inner.items() if chain[0] is dx})
        plan.update({r.var: [p, g1] for r in bias})
    return plan


def _depthwise_grad(b, strided: bool) -> bool:
    if b.op != "conv2d_grad_input":
        return False
    (_, c, _, _), (_, _, kh, kw) = _shape(b.args[0]), _shape(b.args[1])
    return (b.attrs["groups"] == c == _shape(b.var)[1] > 1 and kh * kw > 1 and conv_geometry.is_plain(b.attrs)
            and (not strided or tensor_bytes(b.var.ty) > tensor_bytes(b.args[0].ty)))


def _chunkable(r, g) -> bool:
    """`r` reads g (once, at AT[r.op]) and can take it a chunk of channels at a time."""
    if r.op not in AT or sum(a.same_as(g) for a in r.args) != 1 or not r.args[AT[r.op]].same_as(g):
        return False
    if r.op == "bias_grad":
        return True
    if r.op == "conv2d_grad_input":
        return _pointwise(r.attrs, r.args[1]) and _shape(r.var)[2:] == _shape(g)[2:]
    ga = r.attrs["grad_attrs"]
    return (r.attrs["grad"] == "conv2d_grad_weight" and not ga["depthwise"] and tuple(ga["kernel"]) == (1, 1)
            and ga.get("groups", 1) == 1 and conv_geometry.is_plain(ga) and ga["stride"] == 1
            and not any(ga["padding"]))


def _pointwise(attrs, w) -> bool:
    return (_shape(w)[2:] == [1, 1] and attrs["groups"] == 1 and conv_geometry.is_plain(attrs)
            and attrs["stride"] == 1 and not any(attrs["padding"]))


def _shape(expr) -> list[int]:
    return [int(s) for s in expr.ty.shape]
