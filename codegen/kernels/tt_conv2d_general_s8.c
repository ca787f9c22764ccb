/*
 * Any int8 conv2d: groups, kernel, stride and asymmetric padding all free.
 * Layout: x (in.c, in.h, in.w), w (out.c, in.c/groups, kh, kw), y (out.c, out.h, out.w).
 *   y[o, oy, ox] = requant(bias[o] + sum over c in o's group, ky, kx of
 *                  (x[c, oy*s + ky - pad_top, ox*s + kx - pad_left] - x_zero) * w[o, c', ky, kx])
 * Positions outside the input are x_zero (they add 0 and are skipped).
 * TT_ERR_ARG: see tt_conv_args_ok (tt_requant.h).
 *
 * DSP path (TT_USE_DSP, groups 1 and a window of at most GENERAL_DSP_MAX_K = in.c * kh * kw values,
 * e.g. a network's first 3x3 conv over RGB): two output positions at a time, each window gathered
 * once (im2col, x - x_zero, 0 in the padding) into int16 pairs ordered (k, k+2), (k+1, k+3) to
 * match the weight pairs that SXTB16 takes from one 32-bit load of w[o, k .. k+3]; then every
 * output channel is SMLAD over the pairs: 8 multiply-adds in 11 instructions, the gather shared by
 * all output channels. The int32 sums are the same integers, so the output is identical bit for bit.
 */
#include "tt_kernels.h"
#include "tt_requant.h"

#if TT_USE_DSP
#include <arm_acle.h>
#include <string.h>

#define GENERAL_DSP_MAX_K 64

/* The window of output (oy, ox) minus x_zero (0 where it lies in the padding), k = (c, ky, kx)
 * order: the first k4 = k_total & ~3 values as int16 pairs, word 2j = (v[4j], v[4j+2]) and word
 * 2j+1 = (v[4j+1], v[4j+3]); the last k_total - k4 values plain in tail[]. */
static void gather_window(const int8_t *x, tt_dims in, int32_t kh, int32_t kw, int32_t iy0, int32_t ix0,
                          int32_t x_zero, uint32_t *pairs, int32_t *tail)
{
    int32_t v[GENERAL_DSP_MAX_K];
    int32_t k = 0;
    for (int32_t c = 0; c < in.c; c++)
        for (int32_t ky = 0; ky < kh; ky++) {
            const int32_t iy = iy0 + ky;
            const int8_t *xr = x + (c * in.h + iy) * in.w;
            for (int32_t kx = 0; kx < kw; kx++, k++) {
                const int32_t ix = ix0 + kx;
                v[k] = iy >= 0 && iy < in.h && ix >= 0 && ix < in.w ? xr[ix] - x_zero : 0;
            }
        }
    const int32_t k4 = k & ~3;
    for (int32_t j = 0; j < k4; j += 4) {
        pairs[j / 2] = ((uint32_t)v[j] & 0xFFFFu) | ((uint32_t)v[j + 2] << 16);
        pairs[j / 2 + 1] = ((uint32_t)v[j + 1] & 0xFFFFu) | ((uint32_t)v[j + 3] << 16);
    }
    for (int32_t j = k4; j < k; j++)
        tail[j - k4] = v[j];
}

/* The whole output of a groups-1 conv whose window has k_total <= GENERAL_DSP_MAX_K values. */
static void general_dsp(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const tt_conv_params *conv,
                        const tt_quant_params *q, int8_t *y, tt_dims out)
{
    const int32_t k_total = in.c * kh * kw, k4 = k_total & ~3, hw = out.h * out.w, s = conv->stride;
    const int32_t y_zero = q->y_zero, lo = q->act_min, hi = q->act_max; /* locals: int8 stores alias anything */
    uint32_t pairs0[GENERAL_DSP_MAX_K / 2], pairs1[GENERAL_DSP_MAX_K / 2];
    int32_t tail0[3], tail1[3];
    for (int32_t p = 0; p < hw; p += 2) {
        const int32_t p1 = p + 1 < hw ? p + 1 : p; /* an odd last position is computed twice */
        gather_window(x, in, kh, kw, (p / out.w) * s - conv->pad_top, (p % out.w) * s - conv->pad_left, q->x_zero,
                      pairs0, tail0);
        gather_window(x, in, kh, kw, (p1 / out.w) * s - conv->pad_top, (p1 % out.w) * s - conv->pad_left,
                      q->x_zero, pairs1, tail1);
        for (int32_t o = 0; o < out.c; o++) {
            const int8_t *wo = w + o * k_total;
            int32_t acc0 = bias[o], acc1 = bias[o];
            for (int32_t j = 0; j < k4; j += 4) {
                uint32_t wv;
                memcpy(&wv, wo + j, 4); /* unaligned: Cortex-M4/M7/M55 LDR handles it */
                const int32_t w02 = __sxtb16((int32_t)wv), w13 = __sxtb16((int32_t)((wv >> 8) | (wv << 24)));
                acc0 = __smlad((int32_t)pairs0[j / 2], w02, acc0);
                acc0 = __smlad((int32_t)pairs0[j / 2 + 1], w13, acc0);
                acc1 = __smlad((int32_t)pairs1[j / 2], w02, acc1);
                acc1 = __smlad((int32_t)pairs1[j / 2 + 1], w13, acc1);
            }
            for (int32_t j = k4; j < k_total; j++) {
                acc0 += tail0[j - k4] * wo[j];
                acc1 += tail1[j - k4] * wo[j];
            }
            const int32_t m = mult[o], sh = shift[o];
            y[o * hw + p] = tt_requantize(acc0, m, sh, y_zero, lo, hi);
            y[o * hw + p1] = tt_requantize(acc1, m, sh, y_zero, lo, hi);
        }
    }
}
#endif

int tt_conv2d_general_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift,
                         const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    if (!tt_conv_args_ok(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out))
        return TT_ERR_ARG;
#if TT_USE_DSP
    if (conv->groups == 1 && in.c * kh * kw <= GENERAL_DSP_MAX_K) {
        general_dsp(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out);
        return TT_OK;
    }
#endif
    const int32_t cg = in.c / conv->groups, og = out.c / conv->groups, s = conv->stride;
    for (int32_t o = 0; o < out.c; o++) {
        const int8_t *xg = x + (o / og) * cg * in.h * in.w; /* first input channel of o's group */
        const int8_t *wo = w + o * cg * kh * kw;
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy0 = oy * s - conv->pad_top;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = in.h - iy0 < kh ? in.h - iy0 : kh;
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix0 = ox * s - conv->pad_left;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in.w - ix0 < kw ? in.w - ix0 : kw;
                int32_t acc = bias[o];
                for (int32_t c = 0; c < cg; c++)
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *xr = xg + (c * in.h + iy0 + ky) * in.w + ix0;
                        const int8_t *wr = wo + (c * kh + ky) * kw;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                            acc += (xr[kx] - q->x_zero) * wr[kx];
                    }
                y[(o * out.h + oy) * out.w + ox] =
                    tt_requantize(acc, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
            }
        }
    }
    return TT_OK;
}
