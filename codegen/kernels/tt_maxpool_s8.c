/*
 * int8 max pool: x (C, in.h, in.w) -> y (C, out.h, out.w), same quantization.
 *   y[c, oy, ox] = max over ky < kh, kx < kw of x[c, oy*stride_h + ky - pad_top, ox*stride_w + kx - pad_left]
 * Positions outside the input are ignored (a window entirely in the padding gives -128, as the
 * reference's -128 padding does).
 * TT_ERR_ARG: a null pointer, or the window geometry of tt_pool_ok (tt_pool.h).
 */
#include "tt_pool.h"

int tt_maxpool_s8(const int8_t *x, tt_dims in, const tt_pool_params *pool, int8_t *y, tt_dims out)
{
    if (!x || !y || !tt_pool_ok(in, pool, out))
        return TT_ERR_ARG;
    for (int32_t c = 0; c < in.c; c++) {
        const int8_t *xc = x + c * in.h * in.w;
        for (int32_t oy = 0; oy < out.h; oy++) {
            int32_t y0, y1;
            tt_pool_span(oy * pool->stride_h - pool->pad_top, pool->kh, in.h, &y0, &y1);
            for (int32_t ox = 0; ox < out.w; ox++) {
                int32_t x0, x1;
                tt_pool_span(ox * pool->stride_w - pool->pad_left, pool->kw, in.w, &x0, &x1);
                int32_t m = -128;
                for (int32_t iy = y0; iy < y1; iy++)
                    for (int32_t ix = x0; ix < x1; ix++) {
                        const int32_t v = xc[iy * in.w + ix];
                        m = v > m ? v : m;
                    }
                y[(c * out.h + oy) * out.w + ox] = (int8_t)m;
            }
        }
    }
    return TT_OK;
}
