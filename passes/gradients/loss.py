"""Gradient of the loss op."""
from . import gradient


@gradient("cross_entropy")
def cross_entropy(ctx, b, g):
    logits, label = b.args
    ctx.accumulate(logits, ctx.emit("cross_entropy_grad", [ctx.new(logits), ctx.new(label)], {}, "dlogits"))
