/*
 * Any int8 conv2d: groups, kernel, stride and asymmetric padding all free.
 * Layout: x (in.c, in.h, in.w), w (out.c, in.c/groups, kh, kw), y (out.c, out.h, out.w).
 *   y[o, oy, ox] = requant(bias[o] + sum over c in o's group, ky, kx of
 *                  (x[c, oy*s + ky - pad_top, ox*s + kx - pad_left] - x_zero) * w[o, c', ky, kx])
 * Positions outside the input are x_zero (they add 0 and are skipped).
 * TT_ERR_ARG: see tt_conv_args_ok (tt_requant.h).
 *
 * DSP path (TT_USE_DSP, groups 1 and a window of at most GENERAL_DSP_MAX_K = in.c * kh * kw values,
 * e.g. a network's first 3x3 conv over RGB): four output positions at a time, each window gathered
 * once (im2col, x - x_zero as int16, 0 in the padding); each 32-bit load of w[o, k .. k+3] becomes
 * the pairs (w_k, w_k+1), (w_k+2, w_k+3) (SXTB16, PKHBT/PKHTB) and every output channel is SMLAD
 * over the windows' int16 pairs: 16 multiply-adds per weight load, the gather shared by all output
 * channels. The int32 sums are the same integers, so the output is identical bit for bit.
 *
 * x86-64 path (__AVX2__, host builds with -march=native; strides 1 and 2, any groups, strips up to
 * 16 KB): sixteen outputs of a row at a time from padded input rows, tt_conv_general_avx2.h.
 */
#include "tt_conv_general_avx2.h"
#include "tt_kernels.h"
#include "tt_requant.h"

#if TT_USE_DSP
#include "tt_dsp.h"

#define GENERAL_DSP_MAX_K 64

/* w[0 .. n) (n in 1..3) as the low bytes of a word, zeros above: never reads past w[n - 1] */
static uint32_t tail_weights(const int8_t *w, int32_t n)
{
    uint32_t v = (uint8_t)w[0];
    if (n > 1)
        v |= (uint32_t)(uint8_t)w[1] << 8;
    if (n > 2)
        v |= (uint32_t)(uint8_t)w[2] << 16;
    return v;
}

/* int16 pair (v[0], v[1]) as one word */
static inline int32_t col_pair(const int16_t *v)
{
    int32_t r;
    memcpy(&r, v, 4);
    return r;
}

/* The window of output (oy, ox) minus x_zero (0 where it lies in the padding) as int16 in k = (c, ky, kx)
 * order, zero-padded to a multiple of 4 values, so that word i of it is the pair (v[2i], v[2i+1]). */
static void gather_window(const int8_t *x, tt_dims in, int32_t kh, int32_t kw, int32_t iy0, int32_t ix0,
                          int32_t x_zero, int16_t *v)
{
    int32_t k = 0;
    if (iy0 >= 0 && iy0 + kh <= in.h && ix0 >= 0 && ix0 + kw <= in.w) { /* inside: no tests */
        const int32_t rows = in.c * kh; /* the window's rows, c-major: row r at c = r / kh, ky = r % kh */
        const int8_t *xr = x + iy0 * in.w + ix0;
        const int32_t channel_step = (in.h - kh) * in.w; /* from a window's last row to the next channel's first */
        for (int32_t r = 0, ky = 0; r < rows; r++, xr += in.w) {
            if (kw == 3) { /* the usual 3-wide window, unrolled */
                v[k] = (int16_t)(xr[0] - x_zero);
                v[k + 1] = (int16_t)(xr[1] - x_zero);
                v[k + 2] = (int16_t)(xr[2] - x_zero);
                k += 3;
            } else {
                for (int32_t kx = 0; kx < kw; kx++)
                    v[k++] = (int16_t)(xr[kx] - x_zero);
            }
            if (++ky == kh) {
                ky = 0;
                xr += channel_step;
            }
        }
    } else {
        for (int32_t c = 0; c < in.c; c++)
            for (int32_t ky = 0; ky < kh; ky++) {
                const int32_t iy = iy0 + ky;
                for (int32_t kx = 0; kx < kw; kx++) {
                    const int32_t ix = ix0 + kx;
                    const int ok = iy >= 0 && iy < in.h && ix >= 0 && ix < in.w;
                    v[k++] = (int16_t)(ok ? x[(c * in.h + iy) * in.w + ix] - x_zero : 0);
                }
            }
    }
    while (k & 3)
        v[k++] = 0;
}

