"""The kernels of the memory passes through ctypes, against the kernels they stand for, bit for bit:
tt_conv_dw_pw_rows_s8 (a conv -> depthwise -> 1x1 chain by rows) equals the three tt_conv2d_s8
calls on odd shapes, strides, kernels and paddings; tt_depthwise_inplace_s8 written over its input (in one
call, or in the two of a split weight) equals tt_depthwise_conv2d_s8 into another buffer; tt_sgd_s8_rows over row blocks equals one
tt_sgd_s8 call, for a pointwise slice and a depthwise one, and so does tt_sgd_s8_block over row and
column blocks; tt_sgd_s8_block_scaled equals tt_scale_channels_f32 then tt_sgd_s8_block."""
from ctypes import POINTER, byref, c_float, c_int8, c_int32

import numpy as np
import pytest

from codegen import host_build
from tvm_tinytrain.codegen import kernel_abi
from tvm_tinytrain.quantization.fixed_point import quantize_multiplier


ABI = kernel_abi.structs()  # the structs and signatures of tt_kernels.h, declared there once
Dims, ConvParams, QuantParams, Layer = (ABI[n] for n in ("tt_dims", "tt_conv_params", "tt_quant_params",
                                                        "tt_conv_layer"))
P8, P32, PF = POINTER(c_int8), POINTER(c_int32), POINTER(c_float)


@pytest.fixture(scope="module")
def lib():
    return kernel_abi.typed(host_build.kernel_library())


def _ptr(a, kind):
    return a.ctypes.data_as(kind)


def _layer(rng, c_out, c_in_per_group, k, stride, pad, groups, x_zero, keep):
    """A random conv layer; `keep` holds its arrays alive."""
    w = rng.integers(-127, 128, (c_out, c_in_per_group, k[0], k[1])).astype(np.int8)
    bias = rng.integers(-3000, 3000, c_out).astype(np.int32)
    mult, shift = (v.astype(np.int32) for v in quantize_multiplier(rng.uniform(0.002, 0.02, c_out)))
    keep += [w, bias, mult, shift]
    return Layer(_ptr(w, P8), k[0], k[1], _ptr(bias, P32), _ptr(mult, P32), _ptr(shift, P32),
                 ConvParams(stride, *pad, groups), QuantParams(x_zero, int(rng.integers(-20, 20)), -128, 127))


def _out(size, k, stride, before, after):
    return (size + before + after - k) // stride + 1


def _conv(lib, x, dims, layer, out_dims):
    y = np.zeros(out_dims.c * out_dims.h * out_dims.w, np.int8)
    assert lib.tt_conv2d_s8(_ptr(x, P8), dims, layer.w, layer.kh, layer.kw, layer.bias, layer.mult, layer.shift,
                            byref(layer.conv), byref(layer.q), _ptr(y, P8), out_dims) == 0
    return y


@pytest.mark.parametrize("c_in, h, w, c_mid, ka, sa, pa, kb, sb, pb, c_out", [
    (3, 128, 128, 16, (3, 3), 2, (1, 1, 1, 1), (3, 3), 1, (1, 1, 1, 1), 8),   # the backbones' stem
    (3, 17, 13, 5, (3, 3), 2, (1, 1, 1, 1), (5, 5), 2, (2, 2, 2, 2), 7),      # odd sizes, 5x5 stride 2
    (6, 11, 9, 24, (1, 1), 1, (0, 0, 0, 0), (7, 7), 2, (3, 3, 3, 3), 4),      # inverted bottleneck, 7x7
    (4, 10, 12, 9, (3, 3), 1, (0, 1, 2, 1), (3, 3), 1, (2, 0, 0, 2), 3),      # asymmetric padding
])
def test_rows_chain_equals_three_calls(lib, c_in, h, w, c_mid, ka, sa, pa, kb, sb, pb, c_out):
    rng = np.random.default_rng(c_in * h + w)
    keep = []
    a = _layer(rng, c_mid, c_in, ka, sa, pa, 1, int(rng.integers(-10, 10)), keep)
    b = _layer(rng, c_mid, 1, kb, sb, pb, c_mid, a.q.y_zero, keep)
    c = _layer(rng, c_out, c_mid, (1, 1), 1, (0, 0, 0, 0), 1, b.q.y_zero, keep)
    x = rng.integers(-128, 128, c_in * h * w).astype(np.int8)
    in_dims = Dims(c_in, h, w)
    mid = Dims(c_mid, _out(h, ka[0], sa, pa[0], pa[2]), _out(w, ka[1], sa, pa[1], pa[3]))
    dw = Dims(c_mid, _out(mid.h, kb[0], sb, pb[0], pb[2]), _out(mid.w, kb[1], sb, pb[1], pb[3]))
    out = Dims(c_out, dw.h, dw.w)
    expected = _conv(lib, _conv(lib, _conv(lib, x, in_dims, a, mid), mid, b, dw), dw, c, out)
    size = lib.tt_conv_dw_pw_rows_s8_get_buffer_size(in_dims, byref(a), mid, byref(b), out)
    scratch = np.full(size + 16, 99, np.int8)  # 16 guard bytes past the reported size
    y = np.zeros(out.c * out.h * out.w, np.int8)
    assert lib.tt_conv_dw_pw_rows_s8(_ptr(x, P8), in_dims, byref(a), mid, byref(b), byref(c), _ptr(y, P8), out,
                                     _ptr(scratch, P8)) == 0
    np.testing.assert_array_equal(y, expected)
    assert np.all(scratch[size:] == 99)


