/* db[c] = sum_{i < spatial} d[c][i]: the bias gradient, d (channels, spatial) row-major. */
#include "tt_kernels.h"

int tt_bias_grad_f32(const float *d, int32_t channels, int32_t spatial, float *db)
{
    if (!d || !db || channels <= 0 || spatial <= 0) return TT_ERR_ARG;
    for (int32_t c = 0; c < channels; ++c) {
        const float *row = d + c * spatial;
        float acc = 0.0f;
        for (int32_t i = 0; i < spatial; ++i) acc += row[i];
        db[c] = acc;
    }
    return TT_OK;
}
