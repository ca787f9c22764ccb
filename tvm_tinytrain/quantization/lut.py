"""The elementwise functions of the `lut` layer and their 256-entry int8 tables.

An int8 input has only 256 codes, so any elementwise function is exact as a table built once,
at quantization (or graph-file load) time, from the input and output quantization: one load per
element on the device and no transcendental math there.  Its derivative is a second table,
indexed by the same input code, that the backward reads (docs/training-semantics.md); where the
derivative takes two values on the codes (LeakyReLU, Hardsigmoid) one bit per element is kept
instead of the int8 input.  Every implementation (numpy reference, Relax, C, the PyTorch oracle's
forward) indexes the same table; tests/quantization/test_lut.py checks the tables against torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import TinyTrainError
from ..graph import QParams


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for any float64 x


@dataclass(frozen=True)
class Function:
    """`f(x, alpha)` and its derivative `df(x, alpha)` in float64, as torch defines them (its
    gradient's value at the kinks); `out_range` fixes the output quantization when known."""

    f: Callable
    df: Callable
    out_range: tuple[float, float] | None = None


FUNCTIONS = {
    "hardswish": Function(lambda x, a: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
                          lambda x, a: np.where(x < -3.0, 0.0, np.where(x <= 3.0, x / 3.0 + 0.5, 1.0))),
    "hardsigmoid": Function(lambda x, a: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
                            lambda x, a: np.where((x > -3.0) & (x < 3.0), 1.0 / 6.0, 0.0), (0.0, 1.0)),
    "sigmoid": Function(lambda x, a: _sigmoid(x), lambda x, a: _sigmoid(x) * (1.0 - _sigmoid(x)), (0.0, 1.0)),
    "silu": Function(lambda x, a: x * _sigmoid(x), lambda x, a: _sigmoid(x) * (1.0 + x * (1.0 - _sigmoid(x)))),
    "tanh": Function(lambda x, a: np.tanh(x), lambda x, a: 1.0 - np.tanh(x) ** 2, (-1.0, 1.0)),
    "leaky_relu": Function(lambda x, a: np.where(x > 0.0, x, a * x), lambda x, a: np.where(x > 0.0, 1.0, a)),
}
MAX_ALPHA = 1e3  # a LeakyReLU slope beyond this is no activation a model uses (and a corrupt file)


def check(fn, alpha, where: str):
    """TinyTrainError unless `fn` is a known function and `alpha` a usable parameter."""
    if fn not in FUNCTIONS:
        raise TinyTrainError(f"{where}: elementwise function {fn!r} is not supported (supported: "
                             f"{', '.join(FUNCTIONS)}); use one of those or remove the layer")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not abs(alpha) <= MAX_ALPHA:
        raise TinyTrainError(f"{where}: alpha is {alpha!r}, expected a finite number within +-{MAX_ALPHA:g} "
                             f"(LeakyReLU's negative slope, 0 for the other functions)")


def real_inputs(x_q: QParams) -> np.ndarray:
    """The real value of every int8 code -128..127, float32 as the backward dequantizes it."""
    codes = np.arange(-128, 128, dtype=np.float32)
    return np.float32(x_q.scale) * (codes - np.float32(x_q.zero))


def apply_float(fn: str, alpha: float, x: np.ndarray) -> np.ndarray:
    """The fp32 forward (calibration, run_float)."""
    return FUNCTIONS[fn].f(x.astype(np.float64), float(alpha)).astype(np.float32)


def output_q(fn: str, calibrated: tuple[float, float]) -> tuple[float, float]:
    """The range the output quantization covers: the function's own when bounded, else calibrated."""
    return FUNCTIONS[fn].out_range or calibrated


def table(fn: str, alpha: float, x_q: QParams, y_q: QParams) -> np.ndarray:
    """int8 (256,): table[q + 128] = clamp(round_half_even(f(x_real(q)) / s_y) + z_y, -128, 127)."""
    y = FUNCTIONS[fn].f(real_inputs(x_q).astype(np.float64), float(alpha)) / y_q.scale
    return np.clip(np.rint(y) + y_q.zero, -128, 127).astype(np.int8)


def grad_table(fn: str, alpha: float, x_q: QParams) -> np.ndarray:
    """float32 (256,): f'(x_real(q)) for every input code."""
    return FUNCTIONS[fn].df(real_inputs(x_q).astype(np.float64), float(alpha)).astype(np.float32)


def two_valued(dtable: np.ndarray):
    """(lo, hi, inside, outside) when f' has one value `inside` on the codes lo < q < hi and
    `outside` on all others (so 1 bit per element is all the backward keeps), else None."""
    outside = dtable[0]
    differs = np.flatnonzero(dtable != outside)
    if differs.size == 0:
        return -128, -128, float(outside), float(outside)
    first, last = int(differs[0]), int(differs[-1])
    inside = dtable[first]
    if last - first + 1 != differs.size or np.any(dtable[first:last + 1] != inside):
        return None
    return first - 128 - 1, last - 128 + 1, float(inside), float(outside)
