"""The lut layer's C kernels through ctypes against numpy, on hypothesis-chosen tables and inputs:
the forward lookup bit for bit (also in place), the backward's two forms bit for bit with the same
float32 product (g * f'[x + 128]; g * inside / outside under a bit mask), the interval mask (the
clamp-mask kernel with bounds -129..128), argument checks, and no write past an output's end."""
import functools

import numpy as np
from hypothesis import given, settings, strategies as st

from codegen.host_build import kernel_library
from tvm_tinytrain.codegen import kernel_abi

SETTINGS = settings(max_examples=40, deadline=None)
SENTINEL = 4


@functools.lru_cache(maxsize=None)
def lib():
    return kernel_abi.typed(kernel_library())


def ptr(a):
    return None if a is None else a.ctypes.data


def with_tail(n, dtype, fill):
    full = np.full(n + SENTINEL, fill, dtype=dtype)
    return full[:n], full


def inputs(seed, n):
    rng = np.random.default_rng(seed)
    return rng, rng.integers(-128, 128, n).astype(np.int8)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 300))
def test_lut_s8_is_the_table_lookup_also_in_place(seed, n):
    rng, x = inputs(seed, n)
    table = rng.integers(-128, 128, 256).astype(np.int8)
    y, full = with_tail(n, np.int8, 99)
    assert lib().tt_lut_s8(ptr(x), n, ptr(table), ptr(y)) == 0
    np.testing.assert_array_equal(y, table[x.astype(np.int64) + 128])
    assert (full[n:] == 99).all()
    same = x.copy()
    assert lib().tt_lut_s8(ptr(same), n, ptr(table), ptr(same)) == 0
    np.testing.assert_array_equal(same, y)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 300))
def test_lut_grad_multiplies_by_the_derivative_of_the_input_code(seed, n):
    rng, x = inputs(seed, n)
    g = rng.standard_normal(n).astype(np.float32)
    dtable = rng.standard_normal(256).astype(np.float32)
    out, full = with_tail(n, np.float32, np.nan)
    assert lib().tt_lut_grad_f32(ptr(g), ptr(x), n, ptr(dtable), ptr(out)) == 0
    np.testing.assert_array_equal(out, g * dtable[x.astype(np.int64) + 128])
    assert np.isnan(full[n:]).all()
    assert lib().tt_lut_grad_f32(ptr(g), ptr(x), n, ptr(dtable), ptr(g)) == 0   # in place over g
    np.testing.assert_array_equal(g, out)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 300), st.integers(-129, 128), st.integers(-129, 128),
       st.floats(-2, 2, width=32), st.floats(-2, 2, width=32))
def test_interval_mask_and_select_grad(seed, n, lo, hi, inside, outside):
    rng, x = inputs(seed, n)
    nbytes = (n + 7) // 8
    mask, full = with_tail(nbytes, np.uint8, 0xA5)
    assert lib().tt_clamp_mask_s8(ptr(x), n, lo, hi, ptr(mask)) == 0
    bits = (x.astype(np.int32) > lo) & (x.astype(np.int32) < hi)
    np.testing.assert_array_equal(mask, np.packbits(bits, bitorder="little"))
    assert (full[nbytes:] == 0xA5).all()
    g = rng.standard_normal(n).astype(np.float32)
    out, full = with_tail(n, np.float32, np.nan)
    assert lib().tt_select_grad_f32(ptr(g), ptr(mask), n, inside, outside, ptr(out)) == 0
    np.testing.assert_array_equal(out, np.where(bits, g * np.float32(inside), g * np.float32(outside)))
    assert np.isnan(full[n:]).all()


def test_null_pointers_and_negative_sizes_are_rejected():
    x, t, f = np.zeros(4, np.int8), np.zeros(256, np.int8), np.zeros(256, np.float32)
    assert lib().tt_lut_s8(None, 4, ptr(t), ptr(x)) == -1
    assert lib().tt_lut_s8(ptr(x), -1, ptr(t), ptr(x)) == -1
    assert lib().tt_lut_grad_f32(ptr(f), ptr(x), 4, None, ptr(f)) == -1
    assert lib().tt_select_grad_f32(ptr(f), None, 4, 1.0, 0.0, ptr(f)) == -1
