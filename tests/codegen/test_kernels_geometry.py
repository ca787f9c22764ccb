"""The tt_conv2d_geom_* kernels (any strides (sh, sw) and dilations (dh, dw)) through ctypes, on random
geometries (hypothesis, groups 1, depthwise and grouped): the int8 forward equals the numpy reference
(reference.py) bit for bit, the float input and weight gradients equal PyTorch's conv_transpose2d / unfold in float64 within float32
rounding, and on the plain geometry (one stride, no dilation) each equals the existing kernel's generic
path bit for bit (the same loops, the same summation order)."""
from ctypes import POINTER, byref, c_float, c_int8, c_int32

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from tvm_tinytrain.codegen import kernel_abi
from tvm_tinytrain.graph import Graph, Layer, QParams
from tvm_tinytrain.reference import run_int8

SETTINGS = settings(max_examples=40, deadline=None)
STRUCTS = kernel_abi.structs()
Dims, Geom, ConvParams, QuantParams = (STRUCTS[n] for n in ("tt_dims", "tt_conv_geom", "tt_conv_params",
                                                            "tt_quant_params"))
TT_OK, TT_ERR_ARG = 0, -1


@pytest.fixture(scope="module")
def lib():
    return kernel_abi.typed()


def ptr(a, ctype):
    assert a.flags.c_contiguous
    return a.ctypes.data_as(POINTER(ctype))


