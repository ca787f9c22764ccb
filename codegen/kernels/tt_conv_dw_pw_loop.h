/*
 * Private to tt_conv_dw_pw_rows_s8.c (and its residual form tt_conv_dw_pw_rows_add_s8.c) and
 * tt_conv_dw_pw_stream_s8.c: the one loop of the fused conv -> depthwise -> 1x1 block by output rows.  The
 * kernels differ only in where the conv's band of x comes from (a whole tensor, or rows pulled from a stream),
 * so they pass that as `fill_band`; every kernel call on every band is the same, and so is every output byte.
 * Scratch (from `scratch`): the band of x (in.c x a.kh rows), one row of mid, the window of mid
 * (mid.c x b.kh rows), one output row, one depthwise row; each part 8-aligned (TT_DW_PW_LOOP_BYTES). On the DSP
 * path the conv `a` writes its rows straight into the window and the row of mid is not used: the window with the
 * depthwise's padding in it takes that row's place and its own, and the output row's where the 1x1 `c` writes
 * straight into y.
 */
#ifndef TT_CONV_DW_PW_LOOP_H
#define TT_CONV_DW_PW_LOOP_H

#include <string.h>

#include "tt_conv2d_1x1_strided.h"
#include "tt_conv2d_general_strided.h"
#include "tt_depthwise_strided.h"
#include "tt_kernels.h"

#define TT_ALIGN8(n) (((n) + 7) & ~(int32_t)7)
#define TT_DW_PW_LOOP_BYTES(in, a, mid, b, out)                                                                  \
    (TT_ALIGN8((in).c * (a)->kh * (in).w) + TT_ALIGN8((mid).c * (mid).w) + TT_ALIGN8((mid).c * (b)->kh * (mid).w) + \
     TT_ALIGN8((mid).c * (out).w) + TT_ALIGN8((out).c * (out).w))

/* Copies rows [xlo, xlo + xn) of x, channel-major, to xb as (in.c, xn, in.w). */
typedef void (*tt_fill_band_fn)(void *ctx, int8_t *xb, int32_t xlo, int32_t xn);
/* Or, on the DSP path, a row of mid made by the caller itself from x's rows [xlo, xlo + xn) under the window (p's
 * padding), output channel o at y + o * y_plane, instead of the band and the conv `a` (the streamed RGB stem's,
 * tt_row_stream.h); TT_OK or an error. */
typedef int (*tt_conv_row_fn)(void *ctx, int32_t xlo, int32_t xn, const tt_conv_params *p, int8_t *y, int32_t y_plane);

/* A whole (c, h, w) tensor as the source of the bands (tt_conv_dw_pw_rows_s8, tt_conv_dw_pw_rows_add_s8). */
typedef struct {
    const int8_t *x;
    tt_dims in;
} tt_whole_input;

/* The band of x straight from the whole tensor (a tt_fill_band_fn, ctx a tt_whole_input). */
static inline void tt_band_from_tensor(void *ctx, int8_t *xb, int32_t xlo, int32_t xn)
{
    const tt_whole_input *s = (const tt_whole_input *)ctx;
    for (int32_t ch = 0; ch < s->in.c; ++ch)
        memcpy(xb + ch * xn * s->in.w, s->x + (ch * s->in.h + xlo) * s->in.w, (size_t)(xn * s->in.w));
}

/* Called by the loop once output row r is in y (channel ch's row at row + ch * plane), ctx the fill_band's: TT_OK
 * or an error, which ends the loop (tt_conv_dw_pw_rows_add_s8's residual add of the row). */
typedef int (*tt_row_done_fn)(void *ctx, int32_t r, const int8_t *row, int32_t plane);

/* The rows [*lo, *lo + *n) of an input of height h under output row r's window (kernel k), and the
 * padding left at the band's top and bottom in *p. */
static inline void tt_dw_pw_band(int32_t r, int32_t k, int32_t h, tt_conv_params *p, int32_t *lo, int32_t *n)
{
    const int32_t top = r * p->stride - p->pad_top, last = top + k - 1;
    *lo = top > 0 ? top : 0;
    *n = (last < h - 1 ? last : h - 1) - *lo + 1;
    p->pad_top = *lo - top;
    p->pad_bottom = last - (*lo + *n - 1);
}

