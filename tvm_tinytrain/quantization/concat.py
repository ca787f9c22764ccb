"""The concat layer's quantization: its output's (scale, zero) and each input's requantize constants.

PTQ gives the output the union of the real ranges its inputs can represent, so requantizing an input
never saturates (up to the half code the rounded zero point may move an end) and the backward may pass
the gradient straight through; when all inputs already share one quantization the output takes it and
each part is a plain copy (multiplier 2**30, shift 30: rshift_round((x - z) * 2**30, 30) = x - z).
"""
from __future__ import annotations

from ..graph import QParams
from .fixed_point import quantize_multiplier


def output_q(in_qs: list[QParams]) -> QParams:
    """The shared quantization when the inputs have one, else activation_q over their representable union."""
    from .ptq import activation_q

    if all(q == in_qs[0] for q in in_qs):
        return in_qs[0]
    lo = min(q.scale * (-128 - q.zero) for q in in_qs)
    hi = max(q.scale * (127 - q.zero) for q in in_qs)
    return activation_q(lo, hi)


def requant(in_qs: list[QParams], out_q: QParams) -> dict:
    """Attrs `multipliers`, `shifts` (one per input): x_scale / y_scale as fixed point."""
    mults, shifts = [], []
    for q in in_qs:
        mult, shift = quantize_multiplier(q.scale / out_q.scale)
        mults.append(int(mult[0]))
        shifts.append(int(shift[0]))
    return {"multipliers": mults, "shifts": shifts}
