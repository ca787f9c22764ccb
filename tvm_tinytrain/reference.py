"""The numpy oracle: forward pass of a layer graph, in float32 and in exact int8.

This is the project's independent second implementation of the layer semantics
(docs/int8-semantics.md for int8, the torch operators for float).  It is written from
the spec and deliberately shares no code with the Relax lowering (quantization/lower.py):
the two are compared with each other, so a shared helper would hide a shared bug.  It
imports neither torch nor TVM, only numpy.

`run_float` is also the fp32 forward used for calibration, so it is vectorized:
convolutions are im2col + one (batched) matmul, depthwise convolutions loop over the
kernel taps (9 for 3x3), never over channels.

The int8 accumulators are exact: the convolution runs in float64 on integer values,
and every product (|x - zero| <= 255, |w| <= 128) and every partial sum is an integer
far below 2**53, so BLAS returns the exact integer whatever its summation order.  It
is then converted to int64 and requantized with integer arithmetic only.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .errors import ShapeError, TinyTrainError, UnsupportedOpError
from . import conv_geometry, pooling
from .graph import INPUT, Graph, Layer
from .quantization.lut import apply_float


# ---------------------------------------------------------------------------- helpers

def _pair(v) -> tuple[int, int]:
    if np.ndim(v) == 0:
        return int(v), int(v)
    a, b = (int(t) for t in v)
    return a, b


def _pad4(padding) -> tuple[int, int, int, int]:
    """(top, left, bottom, right); an int or (pad_h, pad_w) means symmetric padding."""
    if padding is None:
        return 0, 0, 0, 0
    if np.ndim(padding) == 0:
        return (int(padding),) * 4
    p = tuple(int(v) for v in padding)
    if len(p) == 2:
        return p[0], p[1], p[0], p[1]
    if len(p) != 4:
        raise TinyTrainError(f"padding must be (top, left, bottom, right), got {padding!r}")
    return p


def _pad(x, padding, value):
    top, left, bottom, right = padding
    if not (top or left or bottom or right):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right)), constant_values=value)


def _windows(x, kh, kw, sh, sw, layer):
    """(C, OH, OW, kh, kw) view of the kernel windows of an already padded x (C, H, W)."""
    if x.shape[1] < kh or x.shape[2] < kw:
        raise TinyTrainError(f"layer {layer.name!r} ({layer.op}): kernel {kh}x{kw} is larger than "
                             f"its padded input {x.shape[1]}x{x.shape[2]}")
    return sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]


def _rshift_round(v, shift):
    """(v + 2**(shift-1)) >> shift on int64, arithmetic shift: round half towards +inf."""
    return (v + (np.int64(1) << (shift - 1))) >> shift


def _requantize(acc, multiplier, shift, zero, lo, hi):
    v = _rshift_round(acc.astype(np.int64) * multiplier, shift) + np.int64(zero)
    return np.clip(v, lo, hi).astype(np.int8)


def _param(layer: Layer, key: str, kind: str):
    """A param (or attr) of the layer; kind 'float', 'int8' or 'int' checks its dtype."""
    value = layer.params.get(key, layer.attrs.get(key))
    if value is None:
        raise TinyTrainError(f"layer {layer.name!r} ({layer.op}) has no {key!r}")
    value = np.asarray(value)
    ok = {"float": np.issubdtype(value.dtype, np.floating),
          "int8": value.dtype == np.int8,
          "int": np.issubdtype(value.dtype, np.integer)}[kind]
    if not ok:
        raise TinyTrainError(f"layer {layer.name!r} ({layer.op}): {key!r} is {value.dtype}, expected "
                             f"{kind} (run_float needs a float graph, run_int8 a quantized one)")
    return value


def _channel_const(layer, key):
    """Per-output-channel int64 constant, shaped (O, 1, 1) for broadcasting."""
    return _param(layer, key, "int").astype(np.int64).reshape(-1, 1, 1)


def _act(y, act):
    if act is None:
        return y
    if act == "relu":
        return np.maximum(y, 0)
    if act == "relu6":
        return np.clip(y, 0, 6)
    raise UnsupportedOpError(f"unknown activation {act!r} (expected None, 'relu' or 'relu6')")


def _act_range(layer):
    return int(layer.attrs.get("act_min", -128)), int(layer.attrs.get("act_max", 127))


# ------------------------------------------------------------------- shared conv core

def _conv(x, w, layer):
    """Cross-correlation of x (C, H, W) with w (O, C/groups, kh, kw), zero padding, no bias.

    Computed in the common dtype of x and w (float32 for the float graph, float64 holding
    exact integers for the int8 graph).
    """
    c = x.shape[0]
    groups = int(layer.attrs.get("groups", 1))
    sh, sw = conv_geometry.strides(layer.attrs)
    dh, dw = conv_geometry.dilations(layer.attrs)
    if (dh, dw) != (1, 1):  # a dilated kernel is the dense one with zeros between its taps: they add 0
        dense = np.zeros(w.shape[:2] + (conv_geometry.extent(w.shape[2], dh), conv_geometry.extent(w.shape[3], dw)),
                         w.dtype)
        dense[:, :, ::dh, ::dw] = w
        w = dense
    o, cg, kh, kw = w.shape
    if groups < 1 or c % groups or o % groups or cg != c // groups:
        raise TinyTrainError(f"layer {layer.name!r}: weight {w.shape} with groups={groups} does not fit "
                             f"an input with {c} channels")
    x = _pad(x, _pad4(layer.attrs.get("padding")), 0)

    if groups == c:  # depthwise (channel multiplier o // c): loop over taps, not channels
        x = np.repeat(x, o // c, axis=0) if o != c else x
        oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
        _windows(x, kh, kw, sh, sw, layer)  # size check only
        out = np.zeros((o, oh, ow), dtype=np.result_type(x, w))
        for ky in range(kh):
            for kx in range(kw):
                tap = x[:, ky:ky + sh * (oh - 1) + 1:sh, kx:kx + sw * (ow - 1) + 1:sw]
                out += w[:, 0, ky, kx, None, None] * tap
        return out

    if kh == kw == 1 and sh == sw == 1:  # pointwise: no im2col copy
        oh, ow = x.shape[1:]
        cols = x.reshape(groups, cg, oh * ow)
    else:  # im2col per group: (groups, cg*kh*kw, OH*OW)
        win = _windows(x, kh, kw, sh, sw, layer)
        oh, ow = win.shape[1:3]
        cols = (win.reshape(groups, cg, oh, ow, kh, kw)
                .transpose(0, 1, 4, 5, 2, 3)
                .reshape(groups, cg * kh * kw, oh * ow))
    out = np.matmul(w.reshape(groups, o // groups, cg * kh * kw), cols)
    return out.reshape(o, oh, ow)


def _exact_int(acc_f64):
    """float64 holding exact integers -> int64."""
    return np.rint(acc_f64).astype(np.int64)


# ------------------------------------------------------------------------- float ops

def _conv2d_float(layer, args, graph):
    w = _param(layer, "weight", "float").astype(np.float32, copy=False)
    y = _conv(args[0], w, layer)
    if "bias" in layer.params and layer.params["bias"] is not None:
        y += _param(layer, "bias", "float").astype(np.float32).reshape(-1, 1, 1)
    return _act(y, layer.attrs.get("act"))


def _linear_float(layer, args, graph):
    w = _param(layer, "weight", "float").astype(np.float32, copy=False)
    y = w @ args[0].reshape(-1)
    if "bias" in layer.params and layer.params["bias"] is not None:
        y = y + _param(layer, "bias", "float").astype(np.float32)
    return _act(y, layer.attrs.get("act"))


def _add_float(layer, args, graph):
    a, b = _same_shape(layer, args)
    return _act(a + b, layer.attrs.get("act"))


def _avgpool_float(layer, args, graph):
    x = args[0]
    if pooling.is_global(layer.attrs):
        return x.mean(axis=(1, 2), keepdims=True, dtype=np.float32)
    (kh, kw), (sh, sw), pad = pooling.window(layer.attrs)
    sums = _windows(_pad(x, pad, 0), kh, kw, sh, sw, layer).sum(axis=(3, 4), dtype=np.float32)
    return sums / pooling.divisors(layer.attrs, x.shape[1:]).astype(np.float32)


def _maxpool(layer, x, pad_value):
    kh, kw = _pair(layer.attrs["kernel"])
    sh, sw = _pair(layer.attrs.get("stride", layer.attrs["kernel"]))
    x = _pad(x, _pad4(layer.attrs.get("padding")), pad_value)
    return _windows(x, kh, kw, sh, sw, layer).max(axis=(3, 4))


def _maxpool_float(layer, args, graph):
    return _maxpool(layer, args[0], -np.inf)


def _flatten(layer, args, graph):
    return args[0].reshape(-1)


def _same_shape(layer, args):
    a, b = args
    if a.shape != b.shape:
        raise TinyTrainError(f"layer {layer.name!r} (add): inputs {layer.inputs} have shapes "
                             f"{a.shape} and {b.shape}")
    return a, b


# -------------------------------------------------------------------------- int8 ops

def _conv2d_int8(layer, args, graph):
    x_zero = graph.q_of(layer.inputs[0]).zero
    w = _param(layer, "weight", "int8").astype(np.float64)
    acc = _exact_int(_conv(args[0].astype(np.float64) - x_zero, w, layer))
    acc += _channel_const(layer, "bias")
    return _requantize(acc, _channel_const(layer, "multiplier"), _channel_const(layer, "shift"),
                       graph.q_of(layer.name).zero, *_act_range(layer))


def _linear_int8(layer, args, graph):
    x_zero = graph.q_of(layer.inputs[0]).zero
    w = _param(layer, "weight", "int8").astype(np.float64)
    acc = _exact_int(w @ (args[0].reshape(-1).astype(np.float64) - x_zero))
    acc += _param(layer, "bias", "int").astype(np.int64).reshape(-1)
    mult = _param(layer, "multiplier", "int").astype(np.int64).reshape(-1)
    shift = _param(layer, "shift", "int").astype(np.int64).reshape(-1)
    return _requantize(acc, mult, shift, graph.q_of(layer.name).zero, *_act_range(layer))


def _add_int8(layer, args, graph):
    a, b = _same_shape(layer, args)
    a_zero, b_zero = (graph.q_of(name).zero for name in layer.inputs)
    v = ((a.astype(np.int64) - a_zero) * int(layer.attrs["multiplier_a"])
         + (b.astype(np.int64) - b_zero) * int(layer.attrs["multiplier_b"]))
    return _requantize(v, 1, np.int64(layer.attrs["shift"]), graph.q_of(layer.name).zero, *_act_range(layer))


def _gated(layer, args):
    """(x, gate): the gate (C, 1, 1) or x's shape, broadcast over x's H x W."""
    x, g = args
    if x.ndim != 3 or g.shape not in (x.shape, (x.shape[0], 1, 1)):
        raise TinyTrainError(f"layer {layer.name!r} (mul): inputs {layer.inputs} have shapes {x.shape} and "
                             f"{g.shape}; the second must be (C, 1, 1) or the first's shape")
    return x, g


def _mul_float(layer, args, graph):
    x, g = _gated(layer, args)
    return _act(x * g, layer.attrs.get("act"))


def _mul_int8(layer, args, graph):
    x, g = _gated(layer, args)
    x_zero, g_zero = (graph.q_of(name).zero for name in layer.inputs)
    acc = (x.astype(np.int64) - x_zero) * (g.astype(np.int64) - g_zero)
    return _requantize(acc, np.int64(layer.attrs["multiplier"]), np.int64(layer.attrs["shift"]),
                       graph.q_of(layer.name).zero, *_act_range(layer))


def _avgpool_int8(layer, args, graph):
    """round_half_even(window sum / n), exactly in integers; keeps the input's quantization. Padding
    holds the zero point (real 0); n is the window size or, without count_include_pad, the number of
    input elements in it (docs/int8-semantics.md)."""
    x = args[0].astype(np.int64)
    if pooling.is_global(layer.attrs):
        total, n = x.sum(axis=(1, 2), keepdims=True), x.shape[1] * x.shape[2]
    else:
        (kh, kw), (sh, sw), pad = pooling.window(layer.attrs)
        n = pooling.divisors(layer.attrs, x.shape[1:])
        valid = _windows(_pad(np.ones_like(x[:1]), pad, 0), kh, kw, sh, sw, layer).sum(axis=(3, 4))
        zero = graph.q_of(layer.inputs[0]).zero
        total = _windows(_pad(x, pad, 0), kh, kw, sh, sw, layer).sum(axis=(3, 4)) + (n - valid) * zero
    return np.clip(pooling.round_half_even_div(total, n), -128, 127).astype(np.int8)


def _maxpool_int8(layer, args, graph):
    # -128 padding never wins against a real value, i.e. outside positions are ignored
    return _maxpool(layer, args[0], np.int8(-128))


def _lut_float(layer, args, graph):
    return apply_float(layer.attrs["fn"], layer.attrs.get("alpha", 0.0), args[0])


def _lut_int8(layer, args, graph):
    """table[x + 128]: the layer's function, exact for every int8 input (quantization/lut.py)."""
    table = _param(layer, "table", "int8")
    if table.shape != (256,):
        raise TinyTrainError(f"layer {layer.name!r} (lut): table has shape {table.shape}, expected (256,)")
    return table[args[0].astype(np.int64) + 128]


