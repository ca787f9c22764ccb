/*
 * The mul layer's gradient into one factor: out[c, i] = d[c, i] * other_real, with
 * other_real = (float)(other[c, o_hw == 1 ? 0 : i] - zero) * scale (the other factor's real value,
 * broadcast over H x W when o_hw is 1). out may alias d.
 */
#include "tt_kernels.h"

int tt_mul_grad_input_f32(const float *d, const int8_t *other, int32_t c, int32_t hw, int32_t o_hw, float scale,
                          int32_t zero, float *out)
{
    if (!d || !other || !out || c < 0 || hw < 0 || (o_hw != 1 && o_hw != hw)) return TT_ERR_ARG;
    for (int32_t ch = 0; ch < c; ch++) {
        const int8_t *oc = other + (int64_t)ch * o_hw;
        const float *dc = d + (int64_t)ch * hw;
        float *yc = out + (int64_t)ch * hw;
        for (int32_t i = 0; i < hw; i++) {
            const float r = (float)(oc[o_hw == 1 ? 0 : i] - zero) * scale;
            yc[i] = dc[i] * r;
        }
    }
    return TT_OK;
}
