"""Forward int8 ops, exactly as docs/int8-semantics.md specifies."""
import numpy as np

from tvm_tinytrain.codegen import templates as c
from tvm_tinytrain.passes.gradients import forward as rule

from .. import pooling
from .._tvm import relax
from .registry import REUSES_INPUT, OpRecord, declare


def _i64(value):
    return relax.const(np.asarray(value, np.int64), "int64")


def centered(fb, x, zero: int):
    """x - zero in int16: exact for int8 x and any int8 zero point."""
    return fb.emit(relax.op.subtract(relax.op.astype(x, "int16"), relax.const(zero, "int16")))


def requantize(fb, acc, mult, shift, zero: int, lo: int, hi: int, channel_axis_rank: int):
    """clip(((acc * mult + 2**(shift-1)) >> shift) + zero, lo, hi) as int8; mult/shift (C,) int64."""
    shape = (1, -1) + (1,) * (channel_axis_rank - 2)
    mult, shift = relax.op.reshape(mult, shape), relax.op.reshape(shift, shape)
    one = _i64(1)
    rounding = relax.op.left_shift(one, relax.op.subtract(shift, one))
    scaled = fb.emit(relax.op.multiply(relax.op.astype(acc, "int64"), mult))
    shifted = fb.emit(relax.op.right_shift(relax.op.add(scaled, rounding), shift))
    return to_int8(fb, relax.op.add(shifted, _i64(zero)), lo, hi)


def to_int8(fb, v, lo: int, hi: int):
    return fb.emit(relax.op.astype(relax.op.clip(v, lo, hi), "int8"))


def conv2d_s8(fb, args, a):
    """(x int8, w int8, b int32, multiplier int64, shift int64) -> int8."""
    x, w, b, mult, shift = args
    conv = relax.op.nn.conv2d(centered(fb, x, a["x_zero"]), w, strides=a["stride"], padding=a["padding"],
                              dilation=a.get("dilation", 1), groups=a["groups"], out_dtype="int32")
    acc = fb.emit(relax.op.add(conv, relax.op.reshape(b, (1, -1, 1, 1))))
    return requantize(fb, acc, mult, shift, a["y_zero"], a["act_min"], a["act_max"], 4)


def linear_s8(fb, args, a):
    """(x int8 (1, I), w int8 (O, I), b int32, multiplier, shift) -> int8 (1, O)."""
    x, w, b, mult, shift = args
    product = relax.op.matmul(centered(fb, x, a["x_zero"]), relax.op.permute_dims(w, (1, 0)), out_dtype="int32")
    acc = fb.emit(relax.op.add(product, b))
    return requantize(fb, acc, mult, shift, a["y_zero"], a["act_min"], a["act_max"], 2)


def add_s8(fb, args, a):
    """((a - za) * ma + (b - zb) * mb + round) >> shift, + zy, clamp."""
    lhs, rhs = args

    def term(v, zero, mult):
        return relax.op.multiply(relax.op.subtract(relax.op.astype(v, "int64"), _i64(zero)), _i64(mult))

    acc = fb.emit(relax.op.add(term(lhs, a["a_zero"], a["multiplier_a"]), term(rhs, a["b_zero"], a["multiplier_b"])))
    shifted = fb.emit(relax.op.right_shift(relax.op.add(acc, _i64(1 << (a["shift"] - 1))), _i64(a["shift"])))
    return to_int8(fb, relax.op.add(shifted, _i64(a["y_zero"])), a["act_min"], a["act_max"])


