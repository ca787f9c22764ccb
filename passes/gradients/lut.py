"""Gradient of the `lut` layer: dx_r = g * f'(x_r) (docs/training-semantics.md "lut").

f' is read from the input's int8 code; where it takes two values on the codes (LeakyReLU,
Hardsigmoid) the backward keeps one bit per element (`interval_mask`, computed as soon as the
input exists so the input need not live until the backward), else the int8 input itself."""

from tvm_tinytrain._tvm import relax
from tvm_tinytrain.graph import QParams
from tvm_tinytrain.quantization import lut


def lut_s8(ctx, b, g):
    x = b.args[0]
    if not ctx.needs(x):
        return
    a = b.attrs
    dtable = lut.grad_table(a["fn"], a["alpha"], QParams(a["x_scale"], a["x_zero"]))
    split = lut.two_valued(dtable)
    if split is None:
        dx = ctx.emit("lut_grad", [g, ctx.new(x), relax.const(dtable, "float32")], {}, "dx")
    else:
        lo, hi, inside, outside = split
        mask = ctx.emit("interval_mask", [ctx.new(x)], {"lo": lo, "hi": hi}, "mask")
        dx = ctx.emit("select_grad", [g, mask], {"inside": inside, "outside": outside}, "dx")
    ctx.accumulate(x, dx)
