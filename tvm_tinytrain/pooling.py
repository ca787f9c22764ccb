"""Pooling window geometry, read the same way by every stage (reference, Relax, oracle, C, checks).

A pool layer's attrs are `kernel` (kh, kw), `stride` (sh, sw), `padding` (top, left, bottom, right)
and, for average pooling, `count_include_pad`; an int kernel / stride means the same along H and W.
An average pool without `kernel` is global (over the whole map). Kept numpy-only so graph checks
and the numpy reference need no TVM.
"""
from __future__ import annotations

import numpy as np

from .errors import TinyTrainError


def _pair(v) -> tuple[int, int]:
    if np.ndim(v) == 0:
        return int(v), int(v)
    a, b = (int(t) for t in v)
    return a, b


def is_global(attrs) -> bool:
    """An average pool over the whole map: the layer has no window attrs."""
    return "kernel" not in attrs


def window(attrs) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """((kh, kw), (sh, sw), (top, left, bottom, right)); the stride defaults to the kernel."""
    kernel = _pair(attrs["kernel"])
    stride = _pair(attrs.get("stride") or kernel)
    padding = attrs.get("padding") or 0
    pad = (int(padding),) * 4 if np.ndim(padding) == 0 else tuple(int(p) for p in padding)
    if len(pad) == 2:
        pad = (pad[0], pad[1], pad[0], pad[1])
    return kernel, stride, pad


def normalized(attrs) -> dict:
    """The canonical attrs: pairs and a 4-tuple (plus count_include_pad when the attrs have it)."""
    kernel, stride, pad = window(attrs)
    out = {"kernel": kernel, "stride": stride, "padding": pad}
    if "count_include_pad" in attrs:
        out["count_include_pad"] = bool(attrs["count_include_pad"])
    return out


def problem(attrs, in_hw) -> str | None:
    """What makes this window impossible on an (H, W) input, or None: every window must hold an input
    element (a padding smaller than the kernel) and fit the padded map."""
    (kh, kw), (sh, sw), (top, left, bottom, right) = window(attrs)
    if min(kh, kw, sh, sw) < 1 or min(top, left, bottom, right) < 0:
        return f"kernel {(kh, kw)}, stride {(sh, sw)} must be >= 1 and padding {(top, left, bottom, right)} >= 0"
    if max(top, bottom) >= kh or max(left, right) >= kw:
        return f"padding {(top, left, bottom, right)} must be smaller than the kernel {(kh, kw)}"
    if in_hw[0] + top + bottom < kh or in_hw[1] + left + right < kw:
        return f"kernel {(kh, kw)} is larger than the padded {tuple(in_hw)} map"
    return None


def out_hw(attrs, in_hw) -> tuple[int, int]:
    (kh, kw), (sh, sw), (top, left, bottom, right) = window(attrs)
    return (in_hw[0] + top + bottom - kh) // sh + 1, (in_hw[1] + left + right - kw) // sw + 1


def divisors(attrs, in_hw) -> np.ndarray:
    """int64 (OH, OW): what each average window divides by: kh * kw with count_include_pad, else the
    number of input (not padding) elements in the window."""
    (kh, kw), (sh, sw), (top, left, _, _) = window(attrs)
    oh, ow = out_hw(attrs, in_hw)
    if attrs.get("count_include_pad", True):
        return np.full((oh, ow), kh * kw, np.int64)

    def valid(n_out, stride, pad, k, size):
        start = np.arange(n_out) * stride - pad
        return np.minimum(start + k, size) - np.maximum(start, 0)

    return np.outer(valid(oh, sh, top, kh, in_hw[0]), valid(ow, sw, left, kw, in_hw[1])).astype(np.int64)


def round_half_even_div(total, n):
    """round_half_even(total / n) for integer arrays, exactly: floor, then up on r > n/2 or an odd tie."""
    q, r = np.divmod(total, n)
    return q + ((2 * r > n) | ((2 * r == n) & (q % 2 == 1)))


def check(attrs, in_hw, where: str):
    """TinyTrainError naming `where` when the window cannot run on the input."""
    reason = problem(attrs, in_hw)
    if reason:
        raise TinyTrainError(f"{where}: {reason}; fix the pool's kernel / stride / padding")
