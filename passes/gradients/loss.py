"""Gradients of the loss ops: of the real-valued output, never of the label or target."""


def cross_entropy(ctx, b, g):
    logits, label = b.args
    ctx.accumulate(logits, ctx.emit("cross_entropy_grad", [ctx.new(logits), ctx.new(label)], {}, "dlogits"))


def mse(ctx, b, g):
    y, target = b.args
    ctx.accumulate(y, ctx.emit("mse_grad", [ctx.new(y), ctx.new(target)], {}, "dlogits"))
