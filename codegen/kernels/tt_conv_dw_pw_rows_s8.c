/*
 * y = pointwise(depthwise(conv(x))): three int8 convs computed one output row at a time, so neither
 * intermediate tensor exists whole (MCUNetV2's patch-based inference, by rows; passes/fuse_conv_dw_pw_rows.py).
 *   x (in.c, in.h, in.w) -> conv `a` (any kernel, groups 1) -> mid (mid.c, mid.h, mid.w)
 *   -> depthwise `b` (groups = mid.c) -> (mid.c, out.h, out.w) -> 1x1 `c` -> y (out.c, out.h, out.w).
 * For output row r the depthwise needs rows [lo, lo + n) of mid; rows of mid are computed once, kept in
 * a window of b.kh rows per channel and reused by the next output rows.  Each kernel call sees a band
 * of its input with the padding that falls inside the band's window, so every output is the same
 * integer sum as in the whole-tensor call: the result is identical bit for bit.  The loop is
 * tt_conv_dw_pw_loop.h's, shared with the streamed stem (tt_conv_dw_pw_stream_s8.c).
 * Scratch (tt_conv_dw_pw_rows_s8_get_buffer_size bytes): a band of x (in.c x a.kh rows), one row of
 * mid, the window of mid (mid.c x b.kh rows), one depthwise row, one output row; each part 8-aligned.
 * TT_ERR_ARG: a NULL pointer, a kernel rejecting its band (as that kernel).
 */
#include "tt_conv_dw_pw_loop.h"

int32_t tt_conv_dw_pw_rows_s8_get_buffer_size(tt_dims in, const tt_conv_layer *a, tt_dims mid,
                                              const tt_conv_layer *b, tt_dims out)
{
    return TT_DW_PW_LOOP_BYTES(in, a, mid, b, out);
}

int tt_conv_dw_pw_rows_s8(const int8_t *x, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                          const tt_conv_layer *b, const tt_conv_layer *c, int8_t *y, tt_dims out, int8_t *scratch)
{
    if (!x || !a || !b || !c || !y || !scratch) return TT_ERR_ARG;
    tt_whole_input s = {x, in};
    return tt_conv_dw_pw_loop(tt_band_from_tensor, &s, in, a, mid, b, c, y, out, scratch);
}
