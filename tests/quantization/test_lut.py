"""The lut tables (quantization/lut.py) against torch's definitions of the functions, for
hypothesis-chosen input and output quantizations: the forward table is round_half_even(f(x_r) / s_y)
+ z_y clamped, for every int8 code (x_r the float32 dequantized input); the derivative table is
torch's f' within float32 rounding; `two_valued` finds LeakyReLU's and Hardsigmoid's 1-bit form and
refuses the others'; bad function names and slopes are one-line errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.graph import QParams
from tvm_tinytrain.quantization import lut
from tvm_tinytrain.reference_train import TORCH_FUNCTIONS

QS = st.builds(QParams, st.floats(1e-3, 0.2), st.integers(-128, 127))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(lut.FUNCTIONS)), QS, QS, st.floats(0.0, 0.5))
def test_tables_follow_torch(fn, x_q, y_q, alpha):
    x_r = torch.from_numpy(lut.real_inputs(x_q)).double()
    y = TORCH_FUNCTIONS[fn](x_r, alpha).numpy()
    want = np.clip(np.rint(y / y_q.scale) + y_q.zero, -128, 127)
    got = lut.table(fn, alpha, x_q, y_q).astype(np.float64)
    # float64 evaluation order may differ by an ulp: only where y / s_y sits on a .5 boundary
    assert np.abs(got - want).max() <= 1
    assert (got != want).sum() <= 1
    x32 = torch.from_numpy(lut.real_inputs(x_q)).requires_grad_(True)
    dy = torch.autograd.grad(TORCH_FUNCTIONS[fn](x32, alpha).sum(), x32)[0].numpy()
    np.testing.assert_allclose(lut.grad_table(fn, alpha, x_q), dy, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("fn, alpha, x_q, expected", [
    ("leaky_relu", 0.1, QParams(0.05, -10), (-10, 128, 1.0, np.float32(0.1))),    # x > 0: codes -9..127
    ("hardsigmoid", 0.0, QParams(0.05, 0), (-60, 60, np.float32(1 / 6), 0.0)),   # -3 < x < 3: codes -59..59
    ("hardsigmoid", 0.0, QParams(0.01, 0), (-128, -128, np.float32(1 / 6), np.float32(1 / 6))),  # all inside
])
def test_two_valued_derivatives_keep_one_bit(fn, alpha, x_q, expected):
    lo, hi, inside, outside = lut.two_valued(lut.grad_table(fn, alpha, x_q))
    assert (lo, hi) == expected[:2] and inside == pytest.approx(expected[2]) and outside == pytest.approx(expected[3])


@pytest.mark.parametrize("fn", ["hardswish", "sigmoid", "silu", "tanh"])
def test_varying_derivatives_keep_the_input_code(fn):
    assert lut.two_valued(lut.grad_table(fn, 0.0, QParams(0.05, 0))) is None


@pytest.mark.parametrize("fn, alpha, says", [("gelu", 0.0, "'gelu' is not supported"),
                                             ("leaky_relu", float("nan"), "alpha is nan"),
                                             ("leaky_relu", True, "alpha is True")])
def test_bad_function_or_slope(fn, alpha, says):
    with pytest.raises(TinyTrainError, match=says):
        lut.check(fn, alpha, "layer 'x'")
