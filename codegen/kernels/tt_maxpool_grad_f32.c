/* Max-pool backward: g (out.c, out.h, out.w) goes to the first maximum (row-major within the window)
 * of x (in.c, in.h, in.w) in each kh x kw window at (oy*stride_h - pad_top, ox*stride_w - pad_left),
 * summed where windows overlap; dx (in.c, in.h, in.w).  Padding never wins (it is -inf in the
 * forward); a window lying wholly in the padding passes nothing. */
#include "tt_pool.h"

int tt_maxpool_grad_f32(const float *g, tt_dims out, const int8_t *x, tt_dims in, const tt_pool_params *pool,
                        float *dx)
{
    if (!g || !x || !dx || !tt_pool_ok(in, pool, out))
        return TT_ERR_ARG;
    const int32_t in_hw = in.h * in.w, out_hw = out.h * out.w;
    for (int32_t i = 0; i < in.c * in_hw; ++i) dx[i] = 0.0f;
    for (int32_t c = 0; c < in.c; ++c) {
        const int8_t *xc = x + c * in_hw;
        for (int32_t oy = 0; oy < out.h; ++oy) {
            int32_t y0, y1;
            tt_pool_span(oy * pool->stride_h - pool->pad_top, pool->kh, in.h, &y0, &y1);
            for (int32_t ox = 0; ox < out.w; ++ox) {
                int32_t x0, x1;
                tt_pool_span(ox * pool->stride_w - pool->pad_left, pool->kw, in.w, &x0, &x1);
                int32_t best = -1, best_v = 0;
                for (int32_t yy = y0; yy < y1; ++yy)
                    for (int32_t xx = x0; xx < x1; ++xx)
                        if (best < 0 || xc[yy * in.w + xx] > best_v) {
                            best = yy * in.w + xx;
                            best_v = xc[best];
                        }
                if (best >= 0) dx[c * in_hw + best] += g[c * out_hw + oy * out.w + ox];
            }
        }
    }
    return TT_OK;
}
