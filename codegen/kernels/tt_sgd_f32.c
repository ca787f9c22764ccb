/* float32 SGD: p[i] = p[i] - lr * g[i] (fp32 classifier W and B). */
#include "tt_kernels.h"

int tt_sgd_f32(float *p, const float *g, int32_t n, float lr)
{
    if (!p || !g || n < 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) p[i] = p[i] - lr * g[i];
    return TT_OK;
}