@pytest.mark.parametrize("c, h, w, k, stride, pad, split", [
    (12, 8, 8, (5, 5), 1, (2, 2, 2, 2), 0),   # MCUNet's late blocks: a small padded map
    (7, 4, 4, (3, 3), 1, (1, 1, 1, 1), 3),    # a split weight: two calls, the second's outputs below its inputs
    (6, 9, 7, (7, 7), 2, (3, 2, 3, 2), 0),    # 7x7 stride 2, asymmetric padding
    (4, 6, 6, (3, 3), 1, (0, 0, 0, 0), 2),    # no padding
    (3, 40, 40, (3, 3), 1, (1, 1, 1, 1), 0),  # a map too large for the padded copy: a channel at a time
])
def test_depthwise_inplace_equals_depthwise(lib, c, h, w, k, stride, pad, split):
    rng = np.random.default_rng(c * h + w)
    keep = []
    layer = _layer(rng, c, 1, k, stride, pad, c, int(rng.integers(-20, 20)), keep)
    weights, bias, mult, shift = (a.reshape(-1) for a in keep)
    oh, ow = _out(h, k[0], stride, pad[0], pad[2]), _out(w, k[1], stride, pad[1], pad[3])
    x = rng.integers(-128, 128, c * h * w).astype(np.int8)
    expected = _conv(lib, x, Dims(c, h, w), layer, Dims(c, oh, ow))
    over, scratch = x.copy(), np.zeros(oh * ow, np.int8)
    for c0, n in ((0, split), (split, c - split)) if split else ((0, c),):  # as codegen/templates_memory.py
        part = ConvParams(stride, *pad, n)
        assert lib.tt_depthwise_inplace_s8(_ptr(over[c0 * h * w:], P8), Dims(n, h, w),
                                           _ptr(weights[c0 * k[0] * k[1]:], P8), k[0], k[1], _ptr(bias[c0:], P32),
                                           _ptr(mult[c0:], P32), _ptr(shift[c0:], P32), byref(part),
                                           byref(layer.q), _ptr(over[c0 * oh * ow:], P8), Dims(n, oh, ow),
                                           _ptr(scratch, P8)) == 0
    np.testing.assert_array_equal(over[:c * oh * ow], expected)
    # refused: an output channel larger than an input one (it would run over the next input), no scratch
    wide = ConvParams(1, 1, 1, 1, 1, c)
    assert lib.tt_depthwise_inplace_s8(_ptr(over, P8), Dims(c, h, w), layer.w, 1, 1, layer.bias, layer.mult,
                                       layer.shift, byref(wide), byref(layer.q), _ptr(over, P8),
                                       Dims(c, h + 2, w + 2), _ptr(scratch, P8)) == -1
    assert lib.tt_depthwise_inplace_s8(_ptr(over, P8), Dims(c, h, w), layer.w, k[0], k[1], layer.bias, layer.mult,
                                       layer.shift, byref(layer.conv), byref(layer.q), _ptr(over, P8),
                                       Dims(c, oh, ow), None) == -1


@pytest.mark.parametrize("depthwise", [0, 1])
def test_sgd_rows_in_blocks_equals_one_update(lib, depthwise):
    rng = np.random.default_rng(depthwise)
    rows, cols, inner, k = (10, 1, 9, 7) if depthwise else (10, 12, 3, 5)
    w = rng.integers(-127, 128, rows * cols * inner).astype(np.int8)
    upd_rows, run = (k, inner) if depthwise else (rows, k * inner)
    g = rng.normal(0, 30, upd_rows * run).astype(np.float32)
    whole, blocks = w.copy(), w.copy()
    assert lib.tt_sgd_s8(_ptr(whole, P8), _ptr(g, PF), rows, cols, inner, k, depthwise, 0.05, 11, 3) == 0
    for r0 in range(0, upd_rows, 3):  # blocks of 3 rows, the last one shorter
        n = min(3, upd_rows - r0)
        part = np.ascontiguousarray(g[r0 * run:(r0 + n) * run])
        assert lib.tt_sgd_s8_rows(_ptr(blocks, P8), _ptr(part, PF), r0, n, cols * inner, run, 0.05, 11, 3) == 0
    np.testing.assert_array_equal(blocks, whole)
    assert not np.array_equal(whole, w)


