/* dW_r of an int8 linear layer, the k leading input features only:
 * dw[o][i] = d[o] * x_r[i] with x_r[i] = x_scale * (x[i] - x_zero), i < k; dw (out_features, k) row-major. */
#include "tt_kernels.h"

int tt_linear_grad_weight_f32(const int8_t *x, int32_t k, int32_t x_zero, float x_scale, const float *d,
                              int32_t out_features, float *dw)
{
    if (!x || !d || !dw || k <= 0 || out_features <= 0) return TT_ERR_ARG;
    for (int32_t o = 0; o < out_features; ++o) {
        float *row = dw + o * k;
        for (int32_t i = 0; i < k; ++i) row[i] = d[o] * (x_scale * (float)(x[i] - x_zero));
    }
    return TT_OK;
}
