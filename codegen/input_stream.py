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

The stem's output (32 KB for the backbones) then beside the next block's scratch and output was the new floor.
When that output's only reader is a fused row block too (frozen: no backward op reads it, no residual), the two
run as one call (tt_conv_dw_pw_chain_s8): the reader pulls the stem's output rows into a ring of its first conv's
kernel-height rows, the stem computing them as asked, so neither the sample nor the stem's output exists whole.
It costs a copy of each band from the ring where the reader copied it from the whole tensor, so it is taken
wherever it lowers the module's arena, or its peak at the same arena (the two blocks' scratch together can outweigh
a small output), in the prediction only where its arena is the program's (the nested row loops cost ~0.7 KB of
stack);
`memory.json`'s "input" "stem_output" says, per module, whether and why.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from tvm_tinytrain.passes.training_graph import main_attr, op_bindings

from . import templates_memory
from .templates import _shape

STREAMED_STEMS = ("conv_dw_pw_rows_s8",)  # ops with a row-streamed kernel
ROWS = "rows"  # the C name of the step's row source (const tt_row_source *)
WHOLE = "tt.stem_output_whole"  # main's attr: why the final step keeps the stem's output whole


@dataclass(frozen=True)
class InputPath:
    """How a module's `main` reads its sample: `stem` (the binding that pulls rows) or None, and why; and the stem
    output's only reader computed with it (`chained`, a fused row block pulling its rows) or None, and why."""

    stem: object
    why: str
    chained: object = None
    chain_why: str = "the sample is not streamed"

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
    return _with_chain(mod, InputPath(b, f"rows, read by {b.op} of {b.layer}"))


def _with_chain(mod, path: InputPath) -> InputPath:
    """`path` with its stem's output chained into that output's reader where it is the only one and a fused row
    block reading it as its input (any other reader needs the whole tensor)."""
    stem = path.stem
    readers = [b for b in op_bindings(mod) if any(a.same_as(stem.var) for a in b.args)]
    if len(readers) != 1:
        ops = ", ".join(f"{b.op} of {b.layer}" for b in readers)
        return replace(path, chain_why=f"whole: the stem's output is read by {len(readers)} ops ({ops})")
    (b,) = readers
    if b.op not in STREAMED_STEMS or not b.args[0].same_as(stem.var):
        return replace(path, chain_why=f"whole: its reader ({b.op} of {b.layer}) is not a fused row block "
                                       f"({', '.join(STREAMED_STEMS)}) reading it as its input")
    if main_attr(mod, WHOLE) is not None:
        return replace(path, chain_why=main_attr(mod, WHOLE))
    from .emit import plan_arena  # emit plans through this module

    chained = replace(path, chained=b, chain_why=f"rows, pulled by {b.op} of {b.layer} into a ring of "
                                                 f"{_shape(b.args[1])[2]} rows")
    (report, plan), (report_0, plan_0) = (plan_arena(mod, p) for p in (chained, path))
    # the stem's and its reader's scratch together may outweigh a small output; an equal arena (its bound set by
    # placement elsewhere) with a lower peak leaves the budget's memory passes (compiler.memory_passes) the rest
    if (plan.arena_bytes, report.peak_bytes) >= (plan_0.arena_bytes, report_0.peak_bytes):
        return replace(path, chain_why=f"whole: pulling its rows into {b.op} of {b.layer} would lower neither the "
                                       f"arena ({plan.arena_bytes:,} B against {plan_0.arena_bytes:,} B) nor the "
                                       f"peak ({report.peak_bytes:,} B against {report_0.peak_bytes:,} B)")
    return chained


def keep_chain_where_it_lowers(program):
    """`program` with its step's stem output kept whole (main's WHOLE attr) where pulling it in rows does not lower
    the step's arena: taken for a lower peak at the same arena, it let the budget's chunking see the backward
    (compiler.memory_passes); in the final program that buys nothing and costs the nested row loops' stack."""
    path = input_path(program.mod)
    if path.chained is None:
        return program
    from .emit import plan_arena

    chained, whole = (plan_arena(program.mod, p)[1].arena_bytes for p in (path, replace(path, chained=None)))
    if whole <= chained:
        program.mod["main"] = program.mod["main"].with_attr(
            WHOLE, f"whole: pulling its rows into {path.chained.op} of {path.chained.layer} would not lower the "
                   f"step's arena ({chained:,} B against {whole:,} B, after the budget's passes)")
    return program


def program_input(train_mod, predict_mod) -> tuple[InputPath, InputPath, str]:
    """(training path, prediction path, why) with both streamed or neither: one C API per program."""
    train, predict = input_path(train_mod), input_path(predict_mod)
    if train.streamed and predict.streamed:
        return train, _binding_prediction_chain(predict, predict_mod, train, train_mod), train.why
    why = train.why if not train.streamed else f"prediction: {predict.why}"
    return InputPath(None, why), InputPath(None, why), f"whole image: {why}"


