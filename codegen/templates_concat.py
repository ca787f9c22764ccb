"""C calls of the `concat` layer's tt ops (tvm_tinytrain/ops/concat.py): NCHW with batch 1 keeps each
input's channels contiguous in the output, so the join is one requantizing copy per input at its
channel offset, and the backward a memcpy of the gradient's slice."""
from __future__ import annotations

from .templates import _n, _shape


def concat_s8(b, args, out):
    a, calls, offset = b.attrs, [], 0
    for arg, x, zero, mult, shift in zip(args, b.args, a["x_zeros"], a["multipliers"], a["shifts"], strict=True):
        calls.append(f"TT_CALL(tt_concat_s8({arg}, {_n(x)}, {zero}, {mult}, {shift}, {a['y_zero']}, "
                     f"{out} + {offset}));")
        offset += _n(x)
    return " ".join(calls)


def concat_grad(b, args, out):
    h, w = (_shape(b.var) + [1, 1])[2:4]
    return f"memcpy({out}, {args[0]} + {b.attrs['begin'] * h * w}, {_n(b.var) * 4});"
