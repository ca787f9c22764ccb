"""Gradient of the concat layer: gradients are of real values, and an input's real value is its part of
the output's (the requantize is rounding only: quantization/concat.py never saturates), so each input
receives its channel slice of the output gradient unchanged and the forward keeps nothing for it."""


def concat_s8(ctx, b, g):
    begin = 0
    for x in b.args:
        channels = int(x.ty.shape[1])
        if ctx.needs(x):
            ctx.accumulate(x, ctx.emit("concat_grad", [g], {"begin": begin, "channels": channels}, "dx"))
        begin += channels
