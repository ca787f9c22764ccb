"""C calls of the `lut` layer's tt ops (tvm_tinytrain/ops/lut.py); the tables are constants
of the generated model (flash)."""
from __future__ import annotations

from .templates import _n, c_float


def lut_s8(b, args, out):
    return f"TT_CALL(tt_lut_s8({args[0]}, {_n(b.var)}, {args[1]}, {out}));"


def lut_grad(b, args, out):
    return f"TT_CALL(tt_lut_grad_f32({args[0]}, {args[1]}, {_n(b.var)}, {args[2]}, {out}));"


def interval_mask(b, args, out):
    """lo < x < hi is the clamp mask's test with act_min = lo, act_max = hi (int32 bounds)."""
    a = b.attrs
    return f"TT_CALL(tt_clamp_mask_s8({args[0]}, {_n(b.args[0])}, {a['lo']}, {a['hi']}, {out}));"


def select_grad(b, args, out):
    a = b.attrs
    return (f"TT_CALL(tt_select_grad_f32({args[0]}, {args[1]}, {_n(b.var)}, {c_float(a['inside'])}, "
            f"{c_float(a['outside'])}, {out}));")
