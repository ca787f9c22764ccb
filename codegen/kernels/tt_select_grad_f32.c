/* The lut layer's backward where f' takes two values (LeakyReLU, Hardsigmoid): out[i] = g[i] * inside
 * where mask bit i is set, g[i] * outside elsewhere; the mask is bit-packed LSB first, as
 * tt_clamp_mask_s8 writes it (1 bit per element is all the backward keeps).  out may alias g. */
#include "tt_kernels.h"

int tt_select_grad_f32(const float *g, const uint8_t *mask, int32_t n, float inside, float outside, float *out)
{
    if (!g || !mask || !out || n < 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) out[i] = g[i] * (((mask[i >> 3] >> (i & 7)) & 1u) ? inside : outside);
    return TT_OK;
}
