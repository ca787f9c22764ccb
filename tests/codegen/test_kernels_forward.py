"""The forward int8 C kernels (codegen/kernels) through ctypes, against the numpy oracle
(tvm_tinytrain/reference.py, docs/int8-semantics.md): bit for bit on random shapes and values.

Two builds of the forward kernels are tested: the portable C, and the Cortex-M DSP paths of
tt_conv2d_1x1_s8 / tt_conv2d_1x1_split_s8 / tt_depthwise_conv2d_s8 / tt_conv2d_general_s8 run on the host with the ACLE intrinsics emulated in C
(tests/codegen/acle_emul/arm_acle.h, -D__ARM_FEATURE_DSP=1). The real instructions are checked
under QEMU by test_dsp_paths_under_qemu (skipped without qemu-system-arm / arm-none-eabi-gcc).

Only the forward sources are compiled here, so these tests do not depend on the rest of the
library (the training kernels are tested elsewhere).
"""
import re
import shutil
import subprocess
from ctypes import POINTER, byref, c_float, c_int8, c_int32
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tvm_tinytrain.codegen import host_build, kernel_abi
from tvm_tinytrain.graph import Graph, Layer, QParams
from tvm_tinytrain.quantization.requant import bias_limit
from tvm_tinytrain.reference import INT8_OPS, run_int8

SETTINGS = settings(max_examples=40, deadline=None)
I8 = st.integers(-128, 127)
HERE = Path(__file__).resolve().parent
FORWARD = ["tt_conv2d_s8", "tt_conv2d_1x1_s8", "tt_depthwise_conv2d_s8", "tt_conv2d_general_s8", "tt_linear_s8",
           "tt_add_s8", "tt_avgpool_s8", "tt_avgpool_window_s8", "tt_maxpool_s8", "tt_dequantize_s8", "tt_linear_f32"]
TT_OK, TT_ERR_ARG = 0, -1


# ------------------------------------------------------------------------------- ctypes

STRUCTS = kernel_abi.structs()  # the header's structs and signatures: never copied here
Dims, ConvParams, QuantParams = STRUCTS["tt_dims"], STRUCTS["tt_conv_params"], STRUCTS["tt_quant_params"]
PoolParams = STRUCTS["tt_pool_params"]


def _build(name, flags=(), include_dirs=()):
    """The forward kernels as a shared object, cached like host_build.kernel_library()."""
    sources = [host_build.KERNEL_DIR / f"{n}.c" for n in FORWARD]
    return kernel_abi.typed(host_build.shared_library(name, sources, flags, include_dirs))


@pytest.fixture(scope="module")
def lib():
    return _build("tt_forward")


@pytest.fixture(scope="module")
def dsp_lib():
    """TT_USE_DSP == 1 on the host, intrinsics from acle_emul/arm_acle.h."""
    return _build("tt_forward_dsp_emul", ("-D__ARM_FEATURE_DSP=1",), (HERE / "acle_emul",))


def ptr(a, ctype):
    assert a.flags.c_contiguous
    return a.ctypes.data_as(POINTER(ctype))


# -------------------------------------------------------------------------- conv cases

@st.composite
def conv_cases(draw, kind=None, strides=(1, 2, 3), kernels=(1, 3, 5, 7)):
    """Conv geometry: pointwise / depthwise / depthwise with a channel multiplier / grouped /
    dense, channels 1..40 (odd included), h, w 1..20, kernels 1, 3, 5, 7 (non-square too),
    strides 1..3, asymmetric padding."""
    kind = kind or draw(st.sampled_from(["pointwise", "depthwise", "multiplier", "grouped", "dense"]))
    if kind == "pointwise":
        groups, c, o, kh, kw = 1, draw(st.integers(1, 40)), draw(st.integers(1, 40)), 1, 1
    else:
        kh, kw = draw(st.sampled_from(kernels)), draw(st.sampled_from(kernels))
        if kind == "depthwise":
            c = o = groups = draw(st.integers(1, 40))
        elif kind == "multiplier":  # groups == in.c, out.c = 2 in.c: not the depthwise kernel
            c = groups = draw(st.integers(1, 20))
            o = 2 * c
        elif kind == "grouped":
            groups = draw(st.integers(2, 4))
            c, o = groups * draw(st.integers(1, 8)), groups * draw(st.integers(1, 8))
        else:
            groups, c, o = 1, draw(st.integers(1, 24)), draw(st.integers(1, 24))
    top, bottom = draw(st.integers(0, kh - 1)), draw(st.integers(0, kh - 1))
    left, right = draw(st.integers(0, kw - 1)), draw(st.integers(0, kw - 1))
    h = draw(st.integers(max(1, kh - top - bottom), 20))
    w = draw(st.integers(max(1, kw - left - right), 20))
    stride = draw(st.sampled_from(strides))
    oh, ow = (h + top + bottom - kh) // stride + 1, (w + left + right - kw) // stride + 1
    return dict(c=c, h=h, w=w, o=o, groups=groups, kh=kh, kw=kw, stride=stride, padding=(top, left, bottom, right),
                oh=oh, ow=ow)


