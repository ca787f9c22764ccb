/* SGD momentum (the optimizer state of a trained tensor): v[i] = mu * v[i] + g[i], the update
 * then applies v.  Product and sum rounded separately (the build's -ffp-contract=off), as the
 * Relax oracle computes them. */
#include "tt_kernels.h"

int tt_momentum_f32(float *v, const float *g, int32_t n, float mu)
{
    if (!v || !g || n < 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) v[i] = mu * v[i] + g[i];
    return TT_OK;
}
