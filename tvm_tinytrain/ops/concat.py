"""The `concat` layer's tt ops: the int8 join along channels (each input requantized to the output's
quantization, docs/int8-semantics.md "concat") and its backward, a channel slice of the output
gradient (docs/training-semantics.md "concat")."""
import numpy as np

from tvm_tinytrain.codegen import templates_concat as c
from tvm_tinytrain.passes.gradients import concat as rule

from .._tvm import relax
from .registry import OpRecord, declare


def _i64(value):
    return relax.const(np.asarray(value, np.int64), "int64")


def concat_s8(fb, args, a):
    """Per input clamp(rshift_round((x - x_zero) * mult, shift) + y_zero, -128, 127), joined on axis 1."""
    parts = []
    for x, zero, mult, shift in zip(args, a["x_zeros"], a["multipliers"], a["shifts"], strict=True):
        v = fb.emit(relax.op.multiply(relax.op.subtract(relax.op.astype(x, "int64"), _i64(zero)), _i64(mult)))
        v = fb.emit(relax.op.right_shift(relax.op.add(v, _i64(1 << (shift - 1))), _i64(shift)))
        v = relax.op.clip(relax.op.add(v, _i64(a["y_zero"])), -128, 127)
        parts.append(fb.emit(relax.op.astype(v, "int8")))
    return relax.op.concat(parts, axis=1)


def concat_grad(fb, args, a):
    """(g f32 (1, C, H, W)) -> g[:, begin:begin + channels]: one input's part of the output gradient."""
    (g,) = args
    return relax.op.strided_slice(g, axes=[1], begin=[a["begin"]], end=[a["begin"] + a["channels"]])


declare(
    OpRecord("concat_s8", concat_s8, c.concat_s8, ("tt_concat_s8.c",), rule.concat_s8),
    OpRecord("concat_grad", concat_grad, c.concat_grad, ()),
)
