"""The x86-64 paths of the int8 kernels (AVX2 under `#if defined(__AVX2__)`, taken by the fast host
build, codegen/host_build.host_flags) equal the portable C bit for bit: the same kernel files built
without AVX2 (-mno-avx2), with -mavx2 and with the host build's own flags, run on random shapes and
values (hypothesis), as the Cortex-M DSP paths are checked against the portable ones.

The cases aim at the AVX2 blocking: channel counts odd and even across the 2-channel pairs, output
channels not a multiple of the 4-channel block, pixel counts around the 16-pixel block and its tail;
depthwise and general (dense, grouped) conv rows around the 16-output block, strides 1 to 3 (3 stays
portable), asymmetric padding; the 1x1 weight gradient (floats: the same bits) on channel counts
around its 16-channel block and maps up to and past its 64-position limit; the 1x1 input gradient
(no intrinsics: GCC vectorises its portable loop in the -O3 -mavx2 / native builds) on maps around
its 8-pixel block and output channels past its 64-channel chunk.
"""
import platform
from ctypes import byref

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tvm_tinytrain.codegen import host_build, kernel_abi

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64")
                                or "__AVX2__" not in host_build.native_macros(),
                                reason="needs an x86-64 host with AVX2")

SOURCES = [host_build.KERNEL_DIR / f"{n}.c" for n in ("tt_conv2d_1x1_s8", "tt_conv2d_1x1_split_s8",
                                                               "tt_depthwise_conv2d_s8", "tt_conv2d_general_s8",
                                                               "tt_conv2d_grad_weight_f32", "tt_conv2d_grad_input_f32")]
BUILDS = {"portable": ("-mno-avx2",), "avx2": ("-O3", "-mavx2"), "host": host_build.host_flags()}
STRUCTS = kernel_abi.structs()
Dims, ConvParams, QuantParams = STRUCTS["tt_dims"], STRUCTS["tt_conv_params"], STRUCTS["tt_quant_params"]
SETTINGS = settings(max_examples=60, deadline=None)


@pytest.fixture(scope="module")
def libs():
    return {name: kernel_abi.typed(host_build.shared_library(f"tt_x86_{name}", SOURCES, flags))
            for name, flags in BUILDS.items()}


def _values(draw, rng, shape):
    """Random int8 values, or (one case in four) all at one end of the range: the largest sums."""
    if draw(st.integers(0, 3)) == 0:
        return np.full(shape, draw(st.sampled_from([-128, 127])), np.int8)
    return rng.integers(-128, 128, shape, dtype=np.int8)


def _requant(draw, rng, n, fan_in):
    """Biases, multipliers in [2^30, 2^31) and shifts that put a typical sum (sqrt(fan_in) 74^2) in
    the int8 range, +-2 (all above 32); or (one case in three) shifts 30..33 around the requantize's
    branches at 32 with multipliers in [2^16, 2^20) for the same purpose. Mostly the full clamp
    range: otherwise nearly every output saturates and would hide a wrong sum."""
    if draw(st.integers(0, 2)):
        base = 30 + int(round(np.log2(np.sqrt(fan_in) * 74 * 74 / 40)))
        mult, shift = rng.integers(2**30, 2**31, n), base + rng.integers(-2, 3, n)
    else:
        mult, shift = rng.integers(2**16, 2**20, n), rng.integers(30, 34, n)
    lo = -128 if draw(st.integers(0, 3)) else draw(st.integers(-128, 127))
    return dict(bias=rng.integers(-2**14, 2**14, n).astype(np.int32), mult=mult.astype(np.int32),
                shift=shift.astype(np.int32),
                q=dict(x_zero=draw(st.integers(-128, 127)), y_zero=draw(st.integers(-128, 127)), lo=lo,
                       hi=127 if lo == -128 else draw(st.integers(lo, 127))))


