"""memory_analysis: liveness of every tensor of the training step, and the peak.

An analysis, not a rewrite.  It walks `main` in order: each tt op's output is born at its
op and dies at its last use; the step's input sample is born at op 0.  Sizes are the
bytes a device needs: numpy item sizes, and 1 bit per element for bool masks (the clamp
gradients are stored bit-packed).  Parameter updates (`sgd_*`) write their parameter in
place, so they allocate nothing.  Live bytes at op i count every tensor with
birth <= i <= death (an op's inputs and output are live together).

Parameters are reported apart from the arena: `param_bytes` (all), `updated_param_bytes`
(what training writes: the updated channel slices of int8 weights, biases, float
parameters), which live in SRAM on a device while the rest can stay in flash, and
`state_bytes`, the optimizer state (tvm_tinytrain/scheme.py: velocities, float copies), in SRAM too.

What `main` returns (the loss) lives to the end.  How each op stores its output is its record's
`writes` (tvm_tinytrain/ops/registry.py): an element-wise op (`scale_channels`, `mask_grad`,
`grad_add`, writes=REUSES_INPUT) whose first input dies at that op writes over it: the two share
one buffer; so do the in-place depthwise ops (OVER_INPUT), whose output may be smaller than their
input; PARAM ops (`sgd_*`, `grad_update`) write their parameter.  Ops computed a slice at a time
have a scratch tensor, born and dead at the op, of the record's `scratch` size (`scratch_bytes`,
equal to the C `*_get_buffer_size` companion): up to four channels for `expand_depthwise_s8`, one for the
in-place depthwise ops, a few rows for `conv_dw_pw_rows_s8`, a block of rows of the float
gradient for `grad_update` (update_block: rows in 2 KB, a 1x1 conv's rows by UPDATE_COLS input
channels; passes/fuse_grad_update.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tvm_tinytrain.ops.registry import OVER_INPUT, PARAM, RECORDS, REUSES_INPUT, scratch_bytes
from tvm_tinytrain.scheme import is_state

from .training_graph import main_attr, op_bindings, result_fields


def in_place(b) -> bool:
    """The op writes its first argument (a parameter) in place and allocates nothing."""
    return RECORDS[b.op].writes == PARAM


def also_written(b) -> list[int]:
    """The args (parameters) the op writes in place besides its output (its record's `also_writes`)."""
    record = RECORDS[b.op]
    return record.also_writes(b) if record.also_writes else []


def tensor_bytes(ty) -> int:
    n = int(np.prod([int(s) for s in ty.shape])) if len(ty.shape) else 1
    dtype = str(ty.dtype)
    if dtype == "bool":
        return (n + 7) // 8
    return n * np.dtype(dtype).itemsize


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
    state_bytes: int                # optimizer state (velocities, float copies), in SRAM beside them
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
                "updated_param_bytes": self.updated_param_bytes, "state_bytes": self.state_bytes,
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
        writes = RECORDS[b.op].writes
        if writes == PARAM:
            continue
        death = last_use.get(b.var, i)
        size = tensor_bytes(b.var.ty)
        source = by_var.get(b.args[0]) if writes in (REUSES_INPUT, OVER_INPUT) else None
        if source is not None and source.death == i and (
                source.bytes == size or (writes == OVER_INPUT and size <= source.bytes)):
            source.death = death  # the output takes over the dying input's buffer
            by_var[b.var] = source
            continue
        by_var[b.var] = add(b.var.name, b, size, i, death)
    live = [0] * len(bindings)
    for t in tensors:
        for i in range(t.birth, t.death + 1):
            live[i] += t.bytes
    params = [p for p in func.params[n_inputs:] if not is_state(p.name)]
    param_bytes = sum(tensor_bytes(p.ty) for p in params)
    state_bytes = sum(tensor_bytes(p.ty) for p in func.params[n_inputs:] if is_state(p.name))
    updated = _updated_param_bytes(mod, {p.name: p for p in params})
    return MemoryReport(tensors, live, [(b.op, b.layer) for b in bindings], param_bytes, updated, state_bytes,
                        by_var, scratch_of)


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
             f"parameters {report.param_bytes:,} bytes, of which updated {report.updated_param_bytes:,} bytes"
             + (f"; optimizer state (velocities, float copies) {report.state_bytes:,} bytes"
                if report.state_bytes else ""),
             "live at the peak:"]
    biggest = sorted(report.live_at(report.peak_op), key=lambda t: -t.bytes)
    for t in biggest[:top]:
        lines.append(f"  {t.bytes:>9,}  {t.name:<40} {t.op:<20} ops {t.birth}..{t.death}")
    if len(biggest) > top:
        lines.append(f"  {sum(t.bytes for t in biggest[top:]):>9,}  ({len(biggest) - top} more)")
    return "\n".join(lines)
