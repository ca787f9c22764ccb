"""Gradient rules of the tt ops, one file per op family (mirroring tvm_tinytrain/ops/).

A rule `fn(ctx, binding, g)` receives the forward binding and the gradient `g` of its
output (None for the loss) and emits, through `ctx`, only the backward ops that are needed:
`ctx.needs(arg)` says whether an activation argument needs a gradient, `ctx.trainable(arg)`
whether a parameter is updated (and how many channels), `ctx.accumulate(arg, grad)` and
`ctx.param_grad(param, grad, info)` collect the results.
"""
RULES: dict = {}


def gradient(op_name: str):
    def register(rule):
        RULES[op_name] = rule
        return rule

    return register


from . import forward, loss  # noqa: E402,F401
