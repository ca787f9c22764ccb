"""The backward of a trained 1x1 expansion under a chunked depthwise gradient, one computation per chunk
(passes/expansion_backward_chunks.py).

`expansion_backward_{pw,dw}_chunks` is `conv2d_grad_input_{pw,dw}_chunks` (its value: the expansion's input gradient)
whose C also does the work of the chunk ops that read the same chunks: per chunk of channels, the chunk's gradient
once, then the depthwise and the expansion's bias updates (bias gradient, QAS scale, int32 SGD of those channels),
the chunk's terms of the input gradient, the chunk's rows of the weight gradient and their update.  A tt op has one
output, so each parameter it updates is a value of its own in the Relax module: a `chunked_update` op, whose body
computes that parameter's update from the same inputs as the chunk op it replaces (TVM: the same values) and whose C
is nothing, since the expansion's backward has written the parameter (writes=PARAM; it takes that op's output, so it
follows it).  The record's `also_writes` names the parameters the expansion's backward writes, so the scheduler puts
it after every other reader of them (passes/reorder.py)."""
from tvm_tinytrain.codegen import templates_expansion_backward as c

from . import OPS
from .backward import mask_grad
from .registry import PARAM, OpRecord, declare

# The updates the op's C does besides its output, each a run of args starting with the parameter it writes (attr
# `parts`: {part: [first arg, args]}): the weight [w, x, (scale), lr, step] (attrs: grad_update's, WEIGHT_ATTRS), the
# expansion's bias [b, scale, lr] and the depthwise conv's [b, scale, lr] (attrs `bias`, `dw_bias`: sgd_s32's).
PARTS = ("weight", "bias", "dw_bias")
WEIGHT_ATTRS = c.WEIGHT_ATTRS


def part_args(a) -> dict:
    """{part: (first arg, number of args)} of an `expansion_backward_*_chunks` op's updates (attr `parts`)."""
    return {part: tuple(a["parts"][part]) for part in PARTS if part in a["parts"]}


def _source_masked(fb, args, a, at: int) -> list:
    """args with the source gradient (at `at`) masked by the mask the op reads it through (attr `source_mask`: the
    mask's arg, the last; passes/source_through_mask.py), that arg gone: the args of the op without the attr."""
    if "source_mask" not in a:
        return list(args)
    *args, mask = args
    args[at] = fb.emit(mask_grad(fb, [args[at], mask], {}))
    return args


def expansion_backward(via: str):
    """The builder of `expansion_backward_{via}_chunks`: its first args are `conv2d_grad_input_{via}_chunks`'s, and
    that op's value is its own; the updates' args follow (read by its C only)."""
    def build(fb, args, a):
        args = _source_masked(fb, args, a, a["at"])
        first = min([start for start, _ in part_args(a).values()], default=len(args))
        attrs = {k: v for k, v in a.items() if k not in ("parts", "source_mask", *PARTS, *WEIGHT_ATTRS)}
        return OPS[f"conv2d_grad_input_{via}_chunks"](fb, args[:first], attrs)

    return build


def chunked_update(fb, args, a):
    """(param, the expansion backward's output, *args of the chunk op it stands for, [scale, lr]) -> the parameter
    updated, as before the expansion's backward took that op's work: a `grad_update_*_chunks` (attrs: its own), or
    a `bias_grad_*_chunks` (attrs: its own and `sgd`, sgd_s32's) then `scale_channels` and `sgd_s32`."""
    param, _, *rest = _source_masked(fb, args, a, 2 + a["at"])
    a = {k: v for k, v in a.items() if k != "source_mask"}
    via = "pw" if "pw" in a else "dw"
    if "sgd" not in a:
        return OPS[f"grad_update_{via}_chunks"](fb, rest, a)
    *reader_args, scale, lr = rest
    g = fb.emit(OPS[f"bias_grad_{via}_chunks"](fb, reader_args, {k: v for k, v in a.items() if k != "sgd"}))
    g = fb.emit(OPS["scale_channels"](fb, [g, scale], {}))
    return OPS["sgd_s32"](fb, [param, g, lr], a["sgd"])


def also_writes(b) -> list[int]:
    """The args of an `expansion_backward_*_chunks` op its C writes in place: the weight and the biases."""
    return [start for start, _ in part_args(b.attrs).values()]


declare(
    *(OpRecord(f"expansion_backward_{via}_chunks", expansion_backward(via), c.expansion_backward,
               ("tt_conv2d_grad_input_f32.c", "tt_mask_grad_f32.c", "tt_depthwise_grad_chunks.c",
                "tt_expansion_backward_chunks.c", "tt_conv2d_1x1_grad_input_split_f32.c", "tt_bias_grad_f32.c",
                "tt_scale_channels_f32.c", "tt_sgd_s32.c", "tt_conv2d_grad_weight_f32.c", "tt_sgd_s8_rows.c",
                "tt_sgd_f32.c"),
               scratch=c.expansion_backward_scratch, buffer_size="tt_expansion_backward_chunks_get_buffer_size",
               buffer_size_args=c.expansion_backward_scratch_args, also_writes=also_writes)
      for via in ("dw", "pw")),
    OpRecord("chunked_update", chunked_update, c.chunked_update, (), writes=PARAM),
)
