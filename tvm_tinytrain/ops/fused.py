"""Fused and in-place ops the memory passes introduce.  Each body composes the builders of the
ops it replaces, in the same order, so TVM computes the same values bit for bit; what changes
is only what a device keeps in memory (docs/architecture.md, "Memory passes")."""
import numpy as np

from tvm_tinytrain.codegen import templates_memory as c

from . import OPS
from .backward import conv2d_grad_input, mask_grad
from .forward import add_s8, conv2d_s8
from .registry import NEW, OVER_INPUT, PARAM, REUSES_INPUT, OpRecord, declare


def expand_depthwise_s8(fb, args, a):
    """(x, w1, b1, mult1, shift1, w2, b2, mult2, shift2) -> depthwise(expand(x)): a frozen 1x1
    expansion and the depthwise conv that is its only reader (attrs `expand`, `depthwise`).
    The C computes it up to four channels at a time, so the expanded tensor never exists whole."""
    expanded = fb.emit(conv2d_s8(fb, args[:5], a["expand"]))
    return conv2d_s8(fb, [expanded, *args[5:]], a["depthwise"])


def depthwise_inplace_s8(fb, args, a):
    """conv2d_s8 of a depthwise layer whose input dies at it: the C writes the output over the input,
    a channel at a time through a one-channel scratch."""
    return conv2d_s8(fb, args, a)


def depthwise_grad_input_inplace(fb, args, a):
    """conv2d_grad_input of a stride-1 depthwise conv (dx has d's shape): the C writes dx over d when d
    dies at it, a channel at a time through a one-channel scratch."""
    return conv2d_grad_input(fb, args, a)


def grad_update(fb, args, a):
    """(w, *grad args, [scale], lr, [step]) -> updated w: a weight gradient (`grad`: conv2d_grad_weight,
    linear_grad_weight or linear_f32_grad_weight, with `grad_attrs`), optionally scaled per output
    channel (`scaled`: QAS), then its SGD update (`update`: sgd_s8 or sgd_f32, `update_attrs`).  The C
    computes a few output rows' gradient at a time and updates them at once, so the float gradient of
    the whole weight never exists."""
    w, x, d, *rest = args
    grad = fb.emit(OPS[a["grad"]](fb, [x, d], a["grad_attrs"]))
    if a["scaled"]:
        grad = fb.emit(OPS["scale_channels"](fb, [grad, rest.pop(0)], {}))
    return OPS[a["update"]](fb, [w, grad, *rest], a["update_attrs"])


def conv_dw_pw_rows_s8(fb, args, a):
    """(x, 4 args of a conv, 4 of a depthwise conv, 4 of a 1x1 conv) -> the three convs in a row (attrs
    `conv`, `depthwise`, `pointwise`), all frozen and each intermediate read by the next only.  The C
    computes one output row at a time, so neither intermediate tensor exists whole."""
    mid = fb.emit(conv2d_s8(fb, args[:5], a["conv"]))
    dw = fb.emit(conv2d_s8(fb, [mid, *args[5:9]], a["depthwise"]))
    return conv2d_s8(fb, [dw, *args[9:]], a["pointwise"])


def conv_dw_pw_rows_add_s8(fb, args, a):
    """(x, the 12 args of conv_dw_pw_rows_s8) -> add_s8 of x and that block's output y (attrs of the block, `add`:
    the add's, `x_is_a`: 1 where x is its first operand): a stride-1 residual block and its add.  The C writes each
    output row's sum as soon as it is made, over x where x dies here, so y never exists whole."""
    y = fb.emit(conv_dw_pw_rows_s8(fb, args, a))
    return add_s8(fb, [args[0], y] if a["x_is_a"] else [y, args[0]], a["add"])


