"""The mul layer's C kernels through ctypes against numpy, on hypothesis-chosen shapes, zero points,
multipliers and shifts: the int8 forward bit for bit against the numpy reference's formula (gate
broadcast over H x W or the same shape; also in place over x), the gradient into a factor bit for
bit (one float32 product per element), the gradient into a (C, 1, 1) gate as the float32 sum in
the stated order, argument checks, and no write past an output's end."""
import functools

import numpy as np
from hypothesis import given, settings, strategies as st

from codegen.host_build import kernel_library
from tvm_tinytrain.codegen import kernel_abi
from tvm_tinytrain.quantization.fixed_point import rshift_round

SETTINGS = settings(max_examples=60, deadline=None)
SENTINEL = 4
I8 = st.integers(-128, 127)


@functools.lru_cache(maxsize=None)
def lib():
    return kernel_abi.typed(kernel_library())


def ptr(a):
    return a.ctypes.data


def with_tail(n, dtype, fill):
    full = np.full(n + SENTINEL, fill, dtype=dtype)
    return full[:n], full


def mul_s8(x, g, mult, shift, x_zero, g_zero, y_zero, lo, hi, out=None):
    c, hw = x.shape
    y, full = with_tail(c * hw, np.int8, 77) if out is None else (out, None)
    q = {"x_zero": x_zero, "y_zero": y_zero, "act_min": lo, "act_max": hi}
    rc = kernel_abi.call("tt_mul_s8", ptr(x), ptr(g), c, hw, g.shape[1], g_zero, mult, shift, q, ptr(y))
    return rc, y.reshape(c, hw), full


def reference(x, g, mult, shift, x_zero, g_zero, y_zero, lo, hi):
    """docs/int8-semantics.md "mul", as tvm_tinytrain/reference.py computes it."""
    acc = (x.astype(np.int64) - x_zero) * (g.astype(np.int64) - g_zero)
    return np.clip(rshift_round(acc * mult, shift) + y_zero, lo, hi).astype(np.int8)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), c=st.integers(0, 9), hw=st.integers(1, 40), broadcast=st.booleans(),
       mult=st.integers(2**30, 2**31 - 1), shift=st.integers(1, 62), x_zero=I8, g_zero=I8, y_zero=I8,
       bounds=st.tuples(I8, I8))
def test_mul_s8_is_the_reference_bit_for_bit_also_in_place(seed, c, hw, broadcast, mult, shift, x_zero, g_zero,
                                                          y_zero, bounds):
    lo, hi = sorted(bounds)
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (c, hw)).astype(np.int8)
    g = rng.integers(-128, 128, (c, 1 if broadcast else hw)).astype(np.int8)
    args = (mult, shift, x_zero, g_zero, y_zero, lo, hi)
    rc, y, full = mul_s8(x, g, *args)
    assert rc == 0
    np.testing.assert_array_equal(y, reference(x, g, *args))
    assert (full[c * hw:] == 77).all()
    same = x.copy()
    assert mul_s8(same, g, *args, out=same.reshape(-1))[0] == 0
    np.testing.assert_array_equal(same, y)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), c=st.integers(0, 9), hw=st.integers(1, 40), broadcast=st.booleans(),
       scale=st.floats(1e-4, 1.0), zero=I8)
def test_mul_grad_input_is_d_times_the_other_factors_real_value(seed, c, hw, broadcast, scale, zero):
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((c, hw)).astype(np.float32)
    other = rng.integers(-128, 128, (c, 1 if broadcast else hw)).astype(np.int8)
    out, full = with_tail(c * hw, np.float32, np.nan)
    s = np.float32(scale)
    assert lib().tt_mul_grad_input_f32(ptr(d), ptr(other), c, hw, other.shape[1], s, zero, ptr(out)) == 0
    want = d * ((other.astype(np.int32) - zero).astype(np.float32) * s)
    np.testing.assert_array_equal(out.reshape(c, hw), want)
    assert np.isnan(full[c * hw:]).all()
    assert lib().tt_mul_grad_input_f32(ptr(d), ptr(other), c, hw, other.shape[1], s, zero, ptr(d)) == 0
    np.testing.assert_array_equal(d, want)  # in place over d


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), c=st.integers(0, 9), hw=st.integers(1, 40), scale=st.floats(1e-4, 1.0),
       zero=I8)
def test_mul_grad_gate_sums_x_real_times_d_over_h_w_in_order(seed, c, hw, scale, zero):
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((c, hw)).astype(np.float32)
    x = rng.integers(-128, 128, (c, hw)).astype(np.int8)
    out, full = with_tail(c, np.float32, np.nan)
    s = np.float32(scale)
    assert lib().tt_mul_grad_gate_f32(ptr(d), ptr(x), c, hw, s, zero, ptr(out)) == 0
    terms = ((x.astype(np.int32) - zero).astype(np.float32) * s) * d
    want = np.zeros(c, np.float32)
    for i in range(hw):  # float32 sum from 0, i = 0 .. hw-1
        want = (want + terms[:, i]).astype(np.float32)
    np.testing.assert_array_equal(out, want)
    assert np.isnan(full[c:]).all()


def test_argument_checks():
    x, g, y = np.zeros(8, np.int8), np.zeros(8, np.int8), np.zeros(8, np.int8)
    d, out = np.zeros(8, np.float32), np.zeros(8, np.float32)
    good = {"x_zero": 0, "y_zero": 0, "act_min": -128, "act_max": 127}
    call = functools.partial(kernel_abi.call, "tt_mul_s8")
    assert call(ptr(x), ptr(g), 2, 4, 1, 0, 2**30, 31, good, ptr(y)) == 0
    for bad in [dict(g_hw=3), dict(shift=0), dict(shift=63), dict(g_zero=128), dict(mult=-1), dict(c=-1),
                dict(q={**good, "act_min": 5, "act_max": 4}), dict(q={**good, "x_zero": -129})]:
        a = {"c": 2, "g_hw": 1, "g_zero": 0, "mult": 2**30, "shift": 31, "q": good, **bad}
        assert call(ptr(x), ptr(g), a["c"], 4, a["g_hw"], a["g_zero"], a["mult"], a["shift"], a["q"], ptr(y)) != 0, bad
    assert call(None, ptr(g), 2, 4, 1, 0, 2**30, 31, good, ptr(y)) != 0
    assert lib().tt_mul_grad_input_f32(ptr(d), ptr(x), 2, 4, 3, 1.0, 0, ptr(out)) != 0
    assert lib().tt_mul_grad_input_f32(None, ptr(x), 2, 4, 1, 1.0, 0, ptr(out)) != 0
    assert lib().tt_mul_grad_gate_f32(ptr(d), ptr(x), -1, 4, 1.0, 0, ptr(out)) != 0
    assert lib().tt_mul_grad_gate_f32(ptr(d), None, 2, 4, 1.0, 0, ptr(out)) != 0