@st.composite
def requant(draw, n, fan_in):
    """Per-channel multipliers in [2**30, 2**31), shifts in [20, 45], zero points, a clamp range.

    Mostly the shifts are picked so that a typical accumulator (sqrt(fan_in) * 74 * 74, the
    spread of a dot product of uniform int8 values) lands inside the int8 range, and the clamp is
    the full range or a ReLU; otherwise almost every output would saturate and say little."""
    if draw(st.integers(0, 3)):
        base = 30 + int(round(np.log2(np.sqrt(fan_in) * 74 * 74 / 40)))
        shifts = [min(45, max(20, base + d)) for d in draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n))]
    else:
        shifts = draw(st.lists(st.integers(20, 45), min_size=n, max_size=n))
    y_zero = draw(I8)
    clamp = draw(st.sampled_from(["full", "relu", "any"]))
    lo = -128 if clamp == "full" else y_zero if clamp == "relu" else draw(I8)
    hi = 127 if clamp != "any" else draw(st.integers(lo, 127))
    return dict(mult=np.array(draw(st.lists(st.integers(2**30, 2**31 - 1), min_size=n, max_size=n)), np.int32),
                shift=np.array(shifts, np.int32), x_zero=draw(I8), y_zero=y_zero, lo=lo, hi=hi)


def fan_in(case):
    return case["c"] // case["groups"] * case["kh"] * case["kw"]


