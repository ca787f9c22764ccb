/*
 * Windowed int8 average pool: x (C, in.h, in.w) -> y (C, out.h, out.w), output keeps the input's
 * quantization (docs/int8-semantics.md).  For each window: s = sum of its input elements + (n - valid)
 * * x_zero (padding is the zero point, i.e. real 0), n = kh * kw with count_include_pad, else the
 * number `valid` of input elements in it; y = round_half_even(s / n), exact in integers as
 * tt_avgpool_s8.c.
 * TT_ERR_ARG: a null pointer, the geometry of tt_pool_ok, kh * kw >= 2^24, or a window with no
 * input element.
 */
#include "tt_pool.h"
#include "tt_requant.h"

int tt_avgpool_window_s8(const int8_t *x, tt_dims in, const tt_pool_params *pool, int32_t x_zero,
                         int32_t count_include_pad, int8_t *y, tt_dims out)
{
    if (!x || !y || !tt_pool_ok(in, pool, out) || pool->kh > (1 << 24) / pool->kw || x_zero < -128 || x_zero > 127)
        return TT_ERR_ARG;
    for (int32_t c = 0; c < in.c; c++) {
        const int8_t *xc = x + c * in.h * in.w;
        for (int32_t oy = 0; oy < out.h; oy++) {
            int32_t y0, y1;
            tt_pool_span(oy * pool->stride_h - pool->pad_top, pool->kh, in.h, &y0, &y1);
            for (int32_t ox = 0; ox < out.w; ox++) {
                int32_t x0, x1;
                tt_pool_span(ox * pool->stride_w - pool->pad_left, pool->kw, in.w, &x0, &x1);
                const int32_t valid = (y1 > y0 && x1 > x0) ? (y1 - y0) * (x1 - x0) : 0;
                const int32_t n = count_include_pad ? pool->kh * pool->kw : valid;
                if (n == 0)
                    return TT_ERR_ARG;
                int32_t s = (n - valid) * x_zero;
                for (int32_t iy = y0; iy < y1; iy++)
                    for (int32_t ix = x0; ix < x1; ix++)
                        s += xc[iy * in.w + ix];
                int32_t quo = s / n, rem = s % n; /* C truncates towards zero: make it a floor */
                if (rem < 0) {
                    quo -= 1;
                    rem += n;
                }
                if (2 * rem > n || (2 * rem == n && (quo & 1)))
                    quo += 1;
                y[(c * out.h + oy) * out.w + ox] = (int8_t)tt_clamp64(quo, -128, 127);
            }
        }
    }
    return TT_OK;
}
