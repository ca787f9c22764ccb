"""The per-layer table printed by `tvm-tinytrain inspect`.

`index` is the scheme index: conv and linear layers counted from the input, first conv = 0
(DESIGN.md section 3), the numbers sparse-update schemes use.  Byte counts are for the
int8 deployment: weights 1 byte, biases 4 bytes (int32), activations 1 byte.
"""
from __future__ import annotations

import numpy as np

from . import conv_geometry
from .graph import Graph

COLUMNS = ("index", "layer", "op", "in_shape", "out_shape", "macs", "params", "weight_bytes", "act_bytes")


def layer_rows(graph: Graph) -> list[dict]:
    rows = []
    for layer in graph.layers:
        in_shape = graph.shape_of(layer.inputs[0])
        weight = layer.params.get("weight")
        bias = layer.params.get("bias")
        n_weight = int(weight.size) if weight is not None else 0
        n_bias = int(bias.size) if bias is not None else 0
        rows.append({
            "index": layer.conv_index,
            "layer": layer.name,
            "op": layer.op + _depthwise(layer) + _groups(layer) + _geometry(layer),
            "in_shape": list(in_shape),
            "out_shape": list(layer.out_shape),
            "macs": layer.macs(in_shape),
            "params": n_weight + n_bias,
            "weight_bytes": n_weight + 4 * n_bias,
            "act_bytes": int(np.prod(layer.out_shape)),
        })
    return rows


def _geometry(layer) -> str:
    """`/s2x1` for unequal strides, `/d2x2` for a dilation: what runs on the portable geometry kernels."""
    if layer.op != "conv2d" or conv_geometry.is_plain(layer.attrs):
        return ""
    (sh, sw), (dh, dw) = conv_geometry.strides(layer.attrs), conv_geometry.dilations(layer.attrs)
    return (f"/s{sh}x{sw}" if sh != sw else "") + (f"/d{dh}x{dw}" if (dh, dw) != (1, 1) else "")


def _depthwise(layer) -> str:
    """`/dw3x3` for a depthwise conv (weight (C, 1, kh, kw)), `/dw3x3/m2` with a channel multiplier
    (weight (2 * C, 1, kh, kw)): a scheme's k counts its C channels either way."""
    shape = layer.params["weight"].shape if layer.op == "conv2d" else None
    if not (layer.op == "conv2d" and layer.attrs["groups"] > 1 and shape[1] == 1):
        return ""
    mult = shape[0] // layer.attrs["groups"]
    return f"/dw{shape[2]}x{shape[3]}" + (f"/m{mult}" if mult > 1 else "")


def _groups(layer) -> str:
    """`/g4` for a grouped conv (1 < groups, several inputs per group)."""
    grouped = layer.op == "conv2d" and layer.attrs["groups"] > 1 and layer.params["weight"].shape[1] > 1
    return f"/g{layer.attrs['groups']}" if grouped else ""


def format_table(graph: Graph) -> str:
    rows = layer_rows(graph)
    cells = [[_cell(r[c]) for c in COLUMNS] for r in rows]
    totals = {"macs": sum(r["macs"] for r in rows), "params": sum(r["params"] for r in rows),
              "weight_bytes": sum(r["weight_bytes"] for r in rows)}
    cells.append(["", "total", "", "", "", *(_cell(totals[c]) for c in ("macs", "params", "weight_bytes")),
                  _cell(max(r["act_bytes"] for r in rows))])
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    kind = "int8" if graph.quantized else "fp32 (byte counts for int8 deployment)"
    lines = [f"{graph.name}: input {list(graph.input_shape)}, {len(graph.weight_layers())} conv/linear layers, {kind}",
             "  ".join(c.rjust(w) if i != 1 else c.ljust(w) for i, (c, w) in enumerate(zip(COLUMNS, widths)))]
    for row in cells:
        lines.append("  ".join(v.rjust(w) if i != 1 else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths))))
    lines.append("(act_bytes of the total row: the largest single activation)")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "x".join(str(v) for v in value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
