/*
 * int8 residual add of two same-shaped tensors of n elements (any layout, elementwise).
 *   y[i] = clamp(rshift_round((a[i] - a_zero) * mult_a + (b[i] - b_zero) * mult_b, shift) + y_zero,
 *                act_min, act_max)                                         (int64 products)
 * q->x_zero is not used (a_zero, b_zero are the inputs' zero points). y may alias a or b.
 * TT_ERR_ARG: a null pointer, n < 0, a zero point outside int8, shift outside [1, 62], bad clamp range.
 */
#include "tt_kernels.h"
#include "tt_requant.h"

int tt_add_s8(const int8_t *a, const int8_t *b, int32_t n, int32_t a_zero, int32_t b_zero, int32_t mult_a,
              int32_t mult_b, int32_t shift, const tt_quant_params *q, int8_t *y)
{
    if (!a || !b || !y || n < 0 || !tt_quant_ok(q) || !tt_is_s8(a_zero) || !tt_is_s8(b_zero) || shift < 1 ||
        shift > 62)
        return TT_ERR_ARG;
    for (int32_t i = 0; i < n; i++) {
        const int64_t v = (int64_t)(a[i] - a_zero) * mult_a + (int64_t)(b[i] - b_zero) * mult_b;
        y[i] = (int8_t)tt_clamp64(tt_rshift_round(v, shift) + q->y_zero, q->act_min, q->act_max);
    }
    return TT_OK;
}
