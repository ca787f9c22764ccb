"""Whether the sample may arrive in rows, read by the stem as it consumes them, and the C of that stem.

The sample (48 KB at 3 x 128 x 128) and the stem's output live together at the first op of a
step: for MobileNetV2 and ProxylessNAS that is the peak of the whole step.  When the sample's only
reader is a fused stem (`conv_dw_pw_rows_s8`: a frozen conv -> depthwise -> 1x1, one output row at a
time), that stem can pull the input rows as its first conv reaches them instead
(tt_conv_dw_pw_stream_s8), so the sample never exists whole: the application hands rows over as a
camera's DMA or a serial line delivers them, and the arena has no input buffer.  Any other first
reader, or a second one (a stem whose weight trains: its weight gradient reads the whole input), keeps
the whole-image path.  A program streams when both its training step and its prediction can; the
choice and why is `memory.json`'s "input".
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from tvm_tinytrain.passes.training_graph import op_bindings

from . import templates_memory
from .templates import _shape

STREAMED_STEMS = ("conv_dw_pw_rows_s8",)  # ops with a row-streamed kernel
ROWS = "rows"  # the C name of the step's row source (const tt_row_source *)


@dataclass(frozen=True)
class InputPath:
    """How a module's `main` reads its sample: `stem` (the binding that pulls rows) or None, and why."""

    stem: object
    why: str

    @property
    def streamed(self) -> bool:
        return self.stem is not None


def input_path(mod) -> InputPath:
    sample = mod["main"].params[0]
    readers = [b for b in op_bindings(mod) if any(a.same_as(sample) for a in b.args)]
    if len(readers) != 1:
        ops = ", ".join(f"{b.op} of {b.layer}" for b in readers)
        return InputPath(None, f"the input is read by {len(readers)} ops ({ops}): a trained stem's weight gradient "
                               f"needs the whole input")
    (b,) = readers
    if b.op not in STREAMED_STEMS or not b.args[0].same_as(sample):
        return InputPath(None, f"the input's reader ({b.op} of {b.layer}) has no row-streamed kernel (only "
                               f"{', '.join(STREAMED_STEMS)}, a frozen conv -> depthwise -> 1x1 stem)")
    return InputPath(b, f"rows, read by {b.op} of {b.layer}")


def program_input(train_mod, predict_mod) -> tuple[InputPath, InputPath, str]:
    """(training path, prediction path, why) with both streamed or neither: one C API per program."""
    train, predict = input_path(train_mod), input_path(predict_mod)
    if train.streamed and predict.streamed:
        return train, predict, train.why
    why = train.why if not train.streamed else f"prediction: {predict.why}"
    return InputPath(None, why), InputPath(None, why), f"whole image: {why}"


def _align8(n: int) -> int:
    return (n + 7) // 8 * 8


def stream_scratch_extra(b) -> int:
    """Bytes tt_conv_dw_pw_stream_s8 needs beyond tt_conv_dw_pw_rows_s8's scratch: a ring of the first
    conv's kernel-height rows of input and one received row (tt_conv_dw_pw_stream_s8_get_buffer_size)."""
    _, c_in, _, w_in = _shape(b.args[0])
    kh = _shape(b.args[1])[2]
    return _align8(kh * c_in * w_in) + _align8(w_in * c_in)


def arena_report(report, path: InputPath):
    """`report` (memory_analysis of the module `path` was decided on) as the arena holds it: a streamed
    sample has no buffer and the stem's scratch grows by its ring of rows.  The one rule for the generated
    plan (emit.plan_arena) and every figure of it (`plan`, benchmarks/memory_plan.py)."""
    if not path.streamed:
        return report
    sample, scratch = report.record_of[path.stem.args[0]], report.scratch_of[path.stem.var]
    grown = replace(scratch, bytes=scratch.bytes + stream_scratch_extra(path.stem))
    tensors = [grown if t is scratch else t for t in report.tensors if t is not sample]
    live = [sum(t.bytes for t in tensors if t.birth <= i <= t.death) for i in range(len(report.live))]
    return replace(report, tensors=tensors, live=live,
                   record_of={v: t for v, t in report.record_of.items() if t is not sample},
                   scratch_of={**report.scratch_of, path.stem.var: grown})


def sample_chw(mod) -> tuple[int, int, int]:
    _, c, h, w = _shape(mod["main"].params[0])
    return c, h, w


def stem_call(b, args, out) -> str:
    """The C of a streamed stem: tt_conv_dw_pw_rows_s8's call (the same arguments) with the row source in
    place of x, to tt_conv_dw_pw_stream_s8."""
    call = templates_memory.conv_dw_pw_rows_s8(b, [ROWS, *args[1:]], out)
    return call.replace("tt_conv_dw_pw_rows_s8(", "tt_conv_dw_pw_stream_s8(")
