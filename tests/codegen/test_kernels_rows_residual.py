"""tt_conv_dw_pw_rows_add_s8 through ctypes (the host's portable loop; check_dsp.c checks the DSP loop on the host
and on QEMU M4 / M7): a stride-1 row block and its residual add, the sum written over x or into another buffer,
equals tt_conv_dw_pw_rows_s8 then tt_add_s8 on whole tensors bit for bit, on the backbones' block shapes, either
operand order, asymmetric padding and a 3x3 first conv; it stays inside get_buffer_size bytes of scratch (the row
block's and one output row); a block whose window would read a row of x after its sum is written is refused."""
from ctypes import Structure, byref, c_int32

import numpy as np
import pytest
from test_kernels_memory import P8, Dims, QuantParams, _layer, _ptr

from codegen import host_build
from tvm_tinytrain.codegen import kernel_abi


@pytest.fixture(scope="module")
def lib():
    return kernel_abi.typed(host_build.kernel_library())


class ResidualAdd(Structure):  # tt_residual_add
    _fields_ = [("x_is_a", c_int32), ("a_zero", c_int32), ("b_zero", c_int32), ("mult_a", c_int32),
                ("mult_b", c_int32), ("shift", c_int32), ("q", QuantParams)]


def _block(rng, c, c_mid, ka, kb, pb, keep):
    """(a, b, c) of a stride-1 block keeping the map: a ka x ka conv padded by ka // 2, a depthwise kb padded pb."""
    a = _layer(rng, c_mid, c, (ka, ka), 1, (ka // 2,) * 4, 1, int(rng.integers(-10, 10)), keep)
    b = _layer(rng, c_mid, 1, kb, 1, pb, c_mid, a.q.y_zero, keep)
    return a, b, _layer(rng, c, c_mid, (1, 1), 1, (0, 0, 0, 0), 1, b.q.y_zero, keep)


def _add(rng, x_is_a, x_zero, y_zero):
    """The add's parameters as the backbones' (each multiplier a quarter to once 2^shift)."""
    shift = int(rng.integers(16, 40))
    e = min(shift - 1, 30)
    mult = [int(m) for m in rng.integers(1 << (e - 1), (2 << e) - 1, 2)]
    zeros = (x_zero, y_zero) if x_is_a else (y_zero, x_zero)
    return ResidualAdd(x_is_a, *zeros, *mult, shift, QuantParams(0, int(rng.integers(-20, 20)), -128, 127))


@pytest.mark.parametrize("c, h, w, c_mid, ka, kb, pb, x_is_a, in_place", [
    (16, 32, 32, 48, 1, (3, 3), (1, 1, 1, 1), 1, True),    # Proxyless / MbV2 blocks.2's shape, 3x3
    (16, 32, 32, 48, 1, (7, 7), (3, 3, 3, 3), 0, True),    # 7x7, x the add's second operand
    (24, 16, 16, 72, 1, (5, 5), (2, 2, 2, 2), 1, False),   # 5x5, the sum into another buffer
    (5, 9, 7, 11, 1, (5, 3), (4, 0, 0, 2), 0, True),       # odd sizes, the window's padding all on top
    (6, 10, 12, 9, 3, (3, 3), (1, 1, 1, 1), 1, True),      # a 3x3 first conv: x read one row further
])
def test_rows_add_equals_rows_then_add(lib, c, h, w, c_mid, ka, kb, pb, x_is_a, in_place):
    rng = np.random.default_rng(c * h + kb[0])
    keep = []
    a, b, cv = _block(rng, c, c_mid, ka, kb, pb, keep)
    x = rng.integers(-128, 128, c * h * w).astype(np.int8)
    dims, mid = Dims(c, h, w), Dims(c_mid, h, w)
    add = _add(rng, x_is_a, a.q.x_zero, cv.q.y_zero)
    y = np.zeros_like(x)
    rows = lib.tt_conv_dw_pw_rows_s8_get_buffer_size(dims, byref(a), mid, byref(b), dims)
    assert lib.tt_conv_dw_pw_rows_s8(_ptr(x, P8), dims, byref(a), mid, byref(b), byref(cv), _ptr(y, P8), dims,
                                     _ptr(np.zeros(rows, np.int8), P8)) == 0
    expected = np.zeros_like(x)
    pair = (x, y) if x_is_a else (y, x)
    assert lib.tt_add_s8(_ptr(pair[0], P8), _ptr(pair[1], P8), x.size, add.a_zero, add.b_zero, add.mult_a,
                         add.mult_b, add.shift, byref(add.q), _ptr(expected, P8)) == 0
    assert not np.array_equal(expected, x) and not np.array_equal(expected, y)

    size = lib.tt_conv_dw_pw_rows_add_s8_get_buffer_size(dims, byref(a), mid, byref(b), dims)
    assert size == rows + (c * w + 7) // 8 * 8
    scratch = np.full(size + 16, 99, np.int8)
    z = x if in_place else np.zeros_like(x)
    source = x.copy()
    assert lib.tt_conv_dw_pw_rows_add_s8(_ptr(x, P8), dims, byref(a), mid, byref(b), byref(cv), _ptr(z, P8), dims,
                                         byref(add), _ptr(scratch, P8)) == 0
    np.testing.assert_array_equal(z, expected)
    assert np.all(scratch[size:] == 99)
    if not in_place:
        np.testing.assert_array_equal(x, source)


def test_a_window_reading_x_after_its_sum_is_refused(lib):
    rng, keep = np.random.default_rng(1), []
    dims = Dims(4, 6, 5)
    add = _add(rng, 1, 0, 0)
    x = np.zeros(4 * 6 * 5, np.int8)

    def call(a, b, cv, mid, out):
        scratch = np.zeros(lib.tt_conv_dw_pw_rows_add_s8_get_buffer_size(dims, byref(a), mid, byref(b), out), np.int8)
        return lib.tt_conv_dw_pw_rows_add_s8(_ptr(x, P8), dims, byref(a), mid, byref(b), byref(cv), _ptr(x, P8), out,
                                             byref(add), _ptr(scratch, P8))

    # a 3x3 first conv padded by 1 and a 3x3 depthwise whose padding is all on top: output row r reads x row r + 1
    # only when it makes mid row r, so the next output row would read x row r, already overwritten
    a, b, cv = _block(rng, 4, 6, 3, (3, 3), (2, 1, 0, 1), keep)
    assert call(a, b, cv, Dims(6, 6, 5), dims) == -1
    a, b, cv = _block(rng, 4, 6, 1, (3, 3), (1, 1, 1, 1), keep)
    assert call(a, b, cv, Dims(6, 6, 5), dims) == 0
    assert call(a, b, cv, Dims(6, 6, 5), Dims(3, 6, 5)) == -1  # the output's shape is not x's
