"""The numpy oracle (tvm_tinytrain/reference.py) against torch (float) and against naive
loops written here straight from docs/int8-semantics.md (int8, Python integers)."""
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from tvm_tinytrain.errors import ShapeError
from tvm_tinytrain.graph import Graph, Layer, QParams
from tvm_tinytrain.reference import run_float, run_int8

SETTINGS = settings(max_examples=30, deadline=None)
I8 = st.integers(-128, 127)


# ------------------------------------------------------------------------ cases

@st.composite
def conv_cases(draw, kernels=(1, 3, 5, 7), extra=5):
    """Conv geometry: dense / depthwise (incl. channel multiplier) / grouped, odd channel
    counts, non-square kernels, stride 1-2, asymmetric padding."""
    kind = draw(st.sampled_from(["dense", "depthwise", "grouped"]))
    if kind == "dense":
        groups, cg, og = 1, draw(st.integers(1, 5)), draw(st.integers(1, 5))
    elif kind == "depthwise":
        groups, cg, og = draw(st.integers(1, 7)), 1, draw(st.sampled_from([1, 1, 2]))
    else:  # 1 < groups < C
        groups, cg, og = draw(st.integers(2, 3)), draw(st.integers(2, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.sampled_from(kernels)), draw(st.sampled_from(kernels))
    top, bottom = draw(st.integers(0, kh - 1)), draw(st.integers(0, kh - 1))
    left, right = draw(st.integers(0, kw - 1)), draw(st.integers(0, kw - 1))
    h = draw(st.integers(max(1, kh - top - bottom), kh + extra))
    w = draw(st.integers(max(1, kw - left - right), kw + extra))
    stride = draw(st.integers(1, 2))
    oh = (h + top + bottom - kh) // stride + 1
    ow = (w + left + right - kw) // stride + 1
    return dict(c=groups * cg, h=h, w=w, o=groups * og, groups=groups, kh=kh, kw=kw,
                stride=stride, padding=(top, left, bottom, right), oh=oh, ow=ow)


def _rng(seed):
    return np.random.default_rng(seed)


def conv_layer(case, params, **attrs):
    return Layer("conv", "conv2d", ("input",), (case["o"], case["oh"], case["ow"]),
                 attrs=dict(stride=case["stride"], padding=case["padding"], groups=case["groups"], **attrs),
                 params=params)


def torch_conv(x, w, b, case):
    top, left, bottom, right = case["padding"]
    xt = F.pad(torch.from_numpy(x).double()[None], (left, right, top, bottom))
    y = F.conv2d(xt, torch.from_numpy(w).double(), torch.from_numpy(b).double(),
                 stride=case["stride"], groups=case["groups"])
    return y[0].numpy()


# ------------------------------------------------------------------ float vs torch

@SETTINGS
@given(case=conv_cases(), act=st.sampled_from([None, "relu", "relu6"]), seed=st.integers(0, 2**32 - 1))
def test_float_conv2d_matches_torch(case, act, seed):
    rng = _rng(seed)
    c, o, g = case["c"], case["o"], case["groups"]
    w = (rng.standard_normal((o, c // g, case["kh"], case["kw"])) * 2).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    x = rng.standard_normal((c, case["h"], case["w"])).astype(np.float32)
    graph = Graph("conv", (c, case["h"], case["w"]), [conv_layer(case, dict(weight=w, bias=b), act=act)])
    y = run_float(graph, x)
    expect = torch_conv(x, w, b, case)
    expect = {None: expect, "relu": np.maximum(expect, 0), "relu6": np.clip(expect, 0, 6)}[act]
    assert y.dtype == np.float32 and y.shape == expect.shape
    np.testing.assert_allclose(y, expect, rtol=1e-4, atol=1e-4)


@SETTINGS
@given(c=st.integers(1, 5), h=st.integers(1, 9), w=st.integers(1, 9), k=st.integers(1, 3),
       stride=st.integers(1, 3), pads=st.tuples(*[st.integers(0, 2)] * 4), seed=st.integers(0, 2**32 - 1))
def test_float_maxpool_matches_torch(c, h, w, k, stride, pads, seed):
    pads = tuple(min(p, k - 1) for p in pads)
    top, left, bottom, right = pads
    if h + top + bottom < k or w + left + right < k:
        h, w = h + k, w + k
    oh, ow = (h + top + bottom - k) // stride + 1, (w + left + right - k) // stride + 1
    x = _rng(seed).standard_normal((c, h, w)).astype(np.float32)
    graph = Graph("mp", (c, h, w), [Layer("mp", "maxpool", ("input",), (c, oh, ow),
                                          attrs=dict(kernel=k, stride=stride, padding=pads))])
    xt = F.pad(torch.from_numpy(x)[None], (left, right, top, bottom), value=-float("inf"))
    expect = F.max_pool2d(xt, k, stride)[0].numpy()
    np.testing.assert_array_equal(run_float(graph, x), expect)


def test_float_maxpool_symmetric_padding_matches_torch_padding():
    x = _rng(1).standard_normal((4, 7, 7)).astype(np.float32) - 5  # all negative near the edge
    graph = Graph("mp", (4, 7, 7), [Layer("mp", "maxpool", ("input",), (4, 4, 4),
                                          attrs=dict(kernel=3, stride=2, padding=(1, 1, 1, 1)))])
    expect = F.max_pool2d(torch.from_numpy(x)[None], 3, 2, padding=1)[0].numpy()
    np.testing.assert_array_equal(run_float(graph, x), expect)


@SETTINGS
@given(c=st.integers(1, 6), h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_float_avgpool_flatten_linear_matches_torch(c, h, w, seed):
    rng = _rng(seed)
    x = rng.standard_normal((c, h, w)).astype(np.float32)
    wl = rng.standard_normal((3, c)).astype(np.float32)
    bl = rng.standard_normal(3).astype(np.float32)
    graph = Graph("head", (c, h, w), [
        Layer("pool", "avgpool", ("input",), (c, 1, 1)),
        Layer("flat", "flatten", ("pool",), (c,)),
        Layer("fc", "linear", ("flat",), (3,), attrs=dict(act="relu"), params=dict(weight=wl, bias=bl))])
    out = run_float(graph, x, return_all=True)
    xt = torch.from_numpy(x).double()[None]
    pooled = F.adaptive_avg_pool2d(xt, 1)
    np.testing.assert_allclose(out["pool"], pooled[0].numpy(), rtol=1e-5, atol=1e-6)
    expect = torch.relu(F.linear(pooled.flatten(1), torch.from_numpy(wl).double(), torch.from_numpy(bl).double()))
    np.testing.assert_allclose(out["fc"], expect[0].numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("act", [None, "relu", "relu6"])
def test_float_add_act_matches_torch(act):
    rng = _rng(2)
    a, b = (rng.standard_normal((3, 5, 4)).astype(np.float32) * 4 for _ in range(2))
    ident = dict(weight=np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), bias=np.zeros(3, np.float32))
    graph = Graph("add", (3, 5, 4), [
        Layer("b", "conv2d", ("input",), (3, 5, 4), attrs=dict(stride=1, padding=(0, 0, 0, 0), groups=1),
              params={k: v * (2 if k == "weight" else 1) for k, v in ident.items()}),
        Layer("sum", "add", ("input", "b"), (3, 5, 4), attrs=dict(act=act))])
    ta = torch.from_numpy(a)
    expect = ta + 2 * ta
    expect = {None: expect, "relu": torch.relu(expect), "relu6": F.relu6(expect)}[act].numpy()
    np.testing.assert_allclose(run_float(graph, a), expect, rtol=1e-6, atol=1e-6)


def test_float_small_network_matches_torch():
    """conv-relu6 / depthwise stride 2 / project / residual add / maxpool / pool / fc."""
    rng = _rng(3)
    p = lambda *s: (rng.standard_normal(s) * 0.5).astype(np.float32)  # noqa: E731
    w1, b1, w2, b2, w3, b3, w4, b4, wl, bl = (p(6, 3, 3, 3), p(6), p(6, 1, 3, 3), p(6), p(6, 6, 1, 1), p(6),
                                              p(6, 6, 3, 3), p(6), p(5, 6), p(5))
    x = p(3, 11, 11)
    conv = lambda name, inp, shape, w, b, s, pad, g, act: Layer(  # noqa: E731
        name, "conv2d", (inp,), shape, attrs=dict(stride=s, padding=pad, groups=g, act=act),
        params=dict(weight=w, bias=b))
    graph = Graph("net", (3, 11, 11), [
        conv("c1", "input", (6, 11, 11), w1, b1, 1, (1, 1, 1, 1), 1, "relu6"),
        conv("dw", "c1", (6, 6, 6), w2, b2, 2, (0, 0, 2, 2), 6, "relu"),
        conv("pw", "dw", (6, 6, 6), w3, b3, 1, (0, 0, 0, 0), 1, None),
        conv("c4", "dw", (6, 6, 6), w4, b4, 1, (1, 1, 1, 1), 1, None),
        Layer("res", "add", ("pw", "c4"), (6, 6, 6), attrs=dict(act="relu")),
        Layer("mp", "maxpool", ("res",), (6, 3, 3), attrs=dict(kernel=2, stride=2, padding=(0, 0, 0, 0))),
        Layer("pool", "avgpool", ("mp",), (6, 1, 1)),
        Layer("flat", "flatten", ("pool",), (6,)),
        Layer("fc", "linear", ("flat",), (5,), params=dict(weight=wl, bias=bl))])
    t = lambda a: torch.from_numpy(a).double()  # noqa: E731
    y1 = F.relu6(F.conv2d(t(x)[None], t(w1), t(b1), padding=1))
    y2 = torch.relu(F.conv2d(F.pad(y1, (0, 2, 0, 2)), t(w2), t(b2), stride=2, groups=6))
    y = torch.relu(F.conv2d(y2, t(w3), t(b3)) + F.conv2d(y2, t(w4), t(b4), padding=1))
    y = F.linear(F.adaptive_avg_pool2d(F.max_pool2d(y, 2), 1).flatten(1), t(wl), t(bl))
    out = run_float(graph, x[None], return_all=True)
    assert set(out) == {"input", *(layer.name for layer in graph.layers)}
    np.testing.assert_allclose(out["fc"], y[0].numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(run_float(graph, x), out["fc"])


# --------------------------------------------------------- int8: naive spec loops

def rshift_round(v: int, n: int) -> int:
    return (v + (1 << (n - 1))) >> n  # Python ints: exact, flooring shift


def clamp(v, lo, hi):
    return min(max(v, lo), hi)


def naive_conv_int8(x, x_zero, w, bias, mult, shift, y_zero, stride, padding, groups, lo, hi):
    c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    top, left, bottom, right = padding
    oh, ow = (h + top + bottom - kh) // stride + 1, (wd + left + right - kw) // stride + 1
    og = o // groups
    out = np.zeros((o, oh, ow), np.int8)
    for oc in range(o):
        g = oc // og
        for y in range(oh):
            for xx in range(ow):
                acc = int(bias[oc])
                for ci in range(cg):
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = y * stride + ky - top, xx * stride + kx - left
                            if 0 <= iy < h and 0 <= ix < wd:
                                acc += (int(x[g * cg + ci, iy, ix]) - x_zero) * int(w[oc, ci, ky, kx])
                v = rshift_round(acc * int(mult[oc]), int(shift[oc])) + y_zero
                out[oc, y, xx] = clamp(v, lo, hi)
    return out


@st.composite
def requant(draw, n):
    """n per-channel multipliers in [2**30, 2**31), shifts in [20, 46] (above 40 so that
    tiny accumulators are not all clamped), zero points and an activation range."""
    mult = np.array(draw(st.lists(st.integers(2**30, 2**31 - 1), min_size=n, max_size=n)), np.int64)
    shift = np.array(draw(st.lists(st.integers(20, 46), min_size=n, max_size=n)), np.int64)
    lo = draw(st.integers(-128, 0))
    hi = draw(st.integers(lo, 127))
    return dict(mult=mult, shift=shift, x_zero=draw(I8), y_zero=draw(I8), lo=lo, hi=hi)


def int8_conv_graph(case, w, bias, rq):
    layer = conv_layer(case, dict(weight=w, bias=bias, multiplier=rq["mult"], shift=rq["shift"]),
                       act_min=rq["lo"], act_max=rq["hi"])
    layer.out_q = QParams(0.05, rq["y_zero"])
    return Graph("q", (case["c"], case["h"], case["w"]), [layer], input_q=QParams(0.02, rq["x_zero"]))


@SETTINGS
@given(data=st.data(), case=conv_cases(kernels=(1, 3, 5), extra=3), seed=st.integers(0, 2**32 - 1),
       bias_bits=st.sampled_from([8, 20, 30]))
def test_int8_conv2d_matches_naive(data, case, seed, bias_bits):
    rng = _rng(seed)
    c, o = case["c"], case["o"]
    rq = data.draw(requant(o))
    w = rng.integers(-128, 128, (o, c // case["groups"], case["kh"], case["kw"]), dtype=np.int8)
    bias = rng.integers(-2**bias_bits, 2**bias_bits, o).astype(np.int32)
    x = rng.integers(-128, 128, (c, case["h"], case["w"]), dtype=np.int8)
    y = run_int8(int8_conv_graph(case, w, bias, rq), x)
    expect = naive_conv_int8(x, rq["x_zero"], w, bias, rq["mult"], rq["shift"], rq["y_zero"],
                             case["stride"], case["padding"], case["groups"], rq["lo"], rq["hi"])
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, expect)


def test_int8_requantize_rounds_half_up():
    """multiplier 2**30, shift 31 halves the accumulator: ties go towards +infinity."""
    acc = np.array([-5, -3, -1, 1, 3, 5], np.int8)
    case = dict(c=6, h=1, w=1, o=6, groups=6, kh=1, kw=1, stride=1, padding=(0, 0, 0, 0), oh=1, ow=1)
    rq = dict(mult=np.full(6, 2**30, np.int64), shift=np.full(6, 31, np.int64), x_zero=0, y_zero=0,
              lo=-128, hi=127)
    y = run_int8(int8_conv_graph(case, np.ones((6, 1, 1, 1), np.int8), np.zeros(6, np.int32), rq),
                 acc.reshape(6, 1, 1))
    np.testing.assert_array_equal(y.ravel(), [-2, -1, 0, 1, 2, 3])


def test_int8_conv_accumulator_is_exact_at_extremes():
    """1152-term accumulators of odd products around -2**25: float32 accumulation would
    lose the low bits, which the bias brings back into the int8 range; the last channel's
    acc * multiplier is close to 2**62."""
    c, k = 128, 3
    case = dict(c=c, h=k, w=k, o=3, groups=1, kh=k, kw=k, stride=1, padding=(0, 0, 0, 0), oh=1, ow=1)
    rng = _rng(5)
    w = np.full((3, c, k, k), -127, np.int8)
    w[1] = rng.integers(-128, 128, (c, k, k), dtype=np.int8)
    x = np.full((c, k, k), 127, np.int8)
    x[:, 0, :] = rng.integers(100, 128, (c, k), dtype=np.int8)
    x_zero = -128
    raw = [int(((x.astype(np.int64) - x_zero) * w[o]).sum()) for o in range(3)]
    bias = np.array([101 - raw[0], -77 - raw[1], 2**31 - 1], np.int32)
    rq = dict(mult=np.array([2**30, 2**30, 2**31 - 1], np.int64), shift=np.array([30, 30, 62], np.int64),
              x_zero=x_zero, y_zero=3, lo=-128, hi=127)
    y = run_int8(int8_conv_graph(case, w, bias, rq), x)
    expect = naive_conv_int8(x, x_zero, w, bias, rq["mult"], rq["shift"], 3, 1, (0, 0, 0, 0), 1, -128, 127)
    assert abs(raw[0]) > 2**25 and list(expect.ravel()[:2]) == [104, -74]
    np.testing.assert_array_equal(y, expect)


@SETTINGS
@given(data=st.data(), i=st.integers(1, 40), o=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_int8_linear_matches_naive(data, i, o, seed):
    rng = _rng(seed)
    rq = data.draw(requant(o))
    w = rng.integers(-128, 128, (o, i), dtype=np.int8)
    bias = rng.integers(-2**20, 2**20, o).astype(np.int32)
    x = rng.integers(-128, 128, (i, 1, 1), dtype=np.int8)
    flat = Layer("flat", "flatten", ("input",), (i,), out_q=QParams(0.02, rq["x_zero"]))
    fc = Layer("fc", "linear", ("flat",), (o,), attrs=dict(act_min=rq["lo"], act_max=rq["hi"]),
               params=dict(weight=w, bias=bias, multiplier=rq["mult"], shift=rq["shift"]),
               out_q=QParams(0.1, rq["y_zero"]))
    graph = Graph("fc", (i, 1, 1), [flat, fc], input_q=QParams(0.02, rq["x_zero"]))
    expect = naive_conv_int8(x, rq["x_zero"], w.reshape(o, i, 1, 1), bias, rq["mult"], rq["shift"],
                             rq["y_zero"], 1, (0, 0, 0, 0), 1, rq["lo"], rq["hi"]).reshape(o)
    np.testing.assert_array_equal(run_int8(graph, x), expect)


@SETTINGS
@given(a_zero=I8, b_zero=I8, y_zero=I8, ma=st.integers(1, 2**31 - 1), mb=st.integers(1, 2**31 - 1),
       shift=st.integers(20, 40), lo=st.integers(-128, 0), hi=st.integers(0, 127),
       shape=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)), seed=st.integers(0, 2**32 - 1))
def test_int8_add_matches_naive(a_zero, b_zero, y_zero, ma, mb, shift, lo, hi, shape, seed):
    rng = _rng(seed)
    a = rng.integers(-128, 128, shape, dtype=np.int8)
    # b is a 1x1 conv of a with identity weights, multiplier 2**30 / shift 30 and zero b_zero: b == a + (b_zero - a_zero)
    c = shape[0]
    ident = Layer("b", "conv2d", ("input",), shape, attrs=dict(stride=1, padding=(0, 0, 0, 0), groups=1),
                  params=dict(weight=np.eye(c, dtype=np.int8).reshape(c, c, 1, 1), bias=np.zeros(c, np.int32),
                              multiplier=np.full(c, 2**30, np.int64), shift=np.full(c, 30, np.int64)),
                  out_q=QParams(0.1, b_zero))
    add = Layer("add", "add", ("input", "b"), shape,
                attrs=dict(multiplier_a=ma, multiplier_b=mb, shift=shift, act_min=lo, act_max=hi),
                out_q=QParams(0.2, y_zero))
    graph = Graph("add", shape, [ident, add], input_q=QParams(0.1, a_zero))
    out = run_int8(graph, a, return_all=True)
    b = out["b"]
    expect_b = np.clip(a.astype(int) - a_zero + b_zero, -128, 127)
    np.testing.assert_array_equal(b, expect_b)
    expect = np.zeros(shape, np.int8)
    for idx in np.ndindex(*shape):
        v = (int(a[idx]) - a_zero) * ma + (int(b[idx]) - b_zero) * mb
        expect[idx] = clamp(rshift_round(v, shift) + y_zero, lo, hi)
    np.testing.assert_array_equal(out["add"], expect)
    assert set(out) == {"input", "b", "add"}


@SETTINGS
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 8), st.integers(1, 8)), zero=I8,
       seed=st.integers(0, 2**32 - 1))
def test_int8_avgpool_matches_naive(shape, zero, seed):
    x = _rng(seed).integers(-128, 128, shape, dtype=np.int8)
    pool = Layer("pool", "avgpool", ("input",), (shape[0], 1, 1), out_q=QParams(0.1, zero))
    y = run_int8(Graph("pool", shape, [pool], input_q=QParams(0.1, zero)), x)
    n = shape[1] * shape[2]
    expect = [round(Fraction(int(x[ch].astype(int).sum()), n)) for ch in range(shape[0])]  # half to even
    assert y.shape == (shape[0], 1, 1) and y.dtype == np.int8
    np.testing.assert_array_equal(y.ravel(), expect)


def test_int8_avgpool_ties_round_half_even():
    pairs = [(0, 1), (1, 2), (-1, 0), (-2, -1), (-3, -2), (126, 127), (-128, -127), (5, 5)]
    x = np.array(pairs, np.int8).reshape(len(pairs), 1, 2)
    pool = Layer("pool", "avgpool", ("input",), (len(pairs), 1, 1), out_q=QParams(0.1, 0))
    y = run_int8(Graph("pool", x.shape, [pool], input_q=QParams(0.1, 0)), x)
    np.testing.assert_array_equal(y.ravel(), [0, 2, 0, -2, -2, 126, -128, 5])


@SETTINGS
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 8), st.integers(1, 8)), k=st.integers(1, 3),
       stride=st.integers(1, 3), pads=st.tuples(*[st.integers(0, 2)] * 4), seed=st.integers(0, 2**32 - 1))