@st.composite
def pointwise(draw):
    """x (c, h, w) with c 1..80, h * w around multiples of 16; o 1..13; split at k."""
    c, o = draw(st.integers(1, 80)), draw(st.integers(1, 13))
    h, w = draw(st.integers(1, 9)), draw(st.sampled_from([1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 33]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return dict(x=_values(draw, rng, (c, h, w)), w=_values(draw, rng, (o, c)), k=draw(st.integers(1, max(1, c - 1))),
                **_requant(draw, rng, o, c))


def _run(lib, case, split):
    x, w = case["x"], case["w"]
    (c, h, wd), o = x.shape, w.shape[0]
    q = case["q"]
    y = np.full((o, h, wd), 99, np.int8)
    conv, quant = ConvParams(1, 0, 0, 0, 0, 1), QuantParams(q["x_zero"], q["y_zero"], q["lo"], q["hi"])
    common = (case["bias"].ctypes.data, case["mult"].ctypes.data, case["shift"].ctypes.data, byref(conv),
              byref(quant), y.ctypes.data, Dims(o, h, wd))
    if split:
        k = case["k"]
        lead, rest = np.ascontiguousarray(w[:, :k]), np.ascontiguousarray(w[:, k:])
        rc = lib.tt_conv2d_1x1_split_s8(x.ctypes.data, Dims(c, h, wd), lead.ctypes.data, rest.ctypes.data, k, *common)
    else:
        rc = lib.tt_conv2d_1x1_s8(x.ctypes.data, Dims(c, h, wd), w.ctypes.data, *common)
    assert rc == 0
    return y


@SETTINGS
@given(case=pointwise())
def test_conv2d_1x1_avx2_equals_portable(libs, case):
    outputs = {name: _run(lib, case, split=False) for name, lib in libs.items()}
    for name in ("avx2", "host"):
        np.testing.assert_array_equal(outputs[name], outputs["portable"], err_msg=name)


@SETTINGS
@given(case=pointwise().filter(lambda case: case["x"].shape[0] > 1))
def test_conv2d_1x1_split_avx2_equals_portable(libs, case):
    outputs = {name: _run(lib, case, split=True) for name, lib in libs.items()}
    for name in ("avx2", "host"):
        np.testing.assert_array_equal(outputs[name], outputs["portable"], err_msg=name)
    np.testing.assert_array_equal(outputs["portable"], _run(libs["portable"], case, split=False))


@st.composite
def window_conv(draw, groups=None):
    """x (c, h, w) with w up to 40, kernels 1..7 (non-square), strides 1..3, padding below the kernel;
    depthwise (groups=None: groups = c = o) or groups 1..3 with 1..3 input and 1..5 output channels each."""
    g = draw(st.integers(1, 3)) if groups else None
    c, o = (g * draw(st.integers(1, 3)), g * draw(st.integers(1, 5))) if groups else (draw(st.integers(1, 6)),) * 2
    kh, kw, s = draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.sampled_from([1, 1, 2, 2, 3]))
    top, bottom, left, right = (draw(st.integers(0, k - 1)) for k in (kh, kh, kw, kw))
    h, w = draw(st.integers(max(1, kh - top - bottom), 12)), draw(st.integers(max(1, kw - left - right), 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return dict(x=_values(draw, rng, (c, h, w)), w=_values(draw, rng, (o, c // (g or c), kh, kw)), stride=s,
                groups=g or c, padding=(top, left, bottom, right), **_requant(draw, rng, o, c // (g or c) * kh * kw))


def _run_window(lib, case, fn="tt_depthwise_conv2d_s8"):
    (c, h, w), (o, _, kh, kw), s = case["x"].shape, case["w"].shape, case["stride"]
    top, left, bottom, right = case["padding"]
    oh, ow = (h + top + bottom - kh) // s + 1, (w + left + right - kw) // s + 1
    q = case["q"]
    y = np.full((o, oh, ow), 99, np.int8)
    conv = ConvParams(s, top, left, bottom, right, case["groups"])
    quant = QuantParams(q["x_zero"], q["y_zero"], q["lo"], q["hi"])
    assert getattr(lib, fn)(case["x"].ctypes.data, Dims(c, h, w), case["w"].ctypes.data, kh, kw,
                            case["bias"].ctypes.data, case["mult"].ctypes.data, case["shift"].ctypes.data,
                            byref(conv), byref(quant), y.ctypes.data, Dims(o, oh, ow)) == 0
    return y


@SETTINGS
@given(case=window_conv())
def test_depthwise_avx2_equals_portable(libs, case):
    outputs = {name: _run_window(lib, case) for name, lib in libs.items()}
    for name in ("avx2", "host"):
        np.testing.assert_array_equal(outputs[name], outputs["portable"], err_msg=name)


@SETTINGS
@given(case=window_conv(groups=True))
def test_conv2d_general_avx2_equals_portable(libs, case):
    outputs = {name: _run_window(lib, case, "tt_conv2d_general_s8") for name, lib in libs.items()}
    for name in ("avx2", "host"):
        np.testing.assert_array_equal(outputs[name], outputs["portable"], err_msg=name)


def test_large_maps_take_the_portable_loop(libs):
    """A padded channel (depthwise) or strip (general) larger than the AVX2 paths' stack buffer: still
    the same values."""
    rng = np.random.default_rng(7)
    case = dict(x=rng.integers(-128, 128, (2, 130, 130), dtype=np.int8),
                w=rng.integers(-128, 128, (2, 1, 3, 3), dtype=np.int8), groups=2, stride=1, padding=(1, 1, 1, 1),
                bias=np.array([5, -9], np.int32), mult=np.full(2, 2**30, np.int32),
                shift=np.full(2, 38, np.int32), q=dict(x_zero=-7, y_zero=4, lo=-128, hi=127))
    np.testing.assert_array_equal(_run_window(libs["avx2"], case), _run_window(libs["portable"], case))
    wide = dict(case, x=rng.integers(-128, 128, (48, 4, 130), dtype=np.int8),
                w=rng.integers(-128, 128, (2, 48, 3, 3), dtype=np.int8), groups=1)
    np.testing.assert_array_equal(_run_window(libs["avx2"], wide, "tt_conv2d_general_s8"),
                                  _run_window(libs["portable"], wide, "tt_conv2d_general_s8"))


@SETTINGS
@given(k=st.integers(1, 40), o=st.integers(1, 9), h=st.integers(1, 9), w=st.sampled_from([1, 3, 7, 8, 9]),
       x_zero=st.integers(-128, 127), seed=st.integers(0, 2**32 - 1))
def test_pointwise_grad_weight_avx2_equals_portable(libs, k, o, h, w, x_zero, seed):
    """dw = x_scale * sum over positions (in order) of d[o] * (x[c] - x_zero), float32 bit for bit;
    d spans magnitudes (and signs), so a reordered sum would round differently."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (k, h, w), dtype=np.int8)
    d = (rng.standard_normal((o, h, w)) * 10.0 ** rng.integers(-6, 4, (o, h, w))).astype(np.float32)
    conv = ConvParams(1, 0, 0, 0, 0, 1)
    outputs = {}
    for name, lib in libs.items():
        dw = np.full((o, k), np.nan, np.float32)
        assert lib.tt_conv2d_grad_weight_f32(x.ctypes.data, Dims(k, h, w), x_zero, 0.0173, d.ctypes.data,
                                             Dims(o, h, w), 1, 1, byref(conv), 0, dw.ctypes.data) == 0
        outputs[name] = dw.view(np.uint32)
    for name in ("avx2", "host"):
        np.testing.assert_array_equal(outputs[name], outputs["portable"], err_msg=name)


@SETTINGS
@given(c=st.integers(1, 7), o=st.integers(1, 80), h=st.integers(1, 6), w=st.sampled_from([1, 3, 4, 8, 9, 16]),
       seed=st.integers(0, 2**32 - 1))
def test_pointwise_grad_input_vectorised_builds_equal_portable(libs, c, o, h, w, seed):
    """dx[c] = sum over o (in order) of d[o] * (w_scale[o] * w[o, c]), float32 bit for bit in the
    builds GCC vectorises."""
    rng = np.random.default_rng(seed)
    wt = rng.integers(-128, 128, (o, c), dtype=np.int8)
    scale = (rng.random(o) * 10.0 ** rng.integers(-4, 1, o)).astype(np.float32)
    d = (rng.standard_normal((o, h, w)) * 10.0 ** rng.integers(-6, 4, (o, h, w))).astype(np.float32)
    conv = ConvParams(1, 0, 0, 0, 0, 1)
    outputs = {}
    for name, lib in libs.items():
        dx = np.full((c, h, w), np.nan, np.float32)
        assert lib.tt_conv2d_grad_input_f32(d.ctypes.data, Dims(o, h, w), wt.ctypes.data, 1, 1, scale.ctypes.data,
                                            byref(conv), dx.ctypes.data, Dims(c, h, w)) == 0
        outputs[name] = dx.view(np.uint32)
    for name in ("avx2", "host"):
        np.testing.assert_array_equal(outputs[name], outputs["portable"], err_msg=name)


def test_requantize_ties_round_as_portable(libs):
    """Sums exactly halfway between two outputs (and +-1, +-2 off) at shifts 31 to 40, positive and
    negative: the AVX2 requantize rounds them as the portable one (half towards +infinity)."""
    shifts = np.array([31, 32, 33, 40] * 2, np.int32)
    signs = np.repeat([1, -1], 4)
    ties = signs * 3 * 2 ** (shifts.astype(np.int64) - 17)  # acc * 2^16 is (odd) * 2^(shift - 1)
    x = np.tile(np.array([0, 1, -1, 2, -2, 0, 0, 1, -1, 0, 0, 0, 2, -2, 0, 0, 1], np.int8), 3).reshape(1, 3, 17)
    case = dict(x=x, w=np.ones((8, 1), np.int8), bias=ties.astype(np.int32), mult=np.full(8, 2**16, np.int32),
                shift=shifts, q=dict(x_zero=0, y_zero=0, lo=-128, hi=127), k=1)
    portable = _run(libs["portable"], case, split=False)
    assert set(np.unique(portable[:, 0, 0])) == {-1, 2}  # the ties at x = 0: +-1.5 -> 2, -1
    np.testing.assert_array_equal(_run(libs["avx2"], case, split=False), portable)


def test_many_channels_take_the_portable_loop(libs):
    """More input channels than the AVX2 path's stack holds weight pairs for: still the same values."""
    rng = np.random.default_rng(5)
    c = 2 * 640 + 3
    case = dict(x=rng.integers(-128, 128, (c, 3, 7), dtype=np.int8), w=rng.integers(-128, 128, (5, c), dtype=np.int8),
                bias=np.zeros(5, np.int32), mult=np.full(5, 2**30, np.int32), shift=np.full(5, 40, np.int32),
                q=dict(x_zero=3, y_zero=-2, lo=-128, hi=127), k=700)
    for split in (False, True):
        np.testing.assert_array_equal(_run(libs["avx2"], case, split), _run(libs["portable"], case, split))


def test_native_builds_are_cached_per_cpu(monkeypatch):
    """A -march=native library's cache name follows the CPU features the compiler reports, so a
    build for one CPU is never loaded on another; other builds do not depend on them."""
    sources, native, plain = host_build.kernel_sources(), ("-O3", "-march=native"), ("-O3",)
    here = host_build._digest(sources, native, ())
    plain_here = host_build._digest(sources, plain, ())
    monkeypatch.setattr(host_build, "native_macros", lambda: "#define __AVX512F__ 1\n")
    assert host_build._digest(sources, native, ()) != here
    assert host_build._digest(sources, plain, ()) == plain_here
