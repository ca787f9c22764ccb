/*
 * Global average pool: x (C, H, W) -> y (C,), output keeps the input's quantization.
 *   y[c] = round_half_even(sum_hw x[c] / (H * W)), exact in integers: q = floor(s / n),
 *   r = s - q * n, then q + 1 when 2r > n or (2r == n and q is odd).
 * TT_ERR_ARG: a null pointer, a dimension < 1, or H * W >= 2^24 (the int32 sum could overflow).
 */
#include "tt_kernels.h"
#include "tt_requant.h"

int tt_avgpool_s8(const int8_t *x, tt_dims in, int8_t *y)
{
    if (!x || !y || in.c < 1 || in.h < 1 || in.w < 1 || in.h > (1 << 24) / in.w)
        return TT_ERR_ARG;
    const int32_t n = in.h * in.w;
    for (int32_t c = 0; c < in.c; c++) {
        int32_t s = 0;
        for (int32_t i = 0; i < n; i++)
            s += x[c * n + i];
        int32_t quo = s / n, rem = s % n; /* C truncates towards zero: make it a floor */
        if (rem < 0) {
            quo -= 1;
            rem += n;
        }
        if (2 * rem > n || (2 * rem == n && (quo & 1)))
            quo += 1;
        y[c] = (int8_t)tt_clamp64(quo, -128, 127);
    }
    return TT_OK;
}
