"""Fixed-point requantization: a real scale becomes (multiplier, shift) integers.

A Cortex-M4/M7 does this with one 32x32->64 multiply, so the int8 graph carries no
floating point where the arithmetic is integer.  The numpy reference, the Relax
lowering and the C kernels all apply it the same way:

    rshift_round(v, n) = (v + 2**(n-1)) >> n          (int64, arithmetic shift:
                                                        round half towards +inf)
    requantize(acc)    = rshift_round(acc * multiplier, shift)

with multiplier in [2**30, 2**31) so that acc * multiplier fits in int64 for any
int32 accumulator.  The difference from round(acc * real) is at most one LSB and only
at near-ties (relative error of the multiplier < 2**-30).
"""
import numpy as np

from ..errors import TinyTrainError

MULT_BITS = 31
MAX_SHIFT = 62


def quantize_multiplier(real):
    """(multiplier, shift) int64 arrays with real ~= multiplier * 2**-shift."""
    real = np.atleast_1d(np.asarray(real, dtype=np.float64))
    if np.any(~np.isfinite(real)) or np.any(real <= 0):
        raise TinyTrainError(f"requantize scale must be positive and finite, got {real[(real <= 0) | ~np.isfinite(real)][:4]}")
    mantissa, exponent = np.frexp(real)  # real = mantissa * 2**exponent, mantissa in [0.5, 1)
    mult = np.round(mantissa * 2.0**MULT_BITS).astype(np.int64)
    carry = mult == 2**MULT_BITS
    mult[carry] //= 2
    exponent = exponent + carry
    shift = (MULT_BITS - exponent).astype(np.int64)
    _check_shift(shift, real)
    return mult, shift


def quantize_multiplier_pair(real_a: float, real_b: float):
    """Two multipliers sharing one shift (residual add: both inputs are summed before the shift)."""
    _, shift = quantize_multiplier(max(real_a, real_b))
    n = int(shift[0])
    mult_a = int(np.round(real_a * 2.0**n))
    mult_b = int(np.round(real_b * 2.0**n))
    return mult_a, mult_b, n


def rshift_round(v, shift):
    """Reference rounding right shift on int64 numpy arrays."""
    v = np.asarray(v, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    return (v + (np.int64(1) << (shift - 1))) >> shift


def _check_shift(shift, real):
    bad = (shift < 1) | (shift > MAX_SHIFT)
    if np.any(bad):
        raise TinyTrainError(f"requantize scale {real[bad][0]:.3g} is out of the fixed-point range "
                             f"(2**-31 .. 2**30); the layer's quantization parameters are degenerate")
