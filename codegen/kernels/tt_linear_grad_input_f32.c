/* dx_r of an int8 linear layer: dx[i] = sum_o d[o] * w_scale[o] * w[o][i],
 * d (out_features,), w int8 (out_features, in_features) row-major, dx (in_features,).
 * Rows of w are read in order, each adding (d[o] * w_scale[o]) * w[o][:] to dx. */
#include "tt_float_util.h"

int tt_linear_grad_input_f32(const float *d, int32_t out_features, const int8_t *w, const float *w_scale,
                             int32_t in_features, float *dx)
{
    if (!d || !w || !w_scale || !dx || out_features <= 0 || in_features <= 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < in_features; ++i) dx[i] = 0.0f;
    for (int32_t o = 0; o < out_features; ++o) {
        const float f = d[o] * w_scale[o];
        const int8_t *row = w + o * in_features;
        for (int32_t i = 0; i < in_features; ++i) dx[i] = tt_mla_f32(dx[i], f, (float)row[i]);
    }
    return TT_OK;
}
