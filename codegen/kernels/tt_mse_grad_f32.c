/* Gradient of the mean squared error, float32 (ops/loss.py):
 *   dy[i] = ((y[i] - target[i]) * 2) / n   (the doubling is exact: one rounding, in the division) */
#include "tt_kernels.h"

int tt_mse_grad_f32(const float *y, const float *target, int32_t n, float *dy)
{
    if (!y || !target || !dy || n <= 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) dy[i] = ((y[i] - target[i]) * 2.0f) / (float)n;
    return TT_OK;
}
