/*
 * Pointwise int8 conv whose weight is stored in two parts: the k leading input channels
 * (w_lead, (out.c, k), trained, in SRAM) and the rest (w_rest, (out.c, in.c - k), frozen, in
 * flash). Same arithmetic as tt_conv2d_1x1_s8 (identical integer sums), any stride and padding.
 * TT_ERR_ARG: as tt_conv2d_1x1_s8, or k outside [1, in.c) / w_rest NULL.
 *
 * DSP path (TT_USE_DSP, stride 1 without padding): as tt_conv2d_1x1_s8's, the two weight parts
 * one after the other: packed blocks of four pixels (up to TT_PW_PACK_CHANNELS input channels, four
 * outputs or more), else tt_pointwise_2x4_dsp and, for an odd last channel, tt_pointwise_1x4_dsp
 * (the same int32 sums, bit for bit).
 * x86-64 path (__AVX2__, same cases): tt_pointwise_avx2 over both parts (tt_pointwise_avx2.h).
 */
#include "tt_kernels.h"
#include "tt_pointwise_avx2.h"
#include "tt_pointwise_dsp.h"
#include "tt_requant.h"

#if TT_USE_DSP
/* acc + sum_c (x[c * hw] - x_zero) * w[c] over the concatenated weight (lead: c < k, rest: c >= k) */
static int32_t dot_split(const int8_t *x, int32_t hw, int32_t channels, const int8_t *lead, const int8_t *rest,
                         int32_t k, int32_t x_zero, int32_t acc)
{
    for (int32_t c = 0; c < channels; c++)
        acc += (x[c * hw] - x_zero) * (c < k ? lead[c] : rest[c - k]);
    return acc;
}

/* The whole output as packed1x1_dsp (tt_conv2d_1x1_s8.c) computes it, each packed block of four pixels
 * in two parts, the lead's channels then the rest's: channels <= TT_PW_PACK_CHANNELS. */
static void packed_split_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *w_lead,
                             const int8_t *w_rest, int32_t k, const int32_t *bias, const int32_t *mult,
                             const int32_t *shift, const tt_quant_params *q, int8_t *y, int32_t out_c)
{
    const int32_t rest = channels - k, rest_at = 8 * (k / 4); /* the rest's quads follow the lead's */
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max; /* see conv1x1_dsp */
    int32_t packed[2 * TT_PW_PACK_CHANNELS];
    int32_t p = 0;
    for (; p + 4 <= hw; p += 4) {
        tt_pointwise_pack4_dsp(x + p, hw, k / 4, x_zero, packed);
        tt_pointwise_pack4_dsp(x + k * hw + p, hw, rest / 4, x_zero, packed + rest_at);
        for (int32_t o = 0; o < out_c; o++) {
            int32_t a[4] = {bias[o], bias[o], bias[o], bias[o]};
            tt_pointwise_packed_part_dsp(packed, x + p, hw, k, x_zero, w_lead + o * k, a);
            tt_pointwise_packed_part_dsp(packed + rest_at, x + k * hw + p, hw, rest, x_zero, w_rest + o * rest, a);
            tt_requantize4(a, mult[o], shift[o], y_zero, lo, hi, y + o * hw + p);
        }
    }
    for (; p < hw; p++)
        for (int32_t o = 0; o < out_c; o++)
            y[o * hw + p] = tt_requantize(dot_split(x + p, hw, channels, w_lead + o * k, w_rest + o * rest, k, x_zero,
                                                    bias[o]),
                                          mult[o], shift[o], y_zero, lo, hi);
}

