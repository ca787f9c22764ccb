"""In-place SGD updates (docs/training-semantics.md): int32 bias, float32, int8 with stochastic rounding;
the momentum state they apply when the scheme has momentum; with a float copy (the paper's float32 copy
of the trained integers, updated by sgd_f32), the int8 / int32 tensor set to its copy rounded."""
import numpy as np

from tvm_tinytrain.codegen import templates as c

from .._tvm import relax
from .registry import PARAM, OpRecord, declare

HASH_MIX = (0x7FEB352D, 0x846CA68B)
STEP_MIX, LAYER_MIX = 0x9E3779B9, 0x85EBCA6B


def _u32(value):
    return relax.const(np.uint32(value), "uint32")


def sgd_s32(fb, args, a):
    """(b int32, G f32, lr f32 ()) -> clamp(b - round_half_even(lr * G), -limit, limit)."""
    b, g, lr = args
    step = relax.op.clip(relax.op.round(relax.op.multiply(lr, g)), -2.0**31, 2.0**31)
    new = relax.op.subtract(relax.op.astype(b, "int64"), relax.op.astype(step, "int64"))
    return relax.op.astype(relax.op.clip(new, -a["limit"], a["limit"]), "int32")


def sgd_f32(fb, args, a):
    """(p f32, G f32, lr f32 ()) -> p - lr * G."""
    p, g, lr = args
    return relax.op.subtract(p, relax.op.multiply(lr, g))


def momentum_f32(fb, args, a):
    """(v f32, G f32) -> momentum * v + G: the optimizer state of SGD with momentum (the update applies it)."""
    v, g = args
    return relax.op.add(relax.op.multiply(relax.const(np.float32(a["momentum"]), "float32"), v), g)


def copy_slice_axis(param_shape, copy_shape) -> int | None:
    """The one axis a trained tensor's float copy covers only the leading part of (None: all of it)."""
    axes = [i for i, (p, c) in enumerate(zip(param_shape, copy_shape)) if p != c]
    if len(axes) > 1 or len(param_shape) != len(copy_shape):
        raise ValueError(f"a float copy {list(copy_shape)} is not a leading slice of {list(param_shape)}")
    return axes[0] if axes else None


def round_copy_s8(fb, args, a):
    """(w int8, copy f32 (its trained slice)) -> w with that slice clamp(round_half_even(copy), -128, 127)."""
    w, copy = args
    shape, copy_shape = ([int(s) for s in t.ty.shape] for t in (w, copy))
    rounded = fb.emit(relax.op.astype(relax.op.clip(relax.op.round(copy), -128, 127), "int8"))
    axis = copy_slice_axis(shape, copy_shape)
    if axis is None:
        return rounded
    rest = relax.op.strided_slice(w, axes=[axis], begin=[copy_shape[axis]], end=[shape[axis]])
    return relax.op.concat([rounded, rest], axis=axis)


def round_copy_s32(fb, args, a):
    """(b int32, copy f32) -> clamp(round_half_even(copy), -limit, limit)."""
    _, copy = args
    rounded = relax.op.astype(relax.op.clip(relax.op.round(copy), -2.0**31, 2.0**31), "int64")
    return relax.op.astype(relax.op.clip(rounded, -a["limit"], a["limit"]), "int32")


def uniform_u32(fb, shape, step, conv_index: int):
    """The counter-based uniform numbers in [0, 1) of docs/training-semantics.md, f32 of `shape`."""
    n = int(np.prod(shape))
    index = relax.op.reshape(relax.op.arange(0, n, 1, "uint32"), shape)
    key = relax.op.add(relax.op.add(index, relax.op.multiply(step, _u32(STEP_MIX))),
                       _u32((conv_index * LAYER_MIX) & 0xFFFFFFFF))
    h = fb.emit(key)
    for mult, shift in ((HASH_MIX[0], 16), (HASH_MIX[1], 15)):
        h = fb.emit(relax.op.bitwise_xor(h, relax.op.right_shift(h, _u32(shift))))
        h = fb.emit(relax.op.multiply(h, _u32(mult)))
    h = fb.emit(relax.op.bitwise_xor(h, relax.op.right_shift(h, _u32(16))))
    top24 = relax.op.astype(relax.op.right_shift(h, _u32(8)), "float32")
    return fb.emit(relax.op.multiply(top24, relax.const(np.float32(2.0**-24), "float32")))


def sgd_s8(fb, args, a):
    """(w int8, G f32 (slice), lr f32 (), step uint32 ()) -> w with its leading slice updated:
    w_slice <- clamp(floor((float(w_slice) - lr * G) + u), -127, 127)."""
    w, g, lr, step = args
    shape = [int(s) for s in w.ty.shape]
    axis = 0 if a["depthwise"] else 1
    k = a["k"]
    part = fb.emit(relax.op.strided_slice(w, axes=[axis], begin=[0], end=[k])) if k < shape[axis] else w
    slice_shape = [int(s) for s in part.ty.shape]
    moved = fb.emit(relax.op.subtract(relax.op.astype(part, "float32"), relax.op.multiply(lr, g)))
    noisy = fb.emit(relax.op.add(moved, uniform_u32(fb, slice_shape, step, a["conv_index"])))
    updated = fb.emit(relax.op.astype(relax.op.clip(relax.op.floor(noisy), -127, 127), "int8"))
    if k == shape[axis]:
        return updated
    rest = relax.op.strided_slice(w, axes=[axis], begin=[k], end=[shape[axis]])
    return relax.op.concat([updated, rest], axis=axis)


# One record per op (registry.py): builder, C call, kernel files, gradient rule, storage.
declare(
    OpRecord("sgd_s32", sgd_s32, c.sgd_s32, ("tt_sgd_s32.c",), writes=PARAM),
    OpRecord("sgd_f32", sgd_f32, c.sgd_f32, ("tt_sgd_f32.c",), writes=PARAM),
    OpRecord("sgd_s8", sgd_s8, c.sgd_s8, ("tt_sgd_s8.c",), writes=PARAM),
    OpRecord("momentum_f32", momentum_f32, c.momentum_f32, ("tt_momentum_f32.c",), writes=PARAM),
    OpRecord("round_copy_s8", round_copy_s8, c.round_copy_s8, ("tt_round_copy.c",), writes=PARAM),
    OpRecord("round_copy_s32", round_copy_s32, c.round_copy_s32, ("tt_round_copy.c",), writes=PARAM),
)