def _binding_prediction_chain(predict: InputPath, predict_mod, train: InputPath, train_mod) -> InputPath:
    """The prediction's chain only where its arena would otherwise be the program's (the larger of the two): below
    the training step's, pulling rows lowers nothing and costs the nested row loops' stack (~0.7 KB on the M7)."""
    if predict.chained is None:
        return predict
    from .emit import plan_arena

    unchained = plan_arena(predict_mod, replace(predict, chained=None))[1].arena_bytes
    step = plan_arena(train_mod, train)[1].arena_bytes
    if unchained > step:
        return predict
    return replace(predict, chained=None, chain_why=f"whole: the prediction's arena ({unchained:,} B) is not above "
                                                    f"the training step's ({step:,} B)")


def _align8(n: int) -> int:
    return (n + 7) // 8 * 8


def stream_scratch_extra(b) -> int:
    """Bytes tt_conv_dw_pw_stream_s8 needs beyond tt_conv_dw_pw_rows_s8's scratch (tt_rows_seen_bytes): a ring of
    the first conv's kernel-height rows of input as received, each with the conv's padding columns."""
    _, c_in, _, w_in = _shape(b.args[0])
    kh = _shape(b.args[1])[2]
    _, left, _, right = b.attrs["conv"]["padding"]
    return kh * _align8((left + w_in + right) * c_in)


def chain_ring_bytes(stem, reader) -> int:
    """The ring of the stem's output rows tt_conv_dw_pw_chain_s8 keeps: its reader's first-conv height of rows."""
    _, c, _, w = _shape(stem.var)
    return _align8(c * _shape(reader.args[1])[2] * w)


def arena_report(report, path: InputPath):
    """`report` (memory_analysis of the module `path` was decided on) as the arena holds it: a streamed
    sample has no buffer and the stem's scratch grows by its ring of rows; a chained stem's output has no buffer
    either, and its scratch with the ring of its rows joins its reader's (tt_conv_dw_pw_chain_s8_get_buffer_size).
    The one rule for the generated plan (emit.plan_arena) and every figure of it (`plan`,
    benchmarks/memory_plan.py)."""
    if not path.streamed:
        return report
    stem, scratch = path.stem, report.scratch_of[path.stem.var]
    gone = [report.record_of[stem.args[0]]]  # Tensors compare by value: kept apart by identity
    grown = {stem.var: replace(scratch, bytes=scratch.bytes + stream_scratch_extra(stem))}
    if path.chained is not None:
        reader = report.scratch_of[path.chained.var]
        gone += [report.record_of[stem.var], scratch]
        grown = {path.chained.var: replace(reader, bytes=reader.bytes + grown[stem.var].bytes
                                           + chain_ring_bytes(stem, path.chained))}
    gone_ids, new = {id(t) for t in gone}, {id(report.scratch_of[v]): t for v, t in grown.items()}
    tensors = [new.get(id(t), t) for t in report.tensors if id(t) not in gone_ids]
    live = [sum(t.bytes for t in tensors if t.birth <= i <= t.death) for i in range(len(report.live))]
    return replace(report, tensors=tensors, live=live,
                   record_of={v: t for v, t in report.record_of.items() if id(t) not in gone_ids},
                   scratch_of={**{v: t for v, t in report.scratch_of.items() if id(t) not in gone_ids}, **grown})


def sample_chw(mod) -> tuple[int, int, int]:
    _, c, h, w = _shape(mod["main"].params[0])
    return c, h, w


def stem_call(b, args, out) -> str:
    """The C of a streamed stem: tt_conv_dw_pw_rows_s8's call (the same arguments) with the row source in
    place of x, to tt_conv_dw_pw_stream_s8."""
    call = templates_memory.conv_dw_pw_rows_s8(b, [ROWS, *args[1:]], out)
    return call.replace("tt_conv_dw_pw_rows_s8(", "tt_conv_dw_pw_stream_s8(")


def chain_call(stem, stem_args, reader, args, out) -> str:
    """The C of a chained stem and its reader: one tt_conv_dw_pw_chain_s8 call at the reader's place, from the
    row source, with both blocks' layers and the reader's (grown) scratch."""
    layers0, in0, mid0, out0 = templates_memory.rows_block(stem, stem_args[1:])  # no scratch of its own
    layers1, _, mid1, out1 = templates_memory.rows_block(reader, args[1:-1])
    decls = [f"static const tt_conv_layer {n} = {init};"
             for n, init in zip(("a0", "b0", "c0", "a1", "b1", "c1"), layers0 + layers1)]
    return ("{ " + "\n      ".join(decls) + "\n"
            f"      TT_CALL(tt_conv_dw_pw_chain_s8({ROWS}, {in0}, &a0, {mid0}, &b0, &c0, {out0}, &a1, {mid1}, &b1, "
            f"&c1, {out}, {out1}, (int8_t *){args[-1]})); }}")


def template(path: InputPath, b, stem_args):
    """The C template of binding `b` where the input path changes it (the streamed stem, a chained reader, with the
    stem's C arguments `stem_args`), or None."""
    if path.chained is not None and b.var.same_as(path.chained.var):
        return lambda b, args, out: chain_call(path.stem, stem_args, b, args, out)
    if path.streamed and b.var.same_as(path.stem.var):
        return stem_call
    return None
