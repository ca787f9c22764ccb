/*
 * Depthwise int8 conv (groups == in.c == out.c), any kh x kw, stride and asymmetric padding.
 * Layout: x (C, in.h, in.w), w (C, 1, kh, kw), y (C, out.h, out.w).
 *   y[c, oy, ox] = requant(bias[c] + sum over ky, kx of
 *                  (x[c, oy*s + ky - pad_top, ox*s + kx - pad_left] - x_zero) * w[c, 0, ky, kx])
 * Positions outside the input are x_zero (they add 0 and are skipped).
 * TT_ERR_ARG: as tt_conv_args_ok (tt_requant.h), or groups != in.c or out.c != in.c.
 *
 * Cortex-M path (TT_USE_DSP): outputs whose window lies inside the input are computed four
 * neighbours at a time along a row (each weight loaded once per four multiply-adds, the stride a
 * constant where it is 1 or 2), from raw int8 values with the zero point folded into the start
 * value (bias - x_zero * sum w, exact in integers); 3x3 stride 1 pairs taps (w0, w2) for SMLAD with
 * w1 through SMLABB / SMLATB. Border outputs take the portable loop. The int32 sums are the same
 * integers, so the output is identical bit for bit.
 */
#include "tt_kernels.h"
#include "tt_requant.h"

#if TT_USE_DSP
#include <arm_acle.h>
#include <string.h>
#endif

/* bias + the window sum of one output; (iy0, ix0) is the window's top-left input position. */
static int32_t window_sum(const int8_t *xc, tt_dims in, const int8_t *wc, int32_t kh, int32_t kw, int32_t iy0,
                          int32_t ix0, int32_t x_zero, int32_t acc)
{
    const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = in.h - iy0 < kh ? in.h - iy0 : kh;
    const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in.w - ix0 < kw ? in.w - ix0 : kw;
    for (int32_t ky = ky0; ky < ky1; ky++) {
        const int8_t *xr = xc + (iy0 + ky) * in.w + ix0, *wr = wc + ky * kw;
        for (int32_t kx = kx0; kx < kx1; kx++)
            acc += (xr[kx] - x_zero) * wr[kx];
    }
    return acc;
}

#if TT_USE_DSP
/* acc[j] += sum over the window of raw x * w for the four outputs whose windows start at
 * x[j * s] (x: the top-left input of output 0), j = 0..3, all inside the input. */
static inline void window4(const int8_t *x, int32_t in_w, int32_t s, const int8_t *wc, int32_t kh, int32_t kw,
                           int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t ky = 0; ky < kh; ky++, x += in_w, wc += kw)
        for (int32_t kx = 0; kx < kw; kx++) {
            const int32_t wv = wc[kx];
            a0 += x[kx] * wv;
            a1 += x[kx + s] * wv;
            a2 += x[kx + 2 * s] * wv;
            a3 += x[kx + 3 * s] * wv;
        }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* window4 for 3x3, stride 1: per row, with bytes x0..x5, (x0, x2) (x1, x3) (x2, x4) (x3, x5) by SXTB16
 * times (w0, w2) through SMLAD, and the middle taps x1..x4 times w1 through SMLABB / SMLATB. w02[ky] =
 * (w[ky][0], w[ky][2]) as int16x2, w1[ky] = w[ky][1]. Reads x[ky * in_w + 0 .. 5]. */
