/* The clamp's gradient as a bit mask: bit i (bit i % 8 of byte i / 8, LSB first) is
 * act_min < y[i] < act_max.  Writes (n + 7) / 8 bytes; unused high bits of the last byte are 0.
 * One unsigned compare per element: act_min < v < act_max <=> (uint32)(v - act_min - 1) < act_max - act_min - 1. */
#include "tt_kernels.h"

int tt_clamp_mask_s8(const int8_t *y, int32_t n, int32_t act_min, int32_t act_max, uint8_t *mask)
{
    if (!y || !mask || n < 0) return TT_ERR_ARG;
    const uint32_t base = (uint32_t)act_min + 1u;
    const uint32_t span = act_max > act_min ? (uint32_t)(act_max - act_min - 1) : 0u; /* values strictly inside */
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const int8_t *v = y + i;
        mask[i / 8] = (uint8_t)(((uint32_t)v[0] - base < span) | ((uint32_t)v[1] - base < span) << 1 |
                                ((uint32_t)v[2] - base < span) << 2 | ((uint32_t)v[3] - base < span) << 3 |
                                ((uint32_t)v[4] - base < span) << 4 | ((uint32_t)v[5] - base < span) << 5 |
                                ((uint32_t)v[6] - base < span) << 6 | ((uint32_t)v[7] - base < span) << 7);
    }
    if (i < n) {
        uint32_t byte = 0;
        for (int32_t b = 0; i + b < n; ++b) byte |= (uint32_t)((uint32_t)y[i + b] - base < span) << b;
        mask[i / 8] = (uint8_t)byte;
    }
    return TT_OK;
}
