"""Post-training quantization: a float layer graph + calibration images -> an int8 graph.

Weights: symmetric per output channel (int8 in [-127, 127]), bias int32 at scale
x_scale * w_scale.  Activations: asymmetric per tensor from the min/max seen on the
calibration images (with 0 always representable), except the input's when the data fixes
it (`input_q`: the images' x_q = round(pixel - 127.5), a dataset's feature quantization).
ReLU / ReLU6 fold into the clamp (`act_min` = the zero point, `act_max` = the code of 6.0).
Pooling, max-pooling and flatten keep their input's quantization, as docs/int8-semantics.md
requires; a concat's output covers its inputs' ranges (quantization/concat.py).

Degenerate layers are named, not left to fail later with an anonymous requantize error: a
tensor that is constant on the calibration data has no range to take a scale from (TinyTrainError
naming the layer), and dead output channels (constant over every calibration sample and
position) are one warning naming each layer and how many.  An all-zero weight channel takes its
layer's largest channel scale, so its multiplier stays in the fixed-point range.
"""
from __future__ import annotations

import warnings

import numpy as np
from tqdm import tqdm

from ..errors import ShapeError, TinyTrainError
from ..graph import INPUT, Graph, Layer, QParams
from ..reference import run_float
from . import concat, lut
from .requant import add_requant, mul_requant, overflow_safe_bias, weight_layer_requant

INT32_MAX = 2**31 - 1


def quantize(graph: Graph, calibration, progress: bool = True, input_q: QParams | None = None) -> Graph:
    """An int8 copy of `graph`; `calibration` yields float inputs shaped like graph.input_shape.

    `input_q` fixes the input's quantization (e.g. `Dataset.input_q`) instead of calibrating it.
    """
    if graph.quantized:
        raise TinyTrainError(f"quantize: graph {graph.name!r} is already int8")
    ranges, dead, samples = _calibrate(graph, calibration, progress)
    _check_degenerate(graph, ranges, dead, samples, input_q is None)
    qgraph = Graph(graph.name, graph.input_shape, [], input_q=input_q or activation_q(*ranges[INPUT]),
                   output=graph.output)
    for layer in graph.layers:
        qgraph.layers.append(_QUANTIZE[layer.op](qgraph, layer, ranges))
    qgraph.renumber()
    return qgraph.check()


def calibrate(graph: Graph, calibration, progress: bool = True) -> dict[str, tuple[float, float]]:
    """Min and max of every tensor (the input and each layer output) over the calibration set."""
    return _calibrate(graph, calibration, progress)[0]


def _calibrate(graph: Graph, calibration, progress: bool):
    """(ranges as `calibrate`, {weight layer: per output channel, constant on every value?}, samples)."""
    ranges: dict[str, tuple[float, float]] = {}
    channel_ranges: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    weight_layers = {layer.name for layer in graph.layers if layer.has_weights}
    count = 0
    for x in tqdm(calibration, desc=f"calibrating {graph.name}", unit="img", disable=not progress):
        x = np.asarray(x, np.float32)
        if x.shape != graph.input_shape and x.shape != (1, *graph.input_shape):
            raise ShapeError(f"quantize: calibration input has shape {x.shape}, the model expects "
                             f"{graph.input_shape}")
        for name, value in run_float(graph, x, return_all=True).items():
            lo, hi = float(value.min()), float(value.max())
            old = ranges.get(name, (lo, hi))
            ranges[name] = (min(old[0], lo), max(old[1], hi))
            if name in weight_layers:
                per_channel = value.reshape(value.shape[0], -1)  # (C, H*W): no batch axis here
                c_lo, c_hi = per_channel.min(axis=1), per_channel.max(axis=1)
                old_lo, old_hi = channel_ranges.get(name, (c_lo, c_hi))
                channel_ranges[name] = (np.minimum(old_lo, c_lo), np.maximum(old_hi, c_hi))
        count += 1
    if count == 0:
        raise TinyTrainError("quantize: the calibration set is empty; pass at least one real input")
    values_per_channel = {l.name: count * int(np.prod(l.out_shape[1:])) for l in graph.layers if l.has_weights}
    dead = {name: lo == hi for name, (lo, hi) in channel_ranges.items() if values_per_channel[name] > 1}
    return ranges, dead, count


def _check_degenerate(graph: Graph, ranges, dead, samples: int, check_input: bool):
    """TinyTrainError for the first tensor with no range to quantize; one warning for dead channels."""
    fix = (f"calibrate on more or other data (these are {samples} sample(s)), or remove the layer (e.g. a ReLU "
           f"after a bias negative everywhere, or all-zero weights)")
    tensors = [(INPUT, "the model's input")] if check_input else []
    tensors += [(l.name, f"layer {l.name!r} ({l.op})") for l in graph.layers if l.op in _CALIBRATED]
    for name, what in tensors:
        lo, hi = ranges[name]
        if hi == lo or max(hi, 0.0) - min(lo, 0.0) < _MIN_SPAN:
            value = f"always {lo:g}" if hi == lo else f"within {lo:g}..{hi:g}"
            raise TinyTrainError(f"quantize: {what} is constant on all {samples} calibration sample(s) ({value}), "
                                 f"so it has no range to take an int8 scale from and carries no information; "
                                 f"{fix if name != INPUT else 'calibrate on real, varied inputs'}")
    found = [f"{name!r} {int(flags.sum())} of {flags.size}" for name, flags in dead.items() if flags.any()]
    if found:
        warnings.warn(f"quantize {graph.name}: dead output channels (constant on all {samples} calibration "
                      f"sample(s)): {', '.join(found)}; they carry nothing about the input; "
                      f"calibrate on more data or prune them", stacklevel=3)


