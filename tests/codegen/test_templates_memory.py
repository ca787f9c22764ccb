"""codegen/templates_memory.py's in-place depthwise: one tt_depthwise_inplace_s8 call over all channels, and for a
split weight (trained leading channels in SRAM, the rest in flash) one call per part, each with its channels'
input, output, weights and per-channel constants (test_kernels_memory runs the kernel called this way)."""
from types import SimpleNamespace

from tvm_tinytrain.codegen.templates import Split
from tvm_tinytrain.codegen.templates_memory import depthwise_inplace_s8

ATTRS = {"stride": 2, "padding": (1, 1, 1, 1), "x_zero": -3, "y_zero": 5, "act_min": -128, "act_max": 127}


def _binding(c, h, w, k, oh, ow):
    tensor = lambda *shape: SimpleNamespace(ty=SimpleNamespace(shape=shape))  # noqa: E731
    return SimpleNamespace(attrs=ATTRS, args=[tensor(1, c, h, w), tensor(c, 1, k, k)], var=tensor(1, c, oh, ow))


def _calls(weight):
    args = ["X", weight, "B", "M", "S", "(tt_arena + 64)"]
    return [line.strip() for line in depthwise_inplace_s8(_binding(7, 4, 4, 3, 2, 2), args, "Y").splitlines()]


def test_one_call_over_all_channels():
    lines = _calls("W")
    assert lines[0].startswith("{ static const tt_conv_params p = {2, 1, 1, 1, 1, 7};")
    assert lines[1] == ("TT_CALL(tt_depthwise_inplace_s8(X + 0, (tt_dims){7, 4, 4}, W, 3, 3, B + 0, M + 0, S + 0, "
                        "&p, &q, Y + 0, (tt_dims){7, 2, 2}, (int8_t *)(tt_arena + 64))); }")
    assert len(lines) == 2


def test_a_split_weight_is_one_call_per_part():
    lines = _calls(Split("W_lead", "W_rest", 3, True))
    assert len(lines) == 4
    assert "{2, 1, 1, 1, 1, 3}" in lines[0] and "{2, 1, 1, 1, 1, 4}" in lines[2]  # groups: the part's channels
    assert "(X + 0, (tt_dims){3, 4, 4}, W_lead, 3, 3, B + 0, M + 0, S + 0, &p, &q, Y + 0, (tt_dims){3, 2, 2}" in lines[1]
    # the second part: input channel 3 at 3 * 16 bytes, output channel 3 at 3 * 4 bytes (below its input)
    assert "(X + 48, (tt_dims){4, 4, 4}, W_rest, 3, 3, B + 3, M + 3, S + 3, &p, &q, Y + 12, (tt_dims){4, 2, 2}" in lines[3]
