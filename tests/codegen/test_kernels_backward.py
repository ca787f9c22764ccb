"""The C backward, loss and update kernels (codegen/kernels) through ctypes, against torch/numpy.

Float gradients are compared with float64 autograd (or explicit float64 formulas) on the same
real-valued inputs, within 1e-5 relative to max|ref| (or to the same sums over absolute values,
the float32 error bound, where terms cancel); kernels whose float32 formula has a single
evaluation order (outer products, masks, scaling, SGD) are compared bit for bit with the same
float32 operations.  Integer updates (int8 stochastic rounding, int32 bias) are bit for bit with
numpy implementations of docs/training-semantics.md and the hash of tvm_tinytrain.reference_train.
Output buffers carry a sentinel tail that must survive (no writes past the end).
"""
import ctypes as C
import functools
import shutil
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from codegen.host_build import CFLAGS, KERNEL_DIR, kernel_library
from tvm_tinytrain import pooling
from tvm_tinytrain.codegen import kernel_abi
from tvm_tinytrain.graph import Layer
from tvm_tinytrain.reference_train import TorchTrainer, bias_limit, hash_u32, stochastic_uniform

TT_OK, TT_ERR_ARG = 0, -1
SETTINGS = settings(max_examples=30, deadline=None)
BACKWARD_KERNELS = [
    "tt_cross_entropy_f32", "tt_cross_entropy_grad_f32", "tt_clamp_mask_s8", "tt_mask_grad_f32",
    "tt_grad_add_f32", "tt_channel_slice_s8", "tt_conv2d_grad_input_f32", "tt_conv2d_grad_weight_f32",
    "tt_linear_grad_input_f32", "tt_linear_grad_weight_f32", "tt_bias_grad_f32", "tt_scale_channels_f32",
    "tt_avgpool_grad_f32", "tt_maxpool_grad_f32", "tt_avgpool_window_grad_f32", "tt_linear_f32_grad_input",
    "tt_linear_f32_grad_weight",
    "tt_sgd_s8", "tt_sgd_s32", "tt_sgd_f32", "tt_momentum_f32", "tt_round_copy",
]


ABI = kernel_abi.structs()  # the structs and signatures of tt_kernels.h, declared there once
Dims, ConvParams, PoolParams = ABI["tt_dims"], ABI["tt_conv_params"], ABI["tt_pool_params"]


@functools.lru_cache(maxsize=None)
def lib():
    return kernel_abi.typed(kernel_library())


def call(name, *args):
    return getattr(lib(), name)(*args)


def ptr(a):
    return None if a is None else a.ctypes.data


SENTINEL = 4


def out_buffer(shape, dtype=np.float32, fill=None):
    """A buffer of `shape` followed by a sentinel tail; returns (view, full)."""
    n = int(np.prod(shape))
    full = np.empty(n + SENTINEL, dtype=dtype)
    full[:] = (np.nan if fill is None else fill) if np.dtype(dtype).kind == "f" else (99 if fill is None else fill)
    return full[:n].reshape(shape), full


def check_tail(full, n, fill=None):
    tail = full[n:]
    if tail.dtype.kind == "f" and fill is None:
        assert np.isnan(tail).all(), "kernel wrote past the end of its output"
    else:
        assert (tail == (99 if fill is None else fill)).all(), "kernel wrote past the end of its output"


def assert_close(got, ref, magnitude=None, rel=1e-5):
    """|got - ref| <= rel * max|magnitude|, where `magnitude` is the same sum over absolute values of
    the terms (the float32 summation error bound; equal to max|ref| when nothing cancels)."""
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == ref.shape
    assert np.isfinite(got).all()
    if magnitude is None:
        magnitude = ref
    scale = max(np.abs(ref).max(), np.abs(magnitude).max()) if ref.size else 0.0
    err = np.abs(got - ref).max() if ref.size else 0.0
    assert err <= rel * scale, f"max error {err} vs {rel} * {scale}"


def rng_of(seed):
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- loss

def _torch_ce_f32(logits, label):
    """The oracle's float32 formula (reference_train._step_impl)."""
    l = torch.from_numpy(logits)
    m = l.max()
    lse = m + torch.log(torch.exp(l - m).sum())
    onehot = torch.zeros_like(l)
    onehot[label] = 1.0
    return float(lse - l[label]), (torch.exp(l - lse) - onehot).numpy()


@SETTINGS
@given(n=st.integers(1, 40), seed=st.integers(0, 2**32 - 1), spread=st.sampled_from([0.01, 1.0, 10.0, 60.0]),
       data=st.data())
def test_cross_entropy_and_grad_vs_torch(n, seed, spread, data):
    label = data.draw(st.integers(0, n - 1))
    logits = (rng_of(seed).standard_normal(n) * spread).astype(np.float32)
    loss = np.full(1, np.nan, np.float32)
    assert call("tt_cross_entropy_f32", ptr(logits), n, label, ptr(loss)) == TT_OK
    grad, full = out_buffer(n)
    assert call("tt_cross_entropy_grad_f32", ptr(logits), n, label, ptr(grad)) == TT_OK
    check_tail(full, n)

    ref_loss, ref_grad = _torch_ce_f32(logits, label)
    l64 = torch.from_numpy(logits.astype(np.float64)).requires_grad_(True)
    loss64 = F.cross_entropy(l64[None], torch.tensor([label]))
    loss64.backward()
    loss64 = float(loss64.detach())
    # float32 log-sum-exp is exact to the logits' scale: 1e-6 relative to max(1, max|l|)
    tol = 1e-6 * max(1.0, float(np.abs(logits).max()))
    assert abs(float(loss[0]) - ref_loss) <= tol
    assert abs(float(loss[0]) - loss64) <= tol
    assert np.abs(grad - ref_grad).max() <= tol
    assert np.abs(grad - l64.grad.numpy()).max() <= tol
    assert abs(float(grad.astype(np.float64).sum())) <= 1e-5    # softmax sums to 1


def test_cross_entropy_bad_arguments():
    logits = np.zeros(4, np.float32)
    out = np.zeros(4, np.float32)
    for n, label in ((4, 4), (4, -1), (0, 0)):
        assert call("tt_cross_entropy_f32", ptr(logits), n, label, ptr(out)) == TT_ERR_ARG
        assert call("tt_cross_entropy_grad_f32", ptr(logits), n, label, ptr(out)) == TT_ERR_ARG


# --------------------------------------------------------------- masks and elementwise

