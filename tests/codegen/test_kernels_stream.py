"""The streamed stem through ctypes: tt_conv_dw_pw_stream_s8, its input pulled from a row source, equals
tt_conv_dw_pw_rows_s8 on the whole tensor bit for bit, reads every row once and in order (rows no window
reaches too), and stays inside get_buffer_size bytes of scratch, which equals the planner's formula; a whole
CHW image read through tt_rows_from_chw gives the same result.  tt_conv_dw_pw_chain_s8 (a second row block
pulling the streamed stem's output rows from a ring) equals the two whole-tensor tt_conv_dw_pw_rows_s8 calls bit
for bit, with the same reads of the source, inside its scratch, which equals input_stream.py's formula."""
from ctypes import CFUNCTYPE, POINTER, Structure, byref, c_int8, c_int32, c_void_p, cast

import numpy as np
import pytest
from test_kernels_memory import P8, Dims, _layer, _out, _ptr

from codegen import host_build
from tvm_tinytrain.codegen import kernel_abi

READ_ROWS = CFUNCTYPE(None, c_void_p, POINTER(c_int8), c_int32, c_int32)


class RowSource(Structure):  # tt_row_source: a function pointer and its context
    _fields_ = [("read", c_void_p), ("ctx", c_void_p)]


class ChwImage(Structure):  # tt_chw_image: tt_rows_from_chw's context
    _fields_ = [("x", POINTER(c_int8)), ("dims", Dims)]


@pytest.fixture(scope="module")
def lib():
    return kernel_abi.typed(host_build.kernel_library())


def _chain(rng, c_in, c_mid, ka, sa, pa, kb, sb, pb, c_out, keep):
    a = _layer(rng, c_mid, c_in, ka, sa, pa, 1, int(rng.integers(-10, 10)), keep)
    b = _layer(rng, c_mid, 1, kb, sb, pb, c_mid, a.q.y_zero, keep)
    c = _layer(rng, c_out, c_mid, (1, 1), 1, (0, 0, 0, 0), 1, b.q.y_zero, keep)
    return a, b, c


def _stream(lib, source, in_dims, a, mid, b, c, out):
    """(y, scratch size) of tt_conv_dw_pw_stream_s8 from `source`, scratch guarded past its size."""
    size = lib.tt_conv_dw_pw_stream_s8_get_buffer_size(in_dims, byref(a), mid, byref(b), out)
    scratch = np.full(size + 16, 99, np.int8)
    y = np.zeros(out.c * out.h * out.w, np.int8)
    assert lib.tt_conv_dw_pw_stream_s8(byref(source), in_dims, byref(a), mid, byref(b), byref(c), _ptr(y, P8), out,
                                       _ptr(scratch, P8)) == 0
    assert np.all(scratch[size:] == 99)
    return y, size


