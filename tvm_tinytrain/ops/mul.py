"""The `mul` layer's tt ops: the int8 product of a tensor and a gate (squeeze-and-excitation) and
its two gradients (docs/int8-semantics.md "mul", docs/training-semantics.md "mul")."""
import numpy as np

from tvm_tinytrain.codegen import templates_mul as c
from tvm_tinytrain.passes.gradients import mul as rule

from .._tvm import relax
from .forward import _i64, to_int8
from .registry import REUSES_INPUT, OpRecord, declare


def _centered64(v, zero: int):
    return relax.op.subtract(relax.op.astype(v, "int64"), _i64(zero))


def _real(fb, v, scale: float, zero: int):
    """float32(v - zero) * float32(scale), as every backward dequantizes."""
    wide = relax.op.subtract(relax.op.astype(v, "int32"), relax.const(zero, "int32"))
    return fb.emit(relax.op.multiply(relax.op.astype(wide, "float32"), relax.const(np.float32(scale), "float32")))


def mul_s8(fb, args, a):
    """(x int8 (1, C, H, W), gate int8 (1, C, 1, 1) or x's shape) ->
    clamp(rshift_round((x - zx) * (g - zg) * multiplier, shift) + zy, act_min, act_max)."""
    x, gate = args
    acc = fb.emit(relax.op.multiply(_centered64(x, a["x_zero"]), _centered64(gate, a["g_zero"])))
    scaled = fb.emit(relax.op.multiply(acc, _i64(a["multiplier"])))
    shifted = fb.emit(relax.op.right_shift(relax.op.add(scaled, _i64(1 << (a["shift"] - 1))), _i64(a["shift"])))
    return to_int8(fb, relax.op.add(shifted, _i64(a["y_zero"])), a["act_min"], a["act_max"])


def mul_grad_input(fb, args, a):
    """(d f32, other int8, broadcast to d) -> d * other_real: the gradient of one factor is the
    output's gradient times the other factor's real value."""
    d, other = args
    return relax.op.multiply(d, _real(fb, other, a["scale"], a["zero"]))


def mul_grad_gate(fb, args, a):
    """(d f32 (1, C, H, W), x int8 (1, C, H, W)) -> sum over H, W of x_real * d, (1, C, 1, 1)."""
    d, x = args
    return relax.op.sum(relax.op.multiply(_real(fb, x, a["scale"], a["zero"]), d), axis=[2, 3], keepdims=True)


declare(
    OpRecord("mul_s8", mul_s8, c.mul_s8, ("tt_mul_s8.c",), rule.mul_s8, writes=REUSES_INPUT),
    OpRecord("mul_grad_input", mul_grad_input, c.mul_grad_input, ("tt_mul_grad_input_f32.c",), writes=REUSES_INPUT),
    OpRecord("mul_grad_gate", mul_grad_gate, c.mul_grad_gate, ("tt_mul_grad_gate_f32.c",)),
)
