/*
 * fp32 classifier on int8 features: x (in_features,) int8 with (x_scale, x_zero),
 * w (out_features, in_features) row-major float32, b (out_features,) float32.
 *   y[o] = b[o] + sum_i w[o, i] * (x_scale * (x[i] - x_zero))          (float32, i ascending)
 * TT_ERR_ARG: a null pointer, in_features or out_features < 1.
 */
#include "tt_float_util.h"

int tt_linear_f32(const int8_t *x, int32_t in_features, float x_scale, int32_t x_zero, const float *w,
                  const float *b, int32_t out_features, float *y)
{
    if (!x || !w || !b || !y || in_features < 1 || out_features < 1)
        return TT_ERR_ARG;
    for (int32_t o = 0; o < out_features; o++) {
        const float *wo = w + o * in_features;
        float acc = 0.0f;
        for (int32_t i = 0; i < in_features; i++)
            acc = tt_mla_f32(acc, wo[i], x_scale * (float)(x[i] - x_zero));
        y[o] = acc + b[o];
    }
    return TT_OK;
}