@st.composite
def geometries(draw, plain=False, kinds=("dense", "depthwise", "grouped")):
    """Dense, depthwise or grouped convs, kernels 1..4 (non-square), strides 1..3 and dilations 1..4
    per axis (or one stride, no dilation with `plain`), padding below the dilated span, h, w 1..14."""
    kind = draw(st.sampled_from(kinds))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if kind == "depthwise":
        c = o = groups = draw(st.integers(1, 12))
    elif kind == "grouped":
        groups = draw(st.integers(2, 3))
        c, o = groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, 4))
    else:
        groups, c, o = 1, draw(st.integers(1, 10)), draw(st.integers(1, 10))
    if plain:
        sh = sw = draw(st.integers(1, 3))
        dh = dw = 1
    else:
        sh, sw, dh, dw = (draw(st.integers(1, n)) for n in (3, 3, 4, 4))
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    top, bottom = draw(st.integers(0, span_h - 1)), draw(st.integers(0, span_h - 1))
    left, right = draw(st.integers(0, span_w - 1)), draw(st.integers(0, span_w - 1))
    h = draw(st.integers(max(1, span_h - top - bottom), 14))
    w = draw(st.integers(max(1, span_w - left - right), 14))
    return dict(c=c, o=o, groups=groups, kh=kh, kw=kw, h=h, w=w, stride=(sh, sw), dilation=(dh, dw),
                padding=(top, left, bottom, right), oh=(h + top + bottom - span_h) // sh + 1,
                ow=(w + left + right - span_w) // sw + 1)


def _geom(case, groups=None):
    (sh, sw), (dh, dw) = case["stride"], case["dilation"]
    return Geom(sh, sw, dh, dw, *case["padding"], case["groups"] if groups is None else groups)


def _plain_params(case, groups=None):
    return ConvParams(case["stride"][0], *case["padding"], case["groups"] if groups is None else groups)


def _data(case, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (case["c"], case["h"], case["w"]), dtype=np.int8)
    w = rng.integers(-128, 128, (case["o"], case["c"] // case["groups"], case["kh"], case["kw"]), dtype=np.int8)
    d = rng.standard_normal((case["o"], case["oh"], case["ow"])).astype(np.float32)
    w_scale = rng.uniform(1e-3, 2e-2, case["o"]).astype(np.float32)
    return rng, x, w, d, w_scale


def _forward(lib, fn, params, case, x, w, rq):
    bias, mult, shift = rq["bias"], rq["mult"], rq["shift"]
    q = QuantParams(rq["x_zero"], rq["y_zero"], -128, 127)
    y = np.full((case["o"], case["oh"], case["ow"]), 99, np.int8)
    rc = getattr(lib, fn)(ptr(x, c_int8), Dims(case["c"], case["h"], case["w"]), ptr(w, c_int8), case["kh"], case["kw"],
                          ptr(bias, c_int32), ptr(mult, c_int32), ptr(shift, c_int32), byref(params), byref(q),
                          ptr(y, c_int8), Dims(case["o"], case["oh"], case["ow"]))
    return rc, y


def _requant(rng, case):
    fan_in = case["c"] // case["groups"] * case["kh"] * case["kw"]
    base = 30 + int(round(np.log2(np.sqrt(fan_in) * 74 * 74 / 40)))
    return dict(bias=rng.integers(-2**16, 2**16, case["o"]).astype(np.int32),
                mult=rng.integers(2**30, 2**31, case["o"]).astype(np.int32),
                shift=np.clip(base + rng.integers(-2, 3, case["o"]), 20, 45).astype(np.int32),
                x_zero=int(rng.integers(-128, 128)), y_zero=int(rng.integers(-128, 128)))


def _reference(case, x, w, rq):
    attrs = dict(stride=case["stride"], padding=case["padding"], groups=case["groups"], act_min=-128, act_max=127)
    if case["dilation"] != (1, 1):
        attrs["dilation"] = case["dilation"]
    layer = Layer("conv", "conv2d", ("input",), (case["o"], case["oh"], case["ow"]), attrs=attrs,
                  params=dict(weight=w, bias=rq["bias"], multiplier=rq["mult"].astype(np.int64),
                              shift=rq["shift"].astype(np.int64)), out_q=QParams(0.05, rq["y_zero"]))
    return run_int8(Graph("conv", (case["c"], case["h"], case["w"]), [layer], input_q=QParams(0.02, rq["x_zero"])), x)


@SETTINGS
@given(case=geometries(), seed=st.integers(0, 2**32 - 1))
def test_geom_forward_matches_reference(lib, case, seed):
    rng, x, w, _, _ = _data(case, seed)
    rq = _requant(rng, case)
    rc, y = _forward(lib, "tt_conv2d_geom_s8", _geom(case), case, x, w, rq)
    assert rc == TT_OK
    np.testing.assert_array_equal(y, _reference(case, x, w, rq))


def _padded_input_grad(case, d, w, w_scale):
    """dx in float64 by PyTorch: the transposed conv over the padded input, then the padding cut off."""
    top, left, _, _ = case["padding"]
    w_r = torch.from_numpy(w.astype(np.float64) * w_scale.astype(np.float64)[:, None, None, None])
    full = F.conv_transpose2d(torch.from_numpy(d.astype(np.float64))[None], w_r, stride=case["stride"],
                              dilation=case["dilation"], groups=case["groups"])[0]
    hp, wp = case["h"] + top + case["padding"][2], case["w"] + left + case["padding"][3]
    full = F.pad(full, (0, wp - full.shape[2], 0, hp - full.shape[1]))
    return full[:, top:top + case["h"], left:left + case["w"]].numpy()


def _input_grad(lib, fn, params, case, d, w, w_scale):
    dx = np.full((case["c"], case["h"], case["w"]), np.nan, np.float32)
    rc = getattr(lib, fn)(ptr(d, c_float), Dims(case["o"], case["oh"], case["ow"]), ptr(w, c_int8), case["kh"],
                          case["kw"], ptr(w_scale, c_float), byref(params), ptr(dx, c_float),
                          Dims(case["c"], case["h"], case["w"]))
    return rc, dx


@SETTINGS
@given(case=geometries(), seed=st.integers(0, 2**32 - 1))
def test_geom_input_gradient_matches_torch(lib, case, seed):
    _, _, w, d, w_scale = _data(case, seed)
    rc, dx = _input_grad(lib, "tt_conv2d_geom_grad_input_f32", _geom(case), case, d, w, w_scale)
    assert rc == TT_OK
    expect = _padded_input_grad(case, d, w, w_scale)
    np.testing.assert_allclose(dx, expect, rtol=1e-5, atol=1e-5 * max(np.abs(expect).max(), 1e-30))


def _weight_grad(lib, fn, params, case, x, d, depthwise, k, x_zero, x_scale, groups=1):
    """`groups` > 1: a grouped conv's weight[:, :k], x the leading k channels of each group, group after group."""
    xk = np.ascontiguousarray(x.reshape(groups, -1, case["h"], case["w"])[:, :k].reshape(-1, case["h"], case["w"]))
    rows, cols = (k, 1) if depthwise else (case["o"], k)
    dw = np.full((rows, cols, case["kh"], case["kw"]), np.nan, np.float32)
    rc = getattr(lib, fn)(ptr(xk, c_int8), Dims(len(xk), case["h"], case["w"]), x_zero, x_scale, ptr(d, c_float),
                          Dims(case["o"], case["oh"], case["ow"]), case["kh"], case["kw"], byref(params),
                          int(depthwise), ptr(dw, c_float))
    return rc, dw


@SETTINGS
@given(case=geometries(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_geom_weight_gradient_matches_torch(lib, case, seed, data):
    """Groups 1 on the k leading input channels, depthwise on the k leading channels, grouped on the k
    leading input channels of every group (weight[:, :k])."""
    groups = case["groups"]
    depthwise = groups == case["c"] == case["o"] > 1
    grouped = groups > 1 and not depthwise
    rng, x, w, d, _ = _data(case, seed)
    k = data.draw(st.integers(1, case["c"] // groups if grouped else case["c"]))
    x_zero, x_scale = int(rng.integers(-128, 128)), float(np.float32(rng.uniform(1e-3, 5e-2)))
    params = _geom(case, groups=case["o"] if depthwise else groups)
    rc, dw = _weight_grad(lib, "tt_conv2d_geom_grad_weight_f32", params, case, x, d, depthwise, k, x_zero, x_scale,
                          groups=groups if grouped else 1)
    assert rc == TT_OK
    x_r = torch.from_numpy((x.astype(np.float64) - x_zero) * x_scale)
    cols = F.unfold(F.pad(x_r[None], (case["padding"][1], case["padding"][3], case["padding"][0], case["padding"][2])),
                    (case["kh"], case["kw"]), dilation=case["dilation"], stride=case["stride"])[0]
    cols = cols.reshape(case["c"], case["kh"] * case["kw"], -1)
    d64 = torch.from_numpy(d.astype(np.float64)).reshape(case["o"], -1)
    if depthwise:
        expect = torch.einsum("cp,ctp->ct", d64[:k], cols[:k]).reshape(k, 1, case["kh"], case["kw"])
    elif grouped:  # output o reads input channel (o's group) * C/groups + i
        by_group = cols.reshape(groups, case["c"] // groups, case["kh"] * case["kw"], -1)[:, :k]
        expect = torch.einsum("gmp,gctp->gmct", d64.reshape(groups, case["o"] // groups, -1), by_group)
        expect = expect.reshape(case["o"], k, case["kh"], case["kw"])
    else:
        expect = torch.einsum("op,ctp->oct", d64, cols[:k]).reshape(case["o"], k, case["kh"], case["kw"])
    expect = expect.numpy()
    np.testing.assert_allclose(dw, expect, rtol=1e-5, atol=1e-5 * max(np.abs(expect).max(), 1e-30))


@SETTINGS
@given(case=geometries(plain=True), seed=st.integers(0, 2**32 - 1))
def test_plain_geometry_equals_the_existing_kernels(lib, case, seed):
    """One stride and no dilation: the forward equals tt_conv2d_general_s8, the gradients equal
    tt_conv2d_grad_input_f32 / tt_conv2d_grad_weight_f32 bit for bit where those take their generic
    loops (not a 1x1 without padding, not a depthwise input gradient, which have paths of their own)."""
    rng, x, w, d, w_scale = _data(case, seed)
    rq = _requant(rng, case)
    assert np.array_equal(_forward(lib, "tt_conv2d_geom_s8", _geom(case), case, x, w, rq)[1],
                          _forward(lib, "tt_conv2d_general_s8", _plain_params(case), case, x, w, rq)[1])
    pointwise_unpadded = case["kh"] == case["kw"] == 1 and case["stride"] == (1, 1)
    depthwise = case["groups"] == case["c"] == case["o"] and case["groups"] > 1
    if not (pointwise_unpadded and case["groups"] == 1) and not depthwise:
        rc, dx = _input_grad(lib, "tt_conv2d_geom_grad_input_f32", _geom(case), case, d, w, w_scale)
        rc_old, dx_old = _input_grad(lib, "tt_conv2d_grad_input_f32", _plain_params(case), case, d, w, w_scale)
        assert rc == rc_old == TT_OK and np.array_equal(dx, dx_old)
    if case["groups"] == 1 and not pointwise_unpadded:
        args = (case, x, d, False, case["c"], int(rng.integers(-128, 128)), 0.0123)
        rc, dw = _weight_grad(lib, "tt_conv2d_geom_grad_weight_f32", _geom(case), *args)
        rc_old, dw_old = _weight_grad(lib, "tt_conv2d_grad_weight_f32", _plain_params(case), *args)
        assert rc == rc_old == TT_OK and np.array_equal(dw, dw_old)


def test_geom_kernels_refuse_a_wrong_geometry(lib):
    """A dilation or stride of 0, or an output size the window does not give, is TT_ERR_ARG."""
    case = dict(c=2, o=2, groups=1, kh=3, kw=3, h=8, w=8, stride=(2, 1), dilation=(2, 2), padding=(2, 2, 2, 2),
                oh=4, ow=8)
    rng, x, w, d, w_scale = _data(case, 0)
    rq = _requant(rng, case)
    assert _forward(lib, "tt_conv2d_geom_s8", _geom(case), case, x, w, rq)[0] == TT_OK
    for bad in ({"dilation": (0, 2)}, {"stride": (2, 0)}, {"oh": 5}):
        wrong = {**case, **bad}
        assert _forward(lib, "tt_conv2d_geom_s8", _geom(wrong), wrong, x, w, rq)[0] == TT_ERR_ARG, bad
        if "oh" not in bad:
            assert _input_grad(lib, "tt_conv2d_geom_grad_input_f32", _geom(wrong), case, d, w, w_scale)[0] == TT_ERR_ARG
            assert _weight_grad(lib, "tt_conv2d_geom_grad_weight_f32", _geom(wrong), case, x, d, False, 2, 0,
                                0.1)[0] == TT_ERR_ARG
