/*
 * The mul layer's gradient into a (c, 1, 1) gate: out[c] = sum over i = 0 .. hw-1, in that order, of
 * x_real[c, i] * d[c, i], x_real = (float)(x - zero) * scale, a float32 sum from 0.
 */
#include "tt_kernels.h"

int tt_mul_grad_gate_f32(const float *d, const int8_t *x, int32_t c, int32_t hw, float scale, int32_t zero, float *out)
{
    if (!d || !x || !out || c < 0 || hw < 0) return TT_ERR_ARG;
    for (int32_t ch = 0; ch < c; ch++) {
        const int8_t *xc = x + (int64_t)ch * hw;
        const float *dc = d + (int64_t)ch * hw;
        float s = 0.0f;
        for (int32_t i = 0; i < hw; i++) s += ((float)(xc[i] - zero) * scale) * dc[i];
        out[ch] = s;
    }
    return TT_OK;
}
