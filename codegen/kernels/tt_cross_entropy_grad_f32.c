/* Gradient of the cross-entropy on real logits (n,), float32 (ops/loss.py):
 *   lse = m + log(sum(exp(l - m))) with m = max(l);  dlogits[i] = exp(l[i] - lse) - (i == label) */
#include <math.h>

#include "tt_kernels.h"

int tt_cross_entropy_grad_f32(const float *logits, int32_t n, int32_t label, float *dlogits)
{
    if (!logits || !dlogits || n <= 0 || label < 0 || label >= n) return TT_ERR_ARG;
    float m = logits[0];
    for (int32_t i = 1; i < n; ++i)
        if (logits[i] > m) m = logits[i];
    float sum = 0.0f;
    for (int32_t i = 0; i < n; ++i) sum += expf(logits[i] - m);
    float lse = m + logf(sum);
    for (int32_t i = 0; i < n; ++i) dlogits[i] = expf(logits[i] - lse) - (i == label ? 1.0f : 0.0f);
    return TT_OK;
}
