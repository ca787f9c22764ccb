/*
 * int8 residual add of two same-shaped tensors of n elements (any layout, elementwise).
 *   y[i] = clamp(rshift_round((a[i] - a_zero) * mult_a + (b[i] - b_zero) * mult_b, shift) + y_zero,
 *                act_min, act_max)                                         (int64 products)
 * q->x_zero is not used (a_zero, b_zero are the inputs' zero points). y may alias a or b.
 * TT_ERR_ARG: a null pointer, n < 0, a zero point outside int8, shift outside [1, 62], bad clamp range.
 */
#include "tt_dsp.h"
#include "tt_kernels.h"
#include "tt_requant.h"

int tt_add_s8(const int8_t *a, const int8_t *b, int32_t n, int32_t a_zero, int32_t b_zero, int32_t mult_a,
              int32_t mult_b, int32_t shift, const tt_quant_params *q, int8_t *y)
{
    if (!a || !b || !y || n < 0 || !tt_quant_ok(q) || !tt_is_s8(a_zero) || !tt_is_s8(b_zero) || shift < 1 ||
        shift > 62)
        return TT_ERR_ARG;
    const int32_t y_zero = q->y_zero, lo = q->act_min, hi = q->act_max; /* locals: int8 stores alias anything */
    if (shift > 10) {
        /* (v + 2^(shift-1)) >> shift = (floor(v / 2^32) + 2^(t-1)) >> t, t = shift - 32 (the low word cannot
         * change the floor, as in tt_requantize). A shift of 11..32 first scales v by unit = 2^k,
         * k = 33 - shift: rounding v 2^k by 2^33 is rounding v by 2^shift, the same integers. The zero
         * points and the rounding go into one 64-bit constant: v 2^k + 2^(t-1) 2^32 = base + a unit mult_a
         * + b unit mult_b. Bounds: |v| < 2^40, so every sum stays below 2^62 and its high word fits
         * int32; |a unit|, |zero unit| <= 2^29. About 16 instructions an element on a Cortex-M7, against
         * 39 for the 64-bit shift below. */
        const int32_t k = shift > 32 ? 0 : 33 - shift, t = shift + k - 32, unit = 1 << k;
        const int64_t base = ((int64_t)1 << (t + 31)) - (int64_t)(a_zero * unit) * mult_a -
                             (int64_t)(b_zero * unit) * mult_b;
        for (int32_t i = 0; i < n; i++) {
            const int64_t v = base + (int64_t)(a[i] * unit) * mult_a + (int64_t)(b[i] * unit) * mult_b;
            const int32_t r = ((int32_t)(v >> 32) >> t) + y_zero;
#if TT_USE_DSP
            y[i] = (int8_t)__ssat(r, 8);
#else
            y[i] = (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
#endif
        }
        if (lo > -128 || hi < 127) /* clamping to int8 first changes no clamp to [lo, hi] within it */
            for (int32_t i = 0; i < n; i++) y[i] = (int8_t)(y[i] < lo ? lo : y[i] > hi ? hi : y[i]);
        return TT_OK;
    }
    for (int32_t i = 0; i < n; i++) {
        const int64_t v = (int64_t)(a[i] - a_zero) * mult_a + (int64_t)(b[i] - b_zero) * mult_b;
        y[i] = (int8_t)tt_clamp64(tt_rshift_round(v, shift) + y_zero, lo, hi);
    }
    return TT_OK;
}