@SETTINGS
@given(n=st.integers(0, 70), seed=st.integers(0, 2**32 - 1), lo=st.integers(-128, 20), hi=st.integers(-20, 127))
def test_clamp_mask_bits_and_mask_grad(n, seed, lo, hi):
    rng = rng_of(seed)
    y = rng.integers(-128, 128, n).astype(np.int8)
    y[rng.random(n) < 0.2] = lo                                    # values on the bounds
    y[rng.random(n) < 0.2] = hi
    nbytes = (n + 7) // 8
    mask, full = out_buffer(nbytes, np.uint8, fill=0xA5)
    assert call("tt_clamp_mask_s8", ptr(y), n, lo, hi, ptr(mask)) == TT_OK
    check_tail(full, nbytes, fill=0xA5)
    bits = (y.astype(np.int32) > lo) & (y.astype(np.int32) < hi)
    np.testing.assert_array_equal(mask, np.packbits(bits, bitorder="little"))   # pad bits are 0

    g = rng.standard_normal(n).astype(np.float32)
    out, full = out_buffer(n)
    assert call("tt_mask_grad_f32", ptr(g), ptr(mask), n, ptr(out)) == TT_OK
    check_tail(full, n)
    np.testing.assert_array_equal(out, np.where(bits, g, np.float32(0)))
    inplace = g.copy()                                             # out may alias g
    assert call("tt_mask_grad_f32", ptr(inplace), ptr(mask), n, ptr(inplace)) == TT_OK
    np.testing.assert_array_equal(inplace, np.where(bits, g, np.float32(0)))


@pytest.mark.parametrize("offset", [0, 1, 3])
def test_clamp_mask_full_int8_range(offset):
    """The full range (-128, 127), four bytes a word: every int8 value at every position of a word, from
    unaligned starts too, n not a multiple of 8 (the tail); bits equal the compare."""
    rng = rng_of(offset)
    values = np.concatenate([np.arange(-128, 128), np.repeat([-128, 127, -127, 126, 0, -1], 40),
                             rng.integers(-128, 128, 300)]).astype(np.int8)
    buffer = np.zeros(values.size + offset, np.int8)
    for roll in range(4):
        y = buffer[offset:]
        y[:] = np.roll(values, roll)
        n = y.size - roll  # 796 .. 793 elements: whole bytes and a tail
        nbytes = (n + 7) // 8
        mask, full = out_buffer(nbytes, np.uint8, fill=0xA5)
        assert call("tt_clamp_mask_s8", ptr(y), n, -128, 127, ptr(mask)) == TT_OK
        check_tail(full, nbytes, fill=0xA5)
        bits = (y[:n] != -128) & (y[:n] != 127)
        np.testing.assert_array_equal(mask, np.packbits(bits, bitorder="little"))


@pytest.mark.parametrize("n", [0, 7, 8, 64, 203])
def test_mask_grad_whole_bytes(n):
    """Mask bytes all ones (a copy, nothing in place), all zeros and mixed, copied and in place."""
    rng = rng_of(n)
    bits = np.ones(n, bool)
    bits[16:24] = False                                            # an all-zeros byte
    bits[rng.random(n) < 0.05] = False
    mask = np.packbits(bits, bitorder="little")
    g = rng.standard_normal(n).astype(np.float32)
    expect = np.where(bits, g, np.float32(0))
    out, full = out_buffer(n)
    assert call("tt_mask_grad_f32", ptr(g), ptr(mask), n, ptr(out)) == TT_OK
    check_tail(full, n)
    np.testing.assert_array_equal(out, expect)
    inplace = g.copy()
    assert call("tt_mask_grad_f32", ptr(inplace), ptr(mask), n, ptr(inplace)) == TT_OK
    np.testing.assert_array_equal(inplace, expect)


@SETTINGS
@given(n=st.integers(0, 50), seed=st.integers(0, 2**32 - 1))
def test_grad_add_exact_and_aliasing(n, seed):
    rng = rng_of(seed)
    a, b = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
    out, full = out_buffer(n)
    assert call("tt_grad_add_f32", ptr(a), ptr(b), n, ptr(out)) == TT_OK
    check_tail(full, n)
    np.testing.assert_array_equal(out, a + b)
    acc = a.copy()
    assert call("tt_grad_add_f32", ptr(acc), ptr(b), n, ptr(acc)) == TT_OK
    np.testing.assert_array_equal(acc, a + b)


