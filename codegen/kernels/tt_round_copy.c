/* The paper's float32 copy of a trained int8 weight / int32 bias (docs/training-semantics.md, "Updates"):
 * the update moves the copy (tt_sgd_f32), then the stored tensor becomes the copy rounded to nearest,
 * ties to even (rintf in the default rounding mode, as numpy / torch / Relax round), and clamped: int8 to
 * [-128, 127], int32 to [-limit, limit] (the float clipped to [-2^31, 2^31] first).  The copy itself is
 * never clamped.  A NaN copy leaves its value unchanged. */
#include <math.h>

#include "tt_kernels.h"

int tt_round_copy_s8(int8_t *w, const float *copy, int32_t rows, int32_t run, int32_t stride)
{
    if (!w || !copy || rows < 0 || run < 0 || stride < run) return TT_ERR_ARG;
    for (int32_t r = 0; r < rows; ++r) {
        int8_t *wr = w + r * stride;
        const float *cr = copy + r * run;
        for (int32_t j = 0; j < run; ++j) {
            const float f = rintf(cr[j]);
            if (f != f) continue;
            wr[j] = (int8_t)(f < -128.0f ? -128 : f > 127.0f ? 127 : (int32_t)f);
        }
    }
    return TT_OK;
}

int tt_round_copy_s32(int32_t *b, const float *copy, int32_t n, int32_t limit)
{
    if (!b || !copy || n < 0 || limit < 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) {
        float f = rintf(copy[i]);
        if (f != f) continue;
        if (f < -0x1p31f) f = -0x1p31f;
        if (f > 0x1p31f) f = 0x1p31f;
        int64_t v = (int64_t)f;
        if (v < -(int64_t)limit) v = -(int64_t)limit;
        if (v > (int64_t)limit) v = (int64_t)limit;
        b[i] = (int32_t)v;
    }
    return TT_OK;
}
