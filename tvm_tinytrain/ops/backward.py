"""Backward ops: float32 gradients with respect to real values (docs/training-semantics.md)."""
import numpy as np

from tvm_tinytrain.codegen import templates as c

from .. import conv_geometry, pooling
from .._tvm import relax
from .registry import REUSES_INPUT, OpRecord, declare
from .forward import dequantize


def _f32(value):
    return relax.const(np.float32(value), "float32")


def _shape(expr):
    return [int(s) for s in expr.ty.shape]


def clamp_mask(fb, args, a):
    """int8 y -> bool (act_min < y < act_max): the clamp's gradient, 1 bit per element."""
    (y,) = args
    return relax.op.logical_and(relax.op.greater(y, relax.const(a["act_min"], "int8")),
                                relax.op.less(y, relax.const(a["act_max"], "int8")))


def mask_grad(fb, args, a):
    """(g f32, mask bool) -> g where mask else 0."""
    g, mask = args
    return relax.op.where(mask, g, _f32(0.0))


def grad_add(fb, args, a):
    """Sum of the gradients of two uses of one tensor."""
    return relax.op.add(args[0], args[1])


def channel_slice(fb, args, a):
    """x[:, :k]: the part of a layer input that a sliced weight gradient needs; with `groups`, the
    leading k channels of each group (a grouped conv's weight[:, :k] reads those), group after group."""
    (x,) = args
    groups = a.get("groups", 1)
    if groups == 1:
        return relax.op.strided_slice(x, axes=[1], begin=[0], end=[a["k"]])
    _, c, h, w = _shape(x)
    by_group = fb.emit(relax.op.reshape(x, (1, groups, c // groups, h, w)))
    lead = fb.emit(relax.op.strided_slice(by_group, axes=[2], begin=[0], end=[a["k"]]))
    return relax.op.reshape(lead, (1, groups * a["k"], h, w))


def _real_weight(fb, w, w_scale):
    shape = (-1,) + (1,) * (len(_shape(w)) - 1)
    return fb.emit(relax.op.multiply(relax.op.astype(w, "float32"), relax.op.reshape(w_scale, shape)))


def conv2d_grad_input(fb, args, a):
    """(d f32 (1, O, H', W'), w int8, w_scale f32 (O,)) -> dx_r f32 (1, C, H, W) = conv_transpose(d, w_r)."""
    d, w, w_scale = args
    _, _, grad_h, grad_w = _shape(d)
    _, _, kh, kw = _shape(w)
    in_h, in_w = a["in_hw"]
    top, left, bottom, right = a["padding"]
    (sh, sw), (dh, dw) = conv_geometry.strides(a), conv_geometry.dilations(a)
    out_h = (grad_h - 1) * sh - top - bottom + conv_geometry.extent(kh, dh)
    out_w = (grad_w - 1) * sw - left - right + conv_geometry.extent(kw, dw)
    return relax.op.nn.conv2d_transpose(d, _real_weight(fb, w, w_scale), strides=(sh, sw), padding=a["padding"],
                                        output_padding=(in_h - out_h, in_w - out_w), dilation=(dh, dw),
                                        groups=a["groups"], kernel_layout="IOHW", out_dtype="float32")


def conv2d_grad_weight(fb, args, a):
    """(x_slice int8 (1, k, H, W), d f32 (1, O, H', W')) -> dW_r f32 (O, k, kh, kw), or (k * m, 1, kh, kw)
    depthwise (m = O / groups, the channel multiplier, attr `groups` when m > 1); a grouped conv (attr
    `groups`): x_slice (1, groups * k, H, W), each group's leading k (channel_slice)."""
    x, d = args
    k = _shape(x)[1]
    kh, kw = a["kernel"]
    x_r = fb.emit(dequantize(fb, [x], {"scale": a["x_scale"], "zero": a["x_zero"]}))
    _, _, in_h, in_w = _shape(x)
    if a["depthwise"]:
        # Only the first k channels have weights to update: their outputs are d[:, :k * m].
        mult = _shape(d)[1] // a.get("groups", _shape(d)[1])
        d = fb.emit(relax.op.strided_slice(d, axes=[1], begin=[0], end=[k * mult]))
        x_r = fb.emit(relax.op.reshape(x_r, (k, 1, in_h, in_w)))
        groups = k
    else:
        groups = a.get("groups", 1)
        if groups > 1:  # grouped: group g's channels are the batch of the g-th of `groups` one-channel convs
            x_r = fb.emit(relax.op.reshape(x_r, (groups, k // groups, in_h, in_w)))
    # dW[ky, kx] sums x at (oy * s + ky * d) over the output: d as a kernel dilated by the stride, stepped by d
    grad = fb.emit(relax.op.nn.conv2d(x_r, d, strides=conv_geometry.dilations(a), padding=a["padding"],
                                      dilation=conv_geometry.strides(a), groups=groups,
                                      data_layout="CNHW", kernel_layout="IOHW", out_layout="CNHW",
                                      out_dtype="float32"))
    shape = _shape(grad)
    if shape[2] > kh or shape[3] > kw:
        grad = fb.emit(relax.op.strided_slice(grad, axes=[2, 3], begin=[0, 0], end=[kh, kw]))
    return grad


def linear_grad_input(fb, args, a):
    """(d f32 (1, O), w int8 (O, I), w_scale) -> dx_r f32 (1, I)."""
    d, w, w_scale = args
    return relax.op.matmul(d, _real_weight(fb, w, w_scale))


def linear_grad_weight(fb, args, a):
    """(x_slice int8 (1, k), d f32 (1, O)) -> dW_r f32 (O, k)."""
    x, d = args
    x_r = fb.emit(dequantize(fb, [x], {"scale": a["x_scale"], "zero": a["x_zero"]}))
    return relax.op.matmul(relax.op.permute_dims(d, (1, 0)), x_r)


def bias_grad(fb, args, a):
    """d f32 (1, O, ...) -> db_r f32 (O,): the sum over positions."""
    (d,) = args
    rank = len(_shape(d))
    return relax.op.sum(d, axis=[0, *range(2, rank)])


def scale_channels(fb, args, a):
    """(g f32 (O, ...), scale f32 (O,)) -> g * scale per output channel (parameter gradients, QAS)."""
    g, scale = args
    shape = (-1,) + (1,) * (len(_shape(g)) - 1)
    return relax.op.multiply(g, relax.op.reshape(scale, shape))


def avgpool_grad(fb, args, a):
    """Global: g (1, C, 1, 1) -> g / (H W) broadcast to (1, C, H, W). Windowed: g / n spread over each
    window by a transposed ones depthwise conv (padding positions are cut off)."""
    (g,) = args
    h, w = a["in_hw"]
    channels = int(g.ty.shape[1])
    if "kernel" not in a:
        scaled = relax.op.multiply(g, _f32(1.0 / (h * w)))
        return relax.op.broadcast_to(scaled, (1, channels, h, w))
    (kh, kw), (sh, sw), (top, left, bottom, right) = a["kernel"], a["stride"], a["padding"]
    grad_h, grad_w = _shape(g)[2:]
    n = relax.const(pooling.divisors(a, (h, w))[None, None].astype(np.float32), "float32")
    ones = relax.const(np.ones((channels, 1, kh, kw), np.float32), "float32")
    out_h, out_w = (grad_h - 1) * sh - top - bottom + kh, (grad_w - 1) * sw - left - right + kw
    return relax.op.nn.conv2d_transpose(fb.emit(relax.op.divide(g, n)), ones, strides=(sh, sw),
                                        padding=a["padding"], output_padding=(h - out_h, w - out_w),
                                        groups=channels, kernel_layout="IOHW", out_dtype="float32")


def maxpool_grad(fb, args, a):
    """(g, x int8) -> g routed to the first maximum of each window."""
    g, x = args
    return relax.op.grad.max_pool2d_backward(g, relax.op.astype(x, "float32"), pool_size=a["kernel"],
                                             strides=a["stride"], padding=a["padding"])


def reshape_grad(fb, args, a):
    (g,) = args
    return relax.op.reshape(g, a["shape"])


def linear_f32_grad_input(fb, args, a):
    """(g (1, O), W f32 (O, I)) -> dx_r (1, I)."""
    g, w = args
    return relax.op.matmul(g, w)


def linear_f32_grad_weight(fb, args, a):
    """(x int8 (1, I), g (1, O)) -> dW (O, I) = g^T x_r."""
    x, g = args
    x_r = fb.emit(dequantize(fb, [x], {"scale": a["x_scale"], "zero": a["x_zero"]}))
    return relax.op.matmul(relax.op.permute_dims(g, (1, 0)), x_r)


def linear_f32_grad_bias(fb, args, a):
    (g,) = args
    return relax.op.reshape(g, (int(g.ty.shape[1]),))


# One record per op (registry.py): builder, C call, kernel files, gradient rule, storage.
declare(
    OpRecord("clamp_mask", clamp_mask, c.clamp_mask, ("tt_clamp_mask_s8.c",)),
    OpRecord("mask_grad", mask_grad, c.mask_grad, ("tt_mask_grad_f32.c",), writes=REUSES_INPUT),
    OpRecord("grad_add", grad_add, c.grad_add, ("tt_grad_add_f32.c",), writes=REUSES_INPUT),
    OpRecord("channel_slice", channel_slice, c.channel_slice, ("tt_channel_slice_s8.c",)),
    OpRecord("conv2d_grad_input", conv2d_grad_input, c.conv2d_grad_input,
             ("tt_conv2d_grad_input_f32.c", "tt_conv2d_1x1_grad_input_split_f32.c", "tt_conv2d_geom_grad_input_f32.c")),
    OpRecord("conv2d_grad_weight", conv2d_grad_weight, c.conv2d_grad_weight,
             ("tt_conv2d_grad_weight_f32.c", "tt_conv2d_geom_grad_weight_f32.c")),
    OpRecord("linear_grad_input", linear_grad_input, c.linear_grad_input, ("tt_linear_grad_input_f32.c",)),
    OpRecord("linear_grad_weight", linear_grad_weight, c.linear_grad_weight, ("tt_linear_grad_weight_f32.c",)),
    OpRecord("bias_grad", bias_grad, c.bias_grad, ("tt_bias_grad_f32.c",)),
    OpRecord("scale_channels", scale_channels, c.scale_channels, ("tt_scale_channels_f32.c",),
             writes=REUSES_INPUT),
    OpRecord("avgpool_grad", avgpool_grad, c.avgpool_grad, ("tt_avgpool_grad_f32.c", "tt_avgpool_window_grad_f32.c")),
    OpRecord("maxpool_grad", maxpool_grad, c.maxpool_grad, ("tt_maxpool_grad_f32.c",)),
    OpRecord("reshape_grad", reshape_grad, c.copy, ()),
    OpRecord("linear_f32_grad_input", linear_f32_grad_input, c.linear_f32_grad_input,
             ("tt_linear_f32_grad_input.c",)),
    OpRecord("linear_f32_grad_weight", linear_f32_grad_weight, c.linear_f32_grad_weight,
             ("tt_linear_f32_grad_weight.c",)),
    OpRecord("linear_f32_grad_bias", linear_f32_grad_bias, c.copy, ()),
)
