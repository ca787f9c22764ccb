/*
 * Pointwise int8 conv whose weight is stored in two parts: the k leading input channels
 * (w_lead, (out.c, k), trained, in SRAM) and the rest (w_rest, (out.c, in.c - k), frozen, in
 * flash). Same arithmetic as tt_conv2d_1x1_s8 (identical integer sums), any stride and padding.
 * TT_ERR_ARG: as tt_conv2d_1x1_s8, or k outside [1, in.c) / w_rest NULL.
 */
#include "tt_kernels.h"
#include "tt_requant.h"

int tt_conv2d_1x1_split_s8(const int8_t *x, tt_dims in, const int8_t *w_lead, const int8_t *w_rest, int32_t k,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    if (!tt_conv_args_ok(x, in, w_lead, 1, 1, bias, mult, shift, conv, q, y, out) || conv->groups != 1 ||
        !w_rest || k < 1 || k >= in.c)
        return TT_ERR_ARG;
    const int32_t s = conv->stride, plane = in.h * in.w, rest = in.c - k;
    for (int32_t o = 0; o < out.c; o++) {
        const int8_t *lead_o = w_lead + o * k, *rest_o = w_rest + o * rest;
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy = oy * s - conv->pad_top;
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix = ox * s - conv->pad_left;
                int32_t acc = bias[o];
                if (iy >= 0 && iy < in.h && ix >= 0 && ix < in.w) {
                    const int8_t *xp = x + iy * in.w + ix;
                    for (int32_t c = 0; c < k; c++)
                        acc += (xp[c * plane] - q->x_zero) * lead_o[c];
                    for (int32_t c = 0; c < rest; c++)
                        acc += (xp[(k + c) * plane] - q->x_zero) * rest_o[c];
                }
                y[(o * out.h + oy) * out.w + ox] =
                    tt_requantize(acc, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
            }
        }
    }
    return TT_OK;
}
