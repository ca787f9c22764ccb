"""One record per tt op: everything every stage needs to know about it, declared once.

Each op family module (`forward.py`, `backward.py`, `loss.py`, `update.py`, `fused.py`) ends
with the `OpRecord`s of its ops, beside their builders.  The consumers read them here instead
of keeping tables of their own: `ops.call` builds the Relax body (`builder`),
`quantized_autodiff` applies `gradient`, `memory_analysis` reads `writes` and `scratch`, the C
emitter formats `call`, and `tests/ops/test_op_records.py` checks each record's `kernels`
against the kernel library and its `scratch` against the C `buffer_size` companion.
docs/adding-an-op.md walks through adding one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

# How an op's output is stored (memory_analysis, emit):
NEW = "new"                    # a buffer of its own
PARAM = "param"                # writes its first argument (a parameter) in place; allocates nothing
REUSES_INPUT = "reuses_input"  # element-wise: takes over its first input's buffer when that dies here, same size
OVER_INPUT = "over_input"      # writes its (possibly smaller) output over its first input, which dies here
WRITES = (NEW, PARAM, REUSES_INPUT, OVER_INPUT)


@dataclass(frozen=True)
class OpRecord:
    """A tt op.  `builder(fb, args, attrs) -> expr` is its Relax body (the oracle);
    `gradient(ctx, binding, g)` its backward rule (None: not differentiated, e.g. a backward op);
    `call(binding, args, out) -> str` its C (args: C expressions, the scratch pointer last when
    `scratch`); `kernels` the files of codegen/kernels/ that C calls; `scratch(binding) -> bytes`
    the working memory its C needs besides inputs and output, equal to the C companion
    `buffer_size` (a function of tt_kernels.h) called with `buffer_size_args(binding)` (ints,
    tuples for structs by value, dicts for structs by pointer: codegen/kernel_abi.call) on every
    shape (tests/ops/test_op_records.py).  `also_writes(binding) -> [arg index]`: parameters its C writes in place
    besides its output (the scheduler puts it after their other readers)."""

    name: str
    builder: Callable
    call: Callable
    kernels: tuple[str, ...]
    gradient: Callable | None = None
    writes: str = NEW
    scratch: Callable | None = None
    buffer_size: str = ""
    buffer_size_args: Callable | None = None
    also_writes: Callable | None = None

    def __post_init__(self):
        if self.writes not in WRITES:
            raise ValueError(f"op record {self.name!r}: writes={self.writes!r} is not one of {WRITES}")
        if not (bool(self.scratch) == bool(self.buffer_size) == bool(self.buffer_size_args)):
            raise ValueError(f"op record {self.name!r}: a scratch size needs its C buffer_size companion and "
                             f"the other way round")


RECORDS: dict[str, OpRecord] = {}


def declare(*records: OpRecord):
    """Register op records (each name once); `ops.OPS` gets their builders."""
    from . import OPS

    for record in records:
        if record.name in RECORDS:
            raise ValueError(f"tt op {record.name!r} is declared twice")
        RECORDS[record.name] = record
        OPS[record.name] = record.builder


def scratch_bytes(binding) -> int:
    """Working bytes an op's kernel needs besides its inputs and output (0: none)."""
    record = RECORDS.get(binding.op)
    return int(record.scratch(binding)) if record is not None and record.scratch else 0