def _concat_parts(layer, args):
    """The inputs, checked: 2 or more (C_i, H, W) tensors of one H x W."""
    if len(args) < 2 or any(a.ndim != 3 or a.shape[1:] != args[0].shape[1:] for a in args):
        raise TinyTrainError(f"layer {layer.name!r} (concat): inputs {layer.inputs} have shapes "
                             f"{[a.shape for a in args]}; it joins 2 or more (C, H, W) maps of one H x W")
    return args


def _concat_float(layer, args, graph):
    return np.concatenate(_concat_parts(layer, args), axis=0)


def _concat_int8(layer, args, graph):
    """Each input requantized to the output's quantization (quantization/concat.py), then joined."""
    y_zero = graph.q_of(layer.name).zero
    parts = [_requantize(x.astype(np.int64) - graph.q_of(src).zero, np.int64(m), np.int64(s), y_zero, -128, 127)
             for x, src, m, s in zip(_concat_parts(layer, args), layer.inputs, layer.attrs["multipliers"],
                                     layer.attrs["shifts"], strict=True)]
    return np.concatenate(parts, axis=0)


FLOAT_OPS = {"conv2d": _conv2d_float, "linear": _linear_float, "add": _add_float, "mul": _mul_float,
             "avgpool": _avgpool_float, "maxpool": _maxpool_float, "flatten": _flatten, "lut": _lut_float,
             "concat": _concat_float}
