/* Cross-entropy of one sample on real logits (n,), float32:
 *   m = max(l); lse = m + log(sum(exp(l - m))); loss = lse - l[label]   (ops/loss.py) */
#include <math.h>

#include "tt_kernels.h"

int tt_cross_entropy_f32(const float *logits, int32_t n, int32_t label, float *loss)
{
    if (!logits || !loss || n <= 0 || label < 0 || label >= n) return TT_ERR_ARG;
    float m = logits[0];
    for (int32_t i = 1; i < n; ++i)
        if (logits[i] > m) m = logits[i];
    float sum = 0.0f;
    for (int32_t i = 0; i < n; ++i) sum += expf(logits[i] - m);
    float lse = m + logf(sum);
    *loss = lse - logits[label];
    return TT_OK;
}
