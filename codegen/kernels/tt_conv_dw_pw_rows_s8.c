/*
 * y = pointwise(depthwise(conv(x))): three int8 convs computed one output row at a time, so neither
 * intermediate tensor exists whole (MCUNetV2's patch-based inference, by rows; passes/fuse_conv_dw_pw_rows.py).
 *   x (in.c, in.h, in.w) -> conv `a` (any kernel, groups 1) -> mid (mid.c, mid.h, mid.w)
 *   -> depthwise `b` (groups = mid.c) -> (mid.c, out.h, out.w) -> 1x1 `c` -> y (out.c, out.h, out.w).
 * For output row r the depthwise needs rows [lo, lo + n) of mid; rows of mid are computed once, kept in
 * a window of b.kh rows per channel and reused by the next output rows.  Each kernel call sees a band
 * of its input with the padding that falls inside the band's window, so every output is the same
 * integer sum as in the whole-tensor call: the result is identical bit for bit.
 * Scratch (tt_conv_dw_pw_rows_s8_get_buffer_size bytes): a band of x (in.c x a.kh rows), one row of
 * mid, the window of mid (mid.c x b.kh rows), one depthwise row, one output row; each part 8-aligned.
 * TT_ERR_ARG: a NULL pointer, a kernel rejecting its band (as that kernel).
 */
#include <string.h>

#include "tt_depthwise_strided.h"
#include "tt_kernels.h"

#define ALIGN8(n) (((n) + 7) & ~(int32_t)7)

int32_t tt_conv_dw_pw_rows_s8_get_buffer_size(tt_dims in, const tt_conv_layer *a, tt_dims mid,
                                              const tt_conv_layer *b, tt_dims out)
{
    return ALIGN8(in.c * a->kh * in.w) + ALIGN8(mid.c * mid.w) + ALIGN8(mid.c * b->kh * mid.w) +
           ALIGN8(mid.c * out.w) + ALIGN8(out.c * out.w);
}

/* The rows [*lo, *lo + *n) of an input of height h under output row r's window (kernel k), and the
 * padding left at the band's top and bottom in *p. */
static void band(int32_t r, int32_t k, int32_t h, tt_conv_params *p, int32_t *lo, int32_t *n)
{
    const int32_t top = r * p->stride - p->pad_top, last = top + k - 1;
    *lo = top > 0 ? top : 0;
    *n = (last < h - 1 ? last : h - 1) - *lo + 1;
    p->pad_top = *lo - top;
    p->pad_bottom = last - (*lo + *n - 1);
}

int tt_conv_dw_pw_rows_s8(const int8_t *x, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                          const tt_conv_layer *b, const tt_conv_layer *c, int8_t *y, tt_dims out, int8_t *scratch)
{
    if (!x || !a || !b || !c || !y || !scratch) return TT_ERR_ARG;
    const int32_t wnd = b->kh; /* rows of mid kept per channel */
    int8_t *xb = scratch, *ar = xb + ALIGN8(in.c * a->kh * in.w), *ab = ar + ALIGN8(mid.c * mid.w);
    int8_t *br = ab + ALIGN8(mid.c * wnd * mid.w), *yr = br + ALIGN8(mid.c * out.w);
    int32_t have_lo = 0, have_n = 0; /* rows have_lo .. have_lo + have_n - 1 of mid are in ab */
    for (int32_t r = 0; r < out.h; ++r) {
        tt_conv_params pb = b->conv;
        int32_t lo, n;
        band(r, b->kh, mid.h, &pb, &lo, &n);
        const int32_t drop = lo - have_lo, kept = have_n - drop;
        if (kept <= 0) {
            have_n = 0;
        } else if (drop > 0) { /* slide the window: the rows still needed move to its front */
            for (int32_t ch = 0; ch < mid.c; ++ch)
                memmove(ab + ch * wnd * mid.w, ab + (ch * wnd + drop) * mid.w, (size_t)(kept * mid.w));
            have_n = kept;
        }
        have_lo = lo;
        for (int32_t j = have_lo + have_n; j < lo + n; ++j, ++have_n) { /* row j of mid */
            tt_conv_params pa = a->conv;
            int32_t xlo, xn;
            band(j, a->kh, in.h, &pa, &xlo, &xn);
            for (int32_t ch = 0; ch < in.c; ++ch)
                memcpy(xb + ch * xn * in.w, x + (ch * in.h + xlo) * in.w, (size_t)(xn * in.w));
            int rc = tt_conv2d_s8(xb, (tt_dims){in.c, xn, in.w}, a->w, a->kh, a->kw, a->bias, a->mult, a->shift, &pa,
                                  &a->q, ar, (tt_dims){mid.c, 1, mid.w});
            if (rc != TT_OK) return rc;
            for (int32_t ch = 0; ch < mid.c; ++ch)
                memcpy(ab + (ch * wnd + have_n) * mid.w, ar + ch * mid.w, (size_t)mid.w);
        }
        /* the window's first n rows of every channel (all wnd but at the map's top or bottom edge): one call */
        int rc = tt_depthwise_conv2d_strided_s8(ab, wnd * mid.w, (tt_dims){mid.c, n, mid.w}, b->w, b->kh, b->kw,
                                                b->bias, b->mult, b->shift, &pb, &b->q, br, (tt_dims){mid.c, 1, out.w});
        if (rc != TT_OK) return rc;
        rc = tt_conv2d_s8(br, (tt_dims){mid.c, 1, out.w}, c->w, 1, 1, c->bias, c->mult, c->shift, &c->conv, &c->q, yr,
                          (tt_dims){out.c, 1, out.w});
        if (rc != TT_OK) return rc;
        for (int32_t ch = 0; ch < out.c; ++ch) memcpy(y + (ch * out.h + r) * out.w, yr + ch * out.w, (size_t)out.w);
    }
    return TT_OK;
}