INT8_OPS = {"conv2d": _conv2d_int8, "linear": _linear_int8, "add": _add_int8, "mul": _mul_int8,
            "avgpool": _avgpool_int8, "maxpool": _maxpool_int8, "flatten": _flatten, "lut": _lut_int8,
            "concat": _concat_int8}


# -------------------------------------------------------------------------- executor

def _check_input(graph: Graph, x, want: str):
    expected = tuple(int(s) for s in graph.input_shape)
    x = np.asarray(x)
    if x.ndim == len(expected) + 1 and x.shape[0] == 1:
        x = x[0]
    dtype_ok = x.dtype == np.int8 if want == "int8" else np.issubdtype(x.dtype, np.floating)
    if x.shape != expected or not dtype_ok:
        raise ShapeError(f"reference forward of {graph.name!r}: expected a {want} input of shape "
                         f"{expected} (or (1, *{expected})), found {x.dtype} {tuple(x.shape)}")
    return x


def _run(graph: Graph, x, ops, return_all):
    values = {INPUT: x}
    for layer in graph.layers:
        if layer.op not in ops:
            raise UnsupportedOpError(f"reference: layer {layer.name!r} has unknown op {layer.op!r}")
        missing = [name for name in layer.inputs if name not in values]
        if missing:
            raise TinyTrainError(f"reference: layer {layer.name!r} reads {missing} before they are computed")
        y = ops[layer.op](layer, [values[name] for name in layer.inputs], graph)
        if y.shape != tuple(layer.out_shape):
            raise TinyTrainError(f"reference: layer {layer.name!r} ({layer.op}) computed shape {y.shape} "
                                 f"but the graph declares {tuple(layer.out_shape)}")
        values[layer.name] = y
    return values if return_all else values[graph.output]


def run_float(graph: Graph, x, return_all: bool = False):
    """fp32 forward of a float graph on x (C, H, W) or (1, C, H, W).

    Returns the output of `graph.output`, or with return_all a dict {layer name: output}
    that also holds "input".
    """
    x = _check_input(graph, x, "float").astype(np.float32)
    return _run(graph, x, FLOAT_OPS, return_all)


def run_int8(graph: Graph, x_q, return_all: bool = False):
    """Exact int8 forward of a quantized graph (docs/int8-semantics.md) on int8 x_q (C, H, W).

    Returns the int8 output of `graph.output`, or with return_all a dict
    {layer name: int8 output} that also holds "input".
    """
    if not graph.quantized:
        raise TinyTrainError(f"run_int8: graph {graph.name!r} is not quantized (it has no input_q); "
                             f"use run_float or quantize it first")
    x_q = _check_input(graph, x_q, "int8")
    return _run(graph, x_q, INT8_OPS, return_all)
