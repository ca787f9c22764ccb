/* The lut layer's forward: y[i] = table[x[i] + 128], one load per element (quantization/lut.py
 * builds the table from the layer's quantization; it is exact for every int8 input).
 * y may alias x (each element is read before it is written). */
#include "tt_kernels.h"

int tt_lut_s8(const int8_t *x, int32_t n, const int8_t *table, int8_t *y)
{
    if (!x || !table || !y || n < 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) y[i] = table[(int32_t)x[i] + 128];
    return TT_OK;
}
