"""The `lut` layer's tt ops: the int8 table lookup and the two forms of its backward
(docs/int8-semantics.md "lut", docs/training-semantics.md "lut")."""
import numpy as np

from tvm_tinytrain.codegen import templates_lut as c
from tvm_tinytrain.passes.gradients import lut as rule

from .._tvm import relax
from .registry import REUSES_INPUT, OpRecord, declare


def _code(x):
    """int8 x -> its table index x + 128 (int32)."""
    return relax.op.add(relax.op.astype(x, "int32"), relax.const(128, "int32"))


def lut_s8(fb, args, a):
    """(x int8, table int8 (256,)) -> table[x + 128]."""
    x, table = args
    return relax.op.take(table, fb.emit(_code(x)), axis=0, mode="clip")


def lut_grad(fb, args, a):
    """(g f32, x int8, f' table f32 (256,)) -> g * f'[x + 128]: the backward that keeps the int8 input."""
    g, x, dtable = args
    return relax.op.multiply(g, relax.op.take(dtable, fb.emit(_code(x)), axis=0, mode="clip"))


def interval_mask(fb, args, a):
    """int8 x -> bool (lo < x < hi), lo and hi in -129..128: where a two-valued f' takes its inside value."""
    (x,) = args
    wide = fb.emit(relax.op.astype(x, "int32"))
    return relax.op.logical_and(relax.op.greater(wide, relax.const(a["lo"], "int32")),
                                relax.op.less(wide, relax.const(a["hi"], "int32")))


def select_grad(fb, args, a):
    """(g f32, mask bool) -> g * inside where the mask is set, g * outside elsewhere."""
    g, mask = args
    return relax.op.where(mask, relax.op.multiply(g, relax.const(np.float32(a["inside"]), "float32")),
                          relax.op.multiply(g, relax.const(np.float32(a["outside"]), "float32")))


declare(
    OpRecord("lut_s8", lut_s8, c.lut_s8, ("tt_lut_s8.c",), rule.lut_s8, writes=REUSES_INPUT),
    OpRecord("lut_grad", lut_grad, c.lut_grad, ("tt_lut_grad_f32.c",), writes=REUSES_INPUT),
    OpRecord("interval_mask", interval_mask, c.interval_mask, ("tt_clamp_mask_s8.c",)),
    OpRecord("select_grad", select_grad, c.select_grad, ("tt_select_grad_f32.c",), writes=REUSES_INPUT),
)
