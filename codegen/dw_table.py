"""The row blocks' depthwise constants, made once at compile time (tt_conv_layer.table, tt_kernels.h).

The fused row kernels' DSP loop (tt_conv_dw_pw_loop.h) runs a 3x3 depthwise one output row at a time, and made each
channel's constants for its asm row again on every row (slots_3x3 and window_channels_3x3 in
tt_depthwise_conv2d_s8.c): the weight pairs SXTB16 makes, the middle taps, start = bias - x_zero * sum w, and the SSAT
form's m, k, t. They depend on the layer only, so the emitter writes them here into a `static const` table in flash
and the kernel's asm reads them from there (tt_depthwise_window_table_row_s8): the same integers, so the same output
bytes.
"""

import numpy as np

WORDS = 12  # TT_DW_TABLE_WORDS: (w0, w2), w1, (w3, w5), w4, (w6, w8), w7, start, start, m, k, t, 0
SSAT_MAX_SHIFT = 53  # TT_SSAT_MAX_SHIFT (tt_dsp.h)


def _int32(v: np.ndarray) -> np.ndarray:
    """v's low 32 bits as int32: the C's int32 arithmetic (two's complement)."""
    return (np.asarray(v, dtype=np.int64) & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


def _pair(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """SXTB16's word of two int8 values: lo sign-extended in the low halfword, hi in the high one."""
    return _int32((lo.astype(np.int64) & 0xFFFF) | (hi.astype(np.int64) << 16))


def table_3x3(w: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, q: dict) -> np.ndarray | None:
    """The (channels * WORDS,) int32 table of a 3x3 depthwise (w (C, 1, 3, 3) int8, q its x_zero, y_zero, act_min,
    act_max), or None where some channel is not in the SSAT form (tt_ssat_form): the kernel makes those itself."""
    w = np.asarray(w)
    shift = np.asarray(shift, dtype=np.int64)
    if w.ndim != 4 or w.shape[1:] != (1, 3, 3) or q["act_min"] != -128 or q["act_max"] != 127:
        return None
    if not np.all((shift > 32) & (shift <= SSAT_MAX_SHIFT)):
        return None
    k = w.reshape(-1, 9).astype(np.int64)
    t = shift - 32
    start = _int32(np.asarray(bias, dtype=np.int64) - int(q["x_zero"]) * k.sum(axis=1))
    table = np.stack([
        _pair(k[:, 0], k[:, 2]), _int32(k[:, 1]), _pair(k[:, 3], k[:, 5]), _int32(k[:, 4]),
        _pair(k[:, 6], k[:, 8]), _int32(k[:, 7]),
        start, start,  # the asm's two LDRD of (start, start)
        _int32(np.asarray(mult, dtype=np.int64)),
        _int32((1 << (t - 1)) + int(q["y_zero"]) * (1 << t)),
        _int32(t),
        np.zeros(len(k), np.int32),  # 8-byte rows
    ], axis=1)
    return np.ascontiguousarray(table.reshape(-1))