def avgpool_s8(fb, args, a):
    """round_half_even(sum / n) in integers: floor quotient, up on r > n/2 or an odd tie. Windowed
    (attrs kernel, ...): the window sum of x - x_zero by a ones depthwise conv (padding 0 is the zero
    point) plus n * x_zero, n per output position (pooling.divisors)."""
    (x,) = args
    in_hw = [int(s) for s in list(x.ty.shape)[2:]]

    def i32(v):
        return relax.const(np.asarray(v, np.int32), "int32")

    if "kernel" in a:
        channels = int(x.ty.shape[1])
        ones = relax.const(np.ones((channels, 1, *a["kernel"]), np.int8), "int8")
        window_sum = relax.op.nn.conv2d(centered(fb, x, a["x_zero"]), ones, strides=a["stride"],
                                        padding=a["padding"], groups=channels, out_dtype="int32")
        n_value = pooling.divisors(a, in_hw)
        n = i32(n_value[None, None])
        total = fb.emit(relax.op.add(window_sum, i32(n_value[None, None] * a["x_zero"])))
    else:
        n = i32(int(np.prod(in_hw)))
        total = fb.emit(relax.op.sum(relax.op.astype(x, "int32"), axis=[2, 3], keepdims=True))
    quotient = fb.emit(relax.op.floor_divide(total, n))
    twice_rem = fb.emit(relax.op.multiply(relax.op.subtract(total, relax.op.multiply(quotient, n)), i32(2)))
    odd = relax.op.equal(relax.op.bitwise_and(quotient, i32(1)), i32(1))
    round_up = relax.op.logical_or(relax.op.greater(twice_rem, n),
                                   relax.op.logical_and(relax.op.equal(twice_rem, n), odd))
    return to_int8(fb, relax.op.add(quotient, relax.op.astype(round_up, "int32")), -128, 127)


def maxpool_s8(fb, args, a):
    (x,) = args
    return relax.op.nn.max_pool2d(x, pool_size=a["kernel"], strides=a["stride"], padding=a["padding"])


def flatten(fb, args, a):
    (x,) = args
    return relax.op.reshape(x, (1, -1))


def dequantize(fb, args, a):
    """int8 -> float32 real values: scale * (q - zero)."""
    (x,) = args
    centered_x = relax.op.subtract(relax.op.astype(x, "float32"), relax.const(float(a["zero"]), "float32"))
    return relax.op.multiply(centered_x, relax.const(a["scale"], "float32"))


def linear_f32(fb, args, a):
    """fp32 classifier on int8 features: (x int8 (1, I), W f32 (O, I), B f32 (O,)) -> f32 logits."""
    x, w, b = args
    x_real = fb.emit(dequantize(fb, [x], {"scale": a["x_scale"], "zero": a["x_zero"]}))
    return relax.op.add(relax.op.matmul(x_real, relax.op.permute_dims(w, (1, 0))), b)


# One record per op (registry.py): builder, C call, kernel files, gradient rule, storage.
_CONV_KERNELS = ("tt_conv2d_s8.c", "tt_conv2d_1x1_s8.c", "tt_depthwise_conv2d_s8.c", "tt_conv2d_general_s8.c",
                "tt_conv2d_1x1_split_s8.c", "tt_conv2d_geom_s8.c")
declare(
    OpRecord("conv2d_s8", conv2d_s8, c.conv2d_s8, _CONV_KERNELS, rule.conv2d_s8),
    OpRecord("linear_s8", linear_s8, c.linear_s8, ("tt_linear_s8.c",), rule.linear_s8),
    OpRecord("add_s8", add_s8, c.add_s8, ("tt_add_s8.c",), rule.add_s8, writes=REUSES_INPUT),
    OpRecord("avgpool_s8", avgpool_s8, c.avgpool_s8, ("tt_avgpool_s8.c", "tt_avgpool_window_s8.c"), rule.avgpool_s8),
    OpRecord("maxpool_s8", maxpool_s8, c.maxpool_s8, ("tt_maxpool_s8.c",), rule.maxpool_s8),
    OpRecord("flatten", flatten, c.copy, (), rule.flatten),
    OpRecord("dequantize", dequantize, c.dequantize, ("tt_dequantize_s8.c",), rule.dequantize),
    OpRecord("linear_f32", linear_f32, c.linear_f32, ("tt_linear_f32.c",), rule.linear_f32),
)
