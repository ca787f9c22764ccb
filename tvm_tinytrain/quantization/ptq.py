"""Post-training quantization: a float layer graph + calibration images -> an int8 graph.

Weights: symmetric per output channel (int8 in [-127, 127]), bias int32 at scale
x_scale * w_scale.  Activations: asymmetric per tensor from the min/max seen on the
calibration images (with 0 always representable), except the input's when the data fixes
it (`input_q`: the images' x_q = round(pixel - 127.5), a dataset's feature quantization).
ReLU / ReLU6 fold into the clamp (`act_min` = the zero point, `act_max` = the code of 6.0).
Pooling, max-pooling and flatten keep their input's quantization, as docs/int8-semantics.md
requires.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from ..errors import ShapeError, TinyTrainError
from ..graph import INPUT, Graph, Layer, QParams
from ..reference import run_float
from .requant import add_requant, overflow_safe_bias, weight_layer_requant

INT32_MAX = 2**31 - 1


def quantize(graph: Graph, calibration, progress: bool = True, input_q: QParams | None = None) -> Graph:
    """An int8 copy of `graph`; `calibration` yields float inputs shaped like graph.input_shape.

    `input_q` fixes the input's quantization (e.g. `Dataset.input_q`) instead of calibrating it.
    """
    if graph.quantized:
        raise TinyTrainError(f"quantize: graph {graph.name!r} is already int8")
    ranges = calibrate(graph, calibration, progress)
    qgraph = Graph(graph.name, graph.input_shape, [], input_q=input_q or _activation_q(*ranges[INPUT]),
                   output=graph.output)
    for layer in graph.layers:
        qgraph.layers.append(_QUANTIZE[layer.op](qgraph, layer, ranges))
    qgraph.renumber()
    return qgraph.check()


def calibrate(graph: Graph, calibration, progress: bool = True) -> dict[str, tuple[float, float]]:
    """Min and max of every tensor (the input and each layer output) over the calibration set."""
    ranges: dict[str, tuple[float, float]] = {}
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
        count += 1
    if count == 0:
        raise TinyTrainError("quantize: the calibration set is empty; pass at least one real input")
    return ranges


def quantize_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Float input -> the int8 input of a quantized graph (adds the batch axis)."""
    q = graph.input_q
    x = np.asarray(x, np.float32).reshape(1, *graph.input_shape)
    return np.clip(np.round(x / q.scale) + q.zero, -128, 127).astype(np.int8)


def _activation_q(lo: float, hi: float) -> QParams:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
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
    w_scale = (np.maximum(flat, 1e-12) / 127.0).astype(np.float32)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    w_q = np.clip(np.round(weight / w_scale.reshape(shape)), -127, 127).astype(np.int8)
    x_q = qgraph.q_of(layer.inputs[0])
    bias_q = np.round(bias.astype(np.float64) / (x_q.scale * w_scale.astype(np.float64)))
    bias_q = overflow_safe_bias(np.clip(bias_q, -INT32_MAX, INT32_MAX), w_q)
    out_q = _activation_q(*ranges[layer.name])
    params = {"weight": w_q, "bias": bias_q, "w_scale": w_scale, **weight_layer_requant(x_q, w_scale, out_q)}
    attrs = {k: v for k, v in layer.attrs.items() if k != "act"}
    attrs.update(_clamp(layer.attrs.get("act"), out_q))
    return Layer(layer.name, layer.op, layer.inputs, layer.out_shape, attrs, params, out_q)


def _add(qgraph: Graph, layer: Layer, ranges) -> Layer:
    out_q = _activation_q(*ranges[layer.name])
    qa, qb = (qgraph.q_of(s) for s in layer.inputs)
    attrs = {**add_requant(qa, qb, out_q), **_clamp(layer.attrs.get("act"), out_q)}
    return Layer(layer.name, "add", layer.inputs, layer.out_shape, attrs, {}, out_q)


def _same_q(qgraph: Graph, layer: Layer, ranges) -> Layer:
    return Layer(layer.name, layer.op, layer.inputs, layer.out_shape, dict(layer.attrs), {},
                 qgraph.q_of(layer.inputs[0]))


_QUANTIZE = {"conv2d": _weight_layer, "linear": _weight_layer, "add": _add,
             "avgpool": _same_q, "maxpool": _same_q, "flatten": _same_q}
