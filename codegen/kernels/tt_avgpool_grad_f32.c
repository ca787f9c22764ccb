/* Global average pool backward: dx[c][y][x] = g[c] / (in.h * in.w), g (in.c,), dx (in.c, in.h, in.w). */
#include "tt_kernels.h"

int tt_avgpool_grad_f32(const float *g, tt_dims in, float *dx)
{
    if (!g || !dx || in.c <= 0 || in.h <= 0 || in.w <= 0) return TT_ERR_ARG;
    const int32_t hw = in.h * in.w;
    for (int32_t c = 0; c < in.c; ++c) {
        const float v = g[c] / (float)hw;
        for (int32_t i = c * hw; i < (c + 1) * hw; ++i) dx[i] = v;
    }
    return TT_OK;
}