def _through_depthwise_grad(reader: str):
    """The builder of `<reader>_dw_chunks` and `<reader>_pw_chunks`: `reader`'s args with, at attr `at`, the
    stages of its masked gradient: the source gradient, then for the projection (attrs `pw`) its weight, scale
    and the depthwise conv's clamp mask: mask_grad(conv2d_grad_input(dy, wp, sp), m); for the depthwise conv
    (attrs `dw`) its weight, scale and the expansion's clamp mask: mask_grad(conv2d_grad_input(d, w, w_scale),
    mask), the input gradient of a depthwise conv through the clamp mask of the expansion below it.  The C takes
    it a chunk of channels at a time (passes/chunk_depthwise_grad.py), so it never exists whole."""
    def build(fb, args, a):
        at = a["at"]
        g, rest = args[at], list(args[at + 1:])
        for stage in ("pw", "dw"):
            if stage in a:
                (w, w_scale, mask), rest = rest[:3], rest[3:]
                g = fb.emit(mask_grad(fb, [fb.emit(conv2d_grad_input(fb, [g, w, w_scale], a[stage])), mask], {}))
        attrs = {k: v for k, v in a.items() if k not in c.CHUNK_ATTRS}
        return OPS[reader](fb, [*args[:at], g, *rest], attrs)

    return build


# Scratch sizes: the same formulas as the kernels' *_get_buffer_size companions (tested equal).
def _shape(expr) -> list[int]:
    return [int(s) for s in expr.ty.shape]


def expand_depthwise_scratch(b) -> int:
    """The expanded channels of a call (int8, templates_memory.expand_channels) at the input's size:
    tt_expand_depthwise_s8_get_buffer_size."""
    hw = int(np.prod(_shape(b.args[0])[2:]))
    return c.expand_channels(_shape(b.var)[1], hw) * hw


def one_output_channel_scratch(b) -> int:
    """One output channel, of the output's type: tt_depthwise_inplace_s8_get_buffer_size and
    tt_depthwise_grad_input_inplace_f32_get_buffer_size."""
    return int(np.prod(_shape(b.var)[2:])) * np.dtype(str(b.var.ty.dtype)).itemsize


def grad_update_scratch(b) -> int:
    """A block of the float gradient, rows (update_block) by columns (update_cols):
    tt_grad_update_get_buffer_size."""
    rows, cols = c.update_rows(b)[0], c.update_cols(b)
    return c.update_block(rows, cols) * cols * 4


def _dims(expr) -> tuple:
    return tuple(_shape(expr)[1:])


