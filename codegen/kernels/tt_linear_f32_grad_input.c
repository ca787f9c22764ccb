/* fp32 classifier backward to its input: dx[i] = sum_o g[o] * W[o][i],
 * g (out_features,), W (out_features, in_features) row-major, dx (in_features,). */
#include "tt_float_util.h"

int tt_linear_f32_grad_input(const float *g, int32_t out_features, const float *w, int32_t in_features,
                             float *dx)
{
    if (!g || !w || !dx || out_features <= 0 || in_features <= 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < in_features; ++i) dx[i] = 0.0f;
    for (int32_t o = 0; o < out_features; ++o) {
        const float go = g[o];
        const float *row = w + o * in_features;
        for (int32_t i = 0; i < in_features; ++i) dx[i] = tt_mla_f32(dx[i], go, row[i]);
    }
    return TT_OK;
}
