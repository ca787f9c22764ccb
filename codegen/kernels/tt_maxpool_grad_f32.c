/* Max-pool backward: g (out.c, out.h, out.w) goes to the first maximum (row-major within the window)
 * of x (in.c, in.h, in.w) in each kernel x kernel window at (oy*stride - pad_top, ox*stride - pad_left),
 * summed where windows overlap; dx (in.c, in.h, in.w).  Padding never wins (it is -inf in the
 * forward); a window lying wholly in the padding passes nothing. */
#include "tt_float_util.h"

int tt_maxpool_grad_f32(const float *g, tt_dims out, const int8_t *x, tt_dims in, int32_t kernel,
                        const tt_conv_params *pool, float *dx)
{
    if (!g || !x || !pool || !dx || out.c != in.c || !tt_window_dims_ok(in, out, kernel, kernel, pool))
        return TT_ERR_ARG;
    const int32_t in_hw = in.h * in.w, out_hw = out.h * out.w;
    for (int32_t i = 0; i < in.c * in_hw; ++i) dx[i] = 0.0f;
    for (int32_t c = 0; c < in.c; ++c) {
        const int8_t *xc = x + c * in_hw;
        for (int32_t oy = 0; oy < out.h; ++oy) {
            int32_t y0 = oy * pool->stride - pool->pad_top, y1 = y0 + kernel;
            if (y0 < 0) y0 = 0;
            if (y1 > in.h) y1 = in.h;
            for (int32_t ox = 0; ox < out.w; ++ox) {
                int32_t x0 = ox * pool->stride - pool->pad_left, x1 = x0 + kernel;
                if (x0 < 0) x0 = 0;
                if (x1 > in.w) x1 = in.w;
                int32_t best = -1, best_v = 0;
                for (int32_t y = y0; y < y1; ++y)
                    for (int32_t xx = x0; xx < x1; ++xx)
                        if (best < 0 || xc[y * in.w + xx] > best_v) {
                            best = y * in.w + xx;
                            best_v = xc[best];
                        }
                if (best >= 0) dx[c * in_hw + best] += g[c * out_hw + oy * out.w + ox];
            }
        }
    }
    return TT_OK;
}