def conv_data(case, seed, bias_scale):
    """Random x, w (full int8 range) and bias, |bias| <= bias_limit(fan_in) (bias_scale 'limit')
    or < 2**bias_scale."""
    rng = np.random.default_rng(seed)
    bound = bias_limit(fan_in(case)) if bias_scale == "limit" else 2**bias_scale
    x = rng.integers(-128, 128, (case["c"], case["h"], case["w"]), dtype=np.int8)
    w = rng.integers(-128, 128, (case["o"], case["c"] // case["groups"], case["kh"], case["kw"]), dtype=np.int8)
    bias = rng.integers(-bound, bound + 1, case["o"]).astype(np.int32)
    return x, w, bias


BIAS = st.sampled_from([8, 12, 16, 16, 24, "limit"])


def reference_conv(case, x, w, bias, rq):
    layer = Layer("conv", "conv2d", ("input",), (case["o"], case["oh"], case["ow"]),
                  attrs=dict(stride=case["stride"], padding=case["padding"], groups=case["groups"],
                             act_min=rq["lo"], act_max=rq["hi"]),
                  params=dict(weight=w, bias=bias, multiplier=rq["mult"].astype(np.int64),
                              shift=rq["shift"].astype(np.int64)),
                  out_q=QParams(0.05, rq["y_zero"]))
    graph = Graph("conv", (case["c"], case["h"], case["w"]), [layer], input_q=QParams(0.02, rq["x_zero"]))
    return run_int8(graph, x)


def call_conv(lib, fn, case, x, w, bias, rq, groups=None):
    """(return code, y) of one of the conv kernels."""
    top, left, bottom, right = case["padding"]
    conv = ConvParams(case["stride"], top, left, bottom, right, case["groups"] if groups is None else groups)
    q = QuantParams(rq["x_zero"], rq["y_zero"], rq["lo"], rq["hi"])
    y = np.full((case["o"], case["oh"], case["ow"]), 99, np.int8)
    args = [ptr(x, c_int8), Dims(case["c"], case["h"], case["w"]), ptr(w, c_int8)]
    if fn != "tt_conv2d_1x1_s8":
        args += [case["kh"], case["kw"]]
    args += [ptr(bias, c_int32), ptr(rq["mult"], c_int32), ptr(rq["shift"], c_int32), byref(conv), byref(q),
             ptr(y, c_int8), Dims(case["o"], case["oh"], case["ow"])]
    return getattr(lib, fn)(*args), y


# ------------------------------------------------------------------------------- conv

@SETTINGS
@given(data=st.data(), case=conv_cases(), seed=st.integers(0, 2**32 - 1), bias_scale=BIAS)
def test_conv2d_dispatcher_matches_reference(lib, data, case, seed, bias_scale):
    x, w, bias = conv_data(case, seed, bias_scale)
    rq = data.draw(requant(case["o"], fan_in(case)))
    rc, y = call_conv(lib, "tt_conv2d_s8", case, x, w, bias, rq)
    assert rc == TT_OK
    np.testing.assert_array_equal(y, reference_conv(case, x, w, bias, rq))


@SETTINGS
@given(data=st.data(), case=conv_cases(), seed=st.integers(0, 2**32 - 1), bias_scale=BIAS)
def test_conv2d_general_matches_reference(lib, dsp_lib, data, case, seed, bias_scale):
    x, w, bias = conv_data(case, seed, bias_scale)
    rq = data.draw(requant(case["o"], fan_in(case)))
    expect = reference_conv(case, x, w, bias, rq)
    for build in (lib, dsp_lib):  # the DSP build's im2col path for dense windows of <= 64 values
        rc, y = call_conv(build, "tt_conv2d_general_s8", case, x, w, bias, rq)
        assert rc == TT_OK
        np.testing.assert_array_equal(y, expect)


@st.composite
def pointwise_cases(draw):
    """1x1 with stride 1..3 and (so the 1x1 kernel's border branch runs) padding 0..2."""
    case = draw(conv_cases("pointwise"))
    if draw(st.booleans()):
        top, left, bottom, right = (draw(st.integers(0, 2)) for _ in range(4))
        s, h, w = case["stride"], case["h"], case["w"]
        case.update(padding=(top, left, bottom, right), oh=(h + top + bottom - 1) // s + 1,
                    ow=(w + left + right - 1) // s + 1)
    return case


@SETTINGS
@given(data=st.data(), case=pointwise_cases(), seed=st.integers(0, 2**32 - 1), bias_scale=BIAS)
def test_conv2d_1x1_matches_reference(lib, dsp_lib, data, case, seed, bias_scale):
    x, w, bias = conv_data(case, seed, bias_scale)
    rq = data.draw(requant(case["o"], fan_in(case)))
    expect = reference_conv(case, x, w, bias, rq)
    for build in (lib, dsp_lib):
        rc, y = call_conv(build, "tt_conv2d_1x1_s8", case, x, w, bias, rq)
        assert rc == TT_OK
        np.testing.assert_array_equal(y, expect)


@SETTINGS
@given(data=st.data(), case=conv_cases("depthwise", strides=(1, 1, 2, 3), kernels=(1, 2, 3, 4, 5, 7)),
       seed=st.integers(0, 2**32 - 1), bias_scale=BIAS)
def test_depthwise_conv2d_matches_reference(lib, dsp_lib, data, case, seed, bias_scale):
    x, w, bias = conv_data(case, seed, bias_scale)
    rq = data.draw(requant(case["o"], fan_in(case)))
    expect = reference_conv(case, x, w, bias, rq)
    for build in (lib, dsp_lib):
        rc, y = call_conv(build, "tt_depthwise_conv2d_s8", case, x, w, bias, rq)
        assert rc == TT_OK
        np.testing.assert_array_equal(y, expect)


@SETTINGS
@given(data=st.data(), kind=st.sampled_from(["pointwise", "depthwise"]), seed=st.integers(0, 2**32 - 1),
       bias_scale=BIAS)
def test_conv_paths_agree(lib, dsp_lib, data, kind, seed, bias_scale):
    """Where the specialised kernel applies, it, the general kernel and the dispatcher agree."""
    case = data.draw(pointwise_cases() if kind == "pointwise" else conv_cases("depthwise"))
    x, w, bias = conv_data(case, seed, bias_scale)
    rq = data.draw(requant(case["o"], fan_in(case)))
    special = "tt_conv2d_1x1_s8" if kind == "pointwise" else "tt_depthwise_conv2d_s8"
    outputs = [call_conv(build, fn, case, x, w, bias, rq)
               for build, fn in [(lib, "tt_conv2d_general_s8"), (lib, "tt_conv2d_s8"), (lib, special),
                                 (dsp_lib, special), (dsp_lib, "tt_conv2d_s8")]]
    for rc, y in outputs:
        assert rc == TT_OK
        np.testing.assert_array_equal(y, outputs[0][1])


@pytest.mark.parametrize("kind,kh", [("pointwise", 1), ("depthwise", 7), ("dense", 3)])
@pytest.mark.parametrize("sign", [1, -1])
def test_conv_accumulator_extremes(lib, dsp_lib, kind, kh, sign):
    """|x - x_zero| = 255, |w| = 127 everywhere and |bias| = bias_limit(fan_in): the accumulator
    is exactly +-(2**31 - 1); multiplier 2**31 - 1 with shift 62 and 31 (|acc * mult| ~ 2**62)."""
    c = 40 if kind != "dense" else 13
    groups = c if kind == "depthwise" else 1
    case = dict(c=c, h=9, w=10, o=c, groups=groups, kh=kh, kw=kh, stride=1, padding=(0, 0, 0, 0),
                oh=10 - kh, ow=11 - kh)
    fan_in = c // groups * kh * kh
    x = np.full((c, 9, 10), 127, np.int8)
    w = np.full((c, c // groups, kh, kh), 127 * sign, np.int8)
    bias = np.full(c, sign * bias_limit(fan_in), np.int32)
    shifts = np.where(np.arange(c) % 2 == 0, 62, 31).astype(np.int32)
    rq = dict(mult=np.full(c, 2**31 - 1, np.int32), shift=shifts, x_zero=-128, y_zero=0, lo=-128, hi=127)
    expect = reference_conv(case, x, w, bias, rq)
    assert expect[0, 0, 0] == sign  # rshift_round(+-(2**31-1)**2, 62)
    special = {"pointwise": "tt_conv2d_1x1_s8", "depthwise": "tt_depthwise_conv2d_s8"}.get(kind)
    for build, fn in [(lib, "tt_conv2d_s8"), (lib, "tt_conv2d_general_s8"), (lib, special), (dsp_lib, special)]:
        if fn:
            rc, y = call_conv(build, fn, case, x, w, bias, rq)
            assert rc == TT_OK
            np.testing.assert_array_equal(y, expect)


def test_requantize_rounds_half_up(lib):
    """multiplier 2**30, shift 31 halves the accumulator: ties go towards +infinity."""
    case = dict(c=1, h=1, w=6, o=1, groups=1, kh=1, kw=1, stride=1, padding=(0, 0, 0, 0), oh=1, ow=6)
    x = np.array([-5, -3, -1, 1, 3, 5], np.int8).reshape(1, 1, 6)
    rq = dict(mult=np.array([2**30], np.int32), shift=np.array([31], np.int32), x_zero=0, y_zero=0, lo=-128, hi=127)
    rc, y = call_conv(lib, "tt_conv2d_1x1_s8", case, x, np.ones((1, 1, 1, 1), np.int8), np.zeros(1, np.int32), rq)
    assert rc == TT_OK
    np.testing.assert_array_equal(y.ravel(), [-2, -1, 0, 1, 2, 3])


# ------------------------------------------------------------------------ other int8 ops

@SETTINGS
@given(data=st.data(), i=st.integers(1, 64), o=st.integers(1, 20), seed=st.integers(0, 2**32 - 1),
       bias_scale=BIAS)
def test_linear_matches_reference(lib, data, i, o, seed, bias_scale):
    rng = np.random.default_rng(seed)
    rq = data.draw(requant(o, i))
    bound = bias_limit(i) if bias_scale == "limit" else 2**bias_scale
    x = rng.integers(-128, 128, i, dtype=np.int8)
    w = rng.integers(-128, 128, (o, i), dtype=np.int8)
    bias = rng.integers(-bound, bound + 1, o).astype(np.int32)
    flat = Layer("flat", "flatten", ("input",), (i,), out_q=QParams(0.02, rq["x_zero"]))
    fc = Layer("fc", "linear", ("flat",), (o,), attrs=dict(act_min=rq["lo"], act_max=rq["hi"]),
               params=dict(weight=w, bias=bias, multiplier=rq["mult"].astype(np.int64),
                           shift=rq["shift"].astype(np.int64)),
               out_q=QParams(0.1, rq["y_zero"]))
    expect = run_int8(Graph("fc", (i, 1, 1), [flat, fc], input_q=QParams(0.02, rq["x_zero"])), x.reshape(i, 1, 1))
    y = np.zeros(o, np.int8)
    q = QuantParams(rq["x_zero"], rq["y_zero"], rq["lo"], rq["hi"])
    assert lib.tt_linear_s8(ptr(x, c_int8), i, ptr(w, c_int8), ptr(bias, c_int32), ptr(rq["mult"], c_int32),
                            ptr(rq["shift"], c_int32), o, byref(q), ptr(y, c_int8)) == TT_OK
    np.testing.assert_array_equal(y, expect)


def _graph_with_zeros(shape, zeros, out_zero, layer):
    """A graph where the tensors layer reads have the given zero points (for calling an INT8_OPS
    function directly)."""
    inputs = [Layer(name, "flatten", ("input",), shape, out_q=QParams(0.1, z)) for name, z in zip(layer.inputs, zeros)]
    layer.out_q = QParams(0.1, out_zero)
    return Graph("g", shape, [*inputs, layer], input_q=QParams(0.1, 0))


@SETTINGS
@given(a_zero=I8, b_zero=I8, y_zero=I8, ma=st.integers(1, 2**31 - 1), mb=st.integers(1, 2**31 - 1),
       shift=st.integers(1, 62), lo=I8, data=st.data(),
       shape=st.tuples(st.integers(1, 40), st.integers(1, 20), st.integers(1, 20)), seed=st.integers(0, 2**32 - 1))
def test_add_matches_reference(lib, dsp_lib, a_zero, b_zero, y_zero, ma, mb, shift, lo, data, shape, seed):
    for build in (lib, dsp_lib):  # the DSP build saturates with SSAT
        _check_add(build, a_zero, b_zero, y_zero, ma, mb, shift, lo, data, shape, seed)


def _check_add(lib, a_zero, b_zero, y_zero, ma, mb, shift, lo, data, shape, seed):
    rng = np.random.default_rng(seed)
    hi = data.draw(st.integers(lo, 127))
    a, b = (rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(2))
    layer = Layer("add", "add", ("a", "b"), shape,
                  attrs=dict(multiplier_a=ma, multiplier_b=mb, shift=shift, act_min=lo, act_max=hi))
    expect = INT8_OPS["add"](layer, [a, b], _graph_with_zeros(shape, (a_zero, b_zero), y_zero, layer))
    y = np.zeros(shape, np.int8)
    q = QuantParams(0, y_zero, lo, hi)
    assert lib.tt_add_s8(ptr(a, c_int8), ptr(b, c_int8), a.size, a_zero, b_zero, ma, mb, shift, byref(q),
                         ptr(y, c_int8)) == TT_OK
    np.testing.assert_array_equal(y, expect)
    # in place: y aliases a
    assert lib.tt_add_s8(ptr(a, c_int8), ptr(b, c_int8), a.size, a_zero, b_zero, ma, mb, shift, byref(q),
                         ptr(a, c_int8)) == TT_OK
    np.testing.assert_array_equal(a, expect)


def call_avgpool(lib, x):
    c, h, w = x.shape
    y = np.zeros(c, np.int8)
    assert lib.tt_avgpool_s8(ptr(x, c_int8), Dims(c, h, w), ptr(y, c_int8)) == TT_OK
    return y


@SETTINGS
@given(shape=st.tuples(st.integers(1, 40), st.integers(1, 20), st.integers(1, 20)), seed=st.integers(0, 2**32 - 1),
       narrow=st.booleans())
def test_avgpool_matches_reference(lib, shape, seed, narrow):
    rng = np.random.default_rng(seed)
    # narrow: few distinct values, so sums often land on ties (x.5)
    x = (rng.integers(-2, 2, shape) * 64).astype(np.int8) if narrow else rng.integers(-128, 128, shape, dtype=np.int8)
    layer = Layer("pool", "avgpool", ("input",), (shape[0], 1, 1))
    expect = INT8_OPS["avgpool"](layer, [x], None)
    np.testing.assert_array_equal(call_avgpool(lib, x), expect.reshape(-1))


@pytest.mark.parametrize("n", [2, 4, 6, 10])
def test_avgpool_ties_round_half_to_even(lib, n):
    """Every sum s in [-128 n, 127 n] with s/n a tie (s = k n + n/2), both signs."""
    sums = [k * n + n // 2 for k in range(-128, 127)]
    x = np.zeros((len(sums), 1, n), np.int8)
    for row, s in zip(x, sums):  # spread s over n int8 values
        q, r = divmod(s, n)
        row[0, :] = q
        row[0, :r] += 1
    assert [int(v) for v in x.astype(np.int64).sum(axis=(1, 2))] == sums
    expect = [round(Fraction(s, n)) for s in sums]  # Python rounds half to even
    np.testing.assert_array_equal(call_avgpool(lib, x), expect)
    layer = Layer("pool", "avgpool", ("input",), (len(sums), 1, 1))
    np.testing.assert_array_equal(INT8_OPS["avgpool"](layer, [x], None).reshape(-1), expect)


def _window_case(data, c, kernel, stride, max_pad):
    """(x shape, out shape, padding) of a random window on a random map that it fits."""
    (kh, kw), (sh, sw) = kernel, stride
    top, left, bottom, right = pad = tuple(data.draw(st.integers(0, max_pad(k))) for k in (kh, kw, kh, kw))
    h = data.draw(st.integers(max(1, kh - top - bottom), 20))
    w = data.draw(st.integers(max(1, kw - left - right), 20))
    return (c, h, w), (c, (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1), pad


WINDOWS = dict(kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
               stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), c=st.integers(1, 40),
               seed=st.integers(0, 2**32 - 1))


@SETTINGS
@given(data=st.data(), **WINDOWS)
def test_maxpool_matches_reference(lib, data, kernel, stride, c, seed):
    """Non-square kernels and strides; pads up to the kernel size, so some windows lie wholly in the
    padding (-128 both sides)."""
    shape, out_shape, pad = _window_case(data, c, kernel, stride, lambda k: k)
    x = np.random.default_rng(seed).integers(-128, 128, shape, dtype=np.int8)
    layer = Layer("mp", "maxpool", ("input",), out_shape, attrs=dict(kernel=kernel, stride=stride, padding=pad))
    expect = INT8_OPS["maxpool"](layer, [x], None)
    y = np.zeros(out_shape, np.int8)
    pool = PoolParams(*kernel, *stride, *pad)
    assert lib.tt_maxpool_s8(ptr(x, c_int8), Dims(*shape), byref(pool), ptr(y, c_int8), Dims(*out_shape)) == TT_OK
    np.testing.assert_array_equal(y, expect)


@SETTINGS
@given(data=st.data(), include_pad=st.booleans(), zero=I8, narrow=st.booleans(), **WINDOWS)
def test_avgpool_window_matches_reference(lib, data, kernel, stride, c, seed, include_pad, zero, narrow):
    """Windowed average pool: padding holds the zero point, n with or without it; narrow values make
    ties (x.5) frequent, so the round-half-to-even branch is exercised."""
    shape, out_shape, pad = _window_case(data, c, kernel, stride, lambda k: k - 1)
    rng = np.random.default_rng(seed)
    x = (rng.integers(-2, 2, shape) * 64).astype(np.int8) if narrow else rng.integers(-128, 128, shape, dtype=np.int8)
    attrs = dict(kernel=kernel, stride=stride, padding=pad, count_include_pad=include_pad)
    layer = Layer("ap", "avgpool", ("input",), out_shape, attrs=attrs)
    graph = Graph("g", shape, [layer], input_q=QParams(0.1, zero))
    expect = INT8_OPS["avgpool"](layer, [x], graph)
    y = np.zeros(out_shape, np.int8)
    pool = PoolParams(*kernel, *stride, *pad)
    assert lib.tt_avgpool_window_s8(ptr(x, c_int8), Dims(*shape), byref(pool), zero, int(include_pad),
                                    ptr(y, c_int8), Dims(*out_shape)) == TT_OK
    np.testing.assert_array_equal(y, expect)
    # the definition, in exact fractions: padding is the zero point, n what count_include_pad says
    xp = np.pad(x.astype(np.int64), ((0, 0), pad[0::2], pad[1::2]), constant_values=zero)
    inside = np.pad(np.ones(shape[1:], np.int64), (pad[0::2], pad[1::2]))
    (kh, kw), (sh, sw) = kernel, stride
    for ch, oy, ox in np.ndindex(*out_shape):
        rows, cols = slice(oy * sh, oy * sh + kh), slice(ox * sw, ox * sw + kw)
        n = kh * kw if include_pad else int(inside[rows, cols].sum())
        window = xp[ch, rows, cols] if include_pad else xp[ch, rows, cols][inside[rows, cols] == 1]
        assert expect[ch, oy, ox] == max(-128, min(127, round(Fraction(int(window.sum()), n))))


def test_avgpool_window_global_window_is_the_global_pool(lib):
    """A window over the whole map gives what tt_avgpool_s8 gives (the two definitions agree)."""
    x = np.random.default_rng(3).integers(-128, 128, (6, 5, 7), dtype=np.int8)
    y = np.zeros((6, 1, 1), np.int8)
    assert lib.tt_avgpool_window_s8(ptr(x, c_int8), Dims(6, 5, 7), byref(PoolParams(5, 7, 5, 7, 0, 0, 0, 0)), 0, 1,
                                    ptr(y, c_int8), Dims(6, 1, 1)) == TT_OK
    np.testing.assert_array_equal(y.reshape(-1), call_avgpool(lib, x))


# ------------------------------------------------------------------------------- float

@SETTINGS
@given(n=st.integers(0, 500), scale=st.floats(1e-6, 10.0), zero=I8, seed=st.integers(0, 2**32 - 1))
def test_dequantize(lib, n, scale, zero, seed):
    x = np.random.default_rng(seed).integers(-128, 128, n, dtype=np.int8)
    out = np.full(n, np.nan, np.float32)
    assert lib.tt_dequantize_s8(ptr(x, c_int8), n, scale, zero, ptr(out, c_float)) == TT_OK
    expect = np.float32(scale) * (x.astype(np.float32) - np.float32(zero))
    np.testing.assert_allclose(out, expect, rtol=1e-6, atol=0)


@SETTINGS
@given(i=st.integers(1, 64), o=st.integers(1, 20), x_scale=st.floats(1e-4, 1.0), x_zero=I8,
       seed=st.integers(0, 2**32 - 1))
def test_linear_f32(lib, i, o, x_scale, x_zero, seed):
    """Within 1e-6 of numpy (float64), relative to the magnitude of the summed terms (the sum
    itself may cancel)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, i, dtype=np.int8)
    w = rng.normal(0, 0.5, (o, i)).astype(np.float32)
    b = rng.normal(0, 1.0, o).astype(np.float32)
    y = np.full(o, np.nan, np.float32)
    assert lib.tt_linear_f32(ptr(x, c_int8), i, x_scale, x_zero, ptr(w, c_float), ptr(b, c_float), o,
                             ptr(y, c_float)) == TT_OK
    xr = np.float32(x_scale) * (x.astype(np.float64) - x_zero)
    expect = w.astype(np.float64) @ xr + b
    magnitude = np.abs(w.astype(np.float64)) @ np.abs(xr) + np.abs(b)
    assert np.all(np.abs(y - expect) <= 1e-6 * magnitude), (y, expect)


# ------------------------------------------------------------------------------ errors

def _conv_call_args(case=None, **override):
    case = case or dict(c=4, h=5, w=5, o=4, groups=1, kh=3, kw=3, stride=1, padding=(1, 1, 1, 1), oh=5, ow=5)
    x = np.zeros((case["c"], case["h"], case["w"]), np.int8)
    w = np.zeros((case["o"], case["c"] // case["groups"], case["kh"], case["kw"]), np.int8)
    rq = dict(mult=np.full(16, 2**30, np.int32), shift=np.full(16, 31, np.int32),  # room for out.c up to 16
              x_zero=0, y_zero=0, lo=-128, hi=127)
    rq.update(override)
    return case, x, w, np.zeros(case["o"], np.int32), rq


@pytest.mark.parametrize("fn", ["tt_conv2d_s8", "tt_conv2d_general_s8", "tt_depthwise_conv2d_s8",
                                "tt_conv2d_1x1_s8"])
def test_conv_argument_errors(lib, fn):
    depthwise = fn == "tt_depthwise_conv2d_s8"
    k = 1 if fn == "tt_conv2d_1x1_s8" else 3
    base = dict(c=4, h=5, w=5, o=4, groups=4 if depthwise else 1, kh=k, kw=k, stride=1,
                padding=(k // 2,) * 4, oh=5, ow=5)
    case, x, w, bias, rq = _conv_call_args(base)
    assert call_conv(lib, fn, case, x, w, bias, rq)[0] == TT_OK
    bad_cases = [dict(oh=4), dict(ow=6), dict(stride=0), dict(padding=(-1, 0, 0, 0)), dict(c=0),
                 dict(h=0, oh=0 + 2 * (k // 2) - k + 1)]
    if depthwise:
        bad_cases.append(dict(o=8))  # out.c != in.c
    for bad in bad_cases:
        rc, y = call_conv(lib, fn, {**case, **bad}, x, w, bias, rq)
        assert rc == TT_ERR_ARG, bad
        assert np.all(y == 99), bad  # nothing written
    for bad_rq in [dict(shift=np.full(16, 0, np.int32)), dict(shift=np.full(16, 63, np.int32)), dict(lo=10, hi=9),
                   dict(x_zero=128), dict(y_zero=-129), dict(hi=128)]:
        assert call_conv(lib, fn, case, x, w, bias, {**rq, **bad_rq})[0] == TT_ERR_ARG, bad_rq
    for groups in (0, 3) if not depthwise else (0, 2):  # 0; not dividing in.c (depthwise: != in.c)
        assert call_conv(lib, fn, case, x, w, bias, rq, groups=groups)[0] == TT_ERR_ARG, groups
    if fn == "tt_conv2d_1x1_s8":
        assert call_conv(lib, fn, case, x, w, bias, rq, groups=2)[0] == TT_ERR_ARG
    # null pointers
    q, conv = QuantParams(0, 0, -128, 127), ConvParams(1, *case["padding"], case["groups"])
    y = np.zeros((4, 5, 5), np.int8)
    full = [ptr(x, c_int8), Dims(4, 5, 5), ptr(w, c_int8), *([k, k] if k == 3 else []), ptr(bias, c_int32),
            ptr(rq["mult"], c_int32), ptr(rq["shift"], c_int32), byref(conv), byref(q), ptr(y, c_int8), Dims(4, 5, 5)]
    assert getattr(lib, fn)(*full) == TT_OK
    for pos, arg in enumerate(full):
        if not isinstance(arg, (Dims, int)):
            assert getattr(lib, fn)(*full[:pos], None, *full[pos + 1:]) == TT_ERR_ARG, pos


def test_other_argument_errors(lib):
    x = np.zeros(8, np.int8)
    y = np.zeros(8, np.int8)
    f = np.zeros(8, np.float32)
    i32 = np.full(8, 31, np.int32)
    q = QuantParams(0, 0, -128, 127)
    P = lambda a, t=c_int8: ptr(a, t)  # noqa: E731
    # linear: nulls, sizes < 1, shift out of range
    assert lib.tt_linear_s8(P(x), 8, P(x), P(i32, c_int32), P(i32, c_int32), P(i32, c_int32), 8, byref(q), P(y)) == 0
    assert lib.tt_linear_s8(None, 8, P(x), P(i32, c_int32), P(i32, c_int32), P(i32, c_int32), 8, byref(q), P(y)) == -1
    assert lib.tt_linear_s8(P(x), 0, P(x), P(i32, c_int32), P(i32, c_int32), P(i32, c_int32), 8, byref(q), P(y)) == -1
    assert lib.tt_linear_s8(P(x), 8, P(x), P(i32, c_int32), P(i32, c_int32), P(np.zeros(8, np.int32), c_int32), 8,
                            byref(q), P(y)) == -1
    assert lib.tt_linear_s8(P(x), 8, P(x), P(i32, c_int32), P(i32, c_int32), P(i32, c_int32), 8, None, P(y)) == -1
    # add
    assert lib.tt_add_s8(P(x), P(x), 8, 0, 0, 1, 1, 31, byref(q), P(y)) == 0
    assert lib.tt_add_s8(P(x), P(x), 0, 0, 0, 1, 1, 31, byref(q), P(y)) == 0
    assert lib.tt_add_s8(P(x), None, 8, 0, 0, 1, 1, 31, byref(q), P(y)) == -1
    assert lib.tt_add_s8(P(x), P(x), -1, 0, 0, 1, 1, 31, byref(q), P(y)) == -1
    assert lib.tt_add_s8(P(x), P(x), 8, 0, 0, 1, 1, 0, byref(q), P(y)) == -1
    assert lib.tt_add_s8(P(x), P(x), 8, 200, 0, 1, 1, 31, byref(q), P(y)) == -1
    # avgpool
    assert lib.tt_avgpool_s8(P(x), Dims(2, 2, 2), P(y)) == 0
    assert lib.tt_avgpool_s8(P(x), Dims(2, 0, 2), P(y)) == -1
    assert lib.tt_avgpool_s8(None, Dims(2, 2, 2), P(y)) == -1
    # maxpool and the windowed average: out dims must be what the window gives
    pool, big = PoolParams(2, 2, 2, 2, 0, 0, 0, 0), PoolParams(3, 2, 2, 2, 0, 0, 0, 0)
    assert lib.tt_maxpool_s8(P(x), Dims(2, 2, 2), byref(pool), P(y), Dims(2, 1, 1)) == 0
    assert lib.tt_maxpool_s8(P(x), Dims(2, 2, 2), byref(pool), P(y), Dims(2, 2, 1)) == -1
    assert lib.tt_maxpool_s8(P(x), Dims(2, 2, 2), byref(pool), P(y), Dims(1, 1, 1)) == -1
    assert lib.tt_maxpool_s8(P(x), Dims(2, 2, 2), byref(big), P(y), Dims(2, 1, 1)) == -1
    assert lib.tt_maxpool_s8(P(x), Dims(2, 2, 2), None, P(y), Dims(2, 1, 1)) == -1
    assert lib.tt_avgpool_window_s8(P(x), Dims(2, 2, 2), byref(pool), 0, 1, P(y), Dims(2, 1, 1)) == 0
    assert lib.tt_avgpool_window_s8(P(x), Dims(2, 2, 2), byref(big), 0, 1, P(y), Dims(2, 1, 1)) == -1
    assert lib.tt_avgpool_window_s8(P(x), Dims(2, 2, 2), byref(pool), 200, 1, P(y), Dims(2, 1, 1)) == -1
    # count_include_pad off and a window wholly in the padding: nothing to divide by
    corner = PoolParams(2, 2, 2, 2, 2, 2, 0, 0)
    assert lib.tt_avgpool_window_s8(P(x), Dims(2, 2, 2), byref(corner), 0, 0, P(y), Dims(2, 2, 2)) == -1
    # dequantize, linear_f32
    assert lib.tt_dequantize_s8(P(x), -1, 1.0, 0, P(f, c_float)) == -1
    assert lib.tt_dequantize_s8(P(x), 8, 1.0, 0, None) == -1
    assert lib.tt_linear_f32(P(x), 2, 1.0, 0, P(f, c_float), P(f, c_float), 4, P(f, c_float)) == 0
    assert lib.tt_linear_f32(P(x), 2, 1.0, 0, P(f, c_float), None, 4, P(f, c_float)) == -1
    assert lib.tt_linear_f32(P(x), 2, 1.0, 0, P(f, c_float), P(f, c_float), 0, P(f, c_float)) == -1


# ----------------------------------------------------------- DSP paths, sanitizers and QEMU

DSP_CHECK = HERE / "dsp_check"
CHECK_SOURCES = [DSP_CHECK / "check_dsp.c", DSP_CHECK / "ref_kernels.c",
                 *(host_build.KERNEL_DIR / f"{n}.c" for n in ("tt_conv2d_1x1_s8", "tt_depthwise_conv2d_s8",
                                                              "tt_conv2d_1x1_split_s8", "tt_conv2d_general_s8",
                                                              "tt_conv2d_s8", "tt_conv_dw_pw_rows_s8", "tt_add_s8",
                                                              "tt_conv_dw_pw_stream_s8", "tt_conv_dw_pw_chain_s8",
                                                              "tt_rows_from_chw", "tt_conv_dw_pw_rows_add_s8"))]
DSP_OUTPUT = re.compile(r"dsp check \(TT_USE_DSP=1\): (\d+) cases, (\d+) bytes, 0 mismatches")


def test_dsp_paths_host_sanitized(tmp_path):
    """check_dsp.c with the emulated intrinsics under AddressSanitizer + UBSan: the DSP paths equal
    the portable loops and read nothing outside the input (the depthwise path's 32-bit loads)."""
    exe = host_build.compile_c(CHECK_SOURCES, tmp_path / "check_dsp",
                               (*host_build.SANITIZE, "-D__ARM_FEATURE_DSP=1"), (HERE / "acle_emul",))
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and DSP_OUTPUT.search(result.stdout), result.stdout + result.stderr


QEMU_TARGETS = [("cortex-m4", "fpv4-sp-d16", "mps2-an386"), ("cortex-m7", "fpv5-d16", "mps2-an500")]


@pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("cpu,fpu,machine", QEMU_TARGETS)
def test_dsp_paths_under_qemu(tmp_path, cpu, fpu, machine):
    """The real SXTAB16 / SMLAD: check_dsp.c bare metal on an emulated Cortex-M4 / M7."""
    elf = tmp_path / "check_dsp.elf"
    cmd = ["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=hard", f"-mfpu={fpu}", *host_build.CFLAGS,
           "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-T", str(DSP_CHECK / "link.ld"),
           f"-I{host_build.KERNEL_DIR}", *map(str, CHECK_SOURCES), "-o", str(elf)]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run(["qemu-system-arm", "-machine", machine, "-cpu", cpu, "-nographic", "-monitor", "none",
                          "-serial", "none", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=120)
    # semihosting SYS_WRITE0 goes to QEMU's stderr
    assert run.returncode == 0 and DSP_OUTPUT.search(run.stdout + run.stderr), run.stdout + run.stderr