@pytest.mark.parametrize("c_in, h, w, c_mid, ka, sa, pa, kb, sb, pb, c_out", [
    (3, 128, 128, 16, (3, 3), 2, (1, 1, 1, 1), (3, 3), 1, (1, 1, 1, 1), 8),   # the backbones' stem
    (3, 17, 13, 5, (3, 3), 2, (1, 1, 1, 1), (5, 5), 2, (2, 2, 2, 2), 7),      # odd sizes, 5x5 stride 2
    (6, 11, 9, 24, (1, 1), 1, (0, 0, 0, 0), (7, 7), 2, (3, 3, 3, 3), 4),      # 1x1 first conv, 7x7
    (4, 10, 12, 9, (3, 3), 1, (0, 1, 2, 1), (3, 3), 1, (2, 0, 0, 2), 3),      # asymmetric padding
    (2, 12, 7, 5, (1, 1), 2, (0, 0, 0, 0), (3, 3), 1, (1, 1, 1, 1), 3),       # rows 1, 3, .. never reached
    (3, 9, 8, 4, (3, 3), 2, (0, 0, 0, 0), (3, 3), 1, (1, 1, 1, 1), 2),        # the last row never reached
])
def test_stream_equals_whole_tensor_kernel(lib, c_in, h, w, c_mid, ka, sa, pa, kb, sb, pb, c_out):
    rng = np.random.default_rng(c_in * h + w)
    keep = []
    a, b, c = _chain(rng, c_in, c_mid, ka, sa, pa, kb, sb, pb, c_out, keep)
    x = rng.integers(-128, 128, (c_in, h, w)).astype(np.int8)
    in_dims = Dims(c_in, h, w)
    mid = Dims(c_mid, _out(h, ka[0], sa, pa[0], pa[2]), _out(w, ka[1], sa, pa[1], pa[3]))
    out = Dims(c_out, _out(mid.h, kb[0], sb, pb[0], pb[2]), _out(mid.w, kb[1], sb, pb[1], pb[3]))
    rows_scratch = lib.tt_conv_dw_pw_rows_s8_get_buffer_size(in_dims, byref(a), mid, byref(b), out)
    expected = np.zeros(out.c * out.h * out.w, np.int8)
    assert lib.tt_conv_dw_pw_rows_s8(_ptr(x, P8), in_dims, byref(a), mid, byref(b), byref(c), _ptr(expected, P8),
                                     out, _ptr(np.zeros(rows_scratch, np.int8), P8)) == 0

    hwc, asked = np.ascontiguousarray(x.transpose(1, 2, 0)), []

    def read(ctx, dst, first_row, n_rows):  # a camera's rows: (n_rows, w, c)
        asked.append((first_row, n_rows))
        rows = hwc[first_row:first_row + n_rows].reshape(-1)
        np.ctypeslib.as_array(dst, (rows.size,))[:] = rows

    callback = READ_ROWS(read)
    y, size = _stream(lib, RowSource(cast(callback, c_void_p), None), in_dims, a, mid, b, c, out)
    np.testing.assert_array_equal(y, expected)
    assert sum(n for _, n in asked) == h and [r for r, _ in asked] == list(np.cumsum([0] + [n for _, n in asked])[:-1])
    align8 = lambda n: (n + 7) // 8 * 8  # noqa: E731  the stream's ring of received rows and their padding columns
    assert size == rows_scratch + ka[0] * align8((pa[1] + w + pa[3]) * c_in)

    image = ChwImage(_ptr(x, P8), in_dims)
    from_chw = RowSource(cast(lib.tt_rows_from_chw, c_void_p), cast(byref(image), c_void_p))
    np.testing.assert_array_equal(_stream(lib, from_chw, in_dims, a, mid, b, c, out)[0], expected)


@pytest.mark.parametrize("c", [1, 3, 4])
def test_rows_from_chw_is_the_transpose(lib, c):
    """tt_rows_from_chw writes rows first .. first + n - 1 of a CHW image pixel by pixel (HWC): every width from 1 to
    13 (the 3-channel path's words of four pixels and each tail), runs of one to five rows from any row."""
    rng = np.random.default_rng(c)
    for w in range(1, 14):
        x = rng.integers(-128, 128, (c, 5, w)).astype(np.int8)
        image = ChwImage(_ptr(x, P8), Dims(c, 5, w))
        for first, n in [(0, 1), (4, 1), (1, 3), (0, 5)]:
            dst = np.full(n * w * c + 8, 77, np.int8)
            lib.tt_rows_from_chw(byref(image), _ptr(dst, P8), first, n)
            np.testing.assert_array_equal(dst[:-8], x[:, first:first + n].transpose(1, 2, 0).reshape(-1))
            assert np.all(dst[-8:] == 77)


def _whole_rows(lib, x, in_dims, a, mid, b, c, out):
    """y of tt_conv_dw_pw_rows_s8 on the whole tensor x."""
    y = np.zeros(out.c * out.h * out.w, np.int8)
    scratch = np.zeros(lib.tt_conv_dw_pw_rows_s8_get_buffer_size(in_dims, byref(a), mid, byref(b), out), np.int8)
    assert lib.tt_conv_dw_pw_rows_s8(_ptr(x, P8), in_dims, byref(a), mid, byref(b), byref(c), _ptr(y, P8), out,
                                     _ptr(scratch, P8)) == 0
    return y


def _block(rng, in_dims, conv, depthwise, c_out, keep):
    """(a, mid, b, c, out) of a random fused row block on in_dims: conv (k, stride, pad, c_mid), depthwise (k, stride,
    pad)."""
    (ka, sa, pa, c_mid), (kb, sb, pb) = conv, depthwise
    a, b, c = _chain(rng, in_dims.c, c_mid, ka, sa, pa, kb, sb, pb, c_out, keep)
    mid = Dims(c_mid, _out(in_dims.h, ka[0], sa, pa[0], pa[2]), _out(in_dims.w, ka[1], sa, pa[1], pa[3]))
    return a, mid, b, c, Dims(c_out, _out(mid.h, kb[0], sb, pb[0], pb[2]), _out(mid.w, kb[1], sb, pb[1], pb[3]))