/* The whole output when the conv is a matrix product over hw = in.h * in.w pixels. */
static void split_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *w_lead, const int8_t *w_rest,
                      int32_t k, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                      const tt_quant_params *q, int8_t *y, int32_t out_c)
{
    const int32_t rest = channels - k;
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max; /* see conv1x1_dsp */
    int32_t o = 0;
    for (; o + 2 <= out_c; o += 2) {
        const int32_t o1 = o + 1;
        const int8_t *la = w_lead + o * k, *lb = w_lead + o1 * k, *ra = w_rest + o * rest, *rb = w_rest + o1 * rest;
        const int32_t mult_a = mult[o], shift_a = shift[o], mult_b = mult[o1], shift_b = shift[o1];
        const int32_t start_a = bias[o] - x_zero * (tt_weight_sum(la, k) + tt_weight_sum(ra, rest));
        const int32_t start_b = bias[o1] - x_zero * (tt_weight_sum(lb, k) + tt_weight_sum(rb, rest));
        int8_t *ya = y + o * hw, *yb = y + o1 * hw;
        int32_t p = 0;
        for (; p + 4 <= hw; p += 4) {
            int32_t a[4] = {start_a, start_a, start_a, start_a}, b[4] = {start_b, start_b, start_b, start_b};
            tt_pointwise_2x4_dsp(x + p, hw, k, la, lb, a, b);
            tt_pointwise_2x4_dsp(x + k * hw + p, hw, rest, ra, rb, a, b);
            tt_requantize4(a, mult_a, shift_a, y_zero, lo, hi, ya + p);
            tt_requantize4(b, mult_b, shift_b, y_zero, lo, hi, yb + p);
        }
        for (; p < hw; p++) {
            ya[p] = tt_requantize(dot_split(x + p, hw, channels, la, ra, k, x_zero, bias[o]), mult_a, shift_a, y_zero,
                                  lo, hi);
            yb[p] = tt_requantize(dot_split(x + p, hw, channels, lb, rb, k, x_zero, bias[o1]), mult_b, shift_b,
                                  y_zero, lo, hi);
        }
    }
    if (o < out_c) { /* an odd last channel, alone (tt_pointwise_1x4_dsp) */
        const int8_t *la = w_lead + o * k, *ra = w_rest + o * rest;
        const int32_t start = bias[o] - x_zero * (tt_weight_sum(la, k) + tt_weight_sum(ra, rest));
        int8_t *ya = y + o * hw;
        int32_t p = 0;
        for (; p + 4 <= hw; p += 4) {
            int32_t a[4] = {start, start, start, start};
            tt_pointwise_1x4_dsp(x + p, hw, k, la, a);
            tt_pointwise_1x4_dsp(x + k * hw + p, hw, rest, ra, a);
            tt_requantize4(a, mult[o], shift[o], y_zero, lo, hi, ya + p);
        }
        for (; p < hw; p++)
            ya[p] = tt_requantize(dot_split(x + p, hw, channels, la, ra, k, x_zero, bias[o]), mult[o], shift[o], y_zero,
                                  lo, hi);
    }
}
#endif

int tt_conv2d_1x1_split_s8(const int8_t *x, tt_dims in, const int8_t *w_lead, const int8_t *w_rest, int32_t k,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    if (!tt_conv_args_ok(x, in, w_lead, 1, 1, bias, mult, shift, conv, q, y, out) || conv->groups != 1 ||
        !w_rest || k < 1 || k >= in.c)
        return TT_ERR_ARG;
    const int32_t s = conv->stride, plane = in.h * in.w, rest = in.c - k;
#if TT_USE_DSP
    if (s == 1 && out.h == in.h && out.w == in.w) { /* no padding */
        if (in.c <= TT_PW_PACK_CHANNELS && out.c >= 4) /* as tt_conv2d_1x1_s8 */
            packed_split_dsp(x, in.c, plane, w_lead, w_rest, k, bias, mult, shift, q, y, out.c);
        else
            split_dsp(x, in.c, plane, w_lead, w_rest, k, bias, mult, shift, q, y, out.c);
        return TT_OK;
    }
#endif
#if defined(__AVX2__)
    if (s == 1 && out.h == in.h && out.w == in.w && /* no padding */
        tt_pointwise_avx2(x, plane, w_lead, k, w_rest, rest, bias, mult, shift, q, y, out.c))
        return TT_OK;
#endif
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
