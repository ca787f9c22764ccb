/*
 * z = add(x, y), y = pointwise(depthwise(conv(x))): a stride-1 residual block (tt_conv_dw_pw_rows_s8) and its
 * residual add (tt_add_s8) one output row at a time, each row of sums written to z as soon as it is made, so y
 * never exists whole: only its current row, here (passes/fuse_rows_residual.py).  z may be x, whose buffer the
 * sum takes where x dies at the add, because x's row r is read by no later output row: output row r needs the
 * rows lo .. r - b.pad_top + b.kh - 1 of mid and the loop makes each row of mid once, when the first output row
 * that needs it comes (tt_conv_dw_pw_loop.h); mid row j is made from x's rows from j - a.pad_top, so every row of
 * x read after output row r is at least r - b.pad_top + b.kh - a.pad_top > r (checked below: a 1x1 `a` with any
 * depthwise). Row r of x is then read only by row r's add, which reads each element before it writes it. Every
 * value is the block's and the add's own: the same loop and kernel calls on the same bands, and the add's
 * per-element function (tt_add_s8_rows) on the same pairs, bit for bit.
 * Scratch (tt_conv_dw_pw_rows_add_s8_get_buffer_size): the row loop's (tt_conv_dw_pw_rows_s8_get_buffer_size),
 * then one output row of y (out.c x out.w, 8-aligned).
 * TT_ERR_ARG: as tt_conv_dw_pw_rows_s8 or tt_add_s8, NULL add, out != in, a stride other than 1, or a window
 * that would read a row of x after its sum is written (b.kh <= a.pad_top + b.pad_top).
 */
#include "tt_conv_dw_pw_loop.h"

int32_t tt_conv_dw_pw_rows_add_s8_get_buffer_size(tt_dims in, const tt_conv_layer *a, tt_dims mid,
                                                  const tt_conv_layer *b, tt_dims out)
{
    return TT_DW_PW_LOOP_BYTES(in, a, mid, b, out) + TT_ALIGN8(out.c * out.w);
}

int tt_conv_dw_pw_rows_add_s8(const int8_t *x, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                              const tt_conv_layer *b, const tt_conv_layer *c, int8_t *z, tt_dims out,
                              const tt_residual_add *add, int8_t *scratch)
{
    if (!x || !a || !b || !c || !z || !add || !scratch) return TT_ERR_ARG;
    if (in.c != out.c || in.h != out.h || in.w != out.w || a->conv.stride != 1 || b->conv.stride != 1 ||
        b->kh <= a->conv.pad_top + b->conv.pad_top)
        return TT_ERR_ARG;
    int8_t *y = scratch + TT_DW_PW_LOOP_BYTES(in, a, mid, b, out); /* y's row r, (out.c, 1, out.w) */
    const int32_t plane = out.h * out.w;
    tt_whole_input s = {x, in};
    tt_dw_pw_window win = {0, 0, 0};
    for (int32_t r = 0; r < out.h; ++r) {
        int rc = tt_conv_dw_pw_loop_rows(tt_band_from_tensor, NULL, &s, in, a, mid, b, c, y, 1, out, scratch, &win,
                                         r, r + 1);
        if (rc != TT_OK) return rc;
        const int8_t *xr = x + r * out.w;
        rc = add->x_is_a ? tt_add_s8_rows(xr, plane, y, out.w, out.c, out.w, add->a_zero, add->b_zero, add->mult_a,
                                          add->mult_b, add->shift, &add->q, z + r * out.w, plane)
                         : tt_add_s8_rows(y, out.w, xr, plane, out.c, out.w, add->a_zero, add->b_zero, add->mult_a,
                                          add->mult_b, add->shift, &add->q, z + r * out.w, plane);
        if (rc != TT_OK) return rc;
    }
    return TT_OK;
}