def test_int8_maxpool_matches_naive(shape, k, stride, pads, seed):
    c, h, w = shape
    top, left, bottom, right = (min(p, k - 1) for p in pads)
    if h + top + bottom < k or w + left + right < k:
        h, w = h + k, w + k
    x = _rng(seed).integers(-128, 128, (c, h, w), dtype=np.int8)
    oh, ow = (h + top + bottom - k) // stride + 1, (w + left + right - k) // stride + 1
    mp = Layer("mp", "maxpool", ("input",), (c, oh, ow),
               attrs=dict(kernel=k, stride=stride, padding=(top, left, bottom, right)), out_q=QParams(0.1, 5))
    y = run_int8(Graph("mp", (c, h, w), [mp], input_q=QParams(0.1, 5)), x)
    expect = np.zeros((c, oh, ow), np.int8)
    for ch, oy, ox in np.ndindex(c, oh, ow):
        window = [int(x[ch, iy, ix]) for iy in range(oy * stride - top, oy * stride - top + k)
                  for ix in range(ox * stride - left, ox * stride - left + k) if 0 <= iy < h and 0 <= ix < w]
        expect[ch, oy, ox] = max(window)
    np.testing.assert_array_equal(y, expect)


def test_int8_chain_uses_each_tensors_own_zero_point():
    """conv -> conv: the second conv's x_zero is the first conv's out_q.zero, not the input's."""
    rng = _rng(4)
    x = rng.integers(-128, 128, (3, 6, 6), dtype=np.int8)
    w1 = rng.integers(-128, 128, (4, 3, 3, 3), dtype=np.int8)
    w2 = rng.integers(-128, 128, (4, 1, 3, 3), dtype=np.int8)
    m1, s1 = np.full(4, 2**31 - 3, np.int64), np.array([38, 39, 40, 41], np.int64)
    m2, s2 = np.full(4, 2**30 + 7, np.int64), np.array([34, 35, 36, 37], np.int64)
    b1, b2 = rng.integers(-5000, 5000, 4).astype(np.int32), rng.integers(-5000, 5000, 4).astype(np.int32)
    c1 = Layer("c1", "conv2d", ("input",), (4, 6, 6), attrs=dict(stride=1, padding=(1, 1, 1, 1), groups=1),
               params=dict(weight=w1, bias=b1, multiplier=m1, shift=s1), out_q=QParams(0.1, -37))
    c2 = Layer("c2", "conv2d", ("c1",), (4, 3, 3),
               attrs=dict(stride=2, padding=(0, 0, 1, 1), groups=4, act_min=-100, act_max=90),
               params=dict(weight=w2, bias=b2, multiplier=m2, shift=s2), out_q=QParams(0.1, 11))
    graph = Graph("chain", (3, 6, 6), [c1, c2], input_q=QParams(0.02, 17))
    y1 = naive_conv_int8(x, 17, w1, b1, m1, s1, -37, 1, (1, 1, 1, 1), 1, -128, 127)
    y2 = naive_conv_int8(y1, -37, w2, b2, m2, s2, 11, 2, (0, 0, 1, 1), 4, -100, 90)
    out = run_int8(graph, x, return_all=True)
    np.testing.assert_array_equal(out["c1"], y1)
    np.testing.assert_array_equal(out["c2"], y2)
    np.testing.assert_array_equal(run_int8(graph, x[None]), y2)


