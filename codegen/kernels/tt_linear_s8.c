/*
 * int8 fully connected layer: x (in_features,), w (out_features, in_features) row-major, y (out_features,).
 *   y[o] = requant(bias[o] + sum_i (x[i] - x_zero) * w[o, i])      (a 1x1 conv on a 1x1 image)
 * TT_ERR_ARG: a null pointer, in_features or out_features < 1, quant params or a shift out of range.
 */
#include "tt_kernels.h"
#include "tt_requant.h"

int tt_linear_s8(const int8_t *x, int32_t in_features, const int8_t *w, const int32_t *bias,
                 const int32_t *mult, const int32_t *shift, int32_t out_features, const tt_quant_params *q,
                 int8_t *y)
{
    if (!x || !w || !bias || !mult || !shift || !y || in_features < 1 || out_features < 1 || !tt_quant_ok(q) ||
        !tt_shifts_ok(shift, out_features))
        return TT_ERR_ARG;
    for (int32_t o = 0; o < out_features; o++) {
        const int8_t *wo = w + o * in_features;
        int32_t acc = bias[o];
        for (int32_t i = 0; i < in_features; i++)
            acc += (x[i] - q->x_zero) * wo[i];
        y[o] = tt_requantize(acc, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
    }
    return TT_OK;
}
