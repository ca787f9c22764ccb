/* out[i] = a[i] + b[i]: the gradients of two uses of one tensor summed; out may alias a (or b). */
#include "tt_kernels.h"

int tt_grad_add_f32(const float *a, const float *b, int32_t n, float *out)
{
    if (!a || !b || !out || n < 0) return TT_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
    return TT_OK;
}
