/*
 * z = add(x, y), y = pointwise(depthwise(conv(x))): a stride-1 residual block (tt_conv_dw_pw_rows_s8) and its
 * residual add (tt_add_s8) one output row at a time, each row of sums written to z as soon as it is made, so y
 * never exists whole: only its current row, here (passes/fuse_rows_residual.py).  z may be x, whose buffer the
 * sum takes where x dies at the add, because x's row r is read by no later output row: output row r needs the
 * rows lo .. r - b.pad_top + b.kh - 1 of mid and the loop makes each row of mid once, when the first output row
 * that needs it comes (tt_conv_dw_pw_loop.h); mid row j is made from x's rows from j - a.pad_top, so every row of
 * x read after output row r is at least r - b.pad_top + b.kh - a.pad_top > r (checked below: a 1x1 `a` with any
 * depthwise). Row r of x is then read only by row r's add, which reads each element before it writes it. Every
 * value is the block's and the add's own: the same loop and kernel calls on the same bands (one call of the loop,
 * whose row_done hook adds each row as it is made), and the add's per-element function (tt_add_s8_rows) on the
 * same pairs, bit for bit.
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

typedef struct {
    tt_whole_input x; /* first: the band's source (tt_band_from_tensor's ctx) */
    const tt_residual_add *add;
    int8_t *z;
} residual;

/* Row r of the sum, from x's row r and y's, into z's row r (z may be x: its row r is read here last). */
static int add_row(void *ctx, int32_t r, const int8_t *y, int32_t y_plane)
{
    const residual *s = (const residual *)ctx;
    const tt_residual_add *add = s->add;
    const int32_t w = s->x.in.w, plane = s->x.in.h * w;
    const int8_t *xr = s->x.x + r * w;
    return tt_add_s8_rows(add->x_is_a ? xr : y, add->x_is_a ? plane : y_plane, add->x_is_a ? y : xr,
                          add->x_is_a ? y_plane : plane, s->x.in.c, w, add->a_zero, add->b_zero, add->mult_a,
                          add->mult_b, add->shift, &add->q, s->z + r * w, plane);
}

int tt_conv_dw_pw_rows_add_s8(const int8_t *x, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                              const tt_conv_layer *b, const tt_conv_layer *c, int8_t *z, tt_dims out,
                              const tt_residual_add *add, int8_t *scratch)
{
    if (!x || !a || !b || !c || !z || !add || !scratch) return TT_ERR_ARG;
    if (in.c != out.c || in.h != out.h || in.w != out.w || a->conv.stride != 1 || b->conv.stride != 1 ||
        b->kh <= a->conv.pad_top + b->conv.pad_top)
        return TT_ERR_ARG;
    residual s = {{x, in}, add, z};
    tt_dw_pw_window win = {0, 0, 0};
    /* y's rows one at a time in the scratch after the row loop's */
    return tt_conv_dw_pw_loop_rows_done(tt_band_from_tensor, NULL, &s, in, a, mid, b, c,
                                        scratch + TT_DW_PW_LOOP_BYTES(in, a, mid, b, out), 1, out, scratch, &win, 0,
                                        out.h, add_row);
}
