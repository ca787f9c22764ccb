"""Fused and in-place ops the memory passes introduce.  Each body composes the builders of the
ops it replaces, in the same order, so TVM computes the same values bit for bit; what changes
is only what a device keeps in memory (docs/architecture.md, "Memory passes")."""
from . import OPS, op
from .backward import conv2d_grad_input
from .forward import conv2d_s8


@op("expand_depthwise_s8")
def expand_depthwise_s8(fb, args, a):
    """(x, w1, b1, mult1, shift1, w2, b2, mult2, shift2) -> depthwise(expand(x)): a frozen 1x1
    expansion and the depthwise conv that is its only reader (attrs `expand`, `depthwise`).
    The C computes it a channel at a time, so the expanded tensor never exists whole."""
    expanded = fb.emit(conv2d_s8(fb, args[:5], a["expand"]))
    return conv2d_s8(fb, [expanded, *args[5:]], a["depthwise"])


@op("depthwise_inplace_s8")
def depthwise_inplace_s8(fb, args, a):
    """conv2d_s8 of a depthwise layer whose input dies at it: the C writes the output over the input,
    a channel at a time through a one-channel scratch."""
    return conv2d_s8(fb, args, a)


@op("depthwise_grad_input_inplace")
def depthwise_grad_input_inplace(fb, args, a):
    """conv2d_grad_input of a stride-1 depthwise conv (dx has d's shape): the C writes dx over d when d
    dies at it, a channel at a time through a one-channel scratch."""
    return conv2d_grad_input(fb, args, a)


@op("grad_update")
def grad_update(fb, args, a):
    """(w, *grad args, [scale], lr, [step]) -> updated w: a weight gradient (`grad`: conv2d_grad_weight,
    linear_grad_weight or linear_f32_grad_weight, with `grad_attrs`), optionally scaled per output
    channel (`scaled`: QAS), then its SGD update (`update`: sgd_s8 or sgd_f32, `update_attrs`).  The C
    computes a few output rows' gradient at a time and updates them at once, so the float gradient of
    the whole weight never exists."""
    w, x, d, *rest = args
    grad = fb.emit(OPS[a["grad"]](fb, [x, d], a["grad_attrs"]))
    if a["scaled"]:
        grad = fb.emit(OPS["scale_channels"](fb, [grad, rest.pop(0)], {}))
    return OPS[a["update"]](fb, [w, grad, *rest], a["update_attrs"])


@op("conv_dw_pw_rows_s8")
def conv_dw_pw_rows_s8(fb, args, a):
    """(x, 4 args of a conv, 4 of a depthwise conv, 4 of a 1x1 conv) -> the three convs in a row (attrs
    `conv`, `depthwise`, `pointwise`), all frozen and each intermediate read by the next only.  The C
    computes one output row at a time, so neither intermediate tensor exists whole."""
    mid = fb.emit(conv2d_s8(fb, args[:5], a["conv"]))
    dw = fb.emit(conv2d_s8(fb, [mid, *args[5:9]], a["depthwise"]))
    return conv2d_s8(fb, [dw, *args[9:]], a["pointwise"])
