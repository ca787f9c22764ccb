"""codegen/templates_memory.py's in-place depthwise: one tt_depthwise_inplace_s8 call over all channels, and for a
split weight (trained leading channels in SRAM, the rest in flash) one call per part, each with its channels'
input, output, weights and per-channel constants (test_kernels_memory runs the kernel called this way).
Its expand_depthwise: four expanded channels a call, the channels left in a last call, fewer per call on large
inputs (test_codegen_vs_relax and test_qemu_stream run MbV2's against TVM and on the device)."""
from types import SimpleNamespace

from tvm_tinytrain.codegen.templates import Split
from tvm_tinytrain.codegen.templates_memory import depthwise_inplace_s8, expand_channels, expand_depthwise_s8

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


def _expand_calls(c, h, w):
    tensor = lambda *shape: SimpleNamespace(ty=SimpleNamespace(shape=shape))  # noqa: E731
    b = SimpleNamespace(attrs={"expand": {**ATTRS, "stride": 1, "padding": (0, 0, 0, 0), "groups": 1},
                               "depthwise": {**ATTRS, "stride": 1, "groups": c}},
                        args=[tensor(1, 5, h, w), *[None] * 4, tensor(c, 1, 3, 3)], var=tensor(1, c, h, w))
    args = ["X", "W1", "B1", "M1", "S1", "W2", "B2", "M2", "S2", "(tt_arena + 64)"]
    return [line.strip() for line in expand_depthwise_s8(b, args, "Y").splitlines()]


def test_expand_depthwise_four_channels_a_call_then_the_rest():
    lines = _expand_calls(6, 4, 4)
    assert lines[0].startswith("for (int32_t c = 0; c < 4; c += 4) {")
    assert "tt_conv2d_1x1_s8(X, (tt_dims){5, 4, 4}, W1 + c * 5, B1 + c, M1 + c, S1 + c, &p, &q, (int8_t *)" \
           "(tt_arena + 64), (tt_dims){4, 4, 4})" in lines[2]
    assert "{1, 1, 1, 1, 1, 4}" in lines[3]  # the depthwise's groups: the call's channels
    assert "W2 + c * 9, 3, 3, B2 + c, M2 + c, S2 + c, &p, &q, Y + c * 16, (tt_dims){4, 4, 4})" in lines[4]
    # channels 4 and 5 in one last call, at their offsets
    assert "W1 + 4 * 5, B1 + 4, M1 + 4, S1 + 4, &p, &q, (int8_t *)(tt_arena + 64), (tt_dims){2, 4, 4})" in lines[7]
    assert "{1, 1, 1, 1, 1, 2}" in lines[8]
    assert "W2 + 4 * 9, 3, 3, B2 + 4, M2 + 4, S2 + 4, &p, &q, Y + 4 * 16, (tt_dims){2, 4, 4})" in lines[9]
    assert len(lines) == 10


def test_expand_depthwise_fewer_channels_on_large_inputs():
    assert [expand_channels(c, hw) for c, hw in ((144, 64), (3, 64), (32, 400), (32, 4096))] == [4, 3, 2, 1]
    lines = _expand_calls(8, 64, 64)
    assert lines[0].startswith("for (int32_t c = 0; c < 8; c += 1) {") and len(lines) == 6
