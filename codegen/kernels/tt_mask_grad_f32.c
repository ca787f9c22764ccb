/* out[i] = (mask bit i) ? g[i] : 0, mask bit-packed LSB first (tt_clamp_mask_s8); out may alias g.
 * Eight elements per mask byte: an all-ones byte is a copy (nothing at all in place, the usual case:
 * a clamp is rarely active), an all-zeros byte eight zeros; a mixed byte in place stores only its zeros
 * (a test and a conditional store each), copied it moves each value's bits ANDed with its bit's all-ones
 * or zero word (+0.0f where the bit is 0, the value's exact bits where it is 1). */
#include <string.h>

#include "tt_kernels.h"

/* Element b of eight, written out for b = 0..7 (GCC -O2 neither unrolls the loops nor keeps a memset out). */
#define TT_ZERO(b) o[b] = 0.0f
#define TT_ZERO_IF_CLEAR(b) if (!(m & (1u << (b)))) o[b] = 0.0f
#define TT_AND_BIT(b) do { uint32_t v; memcpy(&v, g8 + (b), 4); v &= 0u - ((m >> (b)) & 1u); memcpy(o + (b), &v, 4); } \
    while (0)
#define TT_EIGHT(op) op(0); op(1); op(2); op(3); op(4); op(5); op(6); op(7)

int tt_mask_grad_f32(const float *g, const uint8_t *mask, int32_t n, float *out)
{
    if (!g || !mask || !out || n < 0) return TT_ERR_ARG;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint32_t m = mask[i >> 3];
        const float *g8 = g + i;
        float *o = out + i;
        if (m == 0xFFu) {
            if (out != g) memcpy(o, g8, 8 * sizeof(float));
        } else if (m == 0u) {
            TT_EIGHT(TT_ZERO);
        } else if (out == g) {
            TT_EIGHT(TT_ZERO_IF_CLEAR);
        } else {
            TT_EIGHT(TT_AND_BIT);
        }
    }
    for (; i < n; ++i) out[i] = ((mask[i >> 3] >> (i & 7)) & 1u) ? g[i] : 0.0f;
    return TT_OK;
}
