"""C calls of the `mul` layer's tt ops (tvm_tinytrain/ops/mul.py)."""
from __future__ import annotations

from .templates import _block, _quant, _shape, c_float


def _c_hw(expr):
    """(channels, H * W) of a (1, C, H, W) tensor."""
    shape = _shape(expr)
    return shape[1], int(shape[2] * shape[3])


def mul_s8(b, args, out):
    a = b.attrs
    c, hw = _c_hw(b.args[0])
    return _block(_quant(a),
                  f"TT_CALL(tt_mul_s8({args[0]}, {args[1]}, {c}, {hw}, {_c_hw(b.args[1])[1]}, {a['g_zero']}, "
                  f"{a['multiplier']}, {a['shift']}, &q, {out}));")


def mul_grad_input(b, args, out):
    a = b.attrs
    c, hw = _c_hw(b.args[0])
    return (f"TT_CALL(tt_mul_grad_input_f32({args[0]}, {args[1]}, {c}, {hw}, {_c_hw(b.args[1])[1]}, "
            f"{c_float(a['scale'])}, {a['zero']}, {out}));")


def mul_grad_gate(b, args, out):
    a = b.attrs
    c, hw = _c_hw(b.args[0])
    return f"TT_CALL(tt_mul_grad_gate_f32({args[0]}, {args[1]}, {c}, {hw}, {c_float(a['scale'])}, {a['zero']}, {out}));"