/* The whole output of a groups-1 conv whose window has k_total <= GENERAL_DSP_MAX_K values: four
 * output positions at a time, gathered once, then every output channel over them. */
static void general_dsp(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const tt_conv_params *conv,
                        const tt_quant_params *q, int8_t *y, tt_dims out)
{
    const int32_t k_total = in.c * kh * kw, k4 = k_total & ~3, hw = out.h * out.w, s = conv->stride;
    const int32_t y_zero = q->y_zero, lo = q->act_min, hi = q->act_max; /* locals: int8 stores alias anything */
    int16_t cols[4][GENERAL_DSP_MAX_K];
    int32_t oy = 0, ox = 0; /* the position p */
    for (int32_t p = 0; p < hw; p += 4) {
        for (int32_t j = 0; j < 4; j++) { /* positions p .. p+3; past the end: the last one again */
            gather_window(x, in, kh, kw, oy * s - conv->pad_top, ox * s - conv->pad_left, q->x_zero, cols[j]);
            if (p + j + 1 < hw && ++ox == out.w) {
                ox = 0;
                oy++;
            }
        }
        for (int32_t o = 0; o < out.c; o++) {
            const int8_t *wo = w + o * k_total;
            const int16_t *pc = cols[0]; /* cols[j][i] = pc[j * GENERAL_DSP_MAX_K + i] */
            int32_t a0 = bias[o], a1 = bias[o], a2 = bias[o], a3 = bias[o];
            for (int32_t j = 0; j < k_total; j += 4, pc += 4) {
                /* the last k_total % 4 weights with zeros after them (and zeros in cols) */
                const uint32_t wv = j < k4 ? tt_load32(wo + j) : tail_weights(wo + j, k_total - j);
                const int32_t w02 = __sxtb16((int32_t)wv), w13 = tt_sxtb16_ror8(wv);
                const int32_t w01 = (int32_t)tt_pack_lo((uint32_t)w02, (uint32_t)w13);
                const int32_t w23 = (int32_t)tt_pack_hi((uint32_t)w02, (uint32_t)w13);
                a0 = __smlad(col_pair(pc), w01, __smlad(col_pair(pc + 2), w23, a0));
                a1 = __smlad(col_pair(pc + GENERAL_DSP_MAX_K), w01, __smlad(col_pair(pc + GENERAL_DSP_MAX_K + 2), w23, a1));
                a2 = __smlad(col_pair(pc + 2 * GENERAL_DSP_MAX_K), w01,
                             __smlad(col_pair(pc + 2 * GENERAL_DSP_MAX_K + 2), w23, a2));
                a3 = __smlad(col_pair(pc + 3 * GENERAL_DSP_MAX_K), w01,
                             __smlad(col_pair(pc + 3 * GENERAL_DSP_MAX_K + 2), w23, a3));
            }
            const int32_t a[4] = {a0, a1, a2, a3};
            if (p + 4 <= hw) {
                tt_requantize4(a, mult[o], shift[o], y_zero, lo, hi, y + o * hw + p);
            } else {
                for (int32_t j = 0; p + j < hw; j++)
                    y[o * hw + p + j] = tt_requantize(a[j], mult[o], shift[o], y_zero, lo, hi);
            }
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
#if defined(__AVX2__)
    if (tt_conv_general_avx2(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out))
        return TT_OK;
#endif
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
