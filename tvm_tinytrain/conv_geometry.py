"""A conv layer's window geometry (stride and dilation), read the same way by every stage.

A conv2d layer's `stride` is an int (the same along H and W) or (sh, sw); its optional `dilation`
is an int or (dh, dw), 1 when absent. Graphs keep the compact form (an int stride, no dilation)
whenever it holds, so every graph, graph file and program made before dilation and unequal strides
existed is unchanged. `is_plain` is the one test every specialised fast path (the 1x1, 3x3 and
fused kernels, the memory passes) asks before it takes a conv; anything else goes to the generic
geometry kernels. Kept numpy-only so graph checks and the numpy reference need no TVM.
"""
from __future__ import annotations

import numpy as np


def _pair(v) -> tuple[int, int]:
    if np.ndim(v) == 0:
        return int(v), int(v)
    a, b = (int(t) for t in v)
    return a, b


def strides(attrs) -> tuple[int, int]:
    """(sh, sw)."""
    return _pair(attrs.get("stride", 1))


def dilations(attrs) -> tuple[int, int]:
    """(dh, dw); (1, 1) without a `dilation` attr."""
    return _pair(attrs.get("dilation", 1))


def is_plain(attrs) -> bool:
    """The geometry the specialised kernels and passes handle: one stride for H and W, no dilation."""
    sh, sw = strides(attrs)
    return sh == sw and dilations(attrs) == (1, 1)


def compact(stride, dilation=1) -> dict:
    """The attrs as graphs keep them: an int stride when sh == sw, `dilation` only when not (1, 1)."""
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    out = {"stride": sh if sh == sw else (sh, sw)}
    if (dh, dw) != (1, 1):
        out["dilation"] = (dh, dw)
    return out


def extent(k: int, dilation: int) -> int:
    """The span of a dilated kernel: (k - 1) * d + 1 input elements."""
    return (k - 1) * dilation + 1


def out_hw(attrs, kernel, in_hw) -> tuple[int, int]:
    """(OH, OW) of the conv over an (H, W) input with the attrs' padding (top, left, bottom, right)."""
    (sh, sw), (dh, dw) = strides(attrs), dilations(attrs)
    top, left, bottom, right = attrs["padding"]
    return ((in_hw[0] + top + bottom - extent(kernel[0], dh)) // sh + 1,
            (in_hw[1] + left + right - extent(kernel[1], dw)) // sw + 1)
