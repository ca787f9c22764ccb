/*
 * tt_conv_dw_pw_rows_s8 with its input pulled from a row source instead of read from a whole tensor: the
 * stem of a streamed model (codegen/input_stream.py), so the sample never sits in SRAM whole.
 *   y = pointwise(depthwise(conv(x))), one output row at a time, exactly as tt_conv_dw_pw_rows_s8 computes
 *   it (the same kernel calls on the same bands; keep the two alike): the result is identical bit for bit.
 * The rows of x arrive through src->read one at a time, in order, each once, as the conv `a` first reaches
 * them; rows it never reaches (a stride past the last window) are read at the end, so a stream (a serial
 * line, a camera) stays in step.  A received row is (in.w, in.c), pixel by pixel (HWC); it is spread into
 * a ring of a.kh rows of (in.c, in.w), from which each row of mid takes its band of x.
 * Scratch (tt_conv_dw_pw_stream_s8_get_buffer_size bytes): the ring, one received row, then the scratch of
 * tt_conv_dw_pw_rows_s8 (the band of x, the rows of mid, the depthwise and output rows); each 8-aligned.
 * TT_ERR_ARG: a NULL pointer, a kernel rejecting its band (as that kernel).
 */
#include <string.h>

#include "tt_depthwise_strided.h"
#include "tt_kernels.h"

#define ALIGN8(n) (((n) + 7) & ~(int32_t)7)

int32_t tt_conv_dw_pw_stream_s8_get_buffer_size(tt_dims in, const tt_conv_layer *a, tt_dims mid,
                                               const tt_conv_layer *b, tt_dims out)
{
    return ALIGN8(a->kh * in.c * in.w) + ALIGN8(in.w * in.c) +
           tt_conv_dw_pw_rows_s8_get_buffer_size(in, a, mid, b, out);
}

/* The rows [*lo, *lo + *n) of an input of height h under output row r's window (kernel k), and the
 * padding left at the band's top and bottom in *p (as tt_conv_dw_pw_rows_s8). */
static void band(int32_t r, int32_t k, int32_t h, tt_conv_params *p, int32_t *lo, int32_t *n)
{
    const int32_t top = r * p->stride - p->pad_top, last = top + k - 1;
    *lo = top > 0 ? top : 0;
    *n = (last < h - 1 ? last : h - 1) - *lo + 1;
    p->pad_top = *lo - top;
    p->pad_bottom = last - (*lo + *n - 1);
}

/* Rows of x received so far: row r sits in ring slot r % kh as (c, w). */
typedef struct {
    const tt_row_source *src;
    tt_dims in;
    int32_t kh, next; /* rows 0 .. next - 1 have been read */
    int8_t *ring, *row;
} tt_rows_seen;

static void read_rows_until(tt_rows_seen *s, int32_t end)
{
    const int32_t c = s->in.c, w = s->in.w; /* locals: the byte stores below cannot change them */
    for (; s->next < end; ++s->next) {
        int8_t *slot = s->ring + (s->next % s->kh) * c * w;
        s->src->read(s->src->ctx, s->row, s->next, 1);
        for (int32_t ch = 0; ch < c; ++ch) { /* channel ch of the row: every c-th byte */
            const int8_t *from = s->row + ch;
            int8_t *to = slot + ch * w;
            for (int32_t i = 0; i < w; ++i, from += c) to[i] = *from;
        }
    }
}

int tt_conv_dw_pw_stream_s8(const tt_row_source *src, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                            const tt_conv_layer *b, const tt_conv_layer *c, int8_t *y, tt_dims out, int8_t *scratch)
{
    if (!src || !src->read || !a || !b || !c || !y || !scratch) return TT_ERR_ARG;
    tt_rows_seen seen = {src, in, a->kh, 0, scratch, scratch + ALIGN8(a->kh * in.c * in.w)};
    const int32_t wnd = b->kh; /* rows of mid kept per channel */
    int8_t *xb = seen.row + ALIGN8(in.w * in.c), *ar = xb + ALIGN8(in.c * a->kh * in.w);
    int8_t *ab = ar + ALIGN8(mid.c * mid.w), *br = ab + ALIGN8(mid.c * wnd * mid.w), *yr = br + ALIGN8(mid.c * out.w);
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
            read_rows_until(&seen, xlo + xn); /* the ring now holds rows xlo .. xlo + xn - 1 (xn <= kh) */
            for (int32_t i = 0; i < xn; ++i)
                for (int32_t ch = 0; ch < in.c; ++ch)
                    memcpy(xb + (ch * xn + i) * in.w, seen.ring + (((xlo + i) % a->kh) * in.c + ch) * in.w,
                           (size_t)in.w);
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
    read_rows_until(&seen, in.h); /* rows no window reached: the stream stays in step */
    return TT_OK;
}
