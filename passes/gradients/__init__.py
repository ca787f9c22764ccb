"""Gradient rules of the tt ops, one file per op family (mirroring tvm_tinytrain/ops/); each op's
record (tvm_tinytrain/ops/registry.py) names its rule.

A rule `fn(ctx, binding, g)` receives the forward binding and the gradient `g` of its
output (None for the loss) and emits, through `ctx`, only the backward ops that are needed:
`ctx.needs(arg)` says whether an activation argument needs a gradient, `ctx.trainable(arg)`
whether a parameter is updated (and how many channels), `ctx.accumulate(arg, grad)` and
`ctx.param_grad(param, grad, info)` collect the results.
"""
