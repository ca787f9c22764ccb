/*
 * Pointwise int8 conv (kernel 1x1, groups 1, any stride and padding).
 * Layout: x (in.c, in.h, in.w), w (out.c, in.c), y (out.c, out.h, out.w).
 *   y[o, oy, ox] = requant(bias[o] + sum_c (x[c, oy*s - pad_top, ox*s - pad_left] - x_zero) * w[o, c])
 * An output whose input position lies in the padding is requant(bias[o]).
 * TT_ERR_ARG: as tt_conv_args_ok (tt_requant.h), or groups != 1.
 *
 * DSP path (TT_USE_DSP, stride 1 without padding, i.e. a plain matrix product): four pixels
 * share one 32-bit load per channel, channels go in pairs through __smlad. The int32 sum is the
 * same integer as the portable loop's, so the output is identical bit for bit.
 */
#include "tt_kernels.h"
#include "tt_requant.h"

#if TT_USE_DSP
#include <arm_acle.h>
#include <string.h>
#endif

/* acc + sum_c (x[c * plane] - x_zero) * w[c] */
static int32_t dot_channels(const int8_t *x, int32_t plane, const int8_t *w, int32_t channels, int32_t x_zero,
                            int32_t acc)
{
    for (int32_t c = 0; c < channels; c++)
        acc += (x[c * plane] - x_zero) * w[c];
    return acc;
}

#if TT_USE_DSP
static inline uint32_t load32(const int8_t *p) /* unaligned: Cortex-M4/M7 LDR handles it */
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* int16x2 (low halves of a, b) and (high halves of a, b) */
static inline int32_t pack_lo(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16));
}
static inline int32_t pack_hi(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a >> 16) | ((uint32_t)b & 0xFFFF0000u));
}

/* y[o, :] for all o when the conv is a matrix product over hw = in.h * in.w pixels. */
static void conv1x1_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const tt_quant_params *q, int8_t *y,
                        int32_t out_c)
{
    const int32_t neg_zero = (int32_t)(((uint32_t)-q->x_zero & 0xFFFFu) * 0x10001u); /* (-x_zero, -x_zero) */
    for (int32_t o = 0; o < out_c; o++) {
        const int8_t *wo = w + o * channels;
        int8_t *yo = y + o * hw;
        int32_t p = 0;
        for (; p + 4 <= hw; p += 4) {
            int32_t acc0 = bias[o], acc1 = bias[o], acc2 = bias[o], acc3 = bias[o];
            int32_t c = 0;
            for (; c + 2 <= channels; c += 2) {
                const uint32_t a = load32(x + c * hw + p), b = load32(x + (c + 1) * hw + p);
                /* (x[p] - z, x[p+2] - z) and (x[p+1] - z, x[p+3] - z) of channels c and c+1 */
                const int32_t a02 = __sxtab16(neg_zero, a), a13 = __sxtab16(neg_zero, (a >> 8) | (a << 24));
                const int32_t b02 = __sxtab16(neg_zero, b), b13 = __sxtab16(neg_zero, (b >> 8) | (b << 24));
                const int32_t wp = pack_lo(wo[c], wo[c + 1]);
                acc0 = __smlad(pack_lo(a02, b02), wp, acc0);
                acc1 = __smlad(pack_lo(a13, b13), wp, acc1);
                acc2 = __smlad(pack_hi(a02, b02), wp, acc2);
                acc3 = __smlad(pack_hi(a13, b13), wp, acc3);
            }
            if (c < channels) { /* odd channel count: the last one alone */
                const int8_t *xc = x + c * hw + p;
                acc0 += (xc[0] - q->x_zero) * wo[c];
                acc1 += (xc[1] - q->x_zero) * wo[c];
                acc2 += (xc[2] - q->x_zero) * wo[c];
                acc3 += (xc[3] - q->x_zero) * wo[c];
            }
            yo[p] = tt_requantize(acc0, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
            yo[p + 1] = tt_requantize(acc1, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
            yo[p + 2] = tt_requantize(acc2, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
            yo[p + 3] = tt_requantize(acc3, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
        }
        for (; p < hw; p++)
            yo[p] = tt_requantize(dot_channels(x + p, hw, wo, channels, q->x_zero, bias[o]), mult[o], shift[o],
                                  q->y_zero, q->act_min, q->act_max);
    }
}
#endif

int tt_conv2d_1x1_s8(const int8_t *x, tt_dims in, const int8_t *w, const int32_t *bias, const int32_t *mult,
                     const int32_t *shift, const tt_conv_params *conv, const tt_quant_params *q, int8_t *y,
                     tt_dims out)
{
    if (!tt_conv_args_ok(x, in, w, 1, 1, bias, mult, shift, conv, q, y, out) || conv->groups != 1)
        return TT_ERR_ARG;
    const int32_t s = conv->stride, plane = in.h * in.w;
#if TT_USE_DSP
    if (s == 1 && out.h == in.h && out.w == in.w) { /* no padding */
        conv1x1_dsp(x, in.c, plane, w, bias, mult, shift, q, y, out.c);
        return TT_OK;
    }
#endif
    for (int32_t o = 0; o < out.c; o++) {
        const int8_t *wo = w + o * in.c;
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy = oy * s - conv->pad_top;
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix = ox * s - conv->pad_left;
                int32_t acc = bias[o];
                if (iy >= 0 && iy < in.h && ix >= 0 && ix < in.w)
                    acc = dot_channels(x + iy * in.w + ix, plane, wo, in.c, q->x_zero, acc);
                y[(o * out.h + oy) * out.w + ox] =
                    tt_requantize(acc, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
            }
        }
    }
    return TT_OK;
}
