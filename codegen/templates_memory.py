"""C of the memory passes' ops (passes/fuse_grad_update.py, fuse_conv_dw_pw_rows.py,
fuse_expand_depthwise.py, inplace_depthwise.py): readable loops over channels or row blocks
calling the existing kernels with offset pointers, or the row kernel tt_conv_dw_pw_rows_s8.
The last of `args` is the op's scratch, `(tt_arena + offset)`, sized by the op record's
`scratch` (tvm_tinytrain/ops/fused.py), which equals the kernels' `*_get_buffer_size`."""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from tvm_tinytrain import conv_geometry

from .templates import Split, _conv_call, _conv_params, _f, _quant, _shape


# Output rows of a weight whose float gradient `grad_update` holds at a time: at least four (the blocked
# 4 x 4 pointwise gradient kernel at full speed), more, in fours, while they fit UPDATE_BYTES: the kernel
# converts its int8 input to float once per call, for all the rows of the block (TT_UPDATE_ROWS and
# TT_UPDATE_BYTES of tt_kernels.h).
UPDATE_ROWS = 4
UPDATE_BYTES = 2048
# A plain 1x1 conv's gradient is computed UPDATE_COLS input channels at a time (update_cols): its kernel
# converts a call's input channels once for all the call's rows, and narrow columns give a call up to 64 rows.
UPDATE_COLS = 8


