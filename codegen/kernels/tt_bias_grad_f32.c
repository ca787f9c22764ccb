/* db[c] = sum_{i < spatial} d[c][i], added in order: the bias gradient, d (channels, spatial) row-major
 * (on a Cortex-M FPU eight values a load, tt_sum8_f32). */
#include "tt_float_util.h"
#include "tt_kernels.h"

int tt_bias_grad_f32(const float *d, int32_t channels, int32_t spatial, float *db)
{
    if (!d || !db || channels <= 0 || spatial <= 0) return TT_ERR_ARG;
    for (int32_t c = 0; c < channels; ++c) {
        const float *row = d + c * spatial;
        float acc = 0.0f;
        int32_t i = 0;
#ifdef TT_SUM8_ASM
        if (spatial >= 8) acc = tt_sum8_f32(acc, row, spatial / 8), i = spatial / 8 * 8;
#endif
        for (; i < spatial; ++i) acc += row[i];
        db[c] = acc;
    }
    return TT_OK;
}
