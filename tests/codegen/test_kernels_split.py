"""The split-weight kernels equal their one-tensor counterparts on random pointwise convs (the int8
forward bit for bit, the float input gradient to float precision: its terms round (d * w_scale) * w),
and the input gradient's matrix-product path is bit for bit its own formula."""
import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_tinytrain.codegen import kernel_abi

STRUCTS = kernel_abi.structs()  # the header's structs and signatures: never copied here
Dims, Conv, Quant = STRUCTS["tt_dims"], STRUCTS["tt_conv_params"], STRUCTS["tt_quant_params"]
LIB = kernel_abi.typed()


def ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


@settings(max_examples=40, deadline=None)
@given(c=st.integers(2, 24), o=st.integers(1, 12), h=st.integers(1, 9), w=st.integers(1, 9),
       stride=st.integers(1, 3), pad=st.integers(0, 1), data=st.data())
def test_split_pointwise_equals_unsplit(c, o, h, w, stride, pad, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    k = data.draw(st.integers(1, c - 1))
    x = rng.integers(-128, 128, (c, h, w)).astype(np.int8)
    weight = rng.integers(-127, 128, (o, c)).astype(np.int8)
    lead, rest = np.ascontiguousarray(weight[:, :k]), np.ascontiguousarray(weight[:, k:])
    bias = rng.integers(-5000, 5000, o).astype(np.int32)
    mult = rng.integers(2**30, 2**31 - 1, o).astype(np.int32)
    shift = rng.integers(36, 42, o).astype(np.int32)
    conv, q = Conv(stride, pad, pad, pad, pad, 1), Quant(int(rng.integers(-128, 128)), 3, -128, 127)
    oh, ow = (h + 2 * pad - 1) // stride + 1, (w + 2 * pad - 1) // stride + 1
    din, dout = Dims(c, h, w), Dims(o, oh, ow)
    y_ref, y = np.zeros((o, oh, ow), np.int8), np.ones((o, oh, ow), np.int8)
    assert LIB.tt_conv2d_1x1_s8(ptr(x), din, ptr(weight), ptr(bias), ptr(mult), ptr(shift), ctypes.byref(conv),
                                ctypes.byref(q), ptr(y_ref), dout) == 0
    assert LIB.tt_conv2d_1x1_split_s8(ptr(x), din, ptr(lead), ptr(rest), k, ptr(bias), ptr(mult), ptr(shift),
                                      ctypes.byref(conv), ctypes.byref(q), ptr(y), dout) == 0
    np.testing.assert_array_equal(y, y_ref)

    d = rng.standard_normal((o, oh, ow)).astype(np.float32)
    w_scale = rng.uniform(1e-3, 1e-1, o).astype(np.float32)
    dx_ref, dx = np.zeros((c, h, w), np.float32), np.ones((c, h, w), np.float32)
    assert LIB.tt_conv2d_grad_input_f32(ptr(d), dout, ptr(weight), 1, 1, ptr(w_scale), ctypes.byref(conv),
                                        ptr(dx_ref), din) == 0
    assert LIB.tt_conv2d_1x1_grad_input_split_f32(ptr(d), dout, ptr(lead), ptr(rest), k, ptr(w_scale),
                                                  ctypes.byref(conv), ptr(dx), din) == 0
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-5 * max(np.abs(dx_ref).max(), 1e-6))


@pytest.mark.parametrize("c,k,o,h,w", [(2, 1, 1, 1, 1), (9, 4, 7, 4, 4), (30, 11, 70, 3, 3), (16, 5, 3, 8, 8)])
def test_split_grad_input_bit_exact_term_order(c, k, o, h, w):
    """Stride 1 without padding (the matrix-product path): each dx value is the sum over output channels,
    in order from 0, of the float32 terms (d * w_scale) * w, equal to the same float32 operations in numpy."""
    rng = np.random.default_rng(c * 100 + o)
    weight = rng.integers(-127, 128, (o, c)).astype(np.int8)
    lead, rest = np.ascontiguousarray(weight[:, :k]), np.ascontiguousarray(weight[:, k:])
    d = rng.standard_normal((o, h, w)).astype(np.float32)
    w_scale = rng.uniform(1e-3, 1e-1, o).astype(np.float32)
    dx = np.full((c, h, w), np.nan, np.float32)
    assert LIB.tt_conv2d_1x1_grad_input_split_f32(ptr(d), Dims(o, h, w), ptr(lead), ptr(rest), k, ptr(w_scale),
                                                  ctypes.byref(Conv(1, 0, 0, 0, 0, 1)), ptr(dx), Dims(c, h, w)) == 0
    acc = np.zeros((c, h * w), np.float32)
    for i in range(o):
        g = d[i].reshape(1, h * w) * w_scale[i]
        acc = acc + g * weight[i].astype(np.float32)[:, None]
    np.testing.assert_array_equal(dx.reshape(c, h * w), acc)


def test_split_rejects_a_slice_that_is_not_a_split():
    x, weight = np.zeros((4, 2, 2), np.int8), np.zeros((3, 4), np.int8)
    bias, mult, shift = np.zeros(3, np.int32), np.full(3, 2**30, np.int32), np.full(3, 31, np.int32)
    y = np.zeros((3, 2, 2), np.int8)
    conv, q = Conv(1, 0, 0, 0, 0, 1), Quant(0, 0, -128, 127)
    for k in (0, 4):
        assert LIB.tt_conv2d_1x1_split_s8(ptr(x), Dims(4, 2, 2), ptr(weight), ptr(weight), k, ptr(bias),
                                          ptr(mult), ptr(shift), ctypes.byref(conv), ctypes.byref(q), ptr(y),
                                          Dims(3, 2, 2)) == -1
