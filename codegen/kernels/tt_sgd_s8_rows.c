/* tt_sgd_s8 for a block of rows only: rows [row0, row0 + n) of the updated slice, whose gradient
 * g (n, run) is all a fused gradient + update keeps (passes/fuse_grad_update.py).  Row r of the slice
 * is the `run` contiguous weights at w + r * row_stride, and its element j has slice index
 * i = r * run + j, the index tt_sgd_s8 gives it, so updating a weight a block of rows at a time gives
 * exactly tt_sgd_s8's result:
 *   t = lr * g;  v = (float)w - t;  w = clamp(floor(v + u_i), -127, 127);  a NaN leaves w unchanged.
 * Pointwise / dense slice w[:, :k]: row_stride = cols * inner, run = k * inner; depthwise w[:k]:
 * row_stride = run = inner.
 * tt_sgd_s8_block takes columns [col0, col0 + cols) of those rows only (g (n, cols)): the same indices. */
#include <math.h>

#include "tt_float_util.h"
#include "tt_kernels.h"

int tt_sgd_s8_block(int8_t *w, const float *g, int32_t row0, int32_t n, int32_t col0, int32_t cols,
                    int32_t row_stride, int32_t run, float lr, uint32_t step, int32_t conv_index)
{
    if (!w || !g || row0 < 0 || n < 1 || run < 1 || row_stride < run || col0 < 0 || cols < 1 || col0 + cols > run)
        return TT_ERR_ARG;
    const uint32_t seed = tt_stochastic_seed(step, conv_index); /* u_i = tt_uniform_seeded(i + seed), inline */
    for (int32_t r = row0; r < row0 + n; ++r, g += cols) {
        int8_t *wr = w + r * row_stride + col0;
        const uint32_t i0 = (uint32_t)r * (uint32_t)run + (uint32_t)col0 + seed;
        for (int32_t j = 0; j < cols; ++j) {
            const float t = lr * g[j];
            const float v = (float)wr[j] - t;
            const float f = floorf(v + tt_uniform_seeded(i0 + (uint32_t)j));
            if (f != f) continue;
#if defined(__ARM_FP) && (__ARM_FP & 8) && defined(__thumb2__) /* FPv5 with double precision (M7, M55): VMAXNM */
            wr[j] = (int8_t)(int32_t)fminf(fmaxf(f, -127.0f), 127.0f); /* the same clamp, f not NaN */
#else
            wr[j] = (int8_t)(f < -127.0f ? -127 : f > 127.0f ? 127 : (int32_t)f);
#endif
        }
    }
    return TT_OK;
}

int tt_sgd_s8_rows(int8_t *w, const float *g, int32_t row0, int32_t n, int32_t row_stride, int32_t run,
                   float lr, uint32_t step, int32_t conv_index)
{
    return tt_sgd_s8_block(w, g, row0, n, 0, run, row_stride, run, lr, step, conv_index);
}

int32_t tt_grad_update_get_buffer_size(int32_t rows, int32_t run, int32_t cols)
{
    if (cols > run) cols = run;
    int32_t block = TT_UPDATE_BYTES / (cols * (int32_t)sizeof(float)) / 4 * 4;
    if (block < TT_UPDATE_ROWS) block = TT_UPDATE_ROWS;
    return (rows < block ? rows : block) * cols * (int32_t)sizeof(float);
}
