/* Windowed average pool backward: each g[c][oy][ox] / n is added to every input element of its window
 * (padding takes nothing), n as in the forward (kh * kw with count_include_pad, else the window's input
 * elements); dx (in.c, in.h, in.w). */
#include "tt_pool.h"

int tt_avgpool_window_grad_f32(const float *g, tt_dims out, const tt_pool_params *pool, int32_t count_include_pad,
                               float *dx, tt_dims in)
{
    if (!g || !dx || !tt_pool_ok(in, pool, out))
        return TT_ERR_ARG;
    const int32_t in_hw = in.h * in.w, out_hw = out.h * out.w;
    for (int32_t i = 0; i < in.c * in_hw; ++i) dx[i] = 0.0f;
    for (int32_t c = 0; c < in.c; ++c) {
        for (int32_t oy = 0; oy < out.h; ++oy) {
            int32_t y0, y1;
            tt_pool_span(oy * pool->stride_h - pool->pad_top, pool->kh, in.h, &y0, &y1);
            for (int32_t ox = 0; ox < out.w; ++ox) {
                int32_t x0, x1;
                tt_pool_span(ox * pool->stride_w - pool->pad_left, pool->kw, in.w, &x0, &x1);
                const int32_t valid = (y1 > y0 && x1 > x0) ? (y1 - y0) * (x1 - x0) : 0;
                const int32_t n = count_include_pad ? pool->kh * pool->kw : valid;
                if (n == 0)
                    continue;
                const float v = g[c * out_hw + oy * out.w + ox] / (float)n;
                for (int32_t yy = y0; yy < y1; ++yy)
                    for (int32_t xx = x0; xx < x1; ++xx)
                        dx[c * in_hw + yy * in.w + xx] += v;
            }
        }
    }
    return TT_OK;
}
