/* out[i] = (mask bit i) ? g[i] : 0, mask bit-packed LSB first (tt_clamp_mask_s8); out may alias g. */
#include "tt_kernels.h"

int tt_mask_grad_f32(const float *g, const uint8_t *mask, int32_t n, float *out)
{
    if (!g || !mask || !out || n < 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) out[i] = ((mask[i >> 3] >> (i & 7)) & 1u) ? g[i] : 0.0f;
    return TT_OK;
}
