"""Gradients of the forward int8 ops (docs/training-semantics.md, "Backward")."""
import numpy as np

from tvm_tinytrain._tvm import relax
from tvm_tinytrain.quantization.requant import bias_limit



def _const(values):
    return relax.const(np.asarray(values, np.float32), "float32")


def _shape(var):
    return [int(s) for s in var.ty.shape]


def _masked(ctx, b, g):
    """The clamp's gradient: g where act_min < y < act_max."""
    mask = ctx.emit("clamp_mask", [ctx.new(b.var)], {"act_min": b.attrs["act_min"], "act_max": b.attrs["act_max"]},
                    "mask")
    return ctx.emit("mask_grad", [g, mask], {}, "dacc")


def _geometry(a) -> dict:
    """The forward conv's stride and, when it has one, dilation, passed on to its gradient ops."""
    return {k: a[k] for k in ("stride", "dilation") if k in a}


def _weight_layer(ctx, b, g, kind):
    x, w, bias = b.args[:3]
    a = b.attrs
    need_x, k_w, k_b = ctx.needs(x), ctx.trainable(w), ctx.trainable(bias)
    if not (need_x or k_w or k_b):
        return
    d = _masked(ctx, b, g)
    w_scale = np.asarray(a["w_scale"], np.float32)
    groups = a["groups"] if kind == "conv2d" else 1
    depthwise = groups > 1 and _shape(w)[1] == 1  # else grouped: each group's leading k of its inputs
    if need_x:
        attrs = ({**_geometry(a), "padding": a["padding"], "groups": a["groups"], "in_hw": _shape(x)[2:]}
                 if kind == "conv2d" else {})
        ctx.accumulate(x, ctx.emit(f"{kind}_grad_input", [d, ctx.new(w), _const(w_scale)], attrs, "dx"))
    if k_w:
        mult = _shape(w)[0] // groups if depthwise else 1  # channel multiplier: rows [:k_w * mult] train
        per_group = 1 if depthwise else groups  # grouped: x_slice holds the leading k channels of each group
        channels = _shape(x)[1] // per_group
        slice_attrs = {"k": k_w, **({"groups": groups} if per_group > 1 else {})}
        x_used = ctx.new(x) if k_w == channels else ctx.emit("channel_slice", [ctx.new(x)], slice_attrs, "x_slice")
        attrs = {"x_scale": a["x_scale"], "x_zero": a["x_zero"]}
        if kind == "conv2d":
            attrs.update(_geometry(a), padding=a["padding"], kernel=_shape(w)[2:], depthwise=int(depthwise))
            if per_group > 1 or mult > 1:
                attrs["groups"] = groups
        real = ctx.emit(f"{kind}_grad_weight", [x_used, d], attrs, "dw_real")
        step = w_scale[:k_w * mult] if depthwise else w_scale
        grad = ctx.emit("scale_channels", [real, _const(step)], {}, "dw")
        # grad_info's k of a depthwise weight counts the rows it updates (the update ops slice rows)
        ctx.param_grad(w, grad, {"kind": "s8", "k": k_w * mult, "depthwise": int(depthwise),
                                 "conv_index": a["conv_index"], "step": [float(s) for s in step]})
    if k_b:
        real = ctx.emit("bias_grad", [d], {}, "db_real")
        step = (w_scale.astype(np.float64) * a["x_scale"]).astype(np.float32)
        grad = ctx.emit("scale_channels", [real, _const(step)], {}, "db")
        fan_in = int(np.prod(_shape(w)[1:]))
        ctx.param_grad(bias, grad, {"kind": "s32", "step": [float(s) for s in step], "limit": bias_limit(fan_in)})


def conv2d_s8(ctx, b, g):
    _weight_layer(ctx, b, g, "conv2d")


def linear_s8(ctx, b, g):
    _weight_layer(ctx, b, g, "linear")


def add_s8(ctx, b, g):
    lhs, rhs = b.args
    if ctx.needs(lhs) or ctx.needs(rhs):
        d = _masked(ctx, b, g)
        ctx.accumulate(lhs, d)
        ctx.accumulate(rhs, d)


def avgpool_s8(ctx, b, g):
    (x,) = b.args
    if ctx.needs(x):
        window = {k: b.attrs[k] for k in ("kernel", "stride", "padding", "count_include_pad") if k in b.attrs}
        ctx.accumulate(x, ctx.emit("avgpool_grad", [g], {"in_hw": _shape(x)[2:], **window}, "dx"))


def maxpool_s8(ctx, b, g):
    (x,) = b.args
    if ctx.needs(x):
        attrs = {k: b.attrs[k] for k in ("kernel", "stride", "padding")}
        ctx.accumulate(x, ctx.emit("maxpool_grad", [g, ctx.new(x)], attrs, "dx"))


def flatten(ctx, b, g):
    (x,) = b.args
    if ctx.needs(x):
        ctx.accumulate(x, ctx.emit("reshape_grad", [g], {"shape": _shape(x)}, "dx"))


def dequantize(ctx, b, g):
    ctx.accumulate(b.args[0], g)


def linear_f32(ctx, b, g):
    x, w, bias = b.args
    if ctx.needs(x):
        ctx.accumulate(x, ctx.emit("linear_f32_grad_input", [g, ctx.new(w)], {}, "dx"))
    if ctx.trainable(w):
        attrs = {"x_scale": b.attrs["x_scale"], "x_zero": b.attrs["x_zero"]}
        ctx.param_grad(w, ctx.emit("linear_f32_grad_weight", [ctx.new(x), g], attrs, "dw"), {"kind": "f32"})
    if ctx.trainable(bias):
        ctx.param_grad(bias, ctx.emit("linear_f32_grad_bias", [g], {}, "db"), {"kind": "f32"})
