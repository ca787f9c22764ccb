/*
 * int8 -> float32: out[i] = scale * (float)(x[i] - zero) for n elements (any layout).
 * TT_ERR_ARG: a null pointer or n < 0.
 */
#include "tt_kernels.h"

int tt_dequantize_s8(const int8_t *x, int32_t n, float scale, int32_t zero, float *out)
{
    if (!x || !out || n < 0)
        return TT_ERR_ARG;
    for (int32_t i = 0; i < n; i++)
        out[i] = scale * (float)(x[i] - zero);
    return TT_OK;
}