# ----------------------------------------------------------------------- errors

def _tiny_graphs():
    w = np.ones((2, 3, 1, 1), np.float32)
    fl = Graph("tiny", (3, 8, 8), [Layer("c", "conv2d", ("input",), (2, 8, 8),
                                         attrs=dict(stride=1, padding=(0, 0, 0, 0), groups=1),
                                         params=dict(weight=w, bias=np.zeros(2, np.float32)))])
    q = Graph("tiny", (3, 8, 8), [Layer("c", "conv2d", ("input",), (2, 8, 8),
                                        attrs=dict(stride=1, padding=(0, 0, 0, 0), groups=1),
                                        params=dict(weight=w.astype(np.int8), bias=np.zeros(2, np.int32),
                                                    multiplier=np.full(2, 2**30, np.int64),
                                                    shift=np.full(2, 31, np.int64)),
                                        out_q=QParams(0.1, 0))], input_q=QParams(0.1, 0))
    return fl, q


@pytest.mark.parametrize("bad_shape", [(3, 8, 9), (1, 3, 8), (2, 3, 8, 8), (8, 8)])
def test_wrong_input_shape_raises_shape_error(bad_shape):
    fl, q = _tiny_graphs()
    with pytest.raises(ShapeError) as err:
        run_float(fl, np.zeros(bad_shape, np.float32))
    assert "(3, 8, 8)" in str(err.value) and str(bad_shape) in str(err.value)
    with pytest.raises(ShapeError) as err:
        run_int8(q, np.zeros(bad_shape, np.int8))
    assert "(3, 8, 8)" in str(err.value) and str(bad_shape) in str(err.value)


def test_wrong_input_dtype_raises_shape_error():
    fl, q = _tiny_graphs()
    with pytest.raises(ShapeError, match="int8.*float32"):
        run_int8(q, np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ShapeError, match="float.*int8"):
        run_float(fl, np.zeros((3, 8, 8), np.int8))
    assert run_int8(q, np.zeros((1, 3, 8, 8), np.int8)).shape == (2, 8, 8)
