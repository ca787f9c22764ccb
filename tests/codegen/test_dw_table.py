"""codegen/dw_table.py: a row block's 3x3 depthwise constants made at compile time are the integers its DSP row loop
makes (the host build with TT_USE_DSP and emulated intrinsics, as check_dsp.c's): tt_conv_dw_pw_rows_s8 with the
table gives the bytes it gives without, on MbV2's block shapes at strides 1 and 2, and a table with one channel's
start moved changes them (the table is read). check_dsp.c checks the same path on QEMU M4 / M7 with its own tables; the
backbones' runs (benchmarks.run, tests/targets) with the emitter's."""
from ctypes import byref
from pathlib import Path

import numpy as np
import pytest
from test_kernels_memory import P8, P32, Dims, _layer, _out, _ptr

from codegen import dw_table, host_build
from tvm_tinytrain.codegen import kernel_abi

HERE = Path(__file__).resolve().parent
ROWS = ("tt_conv_dw_pw_rows_s8", "tt_conv2d_s8", "tt_conv2d_1x1_s8", "tt_conv2d_1x1_split_s8", "tt_conv2d_general_s8",
        "tt_depthwise_conv2d_s8")


@pytest.fixture(scope="module")
def dsp_lib():
    sources = [host_build.KERNEL_DIR / f"{n}.c" for n in ROWS]
    return kernel_abi.typed(host_build.shared_library("tt_rows_dsp_emul", sources, ("-D__ARM_FEATURE_DSP=1",),
                                                      (HERE / "acle_emul",)))


def _table(b, keep):
    """dw_table.table_3x3 of ctypes layer b (its arrays from `keep`, as _layer appended them)."""
    c = b.conv.groups
    w, bias, mult, shift = (np.ctypeslib.as_array(p, (n,)) for p, n in
                            ((b.w, c * 9), (b.bias, c), (b.mult, c), (b.shift, c)))
    q = {"x_zero": b.q.x_zero, "y_zero": b.q.y_zero, "act_min": b.q.act_min, "act_max": b.q.act_max}
    table = dw_table.table_3x3(w.reshape(c, 1, 3, 3), bias, mult, shift, q)
    assert table is not None and table.dtype == np.int32 and table.size == c * dw_table.WORDS
    keep.append(table)
    return table


def _run(lib, x, dims, a, mid, b, c, out):
    y = np.zeros(out.c * out.h * out.w, np.int8)
    size = lib.tt_conv_dw_pw_rows_s8_get_buffer_size(dims, byref(a), mid, byref(b), out)
    assert lib.tt_conv_dw_pw_rows_s8(_ptr(x, P8), dims, byref(a), mid, byref(b), byref(c), _ptr(y, P8), out,
                                     _ptr(np.zeros(size, np.int8), P8)) == 0
    return y


@pytest.mark.parametrize("c_in, h, w, c_mid, stride, c_out", [
    (16, 32, 32, 48, 1, 16),   # MbV2 blocks 4, 5 (16 -> 96 -> 16 at w0.35: 48 here), 3x3 s1
    (8, 64, 64, 48, 2, 8),     # MbV2 block 1, 64x64 -> 32x32, 3x3 s2
    (24, 8, 8, 144, 1, 24),    # block 7, 8x8
])
def test_table_gives_the_same_bytes(dsp_lib, c_in, h, w, c_mid, stride, c_out):
    rng = np.random.default_rng(c_mid + stride)
    keep = []
    a = _layer(rng, c_mid, c_in, (1, 1), 1, (0, 0, 0, 0), 1, int(rng.integers(-10, 10)), keep)
    b = _layer(rng, c_mid, 1, (3, 3), stride, (1, 1, 1, 1), c_mid, a.q.y_zero, keep)
    c = _layer(rng, c_out, c_mid, (1, 1), 1, (0, 0, 0, 0), 1, b.q.y_zero, keep)
    x = rng.integers(-128, 128, c_in * h * w).astype(np.int8)
    dims, mid = Dims(c_in, h, w), Dims(c_mid, h, w)
    out = Dims(c_out, _out(h, 3, stride, 1, 1), _out(w, 3, stride, 1, 1))
    without = _run(dsp_lib, x, dims, a, mid, b, c, out)
    table = _table(b, keep)
    b.table = _ptr(table, P32)
    assert np.array_equal(_run(dsp_lib, x, dims, a, mid, b, c, out), without)
    table[(c_mid // 2) * dw_table.WORDS + 6] += 1 << 12  # one channel's start moved: its bytes move
    assert not np.array_equal(_run(dsp_lib, x, dims, a, mid, b, c, out), without)


def test_no_table_where_a_channel_is_not_in_the_ssat_form():
    w = np.zeros((2, 1, 3, 3), np.int8)
    q = {"x_zero": 0, "y_zero": 0, "act_min": -128, "act_max": 127}
    ones = np.ones(2, np.int32)
    assert dw_table.table_3x3(w, ones, ones, np.array([40, 32]), q) is None  # shift 32: the wide form
    assert dw_table.table_3x3(w, ones, ones, np.array([40, 40]), {**q, "act_min": 0}) is None  # a narrower clamp
    assert dw_table.table_3x3(w.reshape(2, 1, 9, 1), ones, ones, np.array([40, 40]), q) is None  # not 3x3