#if TT_USE_DSP
/* The bytes of x_zero before each row of the padded window (tt_conv_dw_pw_loop_rows): the larger of the depthwise's
 * left and right padding, between two rows the right padding of one and the left padding of the next. */
static inline int32_t tt_dw_pw_gap(const tt_conv_layer *b)
{
    return b->conv.pad_left > b->conv.pad_right ? b->conv.pad_left : b->conv.pad_right;
}
#endif

/* Where the loop stands between calls of tt_conv_dw_pw_loop_rows: rows have_lo .. have_lo + have_n - 1 of mid
 * are in the window, row have_lo at slot `first` of each channel's (0 unless a ring); all zero before row 0. */
typedef struct {
    int32_t have_lo, have_n, first;
} tt_dw_pw_window;

/* Output rows [r_begin, r_end) (after rows 0 .. r_begin - 1 by earlier calls with the same scratch and `win`),
 * row r into y's row r % y_rows, y being (out.c, y_rows, out.w): the whole output (y_rows = out.h), or a ring of
 * rows a chained reader takes them from (tt_conv_dw_pw_chain_s8.c) or `row_done` (NULL: none) reads each row from. */
static inline int tt_conv_dw_pw_loop_rows_done(tt_fill_band_fn fill_band, tt_conv_row_fn a_row, void *ctx, tt_dims in,
                                               const tt_conv_layer *a, tt_dims mid, const tt_conv_layer *b,
                                               const tt_conv_layer *c, int8_t *y, int32_t y_rows, tt_dims out,
                                               int8_t *scratch, tt_dw_pw_window *win, int32_t r_begin, int32_t r_end,
                                               tt_row_done_fn row_done)
{
    const int32_t wnd = b->kh; /* rows of mid kept per channel */
    int8_t *xb = scratch, *ar = xb + TT_ALIGN8(in.c * a->kh * in.w), *ab = ar + TT_ALIGN8(mid.c * mid.w);
    int8_t *yr = ab + TT_ALIGN8(mid.c * wnd * mid.w), *br = yr + TT_ALIGN8(out.c * out.w);
    int32_t have_lo = win->have_lo, have_n = win->have_n; /* rows have_lo .. have_lo + have_n - 1 of mid are in ab */
#if TT_USE_DSP
    /* a 1x1 conv `a` (stride 1, no padding, from four outputs) writes its row straight into the window through
     * the 1x1's own entry (any other `a` through the general conv's), and the 1x1 `c` likewise into y */
    const int straight = a->kh == 1 && a->kw == 1 && a->conv.stride == 1 && a->conv.groups == 1 && mid.c >= 4 &&
                         !a->conv.pad_top && !a->conv.pad_left && !a->conv.pad_bottom && !a->conv.pad_right;
    const int straight_out = c->conv.stride == 1 && c->conv.groups == 1 && out.c >= 4 && !c->conv.pad_top &&
                             !c->conv.pad_left && !c->conv.pad_bottom && !c->conv.pad_right;
    /* `padded`: the window holds the depthwise's padding itself where ar (unused) and the unpadded window were, and
     * yr after them where `c` writes straight into y (8-wide 5x5 maps' windows fit only so): each row slot `gap`
     * bytes of x_zero then mid's row, the gap between two rows the right padding of one and the left padding of the
     * next (gap = the larger of the two), set from the first call, and x_zero rows for
     * the padding above and below in the slots the map's rows leave free, so that the depthwise reads the rows
     * where they lie (tt_depthwise_window_row_s8) instead of copying them into a padded buffer (its geometry
     * recomputed where used: kept over the loop it took 48 more bytes of this frame, -fstack-usage); any other conv
     * `a` (the stem's 3x3 stride 2) writes its rows into the window's slots too (tt_conv2d_general_strided.h) */
    const int padded = b->kh * b->kw <= TT_DW_WINDOW_TAPS &&
                       TT_ALIGN8(mid.c * wnd * (mid.w + tt_dw_pw_gap(b)) + tt_dw_pw_gap(b)) <=
                           TT_ALIGN8(mid.c * mid.w) + TT_ALIGN8(mid.c * wnd * mid.w) +
                               (straight_out ? TT_ALIGN8(out.c * out.w) : 0);
    if (padded) {
        ab = ar;
        if (r_begin == 0) memset(ab, b->q.x_zero, (size_t)(mid.c * wnd * (mid.w + tt_dw_pw_gap(b)) + tt_dw_pw_gap(b)));
    }
    /* the window a ring where the depthwise reads the rows in place or copies them anyway
     * (tt_depthwise_conv2d_ring_s8): a dropped row moves `first`, not every channel's kept rows */
    const int ring = padded || tt_depthwise_ring_ok((tt_dims){mid.c, b->kh, mid.w}, b->kh, &b->conv);
    /* the 1x1s' and the window rows' arguments checked on their first row (tt_conv2d_1x1_strided.h,
     * tt_depthwise_strided.h) */
    int a_form = -1, b_form = -1, c_form = -1;
#else
    const int ring = 0;
#endif
    int32_t first = win->first; /* the slot of row have_lo in each channel's window (0 unless a ring) */
    for (int32_t r = r_begin; r < r_end; ++r) {
        const int32_t yrow = r < y_rows ? r : r % y_rows; /* row r's row of y */
        tt_conv_params pb = b->conv;
        int32_t lo, n;
        tt_dw_pw_band(r, b->kh, mid.h, &pb, &lo, &n);
        const int32_t drop = lo - have_lo, kept = have_n - drop;
        if (kept <= 0) {
            have_n = 0, first = 0;
        } else if (drop > 0 && ring) {
            first = (first + drop) % wnd, have_n = kept;
        } else if (drop > 0) { /* slide the window: the rows still needed move to its front */
            for (int32_t ch = 0; ch < mid.c; ++ch)
                memmove(ab + ch * wnd * mid.w, ab + (ch * wnd + drop) * mid.w, (size_t)(kept * mid.w));
            have_n = kept;
        }
        have_lo = lo;
        for (int32_t j = have_lo + have_n; j < lo + n; ++j, ++have_n) { /* row j of mid */
            tt_conv_params pa = a->conv;
            int32_t xlo, xn;
            tt_dw_pw_band(j, a->kh, in.h, &pa, &xlo, &xn);
            if (!a_row) fill_band(ctx, xb, xlo, xn);
            const int32_t slot = first + have_n < wnd ? first + have_n : first + have_n - wnd; /* row j's */
#if TT_USE_DSP
            const int32_t left = padded ? tt_dw_pw_gap(b) : 0, pitch = mid.w + left; /* mid's row in its slot */
            if (a_row) {
                int rc = a_row(ctx, xlo, xn, &pa, ab + slot * pitch + left, wnd * pitch);
                if (rc != TT_OK) return rc;
                continue;
            }
            if (straight) {
                a_form = tt_conv2d_1x1_strided_out_s8(xb, (tt_dims){in.c, xn, in.w}, a->w, a->bias, a->mult, a->shift,
                                                      &a->q, ab + slot * pitch + left, wnd * pitch,
                                                      (tt_dims){mid.c, 1, mid.w}, a_form);
                if (a_form < 0) return a_form;
                continue;
            }
            int rc = tt_conv2d_general_strided_out_s8(xb, (tt_dims){in.c, xn, in.w}, a->w, a->kh, a->kw, a->bias,
                                                      a->mult, a->shift, &pa, &a->q, ab + slot * pitch + left,
                                                      wnd * pitch, (tt_dims){mid.c, 1, mid.w});
            if (rc != TT_OK) return rc;
#else
            int rc = tt_conv2d_s8(xb, (tt_dims){in.c, xn, in.w}, a->w, a->kh, a->kw, a->bias, a->mult, a->shift, &pa,
                                  &a->q, ar, (tt_dims){mid.c, 1, mid.w});
            if (rc != TT_OK) return rc;
            for (int32_t ch = 0; ch < mid.c; ++ch)
                memcpy(ab + (ch * wnd + slot) * mid.w, ar + ch * mid.w, (size_t)mid.w);
#endif
        }
        /* the window's n rows of every channel from `first` (all wnd but at the map's top or bottom edge): one call */
#if TT_USE_DSP
        int rc;
        if (padded) { /* the padding's rows in the free slots after the n rows (below the map, then above it) */
            const int32_t gap = tt_dw_pw_gap(b), pitch = mid.w + gap, pl = b->conv.pad_left;
            for (int32_t i = n; i < wnd; ++i)
                for (int32_t ch = 0; ch < mid.c; ++ch)
                    memset(ab + (ch * wnd + (first + i) % wnd) * pitch + gap, b->q.x_zero, (size_t)mid.w);
            const int32_t top = (first + n + pb.pad_bottom) % wnd;
            const tt_dims win_dims = {mid.c, wnd, pl + mid.w + b->conv.pad_right}, row_dims = {mid.c, 1, out.w};
            /* after the first row (form 1: every channel in the SSAT form), a 3x3 layer's constants from its table */
            if (b_form != 1 || !b->table ||
                !tt_depthwise_window_table_row_s8(ab + gap - pl, wnd * pitch, pitch, top, win_dims, b->table,
                                                  b->conv.stride, br, row_dims))
                b_form = tt_depthwise_window_row_s8(ab + gap - pl, wnd * pitch, pitch, top, win_dims, b->w, b->kh,
                                                    b->kw, b->bias, b->mult, b->shift, b->conv.stride, &b->q, br,
                                                    row_dims, b_form);
            rc = b_form < 0 ? b_form : TT_OK;
        } else {
            rc = ring ? tt_depthwise_conv2d_ring_s8(ab, wnd * mid.w, wnd, first, (tt_dims){mid.c, n, mid.w}, b->w,
                                                    b->kh, b->kw, b->bias, b->mult, b->shift, &pb, &b->q, br,
                                                    (tt_dims){mid.c, 1, out.w})
                      : tt_depthwise_conv2d_strided_s8(ab, wnd * mid.w, (tt_dims){mid.c, n, mid.w}, b->w, b->kh,
                                                       b->kw, b->bias, b->mult, b->shift, &pb, &b->q, br,
                                                       (tt_dims){mid.c, 1, out.w});
        }
#else
        int rc = tt_depthwise_conv2d_strided_s8(ab, wnd * mid.w, (tt_dims){mid.c, n, mid.w}, b->w, b->kh, b->kw,
                                                b->bias, b->mult, b->shift, &pb, &b->q, br, (tt_dims){mid.c, 1, out.w});
#endif
        if (rc != TT_OK) return rc;
#if TT_USE_DSP
        if (straight_out) {
            c_form = tt_conv2d_1x1_strided_out_s8(br, (tt_dims){mid.c, 1, out.w}, c->w, c->bias, c->mult, c->shift,
                                                  &c->q, y + yrow * out.w, y_rows * out.w, (tt_dims){out.c, 1, out.w},
                                                  c_form);
            if (c_form < 0) return c_form;
            if (row_done && (rc = row_done(ctx, r, y + yrow * out.w, y_rows * out.w)) != TT_OK) return rc;
            continue;
        }
#endif
        rc = tt_conv2d_s8(br, (tt_dims){mid.c, 1, out.w}, c->w, 1, 1, c->bias, c->mult, c->shift, &c->conv, &c->q, yr,
                          (tt_dims){out.c, 1, out.w});
        if (rc != TT_OK) return rc;
        for (int32_t ch = 0; ch < out.c; ++ch) memcpy(y + (ch * y_rows + yrow) * out.w, yr + ch * out.w, (size_t)out.w);
        if (row_done && (rc = row_done(ctx, r, y + yrow * out.w, y_rows * out.w)) != TT_OK) return rc;
    }
    *win = (tt_dw_pw_window){have_lo, have_n, first};
    return TT_OK;
}

/* The loop with no hook (a macro: the kernels' calls inline as they did before the hook, -fstack-usage). */
#define tt_conv_dw_pw_loop_rows(...) tt_conv_dw_pw_loop_rows_done(__VA_ARGS__, NULL)

static inline int tt_conv_dw_pw_loop(tt_fill_band_fn fill_band, void *ctx, tt_dims in, const tt_conv_layer *a,
                                     tt_dims mid, const tt_conv_layer *b, const tt_conv_layer *c, int8_t *y,
                                     tt_dims out, int8_t *scratch)
{
    tt_dw_pw_window win = {0, 0, 0};
    return tt_conv_dw_pw_loop_rows(fill_band, NULL, ctx, in, a, mid, b, c, y, out.h, out, scratch, &win, 0, out.h);
}

#endif /* TT_CONV_DW_PW_LOOP_H */
