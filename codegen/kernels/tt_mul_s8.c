/*
 * int8 product of x (c, hw) and a gate of c * g_hw elements, g_hw 1 (one value per channel, broadcast
 * over H x W: squeeze-and-excitation) or hw (the same shape):
 *   y[c, i] = clamp(rshift_round((x[c, i] - x_zero) * (g[c, g_hw == 1 ? 0 : i] - g_zero) * mult, shift)
 *                   + y_zero, act_min, act_max)
 * |(x - x_zero) * (g - g_zero)| <= 255 * 255 is an int32 accumulator, requantized as a conv's
 * (tt_requantize). y may alias x.
 * TT_ERR_ARG: a null pointer, c or hw < 0, g_hw neither 1 nor hw, a zero point outside int8, shift outside
 * [1, 62], mult outside [0, 2^31), bad clamp range.
 */
#include "tt_kernels.h"
#include "tt_requant.h"

int tt_mul_s8(const int8_t *x, const int8_t *g, int32_t c, int32_t hw, int32_t g_hw, int32_t g_zero, int32_t mult,
              int32_t shift, const tt_quant_params *q, int8_t *y)
{
    if (!x || !g || !y || c < 0 || hw < 0 || (g_hw != 1 && g_hw != hw) || !tt_quant_ok(q) || !tt_is_s8(g_zero) ||
        mult < 0 || shift < 1 || shift > 62)
        return TT_ERR_ARG;
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max;
    for (int32_t ch = 0; ch < c; ch++) {
        const int8_t *xc = x + (int64_t)ch * hw, *gc = g + (int64_t)ch * g_hw;
        int8_t *yc = y + (int64_t)ch * hw;
        if (g_hw == 1) {
            const int32_t gv = gc[0] - g_zero;
            for (int32_t i = 0; i < hw; i++) yc[i] = tt_requantize((xc[i] - x_zero) * gv, mult, shift, y_zero, lo, hi);
        } else {
            for (int32_t i = 0; i < hw; i++)
                yc[i] = tt_requantize((xc[i] - x_zero) * (gc[i] - g_zero), mult, shift, y_zero, lo, hi);
        }
    }
    return TT_OK;
}
