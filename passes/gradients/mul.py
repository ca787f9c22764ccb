"""Gradient of the `mul` layer y_r = x_r * g_r (docs/training-semantics.md "mul"): the clamp's mask,
then dx = g_r * dy (g_r broadcast over H x W) and dgate = x_r * dy, summed over H x W for a
(C, 1, 1) gate. Both int8 inputs are kept from the forward until the backward."""


def _shape(var):
    return [int(s) for s in var.ty.shape]


def mul_s8(ctx, b, g):
    x, gate = b.args
    if not (ctx.needs(x) or ctx.needs(gate)):
        return
    a = b.attrs
    mask = ctx.emit("clamp_mask", [ctx.new(b.var)], {"act_min": a["act_min"], "act_max": a["act_max"]}, "mask")
    d = ctx.emit("mask_grad", [g, mask], {}, "dy")
    if ctx.needs(gate):
        op = "mul_grad_input" if _shape(gate) == _shape(x) else "mul_grad_gate"
        ctx.accumulate(gate, ctx.emit(op, [d, ctx.new(x)], {"scale": a["x_scale"], "zero": a["x_zero"]}, "dgate"))
    if ctx.needs(x):
        ctx.accumulate(x, ctx.emit("mul_grad_input", [d, ctx.new(gate)], {"scale": a["g_scale"], "zero": a["g_zero"]},
                                   "dx"))
