/*
 * One input's part of an int8 channel concatenation: n elements requantized to the output's quantization
 * and written where its channels start in the output (the caller passes y at that offset).
 *   y[i] = clamp(rshift_round((x[i] - x_zero) * mult, shift) + y_zero, -128, 127)       (int64 product)
 * An input that has the output's quantization (mult 2^30, shift 30, x_zero == y_zero) is copied.
 * TT_ERR_ARG: a null pointer, n < 0, a zero point outside int8, mult < 0, shift outside [1, 62].
 */
#include <string.h>

#include "tt_kernels.h"
#include "tt_requant.h"

int tt_concat_s8(const int8_t *x, int32_t n, int32_t x_zero, int32_t mult, int32_t shift, int32_t y_zero,
                 int8_t *y)
{
    if (!x || !y || n < 0 || !tt_is_s8(x_zero) || !tt_is_s8(y_zero) || mult < 0 || shift < 1 || shift > 62)
        return TT_ERR_ARG;
    if (mult == (1 << 30) && shift == 30 && x_zero == y_zero) {
        memmove(y, x, (size_t)n);
        return TT_OK;
    }
    for (int32_t i = 0; i < n; i++)
        y[i] = tt_requantize(x[i] - x_zero, mult, shift, y_zero, -128, 127);
    return TT_OK;
}