def update_block(rows: int, per_row: int) -> int:
    """Rows of gradient per call of a `grad_update` op, `per_row` floats of each a call
    (tt_grad_update_get_buffer_size's rule)."""
    return min(rows, max(UPDATE_ROWS, UPDATE_BYTES // (per_row * 4) // 4 * 4))


def update_cols(b) -> int:
    """Floats of each gradient row a `grad_update` call computes: UPDATE_COLS input channels of a plain 1x1
    conv's int8 update (tt_sgd_s8_block), a whole row otherwise."""
    per_row = update_rows(b)[1]
    ga = b.attrs["grad_attrs"]
    pointwise = (b.attrs["grad"] == "conv2d_grad_weight" and not ga["depthwise"] and ga.get("groups", 1) == 1
                 and tuple(ga["kernel"]) == (1, 1) and conv_geometry.is_plain(ga))
    return UPDATE_COLS if pointwise and b.attrs["update"] == "sgd_s8" and per_row > UPDATE_COLS else per_row


def update_scratch_args(b) -> tuple[int, int, int]:
    """(rows, floats per row, floats per row a call): tt_grad_update_get_buffer_size's arguments."""
    return (*update_rows(b), update_cols(b))


def update_rows(b) -> tuple[int, int]:
    """(rows, floats per row) of the gradient a `grad_update` op computes: the updated slice of its
    weight, rows being output channels (depthwise: the k updated channels)."""
    shape = _shape(b.args[0])
    a = b.attrs["update_attrs"]
    if b.attrs["update"] == "sgd_s8":
        shape[0 if a["depthwise"] else 1] = a["k"]
    return shape[0], int(np.prod(shape[1:]))


# Expanded channels an `expand_depthwise_s8` call computes at a time: up to four (tt_conv2d_1x1_s8's packed path,
# the input packed once for the four outputs) while they fit EXPAND_BYTES, so that large inputs (64 x 64) keep a
# small scratch; the last call the channels left (TT_EXPAND_CHANNELS and TT_EXPAND_BYTES of tt_kernels.h).
EXPAND_CHANNELS = 4
EXPAND_BYTES = 1024


def expand_channels(c: int, hw: int) -> int:
    """Expanded channels per call of an `expand_depthwise_s8` op of c channels of hw pixels (its scratch holds
    that many): tt_expand_depthwise_s8_get_buffer_size's rule."""
    return min(EXPAND_CHANNELS, c, max(1, EXPAND_BYTES // hw))


def expand_depthwise_s8(b, args, out):
    x, w1, b1, m1, s1, w2, b2, m2, s2, scratch = args
    e, d = b.attrs["expand"], b.attrs["depthwise"]
    (_, cin, h, w), (_, c, oh, ow) = _shape(b.args[0]), _shape(b.var)
    kh, kw = _shape(b.args[5])[2:]
    k = expand_channels(c, h * w)

    def block(c0: str, n: int) -> str:
        """Expansion channels c0 .. c0 + n -> scratch -> their depthwise -> output channels c0 .. c0 + n."""
        mid = f"(tt_dims){{{n}, {h}, {w}}}"
        return (f"{{ {_conv_params(e)} {_quant(e)}\n"
                f"          TT_CALL(tt_conv2d_1x1_s8({x}, (tt_dims){{{cin}, {h}, {w}}}, {w1} + {c0} * {cin}, "
                f"{b1} + {c0}, {m1} + {c0}, {s1} + {c0}, &p, &q, (int8_t *){scratch}, {mid})); }}\n"
                f"        {{ {_conv_params(d, groups=n)} {_quant(d)}\n"
                f"          TT_CALL(tt_depthwise_conv2d_s8((int8_t *){scratch}, {mid}, {w2} + {c0} * {kh * kw}, {kh}, "
                f"{kw}, {b2} + {c0}, {m2} + {c0}, {s2} + {c0}, &p, &q, {out} + {c0} * {oh * ow}, "
                f"(tt_dims){{{n}, {oh}, {ow}}})); }}")

    whole = c // k * k
    code = (f"for (int32_t c = 0; c < {whole}; c += {k}) {{  /* {k} expansion channels -> scratch -> their "
            f"depthwise -> output channels c .. c + {k - 1} */\n        {block('c', k)}\n    }}")
    if whole < c:  # the channels left, in one call
        code += f"\n    {block(str(whole), c - whole)}"
    return code


def _layer(a, w, bias, mult, shift, kernel, table="NULL") -> str:
    """A tt_conv_layer initializer (its constants table NULL unless named)."""
    top, left, bottom, right = a["padding"]
    return (f"{{{w}, {kernel[0]}, {kernel[1]}, {bias}, {mult}, {shift}, {{{a['stride']}, {top}, {left}, {bottom}, "
            f"{right}, {a['groups']}}}, {{{a['x_zero']}, {a['y_zero']}, {a['act_min']}, {a['act_max']}}}, {table}}}")


def rows_block(b, weights) -> tuple[list[str], str, str, str]:
    """(tt_conv_layer initializers of a, b, c; the C tt_dims of in, mid, out) of a conv_dw_pw_rows_s8 op, from the
    three layers' (w, bias, mult, shift) and the depthwise's constants table (emit.py's _dw_table; none: NULL)."""
    names = ("conv", "depthwise", "pointwise")
    table = weights[12] if len(weights) > 12 else "NULL"
    layers = [_layer(b.attrs[n], *weights[4 * i:4 * i + 4], _shape(b.args[1 + 4 * i])[2:],
                     *([table] if n == "depthwise" else []))
              for i, n in enumerate(names)]
    (_, c_in, h, w), (_, c_out, oh, ow) = _shape(b.args[0]), _shape(b.var)
    mid = _shape(b.args[5])[0]
    conv = b.attrs["conv"]
    kh, kw = _shape(b.args[1])[2:]
    top, left, bottom, right = conv["padding"]
    mid_h, mid_w = (h + top + bottom - kh) // conv["stride"] + 1, (w + left + right - kw) // conv["stride"] + 1
    return (layers, f"(tt_dims){{{c_in}, {h}, {w}}}", f"(tt_dims){{{mid}, {mid_h}, {mid_w}}}",
            f"(tt_dims){{{c_out}, {oh}, {ow}}}")


def conv_dw_pw_rows_s8(b, args, out):
    x, *weights, scratch = args
    layers, in_dims, mid_dims, out_dims = rows_block(b, weights)
    return (f"{{ static const tt_conv_layer a = {layers[0]};\n"
            f"      static const tt_conv_layer b = {layers[1]};\n"
            f"      static const tt_conv_layer c = {layers[2]};\n"
            f"      TT_CALL(tt_conv_dw_pw_rows_s8({x}, {in_dims}, &a, {mid_dims}, &b, &c, {out}, {out_dims}, "
            f"(int8_t *){scratch})); }}")


def conv_dw_pw_rows_add_s8(b, args, out):
    x, *weights, scratch = args
    layers, in_dims, mid_dims, out_dims = rows_block(b, weights)
    a = b.attrs["add"]
    return (f"{{ static const tt_conv_layer a = {layers[0]};\n"
            f"      static const tt_conv_layer b = {layers[1]};\n"
            f"      static const tt_conv_layer c = {layers[2]};\n"
            f"      static const tt_residual_add add = {{{int(b.attrs['x_is_a'])}, {a['a_zero']}, {a['b_zero']}, "
            f"{a['multiplier_a']}, {a['multiplier_b']}, {a['shift']}, {{0, {a['y_zero']}, {a['act_min']}, "
            f"{a['act_max']}}}}};\n"
            f"      TT_CALL(tt_conv_dw_pw_rows_add_s8({x}, {in_dims}, &a, {mid_dims}, &b, &c, {out}, {out_dims}, &add, "
            f"(int8_t *){scratch})); }}")


def _depthwise_parts(w, c: int) -> list:
    """(first channel, channels, weights) of each non-empty part of a depthwise weight of c channels: the trained
    lead and the frozen rest of a split weight, or the whole."""
    parts = [(0, w.k, w.lead), (w.k, c - w.k, w.rest)] if isinstance(w, Split) else [(0, c, w)]
    return [part for part in parts if part[1] > 0]


def depthwise_inplace_s8(b, args, out):
    x, w, bias, mult, shift, scratch = args
    a = b.attrs
    (_, c, h, wd), (_, _, oh, ow) = _shape(b.args[0]), _shape(b.var)
    kh, kw = _shape(b.args[1])[2:]
    # one call over all channels writing over its input (output channel c once input channel c is read), one per
    # part of a split weight (the second part's outputs start below its inputs: the same order holds)
    calls = []
    for c0, n, weights in _depthwise_parts(w, c):
        calls.append(f"{{ {_conv_params(a, groups=n)} {_quant(a)}\n"
                     f"          TT_CALL(tt_depthwise_inplace_s8({x} + {c0 * h * wd}, (tt_dims){{{n}, {h}, {wd}}}, "
                     f"{weights}, {kh}, {kw}, {bias} + {c0}, {mult} + {c0}, {shift} + {c0}, &p, &q, "
                     f"{out} + {c0 * oh * ow}, (tt_dims){{{n}, {oh}, {ow}}}, (int8_t *){scratch})); }}")
    return "\n    ".join(calls)


def depthwise_grad_input_inplace(b, args, out):
    d, w, w_scale, scratch = args
    a = b.attrs
    (_, c, oh, ow), (_, _, h, wd) = _shape(b.args[0]), _shape(b.var)
    kh, kw = _shape(b.args[1])[2:]
    # one call over all channels (dx over d: channel c written after it is read), one per part of a split weight
    calls = []
    for c0, n, weights in _depthwise_parts(w, c):
        calls.append(f"{{ {_conv_params(a, groups=n)}\n"
                     f"          TT_CALL(tt_depthwise_grad_input_inplace_f32({d} + {c0 * oh * ow}, (tt_dims){{{n}, {oh}, "
                     f"{ow}}}, {weights}, {kh}, {kw}, {w_scale} + {c0}, &p, {out} + {c0 * h * wd}, (tt_dims){{{n}, {h}, "
                     f"{wd}}}, (float *){scratch})); }}")
    return "\n    ".join(calls)


def grad_update(b, args, out, rows_of=None, d_rows=None, block=None):
    """The gradient of a block of rows, then their update, block after block: rows 0..rows-1 of the weight, or
    `rows_of` (first, end: C expressions), the gradient d of rows o.. at `d_rows` (a C expression of o)."""
    a, ga, ua = b.attrs, b.attrs["grad_attrs"], b.attrs["update_attrs"]
    w, x, d, *rest, scratch = args
    scale = rest.pop(0) if a["scaled"] else None
    rows, per_row = update_rows(b)
    cols = update_cols(b)
    block = block or update_block(rows, cols)
    first, end = rows_of or (0, rows)
    g = f"((float *){scratch})"
    if a["grad"] == "conv2d_grad_weight":
        _, k, h, wd = _shape(b.args[1])
        _, _, oh, ow = _shape(b.args[2])
        kh, kw = ga["kernel"]
        if ga["depthwise"]:  # rows are channels: channel o of x and of d (n of them: the groups, a local)
            params, kernel = _conv_call(ga, "tt_conv2d_grad_weight_f32", groups="n", static=False)
            grad = f"{{ {params} TT_CALL({kernel}({x} + o * {h * wd}, (tt_dims){{n, {h}, {wd}}}, "
        elif cols < per_row:  # 1x1: input channels c..c+m-1 (m of them, a local)
            params, kernel = _conv_call(ga, "tt_conv2d_grad_weight_f32", groups=1)
            grad = f"{{ {params} TT_CALL({kernel}({x} + c * {h * wd}, (tt_dims){{m, {h}, {wd}}}, "
        else:
            params, kernel = _conv_call(ga, "tt_conv2d_grad_weight_f32", groups=1)
            grad = f"{{ {params} TT_CALL({kernel}({x}, (tt_dims){{{k}, {h}, {wd}}}, "
        grad += (f"{ga['x_zero']}, {_f(ga['x_scale'])}, {d_rows or f'{d} + o * {oh * ow}'}, (tt_dims){{n, {oh}, {ow}}}, "
                 f"{kh}, {kw}, "
                 f"&p, {ga['depthwise']}, {g})); }}")
    elif a["grad"] == "linear_grad_weight":
        grad = (f"TT_CALL(tt_linear_grad_weight_f32({x}, {per_row}, {ga['x_zero']}, {_f(ga['x_scale'])}, {d} + o, "
                f"n, {g}));")
    else:  # linear_f32_grad_weight
        grad = (f"TT_CALL(tt_linear_f32_grad_weight({x}, {per_row}, {_f(ga['x_scale'])}, {ga['x_zero']}, {d} + o, "
                f"n, {g}));")
    lines = [f"for (int32_t o = {first}; o < {end}; o += {block}) {{  /* the gradient of rows o..o+n-1, then their "
             f"update */", f"        const int32_t n = {end} - o < {block} ? {end} - o : {block};"]
    indent, run = "        ", per_row
    if cols < per_row:
        lines += [f"        for (int32_t c = 0; c < {per_row}; c += {cols}) {{  /* their columns c..c+m-1 */",
                  f"            const int32_t m = {per_row} - c < {cols} ? {per_row} - c : {cols};"]
        indent, run = "            ", "m"
    lines.append(f"{indent}{grad}")
    # a 1x1 conv's column blocks: the QAS scale inside the update (tt_sgd_s8_block_scaled), not a pass of its own
    scaled_update = scale is not None and a["update"] == "sgd_s8" and cols < per_row
    if scale is not None and not scaled_update:
        lines.append(f"{indent}TT_CALL(tt_scale_channels_f32({g}, n, {run}, {scale} + o, {g}));")
    if a["update"] == "sgd_s8":
        lr, step = rest
        if isinstance(w, Split):  # only the trained slice is stored writable: its rows are contiguous
            w, row_stride = w.lead, per_row
        else:
            shape = _shape(b.args[0])
            row_stride = per_row if ua["depthwise"] else int(np.prod(shape[1:]))
        if cols < per_row:
            block_call = (f"tt_sgd_s8_block_scaled({w}, {g}, {scale} + o, " if scaled_update else
                          f"tt_sgd_s8_block({w}, {g}, ")
            lines.append(f"{indent}TT_CALL({block_call}o, n, c, m, {row_stride}, {per_row}, {lr}, {step}, "
                         f"{ua['conv_index']}));")
            lines.append("        }")
        else:
            lines.append(f"{indent}TT_CALL(tt_sgd_s8_rows({w}, {g}, o, n, {row_stride}, {per_row}, {lr}, {step}, "
                         f"{ua['conv_index']}));")
    else:
        (lr,) = rest
        lines.append(f"        TT_CALL(tt_sgd_f32({w} + o * {per_row}, {g}, n * {per_row}, {lr}));")
    return "\n".join(lines) + "\n    }"



# The input gradient of a strided depthwise conv a chunk of channels at a time (passes/chunk_depthwise_grad.py):
# TT_DW_GRAD_CHUNK_BYTES of tt_kernels.h; a narrowed chunk (the op's attr `chunk_bytes`, where the SRAM budget needs
# its scratch smaller: compiler.narrow_chunks) takes NARROW_CHUNK_BYTES, more turns of the loop for the same values,
# or one of NARROW_STEPS where that is small enough (fewer turns).
DW_GRAD_CHUNK_BYTES = 4096
NARROW_CHUNK_BYTES = 512
NARROW_STEPS = (2048, 1024)


def dw_chunk_channels(c: int, hw: int, chunk_bytes: int = DW_GRAD_CHUNK_BYTES, mid_hw: int = 0) -> int:
    """Channels of a chunk: multiples of 8 in `chunk_bytes` of float, at least 8, at most all c; where fewer than 8
    fit (a narrowed chunk of a large map), the most that fit of the fewest, an even number (the 1x1 kernels take
    channel pairs), whose clamp-mask bits at `hw` pixels and at `mid_hw` (a projection's stage; 0: none) are whole
    bytes (tt_dw_chunk_channels)."""
    fit, unit = chunk_bytes // (hw * 4), max(2, *(8 // math.gcd(n, 8) for n in (hw, mid_hw) if n))
    return min(c, fit // 8 * 8 if fit >= 8 else max(unit, fit // unit * unit))


@dataclass
class Reader:
    """The op a `*_dw_chunks` op was made of: `op` reading the masked depthwise gradient (its argument `at`),
    its args with that gradient's stand-in, its attrs; what the templates of `op` read."""
    op: str
    args: list
    attrs: dict
    var: object


CHUNK_ATTRS = ("pw", "dw", "at", "chunk_bytes")  # a `*_chunks` op's attrs beside its reader's


def _chunk_dims(b) -> tuple:
    """(channels, the source gradient's (h, w), the depthwise gradient's (h, w) or None) of a `*_dw_chunks` /
    `*_pw_chunks` op: through a projection the channels are its weight's inputs, the source its output gradient."""
    a, at = b.attrs, b.attrs["at"]
    c = _shape(b.args[at + 1])[1] if "pw" in a else _shape(b.args[at])[1]
    return c, tuple(_shape(b.args[at])[2:]), (tuple(a["dw"]["in_hw"]) if "dw" in a else None)


def _stage_args(a) -> int:
    """The op's args at `at` for the gradient: the source, then (weight, scale, mask) per stage (`pw`, `dw`)."""
    return 1 + 3 * ("pw" in a) + 3 * ("dw" in a)


def dw_chunks_reader(b) -> Reader:
    a, at = b.attrs, b.attrs["at"]
    c, mid, hw = _chunk_dims(b)
    g = SimpleNamespace(ty=SimpleNamespace(shape=[1, c, *(hw or mid)], dtype="float32"))  # never whole in the C
    attrs = {k: v for k, v in a.items() if k not in CHUNK_ATTRS}
    return Reader(b.op[:-len("_dw_chunks")], [*b.args[:at], g, *b.args[at + _stage_args(a):]], attrs, b.var)


def dw_chunks_scratch_args(b) -> tuple:
    """(the depthwise gradient's dims (through a projection: its gradient's dims first, and (0, 0, 0) for no
    depthwise stage), the chunk's bytes, and for a gradient + update its rows' floats and floats a call, else 0, 0):
    the arguments of tt_depthwise_grad_chunks_get_buffer_size / tt_projection_grad_chunks_get_buffer_size."""
    reader, (c, mid, hw) = dw_chunks_reader(b), _chunk_dims(b)
    dims = ((c, *mid), (c, *hw) if hw else (0, 0, 0)) if "pw" in b.attrs else ((c, *hw),)
    dims = (*dims, chunk_bytes(b))
    return (*dims, *(update_rows(reader)[1], update_cols(reader))) if reader.op == "grad_update" else (*dims, 0, 0)


def chunk_bytes(b) -> int:
    """The float bytes a chunk of a `*_chunks` op may take (its attr; DW_GRAD_CHUNK_BYTES if none)."""
    return int(b.attrs["chunk_bytes"]) if "chunk_bytes" in b.attrs else DW_GRAD_CHUNK_BYTES


def dw_chunks_scratch(b) -> int:
    """A chunk of each stage's gradient (the projection's, the depthwise conv's), and a gradient + update's block
    of rows."""
    *_, run, cols = dw_chunks_scratch_args(b)
    k, chunk = _chunk_floats(b)
    return chunk * 4 + (update_block(k, cols) * cols * 4 if run else 0)


def _chunk_floats(b) -> tuple:
    """(channels of a chunk, floats of a chunk of every stage's gradient)."""
    c, mid, hw = _chunk_dims(b)
    mid_hw = int(np.prod(mid)) if hw and "pw" in b.attrs else 0  # the projection's stage's mask, before the depthwise's
    k = dw_chunk_channels(c, int(np.prod(hw or mid)), chunk_bytes(b), mid_hw)
    return k, k * (int(np.prod(mid)) * ("pw" in b.attrs) + (int(np.prod(hw)) if hw else 0))


def chunk_loop_head(c: int, k: int, what: str) -> list[str]:
    """The head of a loop over chunks of k of c channels (c0 the first, k the chunk's own width, the last may be
    narrower)."""
    return [f"for (int32_t c0 = 0; c0 < {c}; c0 += {k}) {{  /* channels c0..c0+k-1{what} */",
            f"        const int32_t k = {c} - c0 < {k} ? {c} - c0 : {k};"]


def projection_chunk(b, args, at: int, pos: int, g: str, block: tuple | None = None) -> list[str]:
    """Through a projection (args[pos:pos + 3]: its weight, scale and the depthwise output's clamp mask): the
    chunk's channels of its input gradient from args[at] (the projection's output gradient) into g, masked.  With
    attr `source_mask` (passes/source_through_mask.py), args[at] is read through that arg, a mask, 8 pixels at a time
    (tt_conv2d_1x1_grad_input_masked_channels_f32, its scratch `block`: a C pointer and its floats)."""
    c, (oh, ow), _ = _chunk_dims(b)
    w_p, s_p, m_dw = args[pos:pos + 3]
    out_c = _shape(b.args[at])[1]
    if "source_mask" in b.attrs:
        call = (f"tt_conv2d_1x1_grad_input_masked_channels_f32({args[at]}, {args[b.attrs['source_mask']]}, {out_c}, "
                f"{oh * ow}, {w_p}, {s_p}, c0, k, {c}, {g}, {block[0]}, {block[1]})")
    else:
        call = f"tt_conv2d_1x1_grad_input_channels_f32({args[at]}, {out_c}, {oh * ow}, {w_p}, {s_p}, c0, k, {c}, {g})"
    return [f"        TT_CALL({call});",
            f"        TT_CALL(tt_mask_grad_f32({g}, {m_dw} + c0 * {oh * ow} / 8, k * {oh * ow}, {g}));"]


def dw_chunks(b, args, out):
    """For each chunk of channels: through a projection, its input gradient of those channels and the depthwise
    conv's clamp mask; their depthwise input gradient into the scratch, the clamp mask of the expansion; then
    the reader's part: the bias gradient of those channels, their terms of the expansion's input gradient (added
    in order), or their rows of its weight gradient and the update."""
    a, at, reader = b.attrs, b.attrs["at"], dw_chunks_reader(b)
    c, (oh, ow), hw_dw = _chunk_dims(b)
    k, floats = _chunk_floats(b)
    scratch, src, pos = args[-1], f"{args[at]} + c0 * {oh * ow}", at + 1
    g = f"((float *){scratch})"
    lines = chunk_loop_head(c, k, " of the gradient, masked, then read")
    if "pw" in a:
        lines += projection_chunk(b, args, at, pos, g)
        pos += 3
        src = g
    hw = oh * ow
    if "dw" in a:
        w, w_scale, mask = args[pos:pos + 3]
        pos += 3
        (kh, kw), (h, wd) = _shape(b.args[pos - 3])[2:], hw_dw
        hw = h * wd
        if "pw" in a:
            g = f"((float *)({scratch} + {k * oh * ow * 4}))"
        params, kernel = _conv_call(a["dw"], "tt_conv2d_grad_input_f32", groups="k", static=False)
        lines += [f"        {{ {params}",
                  f"          TT_CALL({kernel}({src}, (tt_dims){{k, {oh}, {ow}}}, {w} + c0 * {kh * kw}, {kh}, "
                  f"{kw}, {w_scale} + c0, &p, {g}, (tt_dims){{k, {h}, {wd}}})); }}",
                  f"        TT_CALL(tt_mask_grad_f32({g}, {mask} + c0 * {hw} / 8, k * {hw}, {g}));"]
    if reader.op == "bias_grad":
        lines.append(f"        TT_CALL(tt_bias_grad_f32({g}, k, {hw}, {out} + c0));")
    elif reader.op == "conv2d_grad_input":
        w1, w1_scale = args[pos:pos + 2]
        weight = (f"tt_conv2d_1x1_grad_input_split_rows_f32({g}, c0, k, {hw}, {w1.lead}, {w1.rest}, {w1.k}, "
                  if isinstance(w1, Split) else f"tt_conv2d_1x1_grad_input_rows_f32({g}, c0, k, {hw}, {w1}, ")
        lines.append(f"        TT_CALL({weight}{w1_scale}, {_shape(b.var)[1]}, {out}));")
    else:  # grad_update: rows c0..c0+k-1 of the weight, its gradient's block after the chunks in the scratch
        inner = [*args[:at], None, *args[pos:-1], f"({scratch} + {floats * 4})"]
        cols = update_cols(reader)
        loop = grad_update(reader, inner, out, rows_of=("c0", "c0 + k"), d_rows=f"{g} + (o - c0) * {hw}",
                           block=update_block(k, cols))
        lines.append("        " + loop.replace("\n", "\n    "))
    return "\n".join(lines) + "\n    }"
