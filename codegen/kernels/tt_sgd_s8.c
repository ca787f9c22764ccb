/* int8 weight update with stochastic rounding (docs/training-semantics.md, "Updates").
 * w (rows, cols, inner) row-major; the updated slice is w[:, :k, :] (g: (rows, k, inner)), or for a
 * depthwise conv (depthwise != 0) the leading rows w[:k] (g: (k, cols, inner), cols = 1).
 * For element i of the slice (row-major index within the slice):
 *   t = lr * g[i];  v = (float)w - t;  w = clamp(floor(v + u_i), -127, 127)
 * with u_i = tt_stochastic_uniform(i, step, conv_index).  Elements outside the slice are untouched;
 * a NaN result leaves its weight unchanged. */
#include <math.h>

#include "tt_float_util.h"
#include "tt_kernels.h"

/* hash(n): n ^= n >> 16; n *= 0x7feb352d; n ^= n >> 15; n *= 0x846ca68b; n ^= n >> 16 (uint32, wrapping),
 * n = index + 0x9E3779B9 * step + 0x85EBCA6B * conv_index;  u = (hash(n) >> 8) * 2^-24 in [0, 1). */
float tt_stochastic_uniform(uint32_t index, uint32_t step, int32_t conv_index)
{
    return tt_uniform_seeded(index + tt_stochastic_seed(step, conv_index));
}

int tt_sgd_s8(int8_t *w, const float *g, int32_t rows, int32_t cols, int32_t inner, int32_t k,
              int32_t depthwise, float lr, uint32_t step, int32_t conv_index)
{
    if (!w || !g || rows <= 0 || cols <= 0 || inner <= 0 || k < 1 || k > (depthwise ? rows : cols))
        return TT_ERR_ARG;
    const int32_t upd_rows = depthwise ? k : rows, upd_cols = depthwise ? cols : k;
    const int32_t run = upd_cols * inner;  /* contiguous updated elements per row */
    uint32_t i = 0;                        /* index within the slice */
    for (int32_t r = 0; r < upd_rows; ++r) {
        int8_t *wr = w + r * cols * inner;
        for (int32_t j = 0; j < run; ++j, ++i) {
            const float t = lr * g[i];
            const float v = (float)wr[j] - t;
            const float f = floorf(v + tt_stochastic_uniform(i, step, conv_index));
            if (f != f) continue;
            wr[j] = (int8_t)(f < -127.0f ? -127 : f > 127.0f ? 127 : (int32_t)f);
        }
    }
    return TT_OK;
}
