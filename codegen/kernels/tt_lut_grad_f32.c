/* The lut layer's backward where f' varies with the input: out[i] = g[i] * dtable[x[i] + 128],
 * x the layer's int8 input kept from the forward, dtable f'(x_real) per input code (float32,
 * one rounded product per element).  out may alias g. */
#include "tt_kernels.h"

int tt_lut_grad_f32(const float *g, const int8_t *x, int32_t n, const float *dtable, float *out)
{
    if (!g || !x || !dtable || !out || n < 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) out[i] = g[i] * dtable[(int32_t)x[i] + 128];
    return TT_OK;
}