@SETTINGS
@given(c=st.integers(1, 7), h=st.integers(1, 6), w=st.integers(1, 6), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_channel_slice(c, h, w, seed, data):
    k = data.draw(st.integers(1, c))
    x = rng_of(seed).integers(-128, 128, (c, h, w)).astype(np.int8)
    out, full = out_buffer((k, h, w), np.int8)
    assert call("tt_channel_slice_s8", ptr(x), Dims(c, h, w), k, ptr(out)) == TT_OK
    check_tail(full, k * h * w)
    np.testing.assert_array_equal(out, x[:k])
    assert call("tt_channel_slice_s8", ptr(x), Dims(c, h, w), c + 1, ptr(out)) == TT_ERR_ARG
    assert call("tt_channel_slice_s8", ptr(x), Dims(c, h, w), 0, ptr(out)) == TT_ERR_ARG


@SETTINGS
@given(channels=st.integers(1, 7), inner=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_bias_grad_and_scale_channels(channels, inner, seed):
    rng = rng_of(seed)
    d = rng.standard_normal((channels, inner)).astype(np.float32)
    db, full = out_buffer(channels)
    assert call("tt_bias_grad_f32", ptr(d), channels, inner, ptr(db)) == TT_OK
    check_tail(full, channels)
    assert_close(db, d.astype(np.float64).sum(axis=1), np.abs(d.astype(np.float64)).sum(axis=1))

    scale = rng.uniform(0.5, 200.0, channels).astype(np.float32)
    out, full = out_buffer((channels, inner))
    assert call("tt_scale_channels_f32", ptr(d), channels, inner, ptr(scale), ptr(out)) == TT_OK
    check_tail(full, channels * inner)
    np.testing.assert_array_equal(out, d * scale[:, None])
    inplace = d.copy()
    assert call("tt_scale_channels_f32", ptr(inplace), channels, inner, ptr(scale), ptr(inplace)) == TT_OK
    np.testing.assert_array_equal(inplace, d * scale[:, None])


@SETTINGS
@given(c=st.integers(1, 7), h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_avgpool_grad_matches_oracle(c, h, w, seed):
    g = rng_of(seed).standard_normal(c).astype(np.float32)
    dx, full = out_buffer((c, h, w))
    assert call("tt_avgpool_grad_f32", ptr(g), Dims(c, h, w), ptr(dx)) == TT_OK
    check_tail(full, c * h * w)
    ref = (torch.from_numpy(g).reshape(c, 1, 1) / float(h * w)).expand(c, h, w).numpy()   # the oracle's float32
    np.testing.assert_array_equal(dx, ref)


# ------------------------------------------------------------------------- convolutions

@st.composite
def conv_cases(draw, modes=("dense", "depthwise", "grouped")):
    mode = draw(st.sampled_from(modes))
    kh = draw(st.sampled_from([1, 3, 5, 7]))
    kw = kh if draw(st.booleans()) else draw(st.sampled_from([1, 3, 5, 7]))
    stride = draw(st.integers(1, 3))
    top, left, bottom, right = (draw(st.integers(0, 3)) for _ in range(4))
    h = draw(st.integers(max(1, kh - top - bottom), 11))
    w = draw(st.integers(max(1, kw - left - right), 11))
    if mode == "dense":
        groups, cin, cout = 1, draw(st.integers(1, 7)), draw(st.integers(1, 7))
    elif mode == "depthwise":
        cin = draw(st.integers(1, 7))
        groups, cout = cin, cin * draw(st.sampled_from([1, 1, 2]))
    else:
        groups = draw(st.integers(2, 3))
        cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    oh = (h + top + bottom - kh) // stride + 1
    ow = (w + left + right - kw) // stride + 1
    return dict(mode=mode, kh=kh, kw=kw, stride=stride, pad=(top, left, bottom, right), h=h, w=w, cin=cin,
                cout=cout, groups=groups, oh=oh, ow=ow, seed=draw(st.integers(0, 2**32 - 1)))


def _params(case):
    top, left, bottom, right = case["pad"]
    return ConvParams(case["stride"], top, left, bottom, right, case["groups"])


def _conv64(x_r, w_r, case):
    top, left, bottom, right = case["pad"]
    y = F.conv2d(F.pad(x_r[None], (left, right, top, bottom)), w_r, stride=case["stride"], groups=case["groups"])
    assert y.shape[2:] == (case["oh"], case["ow"])
    return y[0]


@SETTINGS
@given(case=conv_cases())
def test_conv2d_grad_input_vs_autograd(case):
    rng = rng_of(case["seed"])
    cin, cout, kh, kw, g = case["cin"], case["cout"], case["kh"], case["kw"], case["groups"]
    w = rng.integers(-127, 128, (cout, cin // g, kh, kw)).astype(np.int8)
    w_scale = rng.uniform(1e-3, 0.1, cout).astype(np.float32)
    d = rng.standard_normal((cout, case["oh"], case["ow"])).astype(np.float32)
    dx, full = out_buffer((cin, case["h"], case["w"]))
    rc = call("tt_conv2d_grad_input_f32", ptr(d), Dims(cout, case["oh"], case["ow"]), ptr(w), kh, kw, ptr(w_scale),
              C.byref(_params(case)), ptr(dx), Dims(cin, case["h"], case["w"]))
    assert rc == TT_OK
    check_tail(full, dx.size)

    w_r = torch.from_numpy(w_scale[:, None, None, None] * w.astype(np.float32)).double()   # float32 w_r, as the spec
    refs = []
    for sign in (lambda t: t, torch.abs):                       # the gradient, then its magnitude bound
        x = torch.zeros((cin, case["h"], case["w"]), dtype=torch.float64, requires_grad=True)
        _conv64(x, sign(w_r), case).backward(sign(torch.from_numpy(d).double()))
        refs.append(x.grad.numpy())
    assert_close(dx, *refs)


@SETTINGS
@given(case=conv_cases(modes=("dense", "depthwise")), x_zero=st.integers(-128, 127), data=st.data())
def test_conv2d_grad_weight_vs_autograd(case, x_zero, data):
    rng = rng_of(case["seed"])
    cin, cout, kh, kw = case["cin"], case["cout"], case["kh"], case["kw"]
    depthwise = case["mode"] == "depthwise"
    k = data.draw(st.integers(1, cin))
    x = rng.integers(-128, 128, (cin, case["h"], case["w"])).astype(np.int8)
    x_scale = np.float32(rng.uniform(1e-3, 0.1))
    d = rng.standard_normal((cout, case["oh"], case["ow"])).astype(np.float32)
    rows = k * (cout // cin) if depthwise else cout
    cols = 1 if depthwise else k
    dw, full = out_buffer((rows, cols, kh, kw))
    x_slice = np.ascontiguousarray(x[:k])
    rc = call("tt_conv2d_grad_weight_f32", ptr(x_slice), Dims(k, case["h"], case["w"]), x_zero, x_scale, ptr(d),
              Dims(cout, case["oh"], case["ow"]), kh, kw, C.byref(_params(case)), int(depthwise), ptr(dw))
    assert rc == TT_OK
    check_tail(full, dw.size)

    x_r = torch.from_numpy(x_scale * (x.astype(np.int32) - x_zero).astype(np.float32)).double()
    refs = []
    for sign in (lambda t: t, torch.abs):                       # the gradient, then its magnitude bound
        w_r = torch.zeros((cout, cin // case["groups"], kh, kw), dtype=torch.float64, requires_grad=True)
        _conv64(sign(x_r), w_r, case).backward(sign(torch.from_numpy(d).double()))
        refs.append(w_r.grad.numpy()[:rows] if depthwise else w_r.grad.numpy()[:, :k])
    assert_close(dw, *refs)


@pytest.mark.parametrize("cin,cout,h,w", [(1, 1, 1, 1), (5, 3, 3, 3), (16, 9, 4, 4), (7, 13, 5, 7), (24, 8, 8, 8),
                                         (19, 6, 2, 5), (5, 150, 4, 4), (3, 70, 3, 3),
                                         # the rows a 4-row block leaves (1-3), weight k = cin // 2: 4 or 13
                                         (8, 1, 8, 8), (26, 2, 8, 8), (8, 2, 3, 3), (26, 3, 7, 9), (26, 5, 2, 5),
                                         (8, 6, 1, 1)])
def test_pointwise_grads_bit_exact_float32_order(cin, cout, h, w):
    """Stride-1 unpadded pointwise convs take the matrix-product paths: the input gradient sums over
    output channels in order, the weight gradient over positions in order, each term the spec's
    float32 product; equal bit for bit to the same float32 operations in numpy (pixel counts that
    are not multiples of the 8- / 4-wide blocks, and sums over more than one 64-channel chunk,
    included; 1-3 output channels after the blocks of four, on maps of even and odd size)."""
    rng = rng_of(cin * 1000 + cout)
    hw = h * w
    wq = rng.integers(-127, 128, (cout, cin)).astype(np.int8)
    w_scale = rng.uniform(1e-3, 0.1, cout).astype(np.float32)
    d = rng.standard_normal((cout, h, w)).astype(np.float32)
    conv = ConvParams(1, 0, 0, 0, 0, 1)
    dx, full = out_buffer((cin, h, w))
    assert call("tt_conv2d_grad_input_f32", ptr(d), Dims(cout, h, w), ptr(wq), 1, 1, ptr(w_scale), C.byref(conv),
                ptr(dx), Dims(cin, h, w)) == TT_OK
    check_tail(full, dx.size)
    acc = np.zeros((cin, hw), np.float32)
    for o in range(cout):
        w_r = (w_scale[o] * wq[o].astype(np.float32)).astype(np.float32)
        acc = acc + d[o].reshape(1, hw) * w_r[:, None]
    np.testing.assert_array_equal(dx.reshape(cin, hw), acc)

    x_zero, x_scale, k = int(rng.integers(-128, 128)), np.float32(0.037), max(1, cin // 2)
    x = rng.integers(-128, 128, (k, h, w)).astype(np.int8)
    dw, full = out_buffer((cout, k, 1, 1))
    assert call("tt_conv2d_grad_weight_f32", ptr(x), Dims(k, h, w), x_zero, x_scale, ptr(d), Dims(cout, h, w), 1, 1,
                C.byref(conv), 0, ptr(dw)) == TT_OK
    check_tail(full, dw.size)
    xv = (x.reshape(k, hw).astype(np.int32) - x_zero).astype(np.float32)
    acc = np.zeros((cout, k), np.float32)
    for p in range(hw):
        acc = acc + d.reshape(cout, hw)[:, p:p + 1] * xv[None, :, p]
    np.testing.assert_array_equal(dw.reshape(cout, k), x_scale * acc)


@pytest.mark.parametrize("cin,cout,h,w,rows", [(7, 36, 11, 9, 8), (48, 240, 8, 8, 16), (5, 150, 4, 4, 64),
                                              (3, 9, 1, 3, 4)])
@pytest.mark.parametrize("split", [False, True])
def test_pointwise_grad_input_by_rows_equals_one_call(cin, cout, h, w, rows, split):
    """tt_conv2d_1x1_grad_input_rows_f32 (split: tt_conv2d_1x1_grad_input_split_rows_f32, the weight's k leading
    input channels apart) over consecutive blocks of output channels (chunk_depthwise_grad) gives the floats of
    the one-call kernel, bit for bit (an odd channel, pixels past the 8-wide blocks, a last block shorter than
    the rest, sums over more than one 64-channel chunk)."""
    rng = rng_of(cin * 7 + cout)
    wq = rng.integers(-127, 128, (cout, cin)).astype(np.int8)
    w_scale = rng.uniform(1e-3, 0.1, cout).astype(np.float32)
    d = rng.standard_normal((cout, h, w)).astype(np.float32)
    k = max(1, cin // 3)
    lead, rest = np.ascontiguousarray(wq[:, :k]), np.ascontiguousarray(wq[:, k:])
    whole, _ = out_buffer((cin, h, w))
    conv = C.byref(ConvParams(1, 0, 0, 0, 0, 1))
    if split:
        assert call("tt_conv2d_1x1_grad_input_split_f32", ptr(d), Dims(cout, h, w), ptr(lead), ptr(rest), k,
                    ptr(w_scale), conv, ptr(whole), Dims(cin, h, w)) == TT_OK
    else:
        assert call("tt_conv2d_grad_input_f32", ptr(d), Dims(cout, h, w), ptr(wq), 1, 1, ptr(w_scale), conv,
                    ptr(whole), Dims(cin, h, w)) == TT_OK
    dx, full = out_buffer((cin, h, w))  # NaN: the first block writes, the others add
    for row0 in range(0, cout, rows):
        n = min(rows, cout - row0)
        block = np.ascontiguousarray(d[row0:row0 + n])
        if split:
            assert call("tt_conv2d_1x1_grad_input_split_rows_f32", ptr(block), row0, n, h * w, ptr(lead), ptr(rest),
                        k, ptr(w_scale), cin, ptr(dx)) == TT_OK
        else:
            assert call("tt_conv2d_1x1_grad_input_rows_f32", ptr(block), row0, n, h * w, ptr(wq), ptr(w_scale), cin,
                        ptr(dx)) == TT_OK
    check_tail(full, dx.size)
    np.testing.assert_array_equal(dx, whole)
    assert call("tt_conv2d_1x1_grad_input_rows_f32", ptr(d), -1, 1, h * w, ptr(wq), ptr(w_scale), cin,
                ptr(dx)) == TT_ERR_ARG
    assert call("tt_conv2d_1x1_grad_input_split_rows_f32", ptr(d), 0, 1, h * w, ptr(lead), ptr(rest), cin,
                ptr(w_scale), cin, ptr(dx)) == TT_ERR_ARG


@pytest.mark.parametrize("cin,cout,h,w,chunk", [(13, 36, 11, 9, 8), (192, 48, 8, 8, 16), (150, 5, 4, 4, 64),
                                               (9, 3, 1, 3, 4)])
def test_pointwise_grad_input_by_channels_equals_one_call(cin, cout, h, w, chunk):
    """tt_conv2d_1x1_grad_input_channels_f32 over consecutive blocks of input channels (a projection's input
    gradient a chunk at a time, chunk_depthwise_grad) gives the floats of the one-call kernel, bit for bit (an odd
    last channel, pixels past the 8-wide blocks, a last block shorter than the rest, sums over more than one
    64-channel chunk); an odd first channel or a block past the channels is refused."""
    rng = rng_of(cin * 5 + cout)
    wq = rng.integers(-127, 128, (cout, cin)).astype(np.int8)
    w_scale = rng.uniform(1e-3, 0.1, cout).astype(np.float32)
    d = rng.standard_normal((cout, h, w)).astype(np.float32)
    whole, _ = out_buffer((cin, h, w))
    assert call("tt_conv2d_grad_input_f32", ptr(d), Dims(cout, h, w), ptr(wq), 1, 1, ptr(w_scale),
                C.byref(ConvParams(1, 0, 0, 0, 0, 1)), ptr(whole), Dims(cin, h, w)) == TT_OK
    for c0 in range(0, cin, chunk):
        n = min(chunk, cin - c0)
        block, full = out_buffer((n, h, w))
        assert call("tt_conv2d_1x1_grad_input_channels_f32", ptr(d), cout, h * w, ptr(wq), ptr(w_scale), c0, n, cin,
                    ptr(block)) == TT_OK
        check_tail(full, block.size)
        np.testing.assert_array_equal(block, whole[c0:c0 + n])
    for c0, n in ((1, 2), (0, cin + 1)):
        assert call("tt_conv2d_1x1_grad_input_channels_f32", ptr(d), cout, h * w, ptr(wq), ptr(w_scale), c0, n, cin,
                    ptr(whole)) == TT_ERR_ARG


@pytest.mark.parametrize("c,h,w,k,stride,pad", [(3, 4, 4, 7, 1, 3), (5, 4, 4, 5, 1, 2), (2, 8, 8, 3, 1, 1),
                                                 (4, 8, 8, 7, 2, 3), (3, 9, 7, 5, 2, 1), (2, 5, 6, 3, 3, 0),
                                                 (1, 3, 3, 4, 1, 2), (2, 13, 14, 5, 3, 2), (2, 6, 9, 3, 2, 2),
                                                 (1, 40, 40, 3, 2, 1), (2, 13, 13, 2, 3, 1), (2, 15, 14, 9, 2, 4)])
def test_depthwise_grad_input_bit_exact_scatter_order(c, h, w, k, stride, pad):
    """The depthwise input gradient gathers, per dx value, exactly the terms the scatter formulation
    adds, in its order (taps row-major): equal bit for bit to that scatter in float32 numpy."""
    rng = rng_of(c * 100 + k * 10 + stride)
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    wq = rng.integers(-127, 128, (c, 1, k, k)).astype(np.int8)
    w_scale = rng.uniform(1e-3, 0.1, c).astype(np.float32)
    d = rng.standard_normal((c, oh, ow)).astype(np.float32)
    dx, full = out_buffer((c, h, w))
    assert call("tt_conv2d_grad_input_f32", ptr(d), Dims(c, oh, ow), ptr(wq), k, k, ptr(w_scale),
                C.byref(ConvParams(stride, pad, pad, pad, pad, c)), ptr(dx), Dims(c, h, w)) == TT_OK
    check_tail(full, dx.size)
    ref = np.zeros((c, h, w), np.float32)
    for ky in range(k):
        for kx in range(k):
            w_r = (w_scale * wq[:, 0, ky, kx].astype(np.float32)).astype(np.float32)
            for oy in range(oh):
                for ox in range(ow):
                    iy, ix = oy * stride + ky - pad, ox * stride + kx - pad
                    if 0 <= iy < h and 0 <= ix < w:
                        ref[:, iy, ix] = ref[:, iy, ix] + d[:, oy, ox] * w_r
    np.testing.assert_array_equal(dx, ref)


@pytest.mark.parametrize("c,h,w,k,pad", [(5, 4, 4, 3, 1), (3, 8, 8, 5, 2), (2, 7, 5, 3, 1), (3, 4, 4, 7, 3),
                                         (2, 6, 6, 3, 0), (2, 17, 17, 3, 1)])
def test_depthwise_grad_input_inplace_equals_the_plain_kernel(c, h, w, k, pad):
    """tt_depthwise_grad_input_inplace_f32 (all channels in one call) writes the same floats as
    tt_conv2d_grad_input_f32, both over d (dx == d) and into another buffer, on the zero-bordered path
    and past it (17 x 17 with a 3 x 3: a channel at a time through scratch); scratch stays in bounds."""
    rng = rng_of(c * 100 + h * 10 + k)
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    if (oh, ow) != (h, w):  # an unpadded 3 x 3 makes dx larger than d: not an in-place case, refused
        d = rng.standard_normal((c, oh, ow)).astype(np.float32)
        scratch = np.zeros(h * w, np.float32)
        dx = np.zeros((c, h, w), np.float32)
        assert call("tt_depthwise_grad_input_inplace_f32", ptr(d), Dims(c, oh, ow), ptr(np.zeros((c, k, k), np.int8)),
                    k, k, ptr(np.ones(c, np.float32)), C.byref(ConvParams(1, pad, pad, pad, pad, c)), ptr(dx),
                    Dims(c, h, w), ptr(scratch)) == TT_ERR_ARG
        return
    wq = rng.integers(-127, 128, (c, 1, k, k)).astype(np.int8)
    w_scale = rng.uniform(1e-3, 0.1, c).astype(np.float32)
    d = rng.standard_normal((c, h, w)).astype(np.float32)
    conv = C.byref(ConvParams(1, pad, pad, pad, pad, c))
    ref = np.zeros((c, h, w), np.float32)
    assert call("tt_conv2d_grad_input_f32", ptr(d), Dims(c, h, w), ptr(wq), k, k, ptr(w_scale), conv, ptr(ref),
                Dims(c, h, w)) == TT_OK
    scratch, scratch_full = out_buffer((h, w))
    dx, full = out_buffer((c, h, w))
    assert call("tt_depthwise_grad_input_inplace_f32", ptr(d), Dims(c, h, w), ptr(wq), k, k, ptr(w_scale), conv,
                ptr(dx), Dims(c, h, w), ptr(scratch)) == TT_OK
    check_tail(full, dx.size)
    check_tail(scratch_full, scratch.size)
    np.testing.assert_array_equal(dx, ref)
    over, over_full = out_buffer((c, h, w))
    over[:] = d
    assert call("tt_depthwise_grad_input_inplace_f32", ptr(over), Dims(c, h, w), ptr(wq), k, k, ptr(w_scale), conv,
                ptr(over), Dims(c, h, w), ptr(scratch)) == TT_OK
    check_tail(over_full, over.size)
    np.testing.assert_array_equal(over, ref)


def test_conv2d_grad_weight_depthwise_uses_leading_outputs():
    """Depthwise, multiplier 1: row c of dw is d[c] against x[c] (d[:k]), independent of d[k:]."""
    rng = rng_of(0)
    c, k, h, w = 5, 2, 6, 6
    case = dict(stride=1, pad=(1, 1, 1, 1), groups=c)
    x = rng.integers(-128, 128, (k, h, w)).astype(np.int8)
    d = rng.standard_normal((c, h, w)).astype(np.float32)
    dw1, dw2 = np.zeros((k, 1, 3, 3), np.float32), np.zeros((k, 1, 3, 3), np.float32)
    args = (Dims(k, h, w), 3, np.float32(0.05))
    for out, dd in ((dw1, d), (dw2, np.concatenate([d[:k], 100 * d[k:]]))):
        assert call("tt_conv2d_grad_weight_f32", ptr(x), *args, ptr(dd), Dims(c, h, w), 3, 3,
                    C.byref(_params(case)), 1, ptr(out)) == TT_OK
    np.testing.assert_array_equal(dw1, dw2)


def test_conv_grads_bad_arguments():
    x = np.zeros((4, 5, 5), np.int8)
    d = np.zeros((4, 5, 5), np.float32)
    w = np.zeros((4, 2, 3, 3), np.int8)
    s = np.ones(4, np.float32)
    out = np.zeros(4 * 4 * 9 * 4, np.float32)
    grouped = ConvParams(1, 1, 1, 1, 1, 2)
    # grouped, non-depthwise weight gradient is not supported here (x[:k] does not hold the other groups):
    # tt_conv2d_geom_grad_weight_f32 has it (x: each group's leading k channels)
    assert call("tt_conv2d_grad_weight_f32", ptr(x), Dims(2, 5, 5), 0, 1.0, ptr(d), Dims(4, 5, 5), 3, 3,
                C.byref(grouped), 0, ptr(out)) == TT_ERR_ARG
    # output dims inconsistent with the window
    assert call("tt_conv2d_grad_input_f32", ptr(d), Dims(4, 4, 5), ptr(w), 3, 3, ptr(s), C.byref(grouped),
                ptr(out), Dims(4, 5, 5)) == TT_ERR_ARG
    # channels not divisible by groups
    assert call("tt_conv2d_grad_input_f32", ptr(d), Dims(4, 5, 5), ptr(w), 3, 3, ptr(s),
                C.byref(ConvParams(1, 1, 1, 1, 1, 3)), ptr(out), Dims(6, 5, 5)) == TT_ERR_ARG
    assert call("tt_conv2d_grad_input_f32", ptr(d), Dims(4, 5, 5), ptr(w), 3, 3, ptr(s),
                C.byref(grouped), ptr(out), Dims(4, 5, 5)) == TT_OK


# ------------------------------------------------------------------------------ maxpool

@SETTINGS
@given(c=st.integers(1, 5), kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), seed=st.integers(0, 2**32 - 1),
       narrow=st.booleans(), data=st.data())
def test_maxpool_grad_matches_oracle(c, kernel, stride, seed, narrow, data):
    """Non-square kernels and strides; pads up to the kernel, so some windows lie wholly in the padding."""
    (kh, kw), (sh, sw) = kernel, stride
    pad = tuple(data.draw(st.integers(0, k)) for k in (kh, kw, kh, kw))   # may exceed kernel // 2
    top, left, bottom, right = pad
    h = data.draw(st.integers(max(1, kh - top - bottom), 10))
    w = data.draw(st.integers(max(1, kw - left - right), 10))
    oh, ow = (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1
    rng = rng_of(seed)
    x = rng.integers(-2, 3, (c, h, w)) if narrow else rng.integers(-128, 128, (c, h, w))   # narrow: many ties
    x = x.astype(np.int8)
    g = rng.standard_normal((c, oh, ow)).astype(np.float32)
    dx, full = out_buffer((c, h, w))
    pool = C.byref(PoolParams(kh, kw, sh, sw, *pad))
    assert call("tt_maxpool_grad_f32", ptr(g), Dims(c, oh, ow), ptr(x), Dims(c, h, w), pool, ptr(dx)) == TT_OK
    check_tail(full, dx.size)
    ref = TorchTrainer._maxpool_backward(None, torch.from_numpy(g), torch.from_numpy(x.astype(np.int64)),
                                         kernel, stride, pad).numpy()
    ref_abs = TorchTrainer._maxpool_backward(None, torch.from_numpy(np.abs(g)), torch.from_numpy(x.astype(np.int64)),
                                             kernel, stride, pad).numpy()
    assert_close(dx, ref, ref_abs, rel=1e-6)
    # the same routing exactly, with gradients that sum without rounding
    g_int = rng.integers(-8, 9, g.shape).astype(np.float32)
    assert call("tt_maxpool_grad_f32", ptr(g_int), Dims(c, oh, ow), ptr(x), Dims(c, h, w), pool, ptr(dx)) == TT_OK
    ref = TorchTrainer._maxpool_backward(None, torch.from_numpy(g_int), torch.from_numpy(x.astype(np.int64)),
                                         kernel, stride, pad).numpy()
    np.testing.assert_array_equal(dx, ref)


def test_maxpool_grad_first_maximum_row_major():
    x = np.array([[[1, 5, 5], [5, 2, 5]]], np.int8)        # (1, 2, 3), one 2x3 window
    g = np.array([[[3.0]]], np.float32)
    dx = np.full((1, 2, 3), np.nan, np.float32)
    assert call("tt_maxpool_grad_f32", ptr(g), Dims(1, 1, 1), ptr(x), Dims(1, 2, 3),
                C.byref(PoolParams(2, 3, 1, 1, 0, 0, 0, 0)), ptr(dx)) == TT_OK
    np.testing.assert_array_equal(dx, [[[0, 3, 0], [0, 0, 0]]])


@SETTINGS
@given(c=st.integers(1, 5), kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), include_pad=st.booleans(),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_avgpool_window_grad_matches_oracle(c, kernel, stride, include_pad, seed, data):
    """g / n spread over each window (n with or without the padding), against the PyTorch oracle's
    transposed conv; exactly when every g / n is exact (g a multiple of n)."""
    (kh, kw), (sh, sw) = kernel, stride
    pad = tuple(data.draw(st.integers(0, k - 1)) for k in (kh, kw, kh, kw))
    top, left, bottom, right = pad
    h = data.draw(st.integers(max(1, kh - top - bottom), 10))
    w = data.draw(st.integers(max(1, kw - left - right), 10))
    oh, ow = (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1
    attrs = {"kernel": kernel, "stride": stride, "padding": pad, "count_include_pad": include_pad}
    layer = Layer("pool", "avgpool", ("input",), (c, oh, ow), attrs)
    rng = rng_of(seed)
    g = rng.standard_normal((c, oh, ow)).astype(np.float32)
    dx, full = out_buffer((c, h, w))
    pool = C.byref(PoolParams(kh, kw, sh, sw, *pad))
    assert call("tt_avgpool_window_grad_f32", ptr(g), Dims(c, oh, ow), pool, int(include_pad), ptr(dx),
                Dims(c, h, w)) == TT_OK
    check_tail(full, dx.size)
    ref = TorchTrainer._avgpool_backward(layer, torch.from_numpy(g), (h, w)).numpy()
    ref_abs = TorchTrainer._avgpool_backward(layer, torch.from_numpy(np.abs(g)), (h, w)).numpy()
    assert_close(dx, ref, ref_abs, rel=1e-6)
    g_exact = (rng.integers(-8, 9, g.shape) * pooling.divisors(attrs, (h, w))).astype(np.float32)
    assert call("tt_avgpool_window_grad_f32", ptr(g_exact), Dims(c, oh, ow), pool, int(include_pad), ptr(dx),
                Dims(c, h, w)) == TT_OK
    np.testing.assert_array_equal(dx, TorchTrainer._avgpool_backward(layer, torch.from_numpy(g_exact), (h, w)).numpy())


def test_avgpool_window_grad_rejects_a_window_that_does_not_fit():
    g, dx = np.zeros((1, 2, 2), np.float32), np.zeros((1, 3, 3), np.float32)
    ok = PoolParams(2, 2, 1, 1, 0, 0, 0, 0)
    assert call("tt_avgpool_window_grad_f32", ptr(g), Dims(1, 2, 2), C.byref(ok), 1, ptr(dx), Dims(1, 3, 3)) == TT_OK
    assert call("tt_avgpool_window_grad_f32", ptr(g), Dims(1, 2, 2), C.byref(ok), 1, ptr(dx), Dims(1, 4, 3)) == -1
    bad = PoolParams(2, 2, 0, 1, 0, 0, 0, 0)                # stride 0
    assert call("tt_avgpool_window_grad_f32", ptr(g), Dims(1, 2, 2), C.byref(bad), 1, ptr(dx), Dims(1, 3, 3)) == -1


# ------------------------------------------------------------------------------- linear

@SETTINGS
@given(out_f=st.integers(1, 12), in_f=st.integers(1, 40), x_zero=st.integers(-128, 127),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_linear_grads(out_f, in_f, x_zero, seed, data):
    k = data.draw(st.integers(1, in_f))
    rng = rng_of(seed)
    w = rng.integers(-127, 128, (out_f, in_f)).astype(np.int8)
    w_scale = rng.uniform(1e-3, 0.1, out_f).astype(np.float32)
    d = rng.standard_normal(out_f).astype(np.float32)
    x = rng.integers(-128, 128, in_f).astype(np.int8)
    x_scale = np.float32(rng.uniform(1e-3, 0.1))

    dx, full = out_buffer(in_f)
    assert call("tt_linear_grad_input_f32", ptr(d), out_f, ptr(w), ptr(w_scale), in_f, ptr(dx)) == TT_OK
    check_tail(full, in_f)
    w_r = (w_scale[:, None] * w.astype(np.float32)).astype(np.float64)
    assert_close(dx, w_r.T @ d.astype(np.float64), np.abs(w_r.T) @ np.abs(d.astype(np.float64)))

    dw, full = out_buffer((out_f, k))
    assert call("tt_linear_grad_weight_f32", ptr(x), k, x_zero, x_scale, ptr(d), out_f, ptr(dw)) == TT_OK
    check_tail(full, out_f * k)
    x_r = torch.tensor(x_scale) * (torch.from_numpy(x.astype(np.int64)) - x_zero).to(torch.float32)
    np.testing.assert_array_equal(dw, torch.outer(torch.from_numpy(d), x_r[:k]).numpy())   # the oracle, exactly

    # fp32 classifier
    W = rng.standard_normal((out_f, in_f)).astype(np.float32)
    dx, full = out_buffer(in_f)
    assert call("tt_linear_f32_grad_input", ptr(d), out_f, ptr(W), in_f, ptr(dx)) == TT_OK
    check_tail(full, in_f)
    W64, d64 = W.astype(np.float64), d.astype(np.float64)
    assert_close(dx, W64.T @ d64, np.abs(W64.T) @ np.abs(d64))
    dW, full = out_buffer((out_f, k))
    assert call("tt_linear_f32_grad_weight", ptr(x), k, x_scale, x_zero, ptr(d), out_f, ptr(dW)) == TT_OK
    check_tail(full, out_f * k)
    np.testing.assert_array_equal(dW, torch.outer(torch.from_numpy(d), x_r[:k]).numpy())


# -------------------------------------------------------------------------------- updates

@SETTINGS
@given(step=st.one_of(st.integers(0, 100), st.integers(0, 2**32 - 1)),
       conv_index=st.one_of(st.integers(0, 200), st.integers(-2**31, 2**31 - 1)), n=st.integers(1, 600))
def test_stochastic_uniform_bit_exact(step, conv_index, n):
    ref = stochastic_uniform(step, conv_index, n).numpy()
    fn = lib().tt_stochastic_uniform
    got = np.array([fn(i, step, conv_index) for i in range(n)], np.float32)
    np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))
    assert (got >= 0).all() and (got < 1).all()


def test_stochastic_uniform_large_indices():
    rng = rng_of(1)
    idx = rng.integers(0, 2**32, 500)
    step, conv = 123456789, 17
    counter = torch.from_numpy(((idx + 0x9E3779B9 * step + 0x85EBCA6B * conv) & 0xFFFFFFFF).astype(np.int64))
    ref = ((hash_u32(counter) >> 8).to(torch.float32) * 2.0 ** -24).numpy()
    got = np.array([lib().tt_stochastic_uniform(int(i), step, conv) for i in idx], np.float32)
    np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))


def sgd_s8_ref(w, g, k, depthwise, lr, step, conv_index):
    """docs/training-semantics.md on numpy float32: slice w[:k] (depthwise) or w[:, :k]."""
    w = w.copy()
    sl = (slice(0, k),) if depthwise else (slice(None), slice(0, k))
    old = w[sl]
    u = stochastic_uniform(step, conv_index, old.size).numpy().reshape(old.shape)
    t = np.float32(lr) * g
    v = old.astype(np.float32) - t
    w[sl] = np.clip(np.floor(v + u), -127, 127).astype(np.int8)
    return w


@SETTINGS
@given(layout=st.sampled_from(["dense", "depthwise", "linear"]), rows=st.integers(1, 9), cols=st.integers(1, 9),
       kernel=st.sampled_from([1, 3, 5]), lr=st.sampled_from([1e-3, 0.05, 1.0, 40.0]),
       step=st.integers(0, 2**32 - 1), conv_index=st.integers(0, 60), seed=st.integers(0, 2**32 - 1),
       data=st.data())
def test_sgd_s8_bit_exact(layout, rows, cols, kernel, lr, step, conv_index, seed, data):
    rng = rng_of(seed)
    if layout == "dense":
        shape, inner = (rows, cols, kernel, kernel), kernel * kernel
    elif layout == "depthwise":
        shape, inner, cols = (rows, 1, kernel, kernel), kernel * kernel, 1
    else:
        shape, inner = (rows, cols), 1
    depthwise = layout == "depthwise"
    k = data.draw(st.integers(1, rows if depthwise else cols))
    w = rng.integers(-127, 128, shape).astype(np.int8)
    w.reshape(-1)[rng.random(w.size) < 0.2] = 127              # at the clamp bounds
    w.reshape(-1)[rng.random(w.size) < 0.2] = -127
    gshape = (k,) + shape[1:] if depthwise else shape[:1] + (k,) + shape[2:]
    g = (rng.standard_normal(gshape) * rng.choice([0.01, 1.0, 100.0])).astype(np.float32)
    got = w.copy()
    rc = call("tt_sgd_s8", ptr(got), ptr(np.ascontiguousarray(g)), rows, cols, inner, k, int(depthwise),
              np.float32(lr), step, conv_index)
    assert rc == TT_OK
    ref = sgd_s8_ref(w, g, k, depthwise, lr, step, conv_index)
    np.testing.assert_array_equal(got, ref)
    untouched = (slice(k, None),) if depthwise else (slice(None), slice(k, None))
    np.testing.assert_array_equal(got[untouched], w[untouched])
    assert got.min() >= -127


def test_sgd_s8_matches_the_oracle_formula_and_rejects_bad_k():
    rng = rng_of(5)
    w = rng.integers(-127, 128, (6, 4, 3, 3)).astype(np.int8)
    g = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    lr, step, conv = np.float32(0.3), 9, 4
    got = w.copy()
    assert call("tt_sgd_s8", ptr(got), ptr(g), 6, 4, 9, 2, 0, lr, step, conv) == TT_OK
    old = torch.from_numpy(w[:, :2].astype(np.int64))            # reference_train._weight_grads
    u = stochastic_uniform(step, conv, old.numel()).reshape(old.shape)
    v = old.to(torch.float32) - torch.tensor(lr) * torch.from_numpy(g)
    np.testing.assert_array_equal(got[:, :2], torch.clamp(torch.floor(v + u), -127, 127).numpy().astype(np.int8))
    assert call("tt_sgd_s8", ptr(got), ptr(g), 6, 4, 9, 5, 0, lr, step, conv) == TT_ERR_ARG
    assert call("tt_sgd_s8", ptr(got), ptr(g), 6, 1, 9, 7, 1, lr, step, conv) == TT_ERR_ARG


def sgd_s32_ref(b, g, lr, limit):
    delta = np.clip(np.round(np.float32(lr) * g), -2.0**31, 2.0**31).astype(np.int64)
    return np.clip(b.astype(np.int64) - delta, -limit, limit).astype(np.int32)


@SETTINGS
@given(n=st.integers(1, 40), fan_in=st.integers(1, 5000), lr=st.sampled_from([1e-3, 0.5, 1.0, 3.0]),
       seed=st.integers(0, 2**32 - 1))
def test_sgd_s32(n, fan_in, lr, seed):
    rng = rng_of(seed)
    limit = bias_limit(fan_in)
    b = rng.integers(-limit, limit + 1, n).astype(np.int32)
    b[rng.random(n) < 0.2] = limit
    b[rng.random(n) < 0.2] = -limit
    g = (rng.standard_normal(n) * rng.choice([1.0, 1e3, 1e9, 1e12])).astype(np.float32)
    got = b.copy()
    assert call("tt_sgd_s32", ptr(got), ptr(g), n, np.float32(lr), limit) == TT_OK
    np.testing.assert_array_equal(got, sgd_s32_ref(b, g, lr, limit))


def test_sgd_s32_ties_round_half_to_even_and_clamp():
    g = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 1e12, -1e12, 1e10], np.float32)
    b = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 2**31 - 1], np.int32)
    got = b.copy()
    limit = bias_limit(10)
    assert call("tt_sgd_s32", ptr(got), ptr(g), len(g), np.float32(1.0), limit) == TT_OK
    np.testing.assert_array_equal(got, [0, -2, -2, 0, 2, 2, -4, -limit, limit, -1])
    np.testing.assert_array_equal(got, sgd_s32_ref(b, g, 1.0, limit))


def test_sgd_s32_steps_at_the_int32_edge():
    """Steps of exactly +-2^31 (the clip's bounds, outside int32), just inside them, and NaN: the int64 arithmetic."""
    g = np.array([2.0**31, -2.0**31, 2147483520.0, -2147483520.0, np.nan, 3e9], np.float32)
    b = np.array([5, -5, 7, -7, 9, 11], np.int32)
    got, limit = b.copy(), 2**31 - 1
    assert call("tt_sgd_s32", ptr(got), ptr(g), len(g), np.float32(1.0), limit) == TT_OK
    np.testing.assert_array_equal(got, [5 - 2**31, -5 + 2**31, 7 - 2147483520, -7 + 2147483520, 9, 11 - 2**31])
    finite = np.isfinite(g)
    np.testing.assert_array_equal(got[finite], sgd_s32_ref(b[finite], g[finite], 1.0, limit))

@SETTINGS
@given(n=st.integers(0, 50), lr=st.floats(0.0001220703125, 16.0, width=32), seed=st.integers(0, 2**32 - 1))
def test_sgd_f32_exact(n, lr, seed):
    rng = rng_of(seed)
    p, g = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
    got = p.copy()
    assert call("tt_sgd_f32", ptr(got), ptr(g), n, np.float32(lr)) == TT_OK
    np.testing.assert_array_equal(got, p - np.float32(lr) * g)


@SETTINGS
@given(n=st.integers(0, 50), mu=st.floats(0.0, 0.875, width=32), seed=st.integers(0, 2**32 - 1))
def test_momentum_f32_exact(n, mu, seed):
    """v = mu v + g with the product rounded before the sum, as numpy (and the Relax oracle) compute it."""
    rng = rng_of(seed)
    v, g = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
    got = v.copy()
    assert call("tt_momentum_f32", ptr(got), ptr(g), n, np.float32(mu)) == TT_OK
    np.testing.assert_array_equal(got, np.float32(mu) * v + g)


def round_copy_ref(copy, lo, hi):
    """A float copy's tensor (docs/training-semantics.md): round half to even, then clamp (in float64,
    where every float32 and both bounds are exact)."""
    return np.clip(np.round(copy.astype(np.float64)), lo, hi)


@SETTINGS
@given(rows=st.integers(0, 6), run=st.integers(0, 12), gap=st.integers(0, 5),
       scale=st.sampled_from([0.7, 40.0, 300.0]), seed=st.integers(0, 2**32 - 1))
def test_round_copy_s8_sets_the_slice_to_its_copy(rows, run, gap, scale, seed):
    """Runs of `run` values `run + gap` apart (a weight's leading input channels): each the copy rounded half
    to even and clamped to [-128, 127]; the weights between the runs and past the end untouched."""
    rng = rng_of(seed)
    stride = run + gap
    w = rng.integers(-128, 128, rows * stride + SENTINEL).astype(np.int8)
    copy = (rng.standard_normal(rows * run) * scale).astype(np.float32)
    ties = rng.random(copy.size) < 0.3
    copy[ties] = np.floor(copy[ties]) + np.float32(0.5)
    got = w.copy()
    assert call("tt_round_copy_s8", ptr(got), ptr(copy), rows, run, stride) == TT_OK
    expected = w.copy()
    expected[:rows * stride].reshape(rows, stride)[:, :run] = round_copy_ref(copy.reshape(rows, run), -128, 127)
    np.testing.assert_array_equal(got, expected)


def test_round_copy_ties_clamps_and_nan():
    copy = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, -128.5, 1e9, -1e9, np.nan], np.float32)
    w = np.full(len(copy), 7, np.int8)
    assert call("tt_round_copy_s8", ptr(w), ptr(copy), 1, len(copy), len(copy)) == TT_OK
    np.testing.assert_array_equal(w, [0, 2, 2, 0, -2, -2, 126, 127, -128, 127, -128, 7])  # NaN: unchanged
    limit = bias_limit(10)
    copy = np.array([0.5, 2.5, -2.5, 3.5, 1e12, -1e12, 2.0**31, 16777217.0, np.nan], np.float32)
    b = np.full(len(copy), 5, np.int32)
    assert call("tt_round_copy_s32", ptr(b), ptr(copy), len(copy), limit) == TT_OK
    np.testing.assert_array_equal(b, [0, 2, -2, 4, limit, -limit, limit, 16777216, 5])
    assert call("tt_round_copy_s8", ptr(w), ptr(copy), 1, 3, 2) == TT_ERR_ARG  # runs overlapping
    assert call("tt_round_copy_s32", ptr(b), None, 1, limit) == TT_ERR_ARG


@SETTINGS
@given(n=st.integers(0, 40), fan_in=st.integers(1, 5000), scale=st.sampled_from([3.0, 1e5, 1e10]),
       seed=st.integers(0, 2**32 - 1))
def test_round_copy_s32(n, fan_in, scale, seed):
    rng = rng_of(seed)
    limit = bias_limit(fan_in)
    copy = (rng.standard_normal(n) * scale).astype(np.float32)
    ties = rng.random(n) < 0.3
    copy[ties] = np.floor(copy[ties]) + np.float32(0.5)  # exact halves only where float32 has them
    got = np.zeros(n, np.int32)
    assert call("tt_round_copy_s32", ptr(got), ptr(copy), n, limit) == TT_OK
    np.testing.assert_array_equal(got, round_copy_ref(copy, -limit, limit).astype(np.int64))


# ------------------------------------------------------------------------------ Cortex-M

@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_backward_kernels_compile_for_cortex_m4_single_precision(tmp_path):
    """Each kernel compiles with the library flags for a Cortex-M4F, and uses no double arithmetic."""
    flags = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", *CFLAGS, "-Wdouble-promotion"]
    for name in BACKWARD_KERNELS:
        obj = tmp_path / f"{name}.o"
        result = subprocess.run(["arm-none-eabi-gcc", *flags, f"-I{KERNEL_DIR}", "-c", str(KERNEL_DIR / f"{name}.c"),
                                 "-o", str(obj)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        symbols = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], capture_output=True, text=True).stdout
        assert "__aeabi_d" not in symbols and "__aeabi_f2d" not in symbols, f"{name} uses double: {symbols}"
