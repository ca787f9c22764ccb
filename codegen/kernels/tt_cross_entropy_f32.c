/* Cross-entropy of one sample on real logits (n,), float32:
 *   m = max(l); lse = m + log(sum(exp(l - m))); loss = lse - l[label]   (ops/loss.py) */
#include <math.h>

#include "tt_float_util.h"

int tt_cross_entropy_f32(const float *logits, int32_t n, int32_t label, float *loss)
{
    if (!logits || !loss || n <= 0 || label < 0 || label >= n) return TT_ERR_ARG;
    float lse = tt_log_sum_exp(logits, n);
    *loss = lse - logits[label];
    return TT_OK;
}
