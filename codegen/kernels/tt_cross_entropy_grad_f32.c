/* Gradient of the cross-entropy on real logits (n,), float32 (ops/loss.py):
 *   lse = m + log(sum(exp(l - m))) with m = max(l);  dlogits[i] = exp(l[i] - lse) - (i == label) */
#include <math.h>

#include "tt_float_util.h"

int tt_cross_entropy_grad_f32(const float *logits, int32_t n, int32_t label, float *dlogits)
{
    if (!logits || !dlogits || n <= 0 || label < 0 || label >= n) return TT_ERR_ARG;
    float lse = tt_log_sum_exp(logits, n);
    for (int32_t i = 0; i < n; ++i) dlogits[i] = tt_expf(logits[i] - lse) - (i == label ? 1.0f : 0.0f);
    return TT_OK;
}