def _conv_dw_pw_rows_args(b) -> tuple:
    """(in, layer a, mid, layer b, out) of tt_conv_dw_pw_rows_s8_get_buffer_size."""
    conv, (_, _, h, w) = b.attrs["conv"], _shape(b.args[0])
    kh, kw = _shape(b.args[1])[2:]
    top, left, bottom, right = conv["padding"]
    mid = (_shape(b.args[5])[0], (h + top + bottom - kh) // conv["stride"] + 1,
           (w + left + right - kw) // conv["stride"] + 1)
    layer_a = {"kh": kh, "kw": kw, "conv": (conv["stride"], top, left, bottom, right, conv["groups"])}
    return _dims(b.args[0]), layer_a, mid, {"kh": _shape(b.args[5])[2]}, _dims(b.var)


def conv_dw_pw_rows_scratch(b) -> int:
    """x band, mid row, mid window, depthwise row, output row (each 8-aligned):
    tt_conv_dw_pw_rows_s8_get_buffer_size."""
    (_, c_in, _, w_in), (_, c_out, _, w_out) = _shape(b.args[0]), _shape(b.var)
    (c_mid, _, kh_a, kw_a), kh_b = _shape(b.args[1]), _shape(b.args[5])[2]
    conv = b.attrs["conv"]
    w_mid = (w_in + conv["padding"][1] + conv["padding"][3] - kw_a) // conv["stride"] + 1
    parts = [c_in * kh_a * w_in, c_mid * w_mid, c_mid * kh_b * w_mid, c_mid * w_out, c_out * w_out]
    return sum((p + 7) // 8 * 8 for p in parts)


def conv_dw_pw_rows_add_scratch(b) -> int:
    """The row block's scratch, then one row of its output (8-aligned): tt_conv_dw_pw_rows_add_s8_get_buffer_size."""
    (_, c_out, _, w_out) = _shape(b.var)
    return conv_dw_pw_rows_scratch(b) + (c_out * w_out + 7) // 8 * 8


# One record per op (registry.py): builder, C call, kernel files, storage, scratch and its C companion.
declare(
    OpRecord("expand_depthwise_s8", expand_depthwise_s8, c.expand_depthwise_s8,
             ("tt_conv2d_1x1_s8.c", "tt_depthwise_conv2d_s8.c"), scratch=expand_depthwise_scratch,
             buffer_size="tt_expand_depthwise_s8_get_buffer_size",
             buffer_size_args=lambda b: (_dims(b.args[0]), _shape(b.var)[1])),
    OpRecord("depthwise_inplace_s8", depthwise_inplace_s8, c.depthwise_inplace_s8, ("tt_depthwise_conv2d_s8.c",),
             writes=OVER_INPUT, scratch=one_output_channel_scratch,
             buffer_size="tt_depthwise_inplace_s8_get_buffer_size", buffer_size_args=lambda b: (_dims(b.var),)),
    OpRecord("depthwise_grad_input_inplace", depthwise_grad_input_inplace, c.depthwise_grad_input_inplace,
             ("tt_conv2d_grad_input_f32.c",), writes=OVER_INPUT, scratch=one_output_channel_scratch,
             buffer_size="tt_depthwise_grad_input_inplace_f32_get_buffer_size",
             buffer_size_args=lambda b: (_dims(b.var),)),
    OpRecord("grad_update", grad_update, c.grad_update,
             ("tt_conv2d_grad_weight_f32.c", "tt_conv2d_geom_grad_weight_f32.c", "tt_linear_grad_weight_f32.c",
              "tt_linear_f32_grad_weight.c",
              "tt_scale_channels_f32.c", "tt_sgd_s8_rows.c", "tt_sgd_f32.c"),
             writes=PARAM, scratch=grad_update_scratch, buffer_size="tt_grad_update_get_buffer_size",
             buffer_size_args=c.update_scratch_args),
    *(OpRecord(f"{reader}_{via}_chunks", _through_depthwise_grad(reader), c.dw_chunks,
               ("tt_conv2d_grad_input_f32.c", "tt_mask_grad_f32.c", "tt_depthwise_grad_chunks.c", *kernels),
               writes=writes, scratch=c.dw_chunks_scratch, buffer_size=companion,
               buffer_size_args=c.dw_chunks_scratch_args)
      for via, companion in (("dw", "tt_depthwise_grad_chunks_get_buffer_size"),
                             ("pw", "tt_projection_grad_chunks_get_buffer_size"))
      for reader, kernels, writes in (("bias_grad", ("tt_bias_grad_f32.c",), NEW),
                                      ("conv2d_grad_input", ("tt_conv2d_1x1_grad_input_split_f32.c",), NEW),
                                      ("grad_update", ("tt_conv2d_grad_weight_f32.c", "tt_scale_channels_f32.c",
                                                       "tt_sgd_s8_rows.c", "tt_sgd_f32.c"), PARAM))),
    OpRecord("conv_dw_pw_rows_s8", conv_dw_pw_rows_s8, c.conv_dw_pw_rows_s8,  # reading a streamed sample:
             ("tt_conv_dw_pw_rows_s8.c", "tt_conv_dw_pw_stream_s8.c", "tt_conv_dw_pw_chain_s8.c",  # input_stream.py
              "tt_rows_from_chw.c"),
             scratch=conv_dw_pw_rows_scratch, buffer_size="tt_conv_dw_pw_rows_s8_get_buffer_size",
             buffer_size_args=_conv_dw_pw_rows_args),
    OpRecord("conv_dw_pw_rows_add_s8", conv_dw_pw_rows_add_s8, c.conv_dw_pw_rows_add_s8,
             ("tt_conv_dw_pw_rows_add_s8.c", "tt_add_s8.c"), writes=REUSES_INPUT, scratch=conv_dw_pw_rows_add_scratch,
             buffer_size="tt_conv_dw_pw_rows_add_s8_get_buffer_size", buffer_size_args=_conv_dw_pw_rows_args),
)
