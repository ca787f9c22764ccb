/* int32 bias update: b[i] = clamp(b[i] - round_half_even(lr * g[i]), -limit, limit), the float32
 * product rounded to nearest even (rintf, default rounding mode; as numpy/torch round), clipped to
 * [-2^31, 2^31] and subtracted in int64.  A NaN step leaves the bias unchanged. */
#include <math.h>

#include "tt_kernels.h"

int tt_sgd_s32(int32_t *b, const float *g, int32_t n, float lr, int32_t limit)
{
    if (!b || !g || n < 0 || limit < 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) {
        float delta = rintf(lr * g[i]);
        if (delta != delta) continue;
        /* delta clipped to [-2^31, 2^31]: inside, an integer float that int32 holds exactly (one VCVT; a float ->
         * int64 conversion is a library call on a Cortex-M) */
        const int64_t d = delta >= 0x1p31f ? INT64_C(2147483648) : delta <= -0x1p31f ? -INT64_C(2147483648)
                                                                                  : (int64_t)(int32_t)delta;
        int64_t v = (int64_t)b[i] - d;
        if (v < -(int64_t)limit) v = -(int64_t)limit;
        if (v > (int64_t)limit) v = (int64_t)limit;
        b[i] = (int32_t)v;
    }
    return TT_OK;
}