def quantize_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Float input -> the int8 input of a quantized graph (adds the batch axis)."""
    q = graph.input_q
    x = np.asarray(x, np.float32).reshape(1, *graph.input_shape)
    return np.clip(np.round(x / q.scale) + q.zero, -128, 127).astype(np.int8)


def activation_q(lo: float, hi: float) -> QParams:
    """Per-tensor asymmetric int8 over [min(lo, 0), max(hi, 0)] (0 exact: padding and ReLU need it)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < _MIN_SPAN:
        hi = lo + _MIN_SPAN
    scale = (hi - lo) / 255.0
    zero = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return QParams(float(scale), zero)


def _clamp(act, out_q: QParams) -> dict:
    lo = out_q.zero if act in ("relu", "relu6") else -128
    hi = out_q.zero + int(np.round(6.0 / out_q.scale)) if act == "relu6" else 127
    return {"act_min": max(-128, lo), "act_max": min(127, hi)}


def _weight_layer(qgraph: Graph, layer: Layer, ranges) -> Layer:
    weight, bias = layer.params["weight"], layer.params["bias"]
    flat = np.abs(weight.reshape(weight.shape[0], -1)).max(axis=1)
    flat = np.where(flat > 0, flat, flat.max() if flat.max() > 0 else 1.0)  # all-zero channels: any scale is exact
    w_scale = (np.maximum(flat, 1e-12) / 127.0).astype(np.float32)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    w_q = np.clip(np.round(weight / w_scale.reshape(shape)), -127, 127).astype(np.int8)
    x_q = qgraph.q_of(layer.inputs[0])
    bias_q = np.round(bias.astype(np.float64) / (x_q.scale * w_scale.astype(np.float64)))
    bias_q = overflow_safe_bias(np.clip(bias_q, -INT32_MAX, INT32_MAX), w_q)
    out_q = activation_q(*ranges[layer.name])
    params = {"weight": w_q, "bias": bias_q, "w_scale": w_scale, **weight_layer_requant(x_q, w_scale, out_q)}
    attrs = {k: v for k, v in layer.attrs.items() if k != "act"}
    attrs.update(_clamp(layer.attrs.get("act"), out_q))
    return Layer(layer.name, layer.op, layer.inputs, layer.out_shape, attrs, params, out_q)


def _add(qgraph: Graph, layer: Layer, ranges) -> Layer:
    out_q = activation_q(*ranges[layer.name])
    qa, qb = (qgraph.q_of(s) for s in layer.inputs)
    attrs = {**add_requant(qa, qb, out_q), **_clamp(layer.attrs.get("act"), out_q)}
    return Layer(layer.name, "add", layer.inputs, layer.out_shape, attrs, {}, out_q)


def _mul(qgraph: Graph, layer: Layer, ranges) -> Layer:
    out_q = activation_q(*ranges[layer.name])
    qx, qg = (qgraph.q_of(s) for s in layer.inputs)
    attrs = {**mul_requant(qx, qg, out_q), **_clamp(layer.attrs.get("act"), out_q)}
    return Layer(layer.name, "mul", layer.inputs, layer.out_shape, attrs, {}, out_q)


def _lut(qgraph: Graph, layer: Layer, ranges) -> Layer:
    """The function's table from the input's and the output's quantization (the output's range is
    the function's own when bounded: Sigmoid, Hardsigmoid [0, 1], Tanh [-1, 1])."""
    fn, alpha = layer.attrs["fn"], float(layer.attrs.get("alpha", 0.0))
    out_q = activation_q(*lut.output_q(fn, ranges[layer.name]))
    table = lut.table(fn, alpha, qgraph.q_of(layer.inputs[0]), out_q)
    return Layer(layer.name, "lut", layer.inputs, layer.out_shape, {"fn": fn, "alpha": alpha}, {"table": table}, out_q)


def _concat(qgraph: Graph, layer: Layer, ranges) -> Layer:
    """The output covers every input's representable range (quantization/concat.py): no calibration."""
    in_qs = [qgraph.q_of(s) for s in layer.inputs]
    out_q = concat.output_q(in_qs)
    return Layer(layer.name, "concat", layer.inputs, layer.out_shape, concat.requant(in_qs, out_q), {}, out_q)


def _same_q(qgraph: Graph, layer: Layer, ranges) -> Layer:
    return Layer(layer.name, layer.op, layer.inputs, layer.out_shape, dict(layer.attrs), {},
                 qgraph.q_of(layer.inputs[0]))


_MIN_SPAN = 1e-8  # a real range narrower than this has no usable int8 scale
_CALIBRATED = ("conv2d", "linear", "add", "lut", "mul")  # the ops whose output scale comes from calibration
_QUANTIZE = {"conv2d": _weight_layer, "linear": _weight_layer, "add": _add, "mul": _mul,
             "avgpool": _same_q, "maxpool": _same_q, "flatten": _same_q, "lut": _lut,
             "concat": _concat}
