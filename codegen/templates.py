"""One C call per tt op: `template(binding, args, out) -> str`, named by the op's record
(tvm_tinytrain/ops/registry.py, `call`).

`args` are C expressions for the op's arguments (arena pointers, parameter arrays,
constants, `tt_lr_weight`, ...), `out` the C expression of its output buffer.  Shapes
and attributes come from the Relax binding (`binding.args[i].ty`, `binding.attrs`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tvm_tinytrain import conv_geometry


@dataclass(frozen=True)
class Split:
    """A weight stored as its trained leading channels (`lead`, SRAM) and the frozen rest (`rest`,
    flash): pointwise convs split input channels, depthwise convs split channels (rows)."""

    lead: str
    rest: str
    k: int
    depthwise: bool


def _shape(expr) -> list[int]:
    return [int(s) for s in expr.ty.shape]


def _n(expr) -> int:
    return int(np.prod(_shape(expr))) if _shape(expr) else 1


def _dims(expr) -> str:
    shape = _shape(expr)
    c, h, w = (shape[1:] + [1, 1, 1])[:3] if len(shape) >= 2 else (shape[0], 1, 1)
    return f"(tt_dims){{{c}, {h}, {w}}}"


def c_float(v) -> str:
    """A float32 as a C literal that reads back to the same float (9 significant digits)."""
    text = f"{float(np.float32(v)):.9g}"
    return (text if any(c in text for c in ".en") else text + ".0") + "f"


_f = c_float


def _conv_params(a, groups=None) -> str:
    top, left, bottom, right = a["padding"]
    g = a.get("groups", 1) if groups is None else groups
    return f"static const tt_conv_params p = {{{a['stride']}, {top}, {left}, {bottom}, {right}, {g}}};"


def _conv_call(a, kernel: str, groups=None, static: bool = True, portable: bool = False) -> tuple[str, str]:
    """(the declaration of `p`, the kernel to call) for a conv kernel named `tt_conv2d_<op>`: the plain
    geometry (conv_geometry.is_plain) takes `kernel` and its specialised paths with tt_conv_params, any
    other stride / dilation the tt_conv2d_geom_<op> kernel with tt_conv_geom. The one place that picks.
    `groups` may be a C expression, then with static=False (a local computed at run time). `portable`
    takes the geometry kernel whatever the geometry (a grouped conv's weight gradient: only it has one)."""
    top, left, bottom, right = a["padding"]
    g = a.get("groups", 1) if groups is None else groups
    qualifier = "static const " if static else ""
    if conv_geometry.is_plain(a) and not portable:
        return f"{qualifier}tt_conv_params p = {{{a['stride']}, {top}, {left}, {bottom}, {right}, {g}}};", kernel
    (sh, sw), (dh, dw) = conv_geometry.strides(a), conv_geometry.dilations(a)
    return (f"{qualifier}tt_conv_geom p = {{{sh}, {sw}, {dh}, {dw}, {top}, {left}, {bottom}, {right}, {g}}};",
            kernel.replace("tt_conv2d_", "tt_conv2d_geom_", 1))


def _quant(a, x_zero=None) -> str:
    xz = a.get("x_zero", 0) if x_zero is None else x_zero
    return f"static const tt_quant_params q = {{{xz}, {a['y_zero']}, {a['act_min']}, {a['act_max']}}};"


def _block(*parts) -> str:
    return "{ " + " ".join(parts) + " }"


def conv2d_s8(b, args, out):
    x, w, bias, mult, shift = args
    a = b.attrs
    kh, kw = _shape(b.args[1])[2:]
    if isinstance(w, Split) and not w.depthwise:
        return _block(_conv_params(a), _quant(a),
                      f"TT_CALL(tt_conv2d_1x1_split_s8({x}, {_dims(b.args[0])}, {w.lead}, {w.rest}, {w.k}, {bias}, "
                      f"{mult}, {shift}, &p, &q, {out}, {_dims(b.var)}));")
    if isinstance(w, Split):  # depthwise channels are independent: one call per part
        (_, c, h, wd), (_, _, oh, ow) = _shape(b.args[0]), _shape(b.var)
        calls = []
        for part, (first, count, weight) in enumerate(((0, w.k, w.lead), (w.k, c - w.k, w.rest))):
            params, kernel = _conv_call(a, "tt_conv2d_s8", groups=count)
            calls.append(_block(params, _quant(a),
                                f"TT_CALL({kernel}({x} + {first * h * wd}, (tt_dims){{{count}, {h}, {wd}}}, "
                                f"{weight}, {kh}, {kw}, {bias} + {first}, {mult} + {first}, {shift} + {first}, &p, "
                                f"&q, {out} + {first * oh * ow}, (tt_dims){{{count}, {oh}, {ow}}}));"))
        return " ".join(calls)
    params, kernel = _conv_call(a, "tt_conv2d_s8")
    return _block(params, _quant(a),
                  f"TT_CALL({kernel}({x}, {_dims(b.args[0])}, {w}, {kh}, {kw}, {bias}, {mult}, {shift}, &p, &q, "
                  f"{out}, {_dims(b.var)}));")


def linear_s8(b, args, out):
    x, w, bias, mult, shift = args
    o, i = _shape(b.args[1])
    return _block(_quant(b.attrs),
                  f"TT_CALL(tt_linear_s8({x}, {i}, {w}, {bias}, {mult}, {shift}, {o}, &q, {out}));")


def add_s8(b, args, out):
    a = b.attrs
    return _block(_quant(a, x_zero=0),
                  f"TT_CALL(tt_add_s8({args[0]}, {args[1]}, {_n(b.var)}, {a['a_zero']}, {a['b_zero']}, "
                  f"{a['multiplier_a']}, {a['multiplier_b']}, {a['shift']}, &q, {out}));")


def _pool_params(a) -> str:
    (kh, kw), (sh, sw), (top, left, bottom, right) = a["kernel"], a["stride"], a["padding"]
    return f"static const tt_pool_params p = {{{kh}, {kw}, {sh}, {sw}, {top}, {left}, {bottom}, {right}}};"


def avgpool_s8(b, args, out):
    a = b.attrs
    if "kernel" not in a:  # global
        return f"TT_CALL(tt_avgpool_s8({args[0]}, {_dims(b.args[0])}, {out}));"
    return _block(_pool_params(a), f"TT_CALL(tt_avgpool_window_s8({args[0]}, {_dims(b.args[0])}, &p, {a['x_zero']}, "
                                   f"{int(a['count_include_pad'])}, {out}, {_dims(b.var)}));")


def maxpool_s8(b, args, out):
    return _block(_pool_params(b.attrs),
                  f"TT_CALL(tt_maxpool_s8({args[0]}, {_dims(b.args[0])}, &p, {out}, {_dims(b.var)}));")


def copy(b, args, out):
    return f"memcpy({out}, {args[0]}, {_n(b.var) * np.dtype(str(b.var.ty.dtype)).itemsize});"


def dequantize(b, args, out):
    a = b.attrs
    return f"TT_CALL(tt_dequantize_s8({args[0]}, {_n(b.var)}, {_f(a['scale'])}, {a['zero']}, {out}));"


def linear_f32(b, args, out):
    a = b.attrs
    o, i = _shape(b.args[1])
    return (f"TT_CALL(tt_linear_f32({args[0]}, {i}, {_f(a['x_scale'])}, {a['x_zero']}, {args[1]}, {args[2]}, "
            f"{o}, {out}));")


def cross_entropy(b, args, out):
    return f"TT_CALL(tt_cross_entropy_f32({args[0]}, {_n(b.args[0])}, {args[1]}, {out}));"


def cross_entropy_grad(b, args, out):
    return f"TT_CALL(tt_cross_entropy_grad_f32({args[0]}, {_n(b.args[0])}, {args[1]}, {out}));"


def mse(b, args, out):
    return f"TT_CALL(tt_mse_f32({args[0]}, {args[1]}, {_n(b.args[0])}, {out}));"


def mse_grad(b, args, out):
    return f"TT_CALL(tt_mse_grad_f32({args[0]}, {args[1]}, {_n(b.args[0])}, {out}));"


def clamp_mask(b, args, out):
    a = b.attrs
    return f"TT_CALL(tt_clamp_mask_s8({args[0]}, {_n(b.args[0])}, {a['act_min']}, {a['act_max']}, {out}));"


def mask_grad(b, args, out):
    return f"TT_CALL(tt_mask_grad_f32({args[0]}, {args[1]}, {_n(b.var)}, {out}));"


def grad_add(b, args, out):
    return f"TT_CALL(tt_grad_add_f32({args[0]}, {args[1]}, {_n(b.var)}, {out}));"


def channel_slice(b, args, out):
    groups, k = b.attrs.get("groups", 1), b.attrs["k"]
    if groups == 1:
        return f"TT_CALL(tt_channel_slice_s8({args[0]}, {_dims(b.args[0])}, {k}, {out}));"
    _, c, h, w = _shape(b.args[0])  # each group's leading k channels, group after group
    return " ".join(f"TT_CALL(tt_channel_slice_s8({args[0]} + {i * (c // groups) * h * w}, "
                    f"(tt_dims){{{c // groups}, {h}, {w}}}, {k}, {out} + {i * k * h * w}));" for i in range(groups))


def conv2d_grad_input(b, args, out):
    d, w, w_scale = args
    a = b.attrs
    kh, kw = _shape(b.args[1])[2:]
    if isinstance(w, Split) and not w.depthwise:
        return _block(_conv_params(a),
                      f"TT_CALL(tt_conv2d_1x1_grad_input_split_f32({d}, {_dims(b.args[0])}, {w.lead}, {w.rest}, "
                      f"{w.k}, {w_scale}, &p, {out}, {_dims(b.var)}));")
    if isinstance(w, Split):
        (_, c, oh, ow), (_, _, h, wd) = _shape(b.args[0]), _shape(b.var)
        calls = []
        for first, count, weight in ((0, w.k, w.lead), (w.k, c - w.k, w.rest)):
            params, kernel = _conv_call(a, "tt_conv2d_grad_input_f32", groups=count)
            calls.append(_block(params,
                                f"TT_CALL({kernel}({d} + {first * oh * ow}, (tt_dims){{{count}, {oh}, "
                                f"{ow}}}, {weight}, {kh}, {kw}, {w_scale} + {first}, &p, {out} + {first * h * wd}, "
                                f"(tt_dims){{{count}, {h}, {wd}}}));"))
        return " ".join(calls)
    params, kernel = _conv_call(a, "tt_conv2d_grad_input_f32")
    return _block(params,
                  f"TT_CALL({kernel}({d}, {_dims(b.args[0])}, {w}, {kh}, {kw}, {w_scale}, "
                  f"&p, {out}, {_dims(b.var)}));")


def conv2d_grad_weight(b, args, out):
    a = b.attrs
    kh, kw = a["kernel"]
    # depthwise: one group per channel of d, or attr groups with a channel multiplier (d has m * groups);
    # grouped (attr groups): x holds each group's leading k channels.  Those two take the geometry kernel
    # (never fused into grad_update's rows loop), so the m = 1 depthwise paths stay exactly as they were.
    channels = _shape(b.args[1])[1]
    groups = a.get("groups", channels) if a["depthwise"] else a.get("groups", 1)
    params, kernel = _conv_call(a, "tt_conv2d_grad_weight_f32", groups=groups,
                                portable=groups > 1 and (not a["depthwise"] or groups != channels))
    return _block(params,
                  f"TT_CALL({kernel}({args[0]}, {_dims(b.args[0])}, {a['x_zero']}, {_f(a['x_scale'])}, "
                  f"{args[1]}, {_dims(b.args[1])}, {kh}, {kw}, &p, {a['depthwise']}, {out}));")


def linear_grad_input(b, args, out):
    o, i = _shape(b.args[1])
    return f"TT_CALL(tt_linear_grad_input_f32({args[0]}, {o}, {args[1]}, {args[2]}, {i}, {out}));"


def linear_grad_weight(b, args, out):
    a = b.attrs
    k = _shape(b.args[0])[1]
    o = _shape(b.args[1])[1]
    return (f"TT_CALL(tt_linear_grad_weight_f32({args[0]}, {k}, {a['x_zero']}, {_f(a['x_scale'])}, {args[1]}, "
            f"{o}, {out}));")


def bias_grad(b, args, out):
    shape = _shape(b.args[0])
    spatial = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return f"TT_CALL(tt_bias_grad_f32({args[0]}, {shape[1]}, {spatial}, {out}));"


def scale_channels(b, args, out):
    shape = _shape(b.args[0])
    inner = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return f"TT_CALL(tt_scale_channels_f32({args[0]}, {shape[0]}, {inner}, {args[1]}, {out}));"


def avgpool_grad(b, args, out):
    a = b.attrs
    if "kernel" not in a:  # global
        return f"TT_CALL(tt_avgpool_grad_f32({args[0]}, {_dims(b.var)}, {out}));"
    return _block(_pool_params(a), f"TT_CALL(tt_avgpool_window_grad_f32({args[0]}, {_dims(b.args[0])}, &p, "
                                   f"{int(a['count_include_pad'])}, {out}, {_dims(b.var)}));")


def maxpool_grad(b, args, out):
    return _block(_pool_params(b.attrs),
                  f"TT_CALL(tt_maxpool_grad_f32({args[0]}, {_dims(b.args[0])}, {args[1]}, {_dims(b.args[1])}, "
                  f"&p, {out}));")


def linear_f32_grad_input(b, args, out):
    o, i = _shape(b.args[1])
    return f"TT_CALL(tt_linear_f32_grad_input({args[0]}, {o}, {args[1]}, {i}, {out}));"


def linear_f32_grad_weight(b, args, out):
    a = b.attrs
    i = _shape(b.args[0])[1]
    o = _shape(b.args[1])[1]
    return (f"TT_CALL(tt_linear_f32_grad_weight({args[0]}, {i}, {_f(a['x_scale'])}, {a['x_zero']}, {args[1]}, "
            f"{o}, {out}));")


def sgd_s8(b, args, out):
    w, g, lr, step = args
    a = b.attrs
    shape = _shape(b.args[0])
    inner = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    rows, cols = shape[0], 1 if a["depthwise"] else shape[1]
    if isinstance(w, Split):  # only the trained part is stored writable: it is the whole slice
        w, rows, cols = w.lead, (w.k if w.depthwise else rows), (1 if w.depthwise else w.k)
    return (f"TT_CALL(tt_sgd_s8({w}, {g}, {rows}, {cols}, {inner}, {a['k']}, {a['depthwise']}, "
            f"{lr}, {step}, {a['conv_index']}));")


def sgd_s32(b, args, out):
    return f"TT_CALL(tt_sgd_s32({args[0]}, {args[1]}, {_n(b.args[0])}, {args[2]}, {b.attrs['limit']}));"


def sgd_f32(b, args, out):
    return f"TT_CALL(tt_sgd_f32({args[0]}, {args[1]}, {_n(b.args[0])}, {args[2]}));"


def momentum_f32(b, args, out):
    return f"TT_CALL(tt_momentum_f32({args[0]}, {args[1]}, {_n(b.args[0])}, {c_float(b.attrs['momentum'])}));"


def round_copy_s8(b, args, out):
    """The trained slice as `rows` runs of `run` values, `stride` apart in the weight (the lead of a Split
    holds the slice alone)."""
    w, copy = args
    shape, copy_shape = _shape(b.args[0]), _shape(b.args[1])
    axis = next((i for i, (p, c) in enumerate(zip(shape, copy_shape)) if p != c), 0)  # the sliced axis
    rows, run = int(np.prod(copy_shape[:axis])), int(np.prod(copy_shape[axis:]))
    stride = int(np.prod(shape[axis:]))
    if isinstance(w, Split):
        w, stride = w.lead, run
    return f"TT_CALL(tt_round_copy_s8({w}, {copy}, {rows}, {run}, {stride}));"


def round_copy_s32(b, args, out):
    return f"TT_CALL(tt_round_copy_s32({args[0]}, {args[1]}, {_n(b.args[0])}, {b.attrs['limit']}));"