def test_sgd_blocks_of_rows_and_columns_equal_one_update(lib):
    """A pointwise slice w[:, :k] (k = 11 of 16 input channels) updated 3 rows x 4 columns at a time, the
    last ones shorter, in any order: tt_sgd_s8's result (the stochastic rounding's index is the element's
    slice index, r * k + c)."""
    rng = np.random.default_rng(5)
    rows, cols, k = 10, 16, 11
    w = rng.integers(-127, 128, rows * cols).astype(np.int8)
    g = rng.normal(0, 30, rows * k).astype(np.float32).reshape(rows, k)
    whole, blocks = w.copy(), w.copy()
    assert lib.tt_sgd_s8(_ptr(whole, P8), _ptr(g, PF), rows, cols, 1, k, 0, 0.05, 11, 3) == 0
    for c0 in reversed(range(0, k, 4)):
        for r0 in range(0, rows, 3):
            n, m = min(3, rows - r0), min(4, k - c0)
            part = np.ascontiguousarray(g[r0:r0 + n, c0:c0 + m])
            assert lib.tt_sgd_s8_block(_ptr(blocks, P8), _ptr(part, PF), r0, n, c0, m, cols, k, 0.05, 11, 3) == 0
    np.testing.assert_array_equal(blocks, whole)
    assert not np.array_equal(whole, w)
    assert lib.tt_sgd_s8_block(_ptr(blocks, P8), _ptr(g, PF), 0, 1, 8, 4, cols, k, 0.05, 11, 3) != 0  # past k


def _order_sensitive_gradient(lib, rng, w, lr, index):
    """(gradient, scale) whose weight (w, slice index `index`, step 11, conv 3) ends one apart for lr * (g * scale)
    and (lr * g) * scale: the product's order shows in the update."""
    f = np.float32
    u = f(lib.tt_stochastic_uniform(index, 11, 3))
    for _ in range(500):
        scale = f(rng.uniform(50, 5000))
        # w - lr g scale + u crosses 0 in the ulps above g (t = lr g scale from below w + u)
        g = f((f(w) + u) / (lr * scale) * f(1 - 1e-5 if w + u > 0 else 1 + 1e-5))
        for _ in range(600):
            t1, t2 = lr * (g * scale), (lr * g) * scale
            if np.floor((f(w) - t1) + u) != np.floor((f(w) - t2) + u):
                return g, scale
            g = np.nextafter(g, f(np.inf))
    raise AssertionError("no order-sensitive gradient found")


def test_sgd_block_scaled_equals_scale_then_block(lib):
    """The QAS scale inside the update (grad_update's 1x1 column blocks): row i's gradient times scale[i], then
    the update, the same weights as tt_scale_channels_f32's pass then tt_sgd_s8_block (a NaN gradient too)."""
    rng = np.random.default_rng(7)
    rows, cols, k, r0, c0, n, m = 12, 16, 11, 4, 3, 5, 8
    w = rng.integers(-127, 128, rows * cols).astype(np.int8)
    g = (rng.normal(0, 1, (n, m)) * 10.0 ** rng.integers(-3, 3, (n, m))).astype(np.float32)
    g[2, 5] = np.nan
    scale = rng.uniform(50, 5000, n).astype(np.float32)
    g[0, 0], scale[0] = _order_sensitive_gradient(lib, rng, int(w[r0 * cols + c0]), np.float32(0.003), r0 * k + c0)
    fused, two_passes, scaled = w.copy(), w.copy(), np.empty_like(g)
    assert lib.tt_sgd_s8_block_scaled(_ptr(fused, P8), _ptr(g, PF), _ptr(scale, PF), r0, n, c0, m, cols, k, 0.003,
                                      11, 3) == 0
    assert lib.tt_scale_channels_f32(_ptr(g, PF), n, m, _ptr(scale, PF), _ptr(scaled, PF)) == 0
    assert lib.tt_sgd_s8_block(_ptr(two_passes, P8), _ptr(scaled, PF), r0, n, c0, m, cols, k, 0.003, 11, 3) == 0
    np.testing.assert_array_equal(fused, two_passes)
    assert not np.array_equal(fused, w)
    assert lib.tt_sgd_s8_block_scaled(_ptr(fused, P8), _ptr(g, PF), None, r0, n, c0, m, cols, k, 0.003, 11, 3) != 0