@pytest.mark.parametrize("c_in, h, w, stem, stem_dw, c0, conv1, dw1, c1", [
    # the backbones' stem and an MbV2 blocks.1 (1x1 expansion, 3x3 stride 2), at 64 x 64
    (3, 64, 64, ((3, 3), 2, (1, 1, 1, 1), 16), ((3, 3), 1, (1, 1, 1, 1)), 8, ((1, 1), 1, (0,) * 4, 24),
     ((3, 3), 2, (1, 1, 1, 1)), 8),
    # odd heights, a 3x3 block-1 conv (a ring of three stem rows), stride 1, 5x5 depthwise
    (3, 17, 13, ((3, 3), 2, (1, 1, 1, 1), 5), ((5, 5), 2, (2, 2, 2, 2)), 7, ((3, 3), 1, (1, 1, 1, 1), 6),
     ((5, 5), 1, (2, 2, 2, 2)), 3),
    # a block-1 conv of stride 2 that never reaches the stem's last row, asymmetric padding, 7x7 depthwise
    (4, 19, 10, ((3, 3), 1, (0, 1, 2, 1), 9), ((3, 3), 1, (2, 0, 0, 2)), 5, ((3, 3), 2, (0, 0, 0, 0), 4),
     ((7, 7), 2, (3, 3, 3, 3)), 2),
    # a stem that skips x's rows (1x1 stride 2), a block-1 conv of 5 rows, stride 2 (overlapping bands)
    (2, 23, 7, ((1, 1), 2, (0,) * 4, 5), ((3, 3), 1, (1, 1, 1, 1)), 3, ((5, 5), 2, (2, 2, 2, 2), 4),
     ((3, 3), 1, (1, 1, 1, 1)), 3),
])
def test_chain_equals_two_whole_tensor_kernels(lib, c_in, h, w, stem, stem_dw, c0, conv1, dw1, c1):
    rng = np.random.default_rng(c_in * h + w + 7)
    keep = []
    in_dims = Dims(c_in, h, w)
    a0, mid0, b0, cc0, out0 = _block(rng, in_dims, stem, stem_dw, c0, keep)
    a1, mid1, b1, cc1, out1 = _block(rng, out0, conv1, dw1, c1, keep)
    x = rng.integers(-128, 128, (c_in, h, w)).astype(np.int8)
    expected = _whole_rows(lib, _whole_rows(lib, x, in_dims, a0, mid0, b0, cc0, out0), out0, a1, mid1, b1, cc1, out1)

    hwc, asked = np.ascontiguousarray(x.transpose(1, 2, 0)), []

    def read(ctx, dst, first_row, n_rows):
        asked.append((first_row, n_rows))
        rows = hwc[first_row:first_row + n_rows].reshape(-1)
        np.ctypeslib.as_array(dst, (rows.size,))[:] = rows

    callback = READ_ROWS(read)
    size = lib.tt_conv_dw_pw_chain_s8_get_buffer_size(in_dims, byref(a0), mid0, byref(b0), out0, byref(a1), mid1,
                                                      byref(b1), out1)
    scratch = np.full(size + 16, 99, np.int8)
    y = np.zeros(out1.c * out1.h * out1.w, np.int8)
    assert lib.tt_conv_dw_pw_chain_s8(byref(RowSource(cast(callback, c_void_p), None)), in_dims, byref(a0), mid0,
                                      byref(b0), byref(cc0), out0, byref(a1), mid1, byref(b1), byref(cc1),
                                      _ptr(y, P8), out1, _ptr(scratch, P8)) == 0
    np.testing.assert_array_equal(y, expected)
    assert np.all(scratch[size:] == 99)
    assert asked == [(r, 1) for r in range(h)]  # every row of x once, in order
    stream = lib.tt_conv_dw_pw_stream_s8_get_buffer_size(in_dims, byref(a0), mid0, byref(b0), out0)
    rows1 = lib.tt_conv_dw_pw_rows_s8_get_buffer_size(out0, byref(a1), mid1, byref(b1), out1)
    assert size == stream + (out0.c * a1.kh * out0.w + 7) // 8 * 8 + rows1
