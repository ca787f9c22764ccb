"""memory_analysis: liveness of every tensor of the training step, and the peak.

An analysis, not a rewrite.  It walks `main` in order: each tt op's output is born at its
op and dies at its last use; the step's input sample is born at op 0.  Sizes are the
bytes a device needs: numpy item sizes, and 1 bit per element for bool masks (the clamp
gradients are stored bit-packed).  Parameter updates (`sgd_*`) write their parameter in
place, so they allocate nothing.  Live bytes at op i count every tensor with
birth <= i <= death (an op's inputs and output are live together).

Parameters are reported apart from the arena: `param_bytes` (all), `updated_param_bytes`
(what training writes: the updated channel slices of int8 weights, biases, float
parameters), which live in SRAM on a device while the rest can stay in flash.

What `main` returns (the loss) lives to the end.  An element-wise op (`scale_channels`, `mask_grad`,
`grad_add`) whose first input dies at that op writes over it: the two share one buffer; so do
the in-place depthwise ops, whose output may be smaller than their input.  Ops computed a slice
at a time have a scratch tensor, born and dead at the op (`scratch_bytes`): one channel for
`expand_depthwise_s8` and the in-place depthwise ops, a few rows for `conv_dw_pw_rows_s8`,
UPDATE_ROWS rows of the float gradient for `grad_update` (which, like the `sgd_*` ops, writes
its parameter in place).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .training_graph import main_attr, op_bindings, result_fields

IN_PLACE_OPS = {"sgd_s8", "sgd_s32", "sgd_f32", "grad_update"}
# Element-wise float ops that may write over their first input when it dies there.
REUSES_INPUT = {"scale_channels", "mask_grad", "grad_add"}
# Ops that write their (possibly smaller) output over their first input, which dies there.
WRITES_OVER_INPUT = {"depthwise_inplace_s8", "depthwise_grad_input_inplace"}
# Output rows of a weight whose float gradient `grad_update` holds at a time: four keeps the
# blocked 4 x 4 pointwise gradient kernel at full speed for 16 floats per input channel.
UPDATE_ROWS = 4


def tensor_bytes(ty) -> int:
    n = int(np.prod([int(s) for s in ty.shape])) if len(ty.shape) else 1
    dtype = str(ty.dtype)
    if dtype == "bool":
        return (n + 7) // 8
    return n * np.dtype(dtype).itemsize


def _shape(expr) -> list[int]:
    return [int(s) for s in expr.ty.shape]


def update_rows(b) -> tuple[int, int]:
    """(rows, floats per row) of the gradient a `grad_update` op computes: the updated slice of its
    weight, rows being output channels (depthwise: the k updated channels)."""
    shape = _shape(b.args[0])
    a = b.attrs["update_attrs"]
    if b.attrs["update"] == "sgd_s8":
        shape[0 if a["depthwise"] else 1] = a["k"]
    return shape[0], int(np.prod(shape[1:]))


def scratch_bytes(b) -> int:
    """Working bytes an op's kernel needs besides its inputs and output."""
    if b.op == "expand_depthwise_s8":
        return int(np.prod(_shape(b.args[0])[2:]))  # one expanded channel
    if b.op == "conv_dw_pw_rows_s8":  # as tt_conv_dw_pw_rows_s8_get_buffer_size
        (_, c_in, _, w_in), (_, c_out, _, w_out) = _shape(b.args[0]), _shape(b.var)
        (c_mid, _, kh_a, kw_a), kh_b = _shape(b.args[1]), _shape(b.args[5])[2]
        conv = b.attrs["conv"]
        w_mid = (w_in + conv["padding"][1] + conv["padding"][3] - kw_a) // conv["stride"] + 1
        parts = [c_in * kh_a * w_in, c_mid * w_mid, c_mid * kh_b * w_mid, c_mid * w_out, c_out * w_out]
        return sum((p + 7) // 8 * 8 for p in parts)  # x band, mid row, mid window, depthwise row, output row
    if b.op in WRITES_OVER_INPUT:  # one output channel
        return int(np.prod(_shape(b.var)[2:])) * np.dtype(str(b.var.ty.dtype)).itemsize
    if b.op == "grad_update":
        rows, per_row = update_rows(b)
        return min(rows, UPDATE_ROWS) * per_row * 4
    return 0


@dataclass
class Tensor:
    name: str
    op: str
    layer: str
    bytes: int
    birth: int
    death: int


@dataclass
class MemoryReport:
    tensors: list[Tensor]
    live: list[int]                 # live bytes at each op
    ops: list[tuple[str, str]]      # (op, layer) of each op
    param_bytes: int
    updated_param_bytes: int
    record_of: dict = field(default_factory=dict, repr=False)  # Relax var -> its Tensor (buffer)
    scratch_of: dict = field(default_factory=dict, repr=False)  # Relax var -> its op's scratch Tensor
    peak_bytes: int = field(init=False)
    peak_op: int = field(init=False)

    def __post_init__(self):
        self.peak_op = int(np.argmax(self.live)) if self.live else 0
        self.peak_bytes = self.live[self.peak_op] if self.live else 0

    def live_at(self, i: int) -> list[Tensor]:
        return [t for t in self.tensors if t.birth <= i <= t.death]

    def to_json(self) -> dict:
        return {"peak_bytes": self.peak_bytes, "peak_op": self.peak_op, "param_bytes": self.param_bytes,
                "updated_param_bytes": self.updated_param_bytes,
                "tensors": [dict(t.__dict__) for t in self.tensors],
                "ops": [{"index": i, "op": op, "layer": layer, "live_bytes": self.live[i]}
                        for i, (op, layer) in enumerate(self.ops)]}


def analyze(mod) -> MemoryReport:
    func = mod["main"]
    bindings = op_bindings(mod)
    index = {b.var: i for i, b in enumerate(bindings)}
    last_use: dict = {}
    for i, b in enumerate(bindings):
        for arg in b.args:
            last_use[arg] = i
    for out in result_fields(mod):  # what main returns lives to the end of the step
        last_use[out] = len(bindings) - 1
    n_inputs = int(main_attr(mod, "num_input", 1))
    tensors = []
    sample = func.params[0]
    tensors.append(Tensor(sample.name, "input", "", tensor_bytes(sample.ty), 0, last_use.get(sample, 0)))
    by_var = {sample: tensors[0]}  # the sample is copied into the arena at the start of a step
    names = {sample.name}

    def add(name, b, size, birth, death):
        name = name if name not in names else f"{name}_{birth}"  # Relax names may repeat
        names.add(name)
        tensors.append(Tensor(name, b.op, b.layer, size, birth, death))
        return tensors[-1]

    scratch_of = {}
    for b in bindings:
        i = index[b.var]
        if scratch_bytes(b):
            scratch_of[b.var] = add(f"{b.var.name}_scratch", b, scratch_bytes(b), i, i)
        if b.op in IN_PLACE_OPS:
            continue
        death = last_use.get(b.var, i)
        size = tensor_bytes(b.var.ty)
        source = by_var.get(b.args[0]) if b.op in REUSES_INPUT | WRITES_OVER_INPUT else None
        if source is not None and source.death == i and (
                source.bytes == size or (b.op in WRITES_OVER_INPUT and size <= source.bytes)):
            source.death = death  # the output takes over the dying input's buffer
            by_var[b.var] = source
            continue
        by_var[b.var] = add(b.var.name, b, size, i, death)
    live = [0] * len(bindings)
    for t in tensors:
        for i in range(t.birth, t.death + 1):
            live[i] += t.bytes
    params = func.params[n_inputs:]
    param_bytes = sum(tensor_bytes(p.ty) for p in params)
    updated = _updated_param_bytes(mod, {p.name: p for p in params})
    return MemoryReport(tensors, live, [(b.op, b.layer) for b in bindings], param_bytes, updated, by_var,
                        scratch_of)


def _updated_param_bytes(mod, params) -> int:
    info = main_attr(mod, "tt.grad_info") or {}
    total = 0
    for name, meta in info.items():
        ty = params[name].ty
        full = tensor_bytes(ty)
        if meta["kind"] == "s8":
            shape = [int(s) for s in ty.shape]
            channels = shape[0] if meta["depthwise"] else shape[1]
            full = full * meta["k"] // channels
        total += full
    return total


def format_report(report: MemoryReport, top: int = 8) -> str:
    lines = [f"peak live bytes {report.peak_bytes:,} at op {report.peak_op} "
             f"({report.ops[report.peak_op][0]} of {report.ops[report.peak_op][1] or '-'})",
             f"parameters {report.param_bytes:,} bytes, of which updated {report.updated_param_bytes:,} bytes",
             "live at the peak:"]
    biggest = sorted(report.live_at(report.peak_op), key=lambda t: -t.bytes)
    for t in biggest[:top]:
        lines.append(f"  {t.bytes:>9,}  {t.name:<40} {t.op:<20} ops {t.birth}..{t.death}")
    if len(biggest) > top:
        lines.append(f"  {sum(t.bytes for t in biggest[top:]):>9,}  ({len(biggest) - top} more)")
    return "\n".join(lines)
