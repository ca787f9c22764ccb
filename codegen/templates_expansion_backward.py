"""C of `expansion_backward_{pw,dw}_chunks` (tvm_tinytrain/ops/expansion_backward.py): one loop over chunks of the
expanded channels that computes each chunk's gradient once (through the projection: its input gradient and the
depthwise conv's clamp mask; the depthwise input gradient and the expansion's clamp mask) and gives it to every
reader: the depthwise bias's update (from the projection's stage), the expansion bias's, the chunk's terms of the
expansion's input gradient (the op's output, added in channel order), the chunk's rows of the expansion's weight
gradient and their update (after the input gradient has read those rows).  Each value is the sum the separate
`*_chunks` ops computed, in the same order; the updates are per channel (per row), so a chunk's are the whole's."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .c_names import comment
from .templates import Split, _conv_call, _shape
from .templates_memory import (Reader, _chunk_dims, _chunk_floats, chunk_bytes, chunk_loop_head, grad_update,
                               projection_chunk, update_block, update_cols, update_rows)


# The attrs of an expansion's backward that are its weight update's (grad_update's: ops/expansion_backward.py).
WEIGHT_ATTRS = ("grad", "grad_attrs", "scaled", "update", "update_attrs")


def _parts(b) -> dict:
    return {part: tuple(v) for part, v in b.attrs["parts"].items()}


def _weight_reader(b) -> Reader | None:
    """The `grad_update` the op's weight part stands for, its gradient a stand-in of the chunked one's shape."""
    if "weight" not in b.attrs["parts"]:
        return None
    start, n = _parts(b)["weight"]
    c, mid, hw = _chunk_dims(b)
    g = SimpleNamespace(ty=SimpleNamespace(shape=[1, c, *(hw or mid)], dtype="float32"))  # never whole in the C
    w, x, *rest = b.args[start:start + n]
    return Reader("grad_update", [w, x, g, *rest], {k: b.attrs[k] for k in WEIGHT_ATTRS}, b.var)


def expansion_backward_scratch_args(b) -> tuple:
    """(the projection's gradient dims ((0, 0, 0): none), the depthwise gradient's, the chunk's bytes, the weight
    update's floats per row and per call (0, 0: no weight part), 1 if a bias part, the projection's output channels
    where it reads its output gradient through its mask (attr `source_mask`), else 0): the arguments of
    tt_expansion_backward_chunks_get_buffer_size."""
    c, mid, hw = _chunk_dims(b)
    reader = _weight_reader(b)
    run = (update_rows(reader)[1], update_cols(reader)) if reader else (0, 0)
    biases = int(bool({"bias", "dw_bias"} & set(b.attrs["parts"])))
    masked_c = _shape(b.args[b.attrs["at"]])[1] if "source_mask" in b.attrs else 0
    return ((c, *mid) if "pw" in b.attrs else (0, 0, 0), (c, *hw), chunk_bytes(b), *run, biases, masked_c)


# Output channels tt_conv2d_1x1_grad_input_masked_channels_f32 takes a block (GI_CHUNK of tt_conv2d_grad_input_f32.c);
# its scratch holds 8 pixels of each and at least one channel pair's scaled weights of them: 10 floats a channel.
MASKED_BLOCK = 64
MASKED_FLOATS = 10


def _block_in_projection_chunk(b) -> bool:
    """Whether the weight update's block of rows takes the projection chunk's place: that chunk is read for the
    last time by the depthwise gradient, before the update, so where the block fits in it it needs no bytes of
    its own (the op's scratch at its peak: Proxyless blocks.16 at 115K, 10,240 -> 8,448 B)."""
    *_, run, cols, _, _ = expansion_backward_scratch_args(b)
    k, _ = _chunk_floats(b)
    _, mid, _ = _chunk_dims(b)
    return bool(run) and "pw" in b.attrs and update_block(k, cols) * cols <= k * int(np.prod(mid))


def expansion_backward_scratch(b) -> int:
    """A chunk of each stage's gradient, then the larger of the weight update's block of rows (unless it takes the
    projection chunk's place) and a chunk's bias gradient (used one after the other); reading the projection's
    output gradient through its mask, at least the masked kernel's scratch of one channel pair after the
    projection's chunk (where the depthwise chunk and those come later)."""
    *_, run, cols, biases, masked_c = expansion_backward_scratch_args(b)
    _, _, hw = _chunk_dims(b)
    k, floats = _chunk_floats(b)
    block = update_block(k, cols) * cols * 4 if run and not _block_in_projection_chunk(b) else 0
    extra = max(block, k * 4 if biases else 0)
    if masked_c:
        extra = max(extra, (MASKED_FLOATS * min(masked_c, MASKED_BLOCK) - k * int(np.prod(hw))) * 4)
    return floats * 4 + extra


def _bias_update(g: str, hw, part, args, b, t: str) -> list[str]:
    """A chunk's bias gradient (channels c0..c0+k-1 of g), QAS-scaled, and the int32 update of those biases."""
    start, _ = _parts(b)[part]
    bias, scale, lr = args[start:start + 3]
    return [f"        TT_CALL(tt_bias_grad_f32({g}, k, {hw}, {t}));",
            f"        TT_CALL(tt_scale_channels_f32({t}, k, 1, {scale} + c0, {t}));",
            f"        TT_CALL(tt_sgd_s32({bias} + c0, {t}, k, {lr}, {b.attrs[part]['limit']}));"]


def expansion_backward(b, args, out):
    a = b.attrs
    c, (oh, ow), (h, wd) = _chunk_dims(b)
    k, floats = _chunk_floats(b)
    scratch, parts = args[-1], _parts(b)
    t = f"((float *)({scratch} + {floats * 4}))"  # a chunk's bias gradient, then the weight update's block
    lines = chunk_loop_head(c, k, ": their gradient once, then every reader's part")
    src, pos = f"{args[0]} + c0 * {oh * ow}", 1
    g = f"((float *){scratch})"
    if "pw" in a:  # the masked kernel's scratch (source_mask) where the depthwise chunk comes later
        block = (f"((float *)({scratch} + {k * oh * ow * 4}))", (expansion_backward_scratch(b) - k * oh * ow * 4) // 4)
        lines += projection_chunk(b, args, 0, pos, g, block)
        pos += 3
        if "dw_bias" in parts:
            lines += _bias_update(g, oh * ow, "dw_bias", args, b, t)
        src, g = g, f"((float *)({scratch} + {k * oh * ow * 4}))"
    w, w_scale, mask = args[pos:pos + 3]
    kh, kw = _shape(b.args[pos])[2:]
    pos += 3
    params, kernel = _conv_call(a["dw"], "tt_conv2d_grad_input_f32", groups="k", static=False)
    lines += [f"        {{ {params}",
              f"          TT_CALL({kernel}({src}, (tt_dims){{k, {oh}, {ow}}}, {w} + c0 * {kh * kw}, {kh}, {kw}, "
              f"{w_scale} + c0, &p, {g}, (tt_dims){{k, {h}, {wd}}})); }}",
              f"        TT_CALL(tt_mask_grad_f32({g}, {mask} + c0 * {h * wd} / 8, k * {h * wd}, {g}));"]
    if "bias" in parts:
        lines += _bias_update(g, h * wd, "bias", args, b, t)
    w1, w1_scale = args[pos:pos + 2]
    weight = (f"tt_conv2d_1x1_grad_input_split_rows_f32({g}, c0, k, {h * wd}, {w1.lead}, {w1.rest}, {w1.k}, "
              if isinstance(w1, Split) else f"tt_conv2d_1x1_grad_input_rows_f32({g}, c0, k, {h * wd}, {w1}, ")
    lines.append(f"        TT_CALL({weight}{w1_scale}, {_shape(b.var)[1]}, {out}));")
    reader = _weight_reader(b)
    if reader is not None:  # rows c0..c0+k-1 of the weight, read above for the last time: their gradient, update
        start, n = parts["weight"]
        w_arg, x_arg, *rest = args[start:start + n]
        cols = update_cols(reader)
        at = f"((float *){scratch})" if _block_in_projection_chunk(b) else t
        loop = grad_update(reader, [w_arg, x_arg, None, *rest, at], out, rows_of=("c0", "c0 + k"),
                           d_rows=f"{g} + (o - c0) * {h * wd}", block=update_block(k, cols))
        lines.append("        " + loop.replace("\n", "\n    "))
    return "\n".join(lines) + "\n    }"


def chunked_update(b, args, out):
    """Nothing to do: the expansion's backward (the op this one follows) has written the parameter."""
    return f"/* {comment(b.args[0].name)}: updated in place by the expansion's backward above */"
