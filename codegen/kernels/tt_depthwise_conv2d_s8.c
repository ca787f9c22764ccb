/*
 * Depthwise int8 conv (groups == in.c == out.c), any kh x kw, stride and asymmetric padding.
 * Layout: x (C, in.h, in.w), w (C, 1, kh, kw), y (C, out.h, out.w).
 *   y[c, oy, ox] = requant(bias[c] + sum over ky, kx of
 *                  (x[c, oy*s + ky - pad_top, ox*s + kx - pad_left] - x_zero) * w[c, 0, ky, kx])
 * Positions outside the input are x_zero (they add 0 and are skipped).
 * TT_ERR_ARG: as tt_conv_args_ok (tt_requant.h), or groups != in.c or out.c != in.c.
 *
 * DSP path (TT_USE_DSP, stride 1): two neighbouring outputs whose windows lie inside the input
 * are computed together; each 32-bit load gives the (x0, x1) and (x1, x2) tap pairs of both,
 * multiplied by the weight pair (w[kx], w[kx+1]) with __smlad (an odd kw pairs its last tap with
 * weight 0). Other outputs (borders, stride > 1) take the portable loop. The int32 sums are the
 * same integers, so the output is identical bit for bit.
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
static inline uint32_t load32(const int8_t *p) /* unaligned: Cortex-M4/M7 LDR handles it */
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Window sums of outputs (oy, ox) and (oy, ox + 1), stride 1, both windows inside the input, and
 * the last 32-bit load (which reads kw + 3 bytes from ix0 on the window's last row) inside x. */
static void window_pair_dsp(const int8_t *xc, int32_t in_w, const int8_t *wc, int32_t kh, int32_t kw,
                            int32_t iy0, int32_t ix0, int32_t neg_zero, int32_t *acc0, int32_t *acc1)
{
    int32_t a0 = *acc0, a1 = *acc1;
    for (int32_t ky = 0; ky < kh; ky++) {
        const int8_t *xr = xc + (iy0 + ky) * in_w + ix0, *wr = wc + ky * kw;
        for (int32_t kx = 0; kx < kw; kx += 2) {
            const int32_t w1 = kx + 1 < kw ? wr[kx + 1] : 0;
            const int32_t wp = (int32_t)(((uint32_t)wr[kx] & 0xFFFFu) | ((uint32_t)w1 << 16));
            const uint32_t v = load32(xr + kx);
            /* (x0 - z, x2 - z) and (x1 - z, x3 - z) */
            const int32_t e02 = __sxtab16(neg_zero, v), e13 = __sxtab16(neg_zero, (v >> 8) | (v << 24));
            a0 = __smlad((int32_t)(((uint32_t)e02 & 0xFFFFu) | ((uint32_t)e13 << 16)), wp, a0);         /* (x0, x1) */
            a1 = __smlad((int32_t)(((uint32_t)e13 & 0xFFFFu) | ((uint32_t)e02 & 0xFFFF0000u)), wp, a1); /* (x1, x2) */
        }
    }
    *acc0 = a0;
    *acc1 = a1;
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
    const int32_t neg_zero = (int32_t)(((uint32_t)-q->x_zero & 0xFFFFu) * 0x10001u); /* (-x_zero, -x_zero) */
    const int32_t x_size = in.c * plane, kw_even = kw + (kw & 1);
#endif
    for (int32_t c = 0; c < in.c; c++) {
        const int8_t *xc = x + c * plane, *wc = w + c * kh * kw;
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy0 = oy * s - conv->pad_top;
            int8_t *yr = y + (c * out.h + oy) * out.w;
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix0 = ox * s - conv->pad_left;
#if TT_USE_DSP
                if (s == 1 && ox + 1 < out.w && iy0 >= 0 && iy0 + kh <= in.h && ix0 >= 0 && ix0 + kw + 1 <= in.w &&
                    c * plane + (iy0 + kh - 1) * in.w + ix0 + kw_even + 2 <= x_size) {
                    int32_t acc0 = bias[c], acc1 = bias[c];
                    window_pair_dsp(xc, in.w, wc, kh, kw, iy0, ix0, neg_zero, &acc0, &acc1);
                    yr[ox] = tt_requantize(acc0, mult[c], shift[c], q->y_zero, q->act_min, q->act_max);
                    yr[++ox] = tt_requantize(acc1, mult[c], shift[c], q->y_zero, q->act_min, q->act_max);
                    continue;
                }
#endif
                const int32_t acc = window_sum(xc, in, wc, kh, kw, iy0, ix0, q->x_zero, bias[c]);
                yr[ox] = tt_requantize(acc, mult[c], shift[c], q->y_zero, q->act_min, q->act_max);
            }
        }
    }
    return TT_OK;
}
