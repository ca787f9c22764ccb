"""quantize_multiplier: a real scale as (multiplier in [2**30, 2**31), shift), used by every int8 layer."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.quantization.fixed_point import (quantize_multiplier, quantize_multiplier_pair,
                                                 rshift_round)

reals = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(reals)
def test_round_trip(real):
    mult, shift = quantize_multiplier(real)
    assert mult.dtype == np.int64 and shift.dtype == np.int64 and mult.shape == shift.shape == (1,)
    m, s = int(mult[0]), int(shift[0])
    assert 2**30 <= m < 2**31
    assert 1 <= s <= 62
    assert abs(m * 2.0**-s - real) / real < 2.0**-30


@settings(max_examples=100, deadline=None)
@given(st.lists(reals, min_size=1, max_size=16))
def test_vectorised_matches_scalar(values):
    mult, shift = quantize_multiplier(np.array(values))
    assert mult.shape == shift.shape == (len(values),)
    for v, m, s in zip(values, mult, shift):
        m1, s1 = quantize_multiplier(v)
        assert (int(m), int(s)) == (int(m1[0]), int(s1[0]))


def test_exact_powers_and_carry():
    # 0.5 = 2**30 * 2**-31; 1.0 = 2**30 * 2**-30; a mantissa that rounds up to 2**31 carries
    assert [int(v[0]) for v in quantize_multiplier(0.5)] == [2**30, 31]
    assert [int(v[0]) for v in quantize_multiplier(1.0)] == [2**30, 30]
    below_one = 1.0 - 2.0**-40  # mantissa rounds to exactly 2**31
    mult, shift = quantize_multiplier(below_one)
    assert int(mult[0]) == 2**30 and int(shift[0]) == 30


@settings(max_examples=200, deadline=None)
@given(reals, st.integers(min_value=-(2**31) + 1, max_value=2**31 - 1))
def test_requantize_within_one_lsb(real, acc):
    """rshift_round(acc * multiplier, shift) rounds acc * real: off by at most half an LSB plus the
    multiplier's relative error (< 2**-30), i.e. one LSB for any int8 output (docs/int8-semantics.md)."""
    mult, shift = quantize_multiplier(real)
    got = int(rshift_round(np.int64(acc) * mult, shift)[0])
    exact = acc * real
    assert abs(got - exact) <= 0.5 + abs(exact) * 2.0**-30 + 1e-3
    if abs(exact) < 2**20:
        assert abs(got - exact) <= 0.501


@pytest.mark.parametrize("bad", [0.0, -1.0, -1e-6, math.inf, -math.inf, math.nan])
def test_rejects_non_positive_or_non_finite(bad):
    with pytest.raises(TinyTrainError):
        quantize_multiplier(bad)
    with pytest.raises(TinyTrainError):
        quantize_multiplier(np.array([0.25, bad]))


def test_rejects_out_of_range_scales():
    with pytest.raises(TinyTrainError, match="fixed-point range"):
        quantize_multiplier(2.0**40)
    with pytest.raises(TinyTrainError, match="fixed-point range"):
        quantize_multiplier(2.0**-40)


@settings(max_examples=200, deadline=None)
@given(reals, reals)
def test_pair_shares_shift(a, b):
    mult_a, mult_b, shift = quantize_multiplier_pair(a, b)
    assert isinstance(shift, int) and isinstance(mult_a, int) and isinstance(mult_b, int)
    # the shift is the one of the larger factor, whose multiplier is in range
    assert shift == int(quantize_multiplier(max(a, b))[1][0])
    assert 2**30 <= max(mult_a, mult_b) < 2**31 and min(mult_a, mult_b) >= 0
    for real, mult in ((a, mult_a), (b, mult_b)):
        assert abs(mult * 2.0**-shift - real) <= 2.0 ** -(shift + 1) * 1.000001
