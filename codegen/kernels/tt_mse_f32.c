/* Mean squared error of one sample, float32 (ops/loss.py):
 *   loss = sum((y[i] - target[i])^2) / n, summed in index order */
#include "tt_kernels.h"

int tt_mse_f32(const float *y, const float *target, int32_t n, float *loss)
{
    if (!y || !target || !loss || n <= 0) return TT_ERR_ARG;
    float sum = 0.0f;
    for (int32_t i = 0; i < n; ++i) {
        float d = y[i] - target[i];
        sum += d * d;
    }
    *loss = sum / (float)n;
    return TT_OK;
}
