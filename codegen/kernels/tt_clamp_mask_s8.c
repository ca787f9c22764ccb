/* The clamp's gradient as a bit mask: bit i (bit i % 8 of byte i / 8, LSB first) is
 * act_min < y[i] < act_max.  Writes (n + 7) / 8 bytes; unused high bits of the last byte are 0. */
#include "tt_kernels.h"

int tt_clamp_mask_s8(const int8_t *y, int32_t n, int32_t act_min, int32_t act_max, uint8_t *mask)
{
    if (!y || !mask || n < 0) return TT_ERR_ARG;
    for (int32_t base = 0; base < n; base += 8) {
        int32_t len = n - base < 8 ? n - base : 8;
        uint32_t byte = 0;
        for (int32_t b = 0; b < len; ++b) {
            int32_t v = y[base + b];
            byte |= (uint32_t)(v > act_min && v < act_max) << b;
        }
        mask[base / 8] = (uint8_t)byte;
    }
    return TT_OK;
}
