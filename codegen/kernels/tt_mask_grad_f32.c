/* out[i] = (mask bit i) ? g[i] : 0, mask bit-packed LSB first (tt_clamp_mask_s8); out may alias g.
 * Eight elements per mask byte: an all-ones byte is a copy (nothing at all in place, the usual case:
 * a clamp is rarely active), an all-zeros byte eight zeros. */
#include "tt_kernels.h"

int tt_mask_grad_f32(const float *g, const uint8_t *mask, int32_t n, float *out)
{
    if (!g || !mask || !out || n < 0) return TT_ERR_ARG;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint32_t m = mask[i >> 3];
        if (m == 0xFFu) {
            if (out != g)
                for (int32_t b = 0; b < 8; ++b) out[i + b] = g[i + b];
        } else if (m == 0u) {
            for (int32_t b = 0; b < 8; ++b) out[i + b] = 0.0f;
        } else {
            for (int32_t b = 0; b < 8; ++b) out[i + b] = ((m >> b) & 1u) ? g[i + b] : 0.0f;
        }
    }
    for (; i < n; ++i) out[i] = ((mask[i >> 3] >> (i & 7)) & 1u) ? g[i] : 0.0f;
    return TT_OK;
}
