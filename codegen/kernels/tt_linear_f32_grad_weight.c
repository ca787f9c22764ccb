/* fp32 classifier weight gradient: dW[o][i] = g[o] * x_r[i], x_r[i] = x_scale * (x[i] - x_zero),
 * dW (out_features, in_features) row-major (pass in_features = k for the slice W[:, :k]). */
#include "tt_kernels.h"

int tt_linear_f32_grad_weight(const int8_t *x, int32_t in_features, float x_scale, int32_t x_zero,
                              const float *g, int32_t out_features, float *dw)
{
    if (!x || !g || !dw || in_features <= 0 || out_features <= 0) return TT_ERR_ARG;
    for (int32_t o = 0; o < out_features; ++o) {
        float *row = dw + o * in_features;
        for (int32_t i = 0; i < in_features; ++i) row[i] = g[o] * (x_scale * (float)(x[i] - x_zero));
    }
    return TT_OK;
}