static inline void window4_3x3_dsp(const int8_t *x, int32_t in_w, const int32_t w02[3], const int32_t w1[3],
                                   int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t ky = 0; ky < 3; ky++, x += in_w) {
        uint32_t v0;
        uint16_t v1;
        memcpy(&v0, x, 4); /* unaligned: Cortex-M4/M7/M55 LDR / LDRH handle it */
        memcpy(&v1, x + 4, 2);
        const uint32_t v2 = (v0 >> 16) | ((uint32_t)v1 << 16); /* bytes x2 x3 x4 x5 */
        const int32_t e02 = __sxtb16((int32_t)v0), o13 = __sxtb16((int32_t)((v0 >> 8) | (v0 << 24)));
        const int32_t e24 = __sxtb16((int32_t)v2), o35 = __sxtb16((int32_t)((v2 >> 8) | (v2 << 24)));
        a0 = __smlad(e02, w02[ky], a0);
        a1 = __smlad(o13, w02[ky], a1);
        a2 = __smlad(e24, w02[ky], a2);
        a3 = __smlad(o35, w02[ky], a3);
        a0 = __smlabb(o13, w1[ky], a0); /* x1 */
        a1 = __smlatb(e02, w1[ky], a1); /* x2 */
        a2 = __smlatb(o13, w1[ky], a2); /* x3 */
        a3 = __smlatb(e24, w1[ky], a3); /* x4 */
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* Outputs [ox0, ox1) of row oy of channel c, all windows inside the input. */
static void interior_row_dsp(const int8_t *xc, tt_dims in, const int8_t *wc, int32_t kh, int32_t kw, int32_t s,
                             int32_t iy0, int32_t ix_of_0, int32_t ox0, int32_t ox1, int32_t start, int32_t mult,
                             int32_t shift, const tt_quant_params *q, int8_t *yr)
{
    int32_t w02[3], w1[3];
    const int use_3x3 = kh == 3 && kw == 3 && s == 1;
    if (use_3x3)
        for (int32_t ky = 0; ky < 3; ky++) {
            w02[ky] = (int32_t)(((uint32_t)wc[3 * ky] & 0xFFFFu) | ((uint32_t)wc[3 * ky + 2] << 16));
            w1[ky] = wc[3 * ky + 1];
        }
    const int32_t y_zero = q->y_zero, lo = q->act_min, hi = q->act_max; /* locals: int8 stores alias anything */
    int32_t ox = ox0;
    for (; ox + 4 <= ox1; ox += 4) {
        const int8_t *x = xc + iy0 * in.w + ox * s + ix_of_0;
        int32_t acc[4] = {start, start, start, start};
        if (use_3x3)
            window4_3x3_dsp(x, in.w, w02, w1, acc);
        else if (s == 1)
            window4(x, in.w, 1, wc, kh, kw, acc);
        else if (s == 2)
            window4(x, in.w, 2, wc, kh, kw, acc);
        else
            window4(x, in.w, s, wc, kh, kw, acc);
        for (int32_t j = 0; j < 4; j++)
            yr[ox + j] = tt_requantize(acc[j], mult, shift, y_zero, lo, hi);
    }
    for (; ox < ox1; ox++) {
        const int8_t *x = xc + iy0 * in.w + ox * s + ix_of_0;
        int32_t acc = start;
        for (int32_t ky = 0; ky < kh; ky++)
            for (int32_t kx = 0; kx < kw; kx++)
                acc += x[ky * in.w + kx] * wc[ky * kw + kx];
        yr[ox] = tt_requantize(acc, mult, shift, y_zero, lo, hi);
    }
}
#endif

int tt_depthwise_conv2d_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    if (!conv || conv->groups != in.c || out.c != in.c ||
        !tt_conv_args_ok(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out))
        return TT_ERR_ARG;
    const int32_t s = conv->stride, plane = in.h * in.w;
#if TT_USE_DSP
    /* outputs ox in [ox_lo, ox_hi) have 0 <= ox * s - pad_left and ox * s - pad_left + kw <= in.w */
    int32_t ox_lo = (conv->pad_left + s - 1) / s, ox_hi = in.w - kw + conv->pad_left < 0 ? 0
                                                          : (in.w - kw + conv->pad_left) / s + 1;
    if (ox_hi > out.w)
        ox_hi = out.w;
    if (ox_lo > ox_hi)
        ox_lo = ox_hi;
#endif
    for (int32_t c = 0; c < in.c; c++) {
        const int8_t *xc = x + c * plane, *wc = w + c * kh * kw;
#if TT_USE_DSP
        int32_t w_sum = 0;
        for (int32_t i = 0; i < kh * kw; i++)
            w_sum += wc[i];
        const int32_t start = bias[c] - q->x_zero * w_sum; /* |x_zero * w_sum| <= 128 * 128 * kh * kw */
#endif
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy0 = oy * s - conv->pad_top;
            int8_t *yr = y + (c * out.h + oy) * out.w;
#if TT_USE_DSP
            if (iy0 >= 0 && iy0 + kh <= in.h) { /* the row's windows lie inside vertically */
                for (int32_t ox = 0; ox < ox_lo; ox++)
                    yr[ox] = tt_requantize(window_sum(xc, in, wc, kh, kw, iy0, ox * s - conv->pad_left, q->x_zero,
                                                      bias[c]),
                                           mult[c], shift[c], q->y_zero, q->act_min, q->act_max);
                interior_row_dsp(xc, in, wc, kh, kw, s, iy0, -conv->pad_left, ox_lo, ox_hi, start, mult[c],
                                 shift[c], q, yr);
                for (int32_t ox = ox_hi; ox < out.w; ox++)
                    yr[ox] = tt_requantize(window_sum(xc, in, wc, kh, kw, iy0, ox * s - conv->pad_left, q->x_zero,
                                                      bias[c]),
                                           mult[c], shift[c], q->y_zero, q->act_min, q->act_max);
                continue;
            }
#endif
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix0 = ox * s - conv->pad_left;
                const int32_t acc = window_sum(xc, in, wc, kh, kw, iy0, ix0, q->x_zero, bias[c]);
                yr[ox] = tt_requantize(acc, mult[c], shift[c], q->y_zero, q->act_min, q->act_max);
            }
        }
    }
    return TT_OK;
}
